/*
 * The PostgreSQL store's part of fix and refeed (docs/ingest.md, "Fix and
 * refeed"; the SQLite twin is store_sqlite_refeed.c, whose rules these
 * statements follow one for one): which rejected rows a refeed job took,
 * and which of them it loaded.
 *
 * Tables (migration 7, src/pg/pg_migrate.c):
 *   sluice.refeeds(job_id, refeed_of, header, rows, created_ms, settled_ms,
 *     bytes, fingerprint; the last two from migration 10): a refeed job, the
 *     job whose rejects it reads, its input's header bytes, when it was
 *     last settled, its input's size and XXH3-64;
 *   sluice.rejects_resolved(job_id, n): a job's rejects loaded by refeeds;
 *   five columns of sluice.rejects: refeed_by, refeed_record, refeed_offset
 *     (the refeed job that holds the row now, its record in that job's
 *     input and the offset of its first byte there),
 *     resolved_by (the refeed job that loaded it), origin (for a reject of
 *     a refeed job, the id of the first job's reject it is a copy of).
 *
 * A row and its copies are one family; a claim takes a row only when no
 * member of its family is claimed, and a load marks every member resolved.
 * SQLite's one writer makes claims one at a time; here concurrent refeeds
 * (two `sluice serve` instances, a CLI beside a service) would each read
 * the other's family members as unclaimed before either commits, so a
 * claim first takes a transaction-scoped advisory lock: claims of refeeds
 * are serialized, everything else runs on. Settling needs no such lock:
 * it touches the rows its own job holds.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_pg_int.h"

/* The advisory lock key of refeed claims: "refeeds" read as a number. */
#define CLAIM_LOCK "8243120802036278643"

/* Run sql with a text job id ($1) and optionally a second text ($2). */
static int run(pq_store *q, const char *sql, const char *a, const char *b)
{
	pq_params p = {.n = 0};
	int rc;
	sl__pq_str(&p, a);
	if (b)
		sl__pq_str(&p, b);
	PQclear(sl__pq_run(q, sql, &p, &rc));
	return rc;
}

