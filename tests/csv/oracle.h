/*
 * Test support (tests/ and fuzz/ only): parse a buffer by a chosen method
 * and serialize everything observable about the records (numbers, lines,
 * offsets, errors, lenient warnings, field counts, raw bytes, values) and
 * the final counters (warning counts summed over chunks)
 * into one byte string. Two methods agree iff their strings are equal.
 *
 * Methods: a scanner; a window size (the input is streamed through a reader
 * that gets at most `window` bytes per read, 0 = all at once); a chunk size
 * (split the input with sl_csv_split, parse chunk by chunk, 0 = no split).
 */
#ifndef SLUICE_TEST_ORACLE_H
#define SLUICE_TEST_ORACLE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/base.h"
#include "sluice/csv.h"

typedef struct oracle_opts {
	sl_csv_dialect d;
	sl_csv_scanner scanner;
	size_t window;
	uint64_t chunk;
} oracle_opts;

typedef struct oracle_mem {
	const char *p;
	size_t n, off, step;
} oracle_mem;

static ssize_t oracle_read(void *ctx, char *buf, size_t cap)
{
	oracle_mem *m = ctx;
	size_t k = m->n - m->off;
	if (k > cap)
		k = cap;
	if (m->step && k > m->step)
		k = m->step;
	memcpy(buf, m->p + m->off, k);
	m->off += k;
	return (ssize_t)k;
}

static void oracle_put(sl_buf *out, const char *fmt, unsigned long long a, unsigned long long b,
                       unsigned long long c)
{
	char tmp[160];
	int k = snprintf(tmp, sizeof tmp, fmt, a, b, c);
	if (sl_buf_append(out, tmp, (size_t)k) < 0)
		abort();
}

static int oracle_records(sl_csv_reader *rd, sl_buf *out, uint64_t *empty, uint64_t *comments,
                          uint64_t *warn)
{
	sl_csv_record rec;
	int rc;
	while ((rc = sl_csv_reader_next(rd, &rec)) == 1) {
		oracle_put(out, "%c%llu L%llu ", rec.is_header ? 'H' : 'R', rec.record, rec.line);
		oracle_put(out, "O%llu E%d N%llu ", rec.offset,
		           (unsigned long long)(long long)rec.error, rec.nfields_seen);
		oracle_put(out, "W%llu ", (unsigned long long)-(long long)rec.warning, 0, 0);
		oracle_put(out, "raw%llu/%llu:", rec.raw.n, rec.raw_len, 0);
		sl_buf_append(out, rec.raw.p, rec.raw.n);
		for (size_t i = 0; i < rec.nfields; i++) {
			oracle_put(out, " f%llu:", rec.fields[i].n, 0, 0);
			sl_buf_append(out, rec.fields[i].p, rec.fields[i].n);
		}
		sl_buf_append(out, "\n", 1);
	}
	const sl_csv_counts *c = sl_csv_counts_get(sl_csv_reader_parser(rd));
	*empty += c->empty_lines;
	*comments += c->comment_lines;
	warn[0] += c->warn_too_few;
	warn[1] += c->warn_too_many;
	warn[2] += c->warn_stray_quote;
	return rc;
}

/*
 * Records as compact text, for exact assertions in tests: values joined by
 * '|', records ended by ';', the header prefixed by 'H', an error as
 * !CODE@record:line:offset (CODE without "CSV_"), and with `warnings` a
 * lenient warning as ~CODE: before the values. Aborts on a parse failure.
 */
static inline char *oracle_render(const char *in, size_t n, const sl_csv_dialect *d,
                                  sl_csv_scanner s, bool warnings)
{
	static char out[1 << 16];
	size_t o = 0;
	oracle_mem m = {in, n, 0, 0};
	sl_csv_reader *rd;
	if (sl_csv_reader_new(d, s, oracle_read, &m, 0, &rd) < 0)
		abort();
	sl_csv_record rec;
	int rc;
	while ((rc = sl_csv_reader_next(rd, &rec)) == 1) {
		if (rec.error) {
			o += (size_t)snprintf(
			    out + o, sizeof out - o, "!%s@%llu:%llu:%llu;",
			    sl_error_name(rec.error) + 4, (unsigned long long)rec.record,
			    (unsigned long long)rec.line, (unsigned long long)rec.offset);
			continue;
		}
		if (warnings && rec.warning)
			o += (size_t)snprintf(out + o, sizeof out - o,
			                      "~%s:", sl_error_name(rec.warning) + 4);
		if (rec.is_header)
			out[o++] = 'H';
		for (size_t i = 0; i < rec.nfields; i++) {
			if (i)
				out[o++] = '|';
			memcpy(out + o, rec.fields[i].p, rec.fields[i].n);
			o += rec.fields[i].n;
		}
		out[o++] = ';';
	}
	if (rc != 0)
		abort();
	out[o] = 0;
	sl_csv_reader_free(rd);
	return out;
}

