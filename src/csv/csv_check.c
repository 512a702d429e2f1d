/*
 * Parallel check: split the file, parse its chunks on worker threads, and
 * merge the per-chunk results in chunk order, so the report (counts and the
 * first positions of each error) is the same whatever the thread count.
 *
 * Locking: the only shared mutable state is `next`, the index of the next
 * chunk to take (atomic). Each worker writes only its own chunks' results;
 * the main thread reads them after joining.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv/csv_int.h"

#define NCODES 6 /* CSV_TOO_FEW_FIELDS .. CSV_ROW_TOO_LONG */

static int code_slot(int code)
{
	int i = SL_CSV_TOO_FEW_FIELDS - code;
	return (i >= 0 && i < NCODES) ? i : -1;
}

typedef struct chunk_result {
	uint64_t records, fields, empty, comments;
	uint64_t warn_few, warn_many, warn_quote;
	sl_csv_check_code codes[NCODES];
	int rc;
} chunk_result;

typedef struct check_job {
	const sl_csv_plan *plan;
	const sl_csv_dialect *d;
	sl_csv_scanner s;
	int fd;
	chunk_result *res;
	atomic_size_t next;
} check_job;

/* Count a record's error (first positions too) in r. */
static void tally(chunk_result *r, const sl_csv_record *rec)
{
	int k = code_slot(rec->error);
	if (k < 0)
		return;
	sl_csv_check_code *c = &r->codes[k];
	if (c->nfirst < SL_CSV_CHECK_FIRST)
		c->first[c->nfirst++] = (sl_csv_error_pos){rec->record, rec->line, rec->offset};
	c->count++;
}

static void tally_cb(void *ctx, const sl_csv_record *rec)
{
	tally(ctx, rec);
}

static void check_chunk(check_job *j, size_t i)
{
	chunk_result *r = &j->res[i];
	sl_csv_reader *rd = NULL;
	sl_fd_range range;
	sl_csv_record rec;
	int rc = sl_csv_chunk_reader_new(j->plan, i, j->fd, j->d, j->s, &range, &rd);
	while (rc == 0 && (rc = sl_csv_reader_next(rd, &rec)) == 1) {
		rc = 0;
		if (!rec.is_header) {
			r->records++;
			r->fields += rec.nfields_seen;
		}
		/* an error in the header counts too (as record 0), as in dump */
		tally(r, &rec);
	}
	if (rd) {
		const sl_csv_counts *n = sl_csv_counts_get(sl_csv_reader_parser(rd));
		r->empty = n->empty_lines;
		r->comments = n->comment_lines;
		r->warn_few = n->warn_too_few;
		r->warn_many = n->warn_too_many;
		r->warn_quote = n->warn_stray_quote;
	}
	r->rc = rc;
	sl_csv_reader_free(rd);
}

static void *worker(void *arg)
{
	check_job *j = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&j->next, 1);
		if (i >= j->plan->nchunks)
			break;
		check_chunk(j, i);
	}
	return NULL;
}

/* The merged totals of the codes; rows_ok. */
static void sum_codes(sl_csv_check_result *out, int header_error)
{
	for (int k = 0; k < NCODES; k++)
		out->errors += out->codes[k].count;
	out->rows_ok = out->records - (out->errors - (header_error ? 1 : 0));
}

/*
 * One sequential read: the split in check mode counts the records that are
 * as expected on the fast path (fields included) and builds every other one
 * with the state machine, so it knows its code and position. What the
 * parallel check gives, without reading the file a second time.
 */