int sl__pq_refeed_fill(pq_store *q, sl_job *j)
{
	pq_params p = {.n = 0};
	int rc;
	sl__pq_str(&p, j->id);
	PGresult *r = sl__pq_run(q,
	                         "SELECT (SELECT refeed_of FROM sluice.refeeds WHERE job_id = $1),"
	                         " (SELECT n FROM sluice.rejects_resolved WHERE job_id = $1)",
	                         &p, &rc);
	if (r && PQntuples(r) > 0) {
		snprintf(j->refeed_of, sizeof j->refeed_of, "%s",
		         PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
		j->rejects_resolved =
		    PQgetisnull(r, 0, 1) ? 0 : strtoull(PQgetvalue(r, 0, 1), NULL, 10);
	}
	PQclear(r);
	return rc;
}

int sl__pq_refeed_claim(sl_jobstore *s, const char *job_id, const char *new_id, sl_str header,
                        sl_refeed_input *out)
{
	pq_store *q = pq_of_js(s);
	PGresult *r = NULL;
	memset(out, 0, sizeof *out);
	int rc = sl__pg_exec(q->pg, "SELECT pg_advisory_xact_lock(" CLAIM_LOCK ")");
	/* open, whole, and no member of its family held by another refeed */
	pq_params p = {.n = 0};
	sl__pq_str(&p, job_id);
	sl__pq_str(&p, new_id);
	if (rc == 0)
		r = sl__pq_run(
		    q,
		    "UPDATE sluice.rejects AS r SET refeed_by = $2, refeed_record = NULL"
		    " WHERE r.job_id = $1 AND r.resolved_by IS NULL AND r.refeed_by IS NULL"
		    " AND r.code <> 'CSV_ROW_TOO_LONG' AND NOT EXISTS (SELECT 1 FROM"
		    " sluice.rejects o WHERE (o.id = coalesce(r.origin, r.id) OR o.origin ="
		    " coalesce(r.origin, r.id)) AND o.refeed_by IS NOT NULL AND o.id <> r.id)",
		    &p, &rc);
	bool none = r && !strcmp(PQcmdTuples(r), "0");
	PQclear(r);
	if (rc < 0 || none)
		return rc;
	/* numbered 1.. in record order (the records of the refeed's input),
	   each at the byte after the header and the rows before it */
	pq_params o = {.n = 0};
	sl__pq_str(&o, new_id);
	sl__pq_int(&o, (int64_t)header.n);
	PQclear(sl__pq_run(
	    q,
	    "UPDATE sluice.rejects AS r SET refeed_record = n.k, refeed_offset = n.o FROM (SELECT"
	    " id, row_number() OVER w AS k, $2::bigint + sum(coalesce(octet_length(raw), 0) + 1)"
	    " OVER w - coalesce(octet_length(raw), 0) - 1 AS o FROM sluice.rejects WHERE"
	    " refeed_by = $1 WINDOW w AS (ORDER BY record, id)) AS n WHERE r.id = n.id",
	    &o, &rc));
	if (rc < 0)
		return rc;
	/* the input's fingerprint: its bytes as a reader will see them
	   (binary results: the raw bytes come as they are) */
	const char *id[1] = {new_id};
	r = PQexecParams(
	    sl__pg_conn(q->pg),
	    "SELECT raw FROM sluice.rejects WHERE refeed_by = $1 ORDER BY refeed_record", 1, NULL,
	    id, NULL, NULL, 1);
	if (!r || PQresultStatus(r) != PGRES_TUPLES_OK)
		rc = sl__pg_fail(q->pg, r, "the rows of a refeed");
	sl_refeed_fp fp = {NULL};
	if (rc == 0 && sl__refeed_fp_begin(&fp, header, out) < 0)
		rc = SL_NOMEM;
	for (int i = 0; rc == 0 && i < PQntuples(r); i++)
		sl__refeed_fp_row(&fp, out, PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0));
	PQclear(r);
	sl__refeed_fp_end(&fp, out);
	if (rc == 0) {
		out->created_ms = sl_now_ms();
		pq_params v = {.n = 0};
		sl__pq_str(&v, new_id);
		sl__pq_str(&v, job_id);
		sl__pq_bytes(&v, header.p, header.n);
		sl__pq_int(&v, (int64_t)out->rows);
		sl__pq_int(&v, out->created_ms);
		sl__pq_int(&v, (int64_t)out->bytes);
		sl__pq_int(&v, (int64_t)out->hash);
		PQclear(sl__pq_run(
		    q,
		    "INSERT INTO sluice.refeeds(job_id, refeed_of, header, rows,"
		    " created_ms, bytes, fingerprint) VALUES($1, $2, $3, $4, $5, $6, $7)",
		    &v, &rc));
	}
	if (rc < 0)
		memset(out, 0, sizeof *out);
	return rc;
}

int sl__pq_refeed_input(sl_jobstore *s, const char *job_id, sl_refeed_input *out)
{
	pq_store *q = pq_of_js(s);
	const char *id[1] = {job_id};
	int rc = 0;
	memset(out, 0, sizeof *out);
	/* the header in binary, the numbers as text */
	PGresult *r = PQexecParams(sl__pg_conn(q->pg),
	                           "SELECT header, rows::text, coalesce(bytes, 0)::text,"
	                           " coalesce(fingerprint, 0)::text, created_ms::text FROM"
	                           " sluice.refeeds WHERE job_id = $1",
	                           1, NULL, id, NULL, NULL, 0);
	if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = sl__pg_fail(q->pg, r, "a refeed's input");
	} else if (PQntuples(r) > 0) {
		/* a bytea in text form is hex ("\\x..."): decode it */
		size_t len = 0;
		unsigned char *hb =
		    PQgetisnull(r, 0, 0)
		        ? NULL
		        : PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 0), &len);
		if (!PQgetisnull(r, 0, 0) && !hb) {
			rc = SL_NOMEM;
		} else if (!(out->header = malloc(len + 1))) {
			rc = SL_NOMEM;
		} else {
			if (len)
				memcpy(out->header, hb, len);
			out->header[len] = 0;
			out->header_len = len;
			out->rows = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
			out->bytes = strtoull(PQgetvalue(r, 0, 2), NULL, 10);
			out->hash = (uint64_t)strtoll(PQgetvalue(r, 0, 3), NULL, 10);
			out->created_ms = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
			rc = 1;
		}
		if (hb)
			PQfreemem(hb);
	}
	PQclear(r);
	return rc;
}