/* 0, or a negative code. */
static int oracle_run(const char *data, size_t n, const oracle_opts *o, sl_buf *out)
{
	int rc = 0;
	uint64_t empty = 0, comments = 0, warn[3] = {0, 0, 0};
	sl_buf_reset(out);
	if (!o->chunk) {
		oracle_mem m = {data, n, 0, o->window};
		sl_csv_reader *rd;
		rc = sl_csv_reader_new(&o->d, o->scanner, oracle_read, &m,
		                       o->window ? o->window : n + 1, &rd);
		if (rc < 0)
			return rc;
		rc = oracle_records(rd, out, &empty, &comments, warn);
		sl_csv_reader_free(rd);
	} else {
		int fd = memfd_create("oracle", 0);
		if (fd < 0 || write(fd, data, n) != (ssize_t)n)
			abort();
		sl_csv_plan plan;
		rc = sl_csv_split(fd, &o->d, o->scanner, o->chunk, &plan);
		for (size_t i = 0; rc == 0 && i < plan.nchunks; i++) {
			sl_csv_reader *rd;
			sl_fd_range range;
			rc = sl_csv_chunk_reader_new(&plan, i, fd, &o->d, o->scanner, &range, &rd);
			if (rc == 0) {
				rc = oracle_records(rd, out, &empty, &comments, warn);
				if (rc == 0 &&
				    sl_csv_counts_get(sl_csv_reader_parser(rd))->records !=
				        plan.chunks[i].start.records + plan.chunks[i].records)
					rc = SL_INTERNAL; /* the split and the parse disagree */
				sl_csv_reader_free(rd);
			}
		}
		if (rc == 0 &&
		    (plan.counts.empty_lines != empty || plan.counts.comment_lines != comments))
			rc = SL_INTERNAL;
		if (rc >= 0 || plan.chunks)
			sl_csv_plan_free(&plan);
		close(fd);
	}
	oracle_put(out, "empty %llu comments %llu rc %llu\n", empty, comments,
	           (unsigned long long)(long long)rc);
	oracle_put(out, "warnings %llu %llu %llu\n", warn[0], warn[1], warn[2]);
	return rc;
}

/*
 * csv check in one pass (the split in check mode) against the parallel check
 * (split, then every chunk parsed; chunks of `chunk` bytes on one thread):
 * 0 when every number, code count, first position and warning count agree.
 */
static inline int oracle_check_agree(const char *data, size_t n, const sl_csv_dialect *d,
                                     sl_csv_scanner s, uint64_t chunk)
{
	int fd = memfd_create("oracle-check", 0);
	if (fd < 0 || write(fd, data, n) != (ssize_t)n)
		abort();
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	sl_csv_check_result a, b;
	int ra = sl_csv_check_file(path, d, s, 0, 0, &a);
	int rb = sl_csv_check_file(path, d, s, chunk ? chunk : 1, 1, &b);
	close(fd);
	if (ra != rb)
		return -1;
	if (ra < 0)
		return 0;
	const sl_csv_counts *x = &a.counts, *y = &b.counts;
	if (a.bytes != b.bytes || a.records != b.records || a.fields != b.fields ||
	    a.rows_ok != b.rows_ok || a.errors != b.errors || a.hash != b.hash ||
	    x->records != y->records || x->empty_lines != y->empty_lines ||
	    x->comment_lines != y->comment_lines || x->lines != y->lines ||
	    x->warn_too_few != y->warn_too_few || x->warn_too_many != y->warn_too_many ||
	    x->warn_stray_quote != y->warn_stray_quote || a.ncodes != b.ncodes)
		return -1;
	for (size_t k = 0; k < a.ncodes; k++) {
		const sl_csv_check_code *p = &a.codes[k], *q = &b.codes[k];
		if (p->code != q->code || p->count != q->count || p->nfirst != q->nfirst)
			return -1;
		for (size_t f = 0; f < p->nfirst; f++)
			if (p->first[f].record != q->first[f].record ||
			    p->first[f].line != q->first[f].line ||
			    p->first[f].offset != q->first[f].offset)
				return -1;
	}
	return 0;
}

#endif