static int check_one_pass(int fd, const sl_csv_dialect *d, sl_csv_scanner s,
                          sl_csv_check_result *out)
{
	chunk_result r = {0};
	csv_check chk = {.on_record = tally_cb, .ctx = &r};
	sl_csv_plan plan;
	int rc = sl__csv_split_check(fd, d, s, 0, &plan, &chk);
	if (rc < 0)
		return rc;
	out->bytes = plan.bytes;
	out->hash = plan.hash;
	out->nchunks = 1;
	out->threads = 1;
	out->counts = plan.counts;
	out->records = plan.counts.records;
	out->fields = chk.fields;
	for (int k = 0; k < NCODES; k++) {
		out->codes[k] = r.codes[k];
		out->codes[k].code = SL_CSV_TOO_FEW_FIELDS - k;
	}
	out->ncodes = NCODES;
	sum_codes(out, plan.header_error);
	sl_csv_plan_free(&plan);
	return 0;
}

int sl_csv_check_file(const char *path, const sl_csv_dialect *d, sl_csv_scanner s,
                      uint64_t chunk_size, int threads, sl_csv_check_result *out)
{
	int rc = 0, fd = -1;
	sl_csv_plan plan = {0};
	check_job job = {0};
	pthread_t *tids = NULL;
	int started = 0;
	double t0 = sl_now();

	memset(out, 0, sizeof *out);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = SL_IO_OPEN;
		goto out;
	}
	if (threads <= 0 && chunk_size == 0) {
		rc = check_one_pass(fd, d, s, out);
		goto out;
	}
	if ((rc = sl_csv_split(fd, d, s, chunk_size, &plan)) < 0)
		goto out;
	if (threads < 1)
		threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (threads < 1)
		threads = 1;
	if ((size_t)threads > plan.nchunks)
		threads = plan.nchunks ? (int)plan.nchunks : 1;

	job.plan = &plan;
	job.d = d;
	job.s = s;
	job.fd = fd;
	job.res = calloc(plan.nchunks ? plan.nchunks : 1, sizeof *job.res);
	tids = calloc((size_t)threads, sizeof *tids);
	if (!job.res || !tids) {
		rc = SL_NOMEM;
		goto out;
	}
	atomic_init(&job.next, 0);
	for (; started < threads - 1; started++)
		if (pthread_create(&tids[started], NULL, worker, &job) != 0)
			break;
	worker(&job); /* the calling thread works too */
	for (int t = 0; t < started; t++)
		pthread_join(tids[t], NULL);

	out->bytes = plan.bytes;
	out->hash = plan.hash;
	out->nchunks = plan.nchunks;
	out->threads = (size_t)started + 1;
	out->counts = plan.counts;
	out->counts.empty_lines = 0;
	out->counts.comment_lines = 0;
	out->counts.warn_too_few = out->counts.warn_too_many = out->counts.warn_stray_quote = 0;
	for (int k = 0; k < NCODES; k++)
		out->codes[k].code = SL_CSV_TOO_FEW_FIELDS - k;
	out->ncodes = NCODES;
	for (size_t i = 0; i < plan.nchunks; i++) {
		chunk_result *r = &job.res[i];
		if (r->rc < 0) {
			rc = r->rc;
			goto out;
		}
		out->records += r->records;
		out->fields += r->fields;
		out->counts.empty_lines += r->empty;
		out->counts.comment_lines += r->comments;
		out->counts.warn_too_few += r->warn_few;
		out->counts.warn_too_many += r->warn_many;
		out->counts.warn_stray_quote += r->warn_quote;
		for (int k = 0; k < NCODES; k++) {
			sl_csv_check_code *dst = &out->codes[k], *src = &r->codes[k];
			for (size_t f = 0; f < src->nfirst && dst->nfirst < SL_CSV_CHECK_FIRST; f++)
				dst->first[dst->nfirst++] = src->first[f];
			dst->count += src->count;
		}
	}
	sum_codes(out, plan.header_error);
	/* Counts add up: what the parallel parse found must be what the split counted. */
	if (out->records != plan.counts.records ||
	    out->counts.empty_lines != plan.counts.empty_lines ||
	    out->counts.comment_lines != plan.counts.comment_lines)
		rc = SL_INTERNAL;
out:
	out->seconds = sl_now() - t0;
	free(tids);
	free(job.res);
	sl_csv_plan_free(&plan);
	if (fd >= 0)
		close(fd);
	return rc;
}