int sl__pq_refeed_read(sl_jobstore *s, const char *job_id, uint64_t off, size_t max,
                       int (*cb)(void *ctx, uint64_t off, sl_str raw), void *ctx)
{
	pq_store *q = pq_of_js(s);
	char offs[32];
	snprintf(offs, sizeof offs, "%llu", (unsigned long long)off);
	const char *v[2] = {job_id, offs};
	int rc = 0;
	/* a batch of rows at a time (LIMIT): what one call hands over is
	   bounded by max anyway, so the result stays small */
	PGresult *r = PQexecParams(
	    sl__pg_conn(q->pg),
	    "SELECT refeed_offset::text AS o, raw FROM sluice.rejects WHERE refeed_by = $1 AND"
	    " refeed_offset >= coalesce((SELECT max(refeed_offset) FROM sluice.rejects WHERE"
	    " refeed_by = $1 AND refeed_offset <= $2::bigint), 0) AND refeed_offset +"
	    " coalesce(octet_length(raw), 0) + 1 > $2::bigint ORDER BY refeed_offset LIMIT 512",
	    2, NULL, v, NULL, NULL, 1);
	if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = sl__pg_fail(q->pg, r, "the rows of a refeed");
		PQclear(r);
		return rc;
	}
	size_t given = 0;
	for (int i = 0; i < PQntuples(r) && given < max; i++) {
		/* binary results: the offset's text came as its bytes */
		char num[32];
		int nl = PQgetlength(r, i, 0);
		snprintf(num, sizeof num, "%.*s", nl < 31 ? nl : 31, PQgetvalue(r, i, 0));
		size_t n = (size_t)PQgetlength(r, i, 1);
		int k = cb(ctx, strtoull(num, NULL, 10), sl_str_make(PQgetvalue(r, i, 1), n));
		if (k != 0) {
			rc = k < 0 ? k : 0;
			break;
		}
		given += n + 1;
	}
	PQclear(r);
	return rc;
}

/* The rows an UPDATE ... RETURNING job_id in `upd` names, counted into
   sluice.rejects_resolved with `sign` (+1 resolved, -1 given back): one
   statement, so the marks and the counts change together. */
static int count_resolved(pq_store *q, const char *upd, const char *id, int sign)
{
	sl_buf b;
	sl_buf_init(&b, 1 << 16);
	int rc =
	    sl__pg_add(&b, "WITH u AS (") | sl__pg_add(&b, upd) |
	    sl__pg_add(&b, ") INSERT INTO sluice.rejects_resolved(job_id, n) SELECT job_id, ") |
	    sl__pg_add(&b, sign > 0 ? "count(*)" : "-count(*)") |
	    sl__pg_add(&b, " FROM u GROUP BY job_id ON CONFLICT (job_id) DO UPDATE SET n ="
	                   " greatest(0, rejects_resolved.n + EXCLUDED.n)") |
	    sl_buf_append(&b, "", 1);
	rc = rc ? SL_NOMEM : run(q, b.p, id, NULL);
	sl_buf_free(&b);
	return rc;
}

/* A claim of refeed $1 whose record lies in one of its Succeeded chunks. */
#define READ_BY_REFEED                                                                             \
	" EXISTS (SELECT 1 FROM sluice.chunks ch WHERE ch.job_id = $1 AND ch.status = 'Succeeded'" \
	" AND p.refeed_record > ch.first_record AND p.refeed_record <= ch.first_record +"          \
	" ch.records_planned)"

int sl__pq_refeed_settle(sl_jobstore *s, const char *job_id)
{
	pq_store *q = pq_of_js(s);
	pq_params p = {.n = 0};
	char status[32] = "";
	int rc;
	sl__pq_str(&p, job_id);
	PGresult *r = sl__pq_run(q,
	                         "SELECT j.status FROM sluice.refeeds f JOIN sluice.jobs j ON"
	                         " j.id = f.job_id WHERE f.job_id = $1",
	                         &p, &rc);
	if (r && PQntuples(r) > 0)
		snprintf(status, sizeof status, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	sl_job_status js;
	if (rc < 0 || !status[0] || sl_job_status_parse(status, &js) < 0 ||
	    !sl_job_status_final(js))
		return rc; /* not a refeed, or not finished: nothing to settle */
	if (js == SL_JOB_ROLLEDBACK) {
		/* its rows are gone: what it resolved is open again, its claims free */
		rc = count_resolved(
		    q,
		    "UPDATE sluice.rejects SET resolved_by = NULL WHERE resolved_by = $1"
		    " RETURNING job_id",
		    job_id, -1);
		if (rc == 0)
			rc = run(q,
			         "UPDATE sluice.rejects SET refeed_by = NULL WHERE refeed_by = $1",
			         job_id, NULL);
		goto done;
	}
	/* the refeed's own rejects are copies: of the claimed row at their record */
	rc = run(q,
	         "UPDATE sluice.rejects AS c SET origin = (SELECT coalesce(p.origin, p.id) FROM"
	         " sluice.rejects p WHERE p.refeed_by = $1 AND p.refeed_record = c.record)"
	         " WHERE c.job_id = $1 AND c.origin IS NULL",
	         job_id, NULL);
	/* read and not rejected again: loaded, the whole family resolved */
	if (rc == 0)
		rc = count_resolved(
		    q,
		    "WITH fam AS (SELECT coalesce(p.origin, p.id) AS f FROM sluice.rejects p WHERE"
		    " p.refeed_by = $1 AND" READ_BY_REFEED " AND NOT EXISTS (SELECT 1 FROM"
		    " sluice.rejects c WHERE c.job_id = $1 AND c.record = p.refeed_record))"
		    " UPDATE sluice.rejects SET resolved_by = $1 WHERE resolved_by IS NULL AND"
		    " (id IN (SELECT f FROM fam) OR origin IN (SELECT f FROM fam)) RETURNING "
		    "job_id",
		    job_id, +1);
	/* the claim is over unless a chunk left to run (Failed, Queued) holds the
	   record: read (rejected again, the copy lives on in the refeed), or
	   never planned (the job failed before) */
	if (rc == 0)
		rc =
		    run(q,
		        "UPDATE sluice.rejects AS p SET refeed_by = NULL WHERE p.refeed_by = $1 AND"
		        " NOT EXISTS (SELECT 1 FROM sluice.chunks ch WHERE ch.job_id = $1 AND"
		        " ch.status <> 'Succeeded' AND p.refeed_record > ch.first_record AND"
		        " p.refeed_record <= ch.first_record + ch.records_planned)",
		        job_id, NULL);
done:
	if (rc == 0) {
		pq_params t = {.n = 0};
		sl__pq_str(&t, job_id);
		sl__pq_int(&t, sl_now_ms());
		PQclear(sl__pq_run(q, "UPDATE sluice.refeeds SET settled_ms = $2 WHERE job_id = $1",
		                   &t, &rc));
	}
	return rc;
}
