/*
 * The PostgreSQL row writer: a batch of converted rows into the target
 * table, inside the caller's transaction, saying what became of each row.
 *
 * Without a key nothing can clash: the rows are COPYed straight into the
 * table. With a key they are COPYed into a temporary staging table of the
 * session (sluice's own column types, no constraints, emptied per batch)
 * and moved by one INSERT ... SELECT DISTINCT ON (key) ... ON CONFLICT
 * (key) whose RETURNING says which keys went in: for on_duplicate reject
 * and ignore the earliest row of each key in the batch is the candidate
 * (ORDER BY key, ord) and DO NOTHING skips the keys already in the table,
 * so every row not returned is a duplicate; for update the latest row of
 * each key wins (ORDER BY key, ord DESC) through DO UPDATE, guarded so
 * that a row of the same job is replaced only by a later record (the
 * latest record wins whatever order the chunks commit in), and xmax = 0
 * tells a new row from an updated one. Every row carries its record
 * ("_sluice_rec", the last column of both COPY forms: provenance). The
 * sort by key also feeds the primary key's B-tree in order. That is the
 * exact path; reject and ignore first try a fast one (fast_keyed, below)
 * that needs no ON CONFLICT and falls back to the exact path when anything
 * in the batch is unusual. Before either, a keyed chunk of reject or
 * ignore goes in whole by the sorted COPY (sl__pg_copy_open, put, close:
 * store_pg.c merges the chunk in key order), straight into the table;
 * these batches are the way when the table refuses that COPY.
 *
 * COPY is in binary format where the table's columns are sluice's own
 * types (always for the staging table), text otherwise (an existing table
 * with integer for bigint, varchar(n) or char(n), real, timetz: the server
 * converts text; binary would be refused) or when SLUICE_PG_COPY=text.
 * Measured on this machine (PostgreSQL 15, 300,000 CDR rows with the job
 * and record columns, 2 shared cores): the server reads the binary form in
 * 0.9-1.2 s where the text form takes 1.4-1.6 s, 32 % more bytes on the
 * socket notwithstanding; sluice's own cost of either is small (decimal
 * text to base-10000 digits, ISO dates and times to days and microseconds,
 * the fraction of a second rounded as the server's text input rounds it).
 * tests/pg/test_pg_copy.sh loads the same values both ways.
 *
 * Rows the table refuses for reasons the schema does not know (the user's
 * CHECK, a foreign key, NOT NULL on a column, a unique index on another
 * column, an exclusion constraint: SQLSTATE class 23; a value too long for
 * varchar(n) or out of range for integer: class 22) fail a whole statement.
 * Each statement runs under a savepoint; when it fails that way its range
 * of rows is halved and each half tried again, down to single rows, which
 * are refused with the SQLSTATE, the constraint's name and PostgreSQL's
 * message, while every other row loads. A batch with b bad rows among n
 * costs about 2 b log2(n) extra statements. Any other failure ends the
 * batch with its code: the caller rolls back (and, for a transient one,
 * retries the chunk).
 */
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg/pg.h"
#include "sluice/error.h"
#include "sluice/job.h"

/* Bytes of COPY data handed to libpq at a time. */
#define COPY_FLUSH (256u << 10)
/* The ceiling of one encoded row (the row limit of the CSV engine is far
   below; a text's escaping at most doubles it). */
#define LINE_MAX_BYTES (256u << 20)

/* What one statement of the writer does. */
enum step { COPY_TARGET, COPY_STAGE, MOVE_KEYED };

struct sl_pg_writer {
	sl_pg *c;
	const sl_schema *sc;
	char job[SL_JOB_ID_LEN];
	bool upsert;
	char *dups_in; /* NULL, or a table whose keys are duplicates too (sl__pg_writer_dups_in) */
	char *copy_target, *copy_stage, *stage_ddl, *move, *fast_insert;
	bool fast;              /* keyed, reject or ignore, keys fast_keyed reads back */
	size_t *slot, slot_cap; /* the batch's keys: the first row of each (fast_keyed) */
	sl_buf data;
	/* the batch being written */
	const sl_value *const *rows;
	const uint64_t *recs; /* each row's record (provenance); NULL: none */
	uint8_t *out;
	sl_pg_refusal_cb cb;
	void *ctx;
	sl_pg_counts counts;
	bool copy_failed; /* the sorted COPY under way could not send a row */
	bool bin_target;  /* COPY into the table in binary format (bin_ok) */
	bool bin_stage;   /* into the staging table (sluice's own types) */
	uint64_t *shards; /* a Citus table's shard ids (logical_name), nshards of them */
	size_t nshards;
	/* the last statement's row-level failure */
	char state[6], constraint[128], message[1024];
};

/* --- encoding rows as COPY text ----------------------------------------------- */

static int put_text(sl_buf *b, const char *p, size_t n)
{
	int rc = sl_buf_reserve(b, 2 * n);
	if (rc)
		return rc;
	char *o = b->p + b->len;
	for (size_t i = 0; i < n; i++) {
		char ch = p[i];
		switch (ch) {
		case '\\':
			*o++ = '\\', *o++ = '\\';
			break;
		case '\n':
			*o++ = '\\', *o++ = 'n';
			break;
		case '\r':
			*o++ = '\\', *o++ = 'r';
			break;
		case '\t':
			*o++ = '\\', *o++ = 't';
			break;
		default:
			*o++ = ch;
		}
	}
	b->len = (size_t)(o - b->p);
	return 0;
}

static int put_value(sl_buf *b, const sl_column *col, const sl_value *v)
{
	char t[64];
	size_t n;
	switch (v->kind) {
	case SL_VALUE_INT:
		if (col->type == SL_TYPE_BOOLEAN)
			return sl_buf_append(b, v->i ? "t" : "f", 1);
		n = (size_t)snprintf(t, sizeof t, "%lld", (long long)v->i);
		return sl_buf_append(b, t, n);
	case SL_VALUE_REAL:
		if (col->type == SL_TYPE_DECIMAL) {
			n = sl_decimal_real_format(col, v->d, t);
		} else if (isnan(v->d)) {
			n = (size_t)snprintf(t, sizeof t, "NaN");
		} else if (isinf(v->d)) {
			n = (size_t)snprintf(t, sizeof t, "%s",
			                     v->d < 0 ? "-Infinity" : "Infinity");
		} else {
			n = sl_double_format(v->d, t);
		}
		return sl_buf_append(b, t, n);
	case SL_VALUE_TEXT:
		return put_text(b, v->s.p, v->s.n);
	default:
		return sl_buf_append(b, "\\N", 2);
	}
}

/* --- encoding rows as COPY binary -------------------------------------------------- */

static int put_be(sl_buf *b, uint64_t x, int bytes)
{
	unsigned char t[8];
	for (int i = 0; i < bytes; i++)
		t[i] = (unsigned char)(x >> (8 * (bytes - 1 - i)));
	return sl_buf_append(b, t, (size_t)bytes);
}

/* Days from 1970-01-01 of a proleptic Gregorian date (Hinnant's
   days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *p, size_t n, unsigned *out)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	*out = v;
	return true;
}

/* "YYYY-MM-DD": days since 2000-01-01 (PostgreSQL's date). */
static bool bin_date(const char *p, size_t n, int64_t *days)
{
	unsigned y, m, d;
	if (n != 10 || p[4] != '-' || p[7] != '-' || !digits(p, 4, &y) || !digits(p + 5, 2, &m) ||
	    !digits(p + 8, 2, &d) || m < 1 || m > 12 || d < 1 || d > 31)
		return false;
	*days = days_from_civil(y, m, d) - 10957;
	return true;
}

/* "HH:MM:SS[.ffff]": microseconds since midnight, the fraction rounded as
   PostgreSQL's text input rounds it (rint of strtod's value times 10^6). */
static bool bin_time(const char *p, size_t n, int64_t *us)
{
	unsigned h, mi, sec;
	if (n < 8 || p[2] != ':' || p[5] != ':' || !digits(p, 2, &h) || !digits(p + 3, 2, &mi) ||
	    !digits(p + 6, 2, &sec))
		return false;
	double frac = 0;
	if (n > 8) {
		char t[40];
		unsigned f;
		if (p[8] != '.' || n - 8 > sizeof t - 1 || !digits(p + 9, n - 9, &f) || n == 9)
			return false;
		memcpy(t, p + 8, n - 8);
		t[n - 8] = 0;
		frac = strtod(t, NULL);
	}
	*us = ((int64_t)h * 3600 + mi * 60 + sec) * 1000000 + (int64_t)rint(frac * 1000000);
	return true;
}

/* Decimal text ("-123.450") as numeric's binary form: base-10000 digits. */
static int bin_numeric(sl_buf *b, const char *p, size_t n)
{
	bool neg = n && p[0] == '-';
	size_t i = neg || (n && p[0] == '+'), dot = n;
	for (size_t k = i; k < n; k++)
		if (p[k] == '.')
			dot = k;
	size_t ni = dot - i, nf = dot < n ? n - dot - 1 : 0;
	for (size_t k = i; k < n; k++)
		if (k != dot && (p[k] < '0' || p[k] > '9'))
			return SL_INTERNAL;
	if (ni + nf == 0 || ni + nf > 4000)
		return SL_INTERNAL;
	/* groups of 4 digits aligned on the decimal point */
	size_t gi = (ni + 3) / 4, gf = (nf + 3) / 4;
	uint16_t g[1024];
	size_t ng = gi + gf;
	if (ng > sizeof g / sizeof *g)
		return SL_INTERNAL;
	for (size_t k = 0; k < ng; k++) {
		unsigned v = 0;
		for (size_t j = 0; j < 4; j++) {
			/* the digit's position: integer digits counted from the left of
			   the point's padded grouping, fraction digits from the point */
			long pos = (long)(k * 4 + j) - (long)(gi * 4 - ni); /* within ni + nf */
			char ch = '0';
			if (pos >= 0 && (size_t)pos < ni)
				ch = p[i + (size_t)pos];
			else if (pos >= (long)ni && (size_t)pos < ni + nf)
				ch = p[dot + 1 + ((size_t)pos - ni)];
			v = v * 10 + (unsigned)(ch - '0');
		}
		g[k] = (uint16_t)v;
	}
	size_t lo = 0, hi = ng;
	while (lo < hi && g[lo] == 0)
		lo++;
	while (hi > lo && g[hi - 1] == 0)
		hi--;
	int weight = lo < hi ? (int)gi - 1 - (int)lo : 0;
	size_t nd = hi - lo;
	int rc = put_be(b, 8 + 2 * nd, 4) | put_be(b, nd, 2) |
	         put_be(b, (uint16_t)(int16_t)weight, 2) | put_be(b, neg && nd ? 0x4000 : 0, 2) |
	         put_be(b, nf, 2);
	for (size_t k = lo; k < hi && rc == 0; k++)
		rc = put_be(b, g[k], 2);
	return rc ? SL_NOMEM : 0;
}

/* One field in binary: its length, then its bytes (-1: NULL). */
static int put_bin_value(sl_buf *b, const sl_column *col, const sl_value *v)
{
	char t[64];
	int64_t x, us;
	switch (v->kind) {
	case SL_VALUE_INT:
		if (col->type == SL_TYPE_BOOLEAN)
			return put_be(b, 1, 4) | put_be(b, v->i != 0, 1);
		return put_be(b, 8, 4) | put_be(b, (uint64_t)v->i, 8);
	case SL_VALUE_REAL:
		if (col->type == SL_TYPE_DECIMAL) {
			size_t n = sl_decimal_real_format(col, v->d, t);
			return bin_numeric(b, t, n);
		} else {
			uint64_t u;
			memcpy(&u, &v->d, 8);
			return put_be(b, 8, 4) | put_be(b, u, 8);
		}
	case SL_VALUE_TEXT:
		switch (col->type) {
		case SL_TYPE_DECIMAL:
			return bin_numeric(b, v->s.p, v->s.n);
		case SL_TYPE_DATE:
			if (!bin_date(v->s.p, v->s.n, &x))
				return SL_INTERNAL;
			return put_be(b, 4, 4) | put_be(b, (uint32_t)(int32_t)x, 4);
		case SL_TYPE_TIME:
			if (!bin_time(v->s.p, v->s.n, &us))
				return SL_INTERNAL;
			return put_be(b, 8, 4) | put_be(b, (uint64_t)us, 8);
		case SL_TYPE_TIMESTAMP: {
			size_t n = v->s.n - (v->s.n && v->s.p[v->s.n - 1] == 'Z');
			if (n < 19 || v->s.p[10] != 'T' || !bin_date(v->s.p, 10, &x) ||
			    !bin_time(v->s.p + 11, n - 11, &us))
				return SL_INTERNAL;
			return put_be(b, 8, 4) | put_be(b, (uint64_t)(x * 86400000000 + us), 8);
		}
		default:
			if (v->s.n > INT32_MAX)
				return SL_INTERNAL;
			return put_be(b, v->s.n, 4) | sl_buf_append(b, v->s.p, v->s.n);
		}
	default:
		return put_be(b, UINT32_MAX, 4);
	}
}

static int put_bin(sl_pg_writer *w, enum step s, size_t ord, const sl_value *v, const uint64_t *rec)
{
	sl_buf *b = &w->data;
	size_t nf = w->sc->ncols + 2; /* and ord first, or the job: then the record */
	int rc = put_be(b, nf, 2);
	if (rc == 0 && s == COPY_STAGE)
		rc = put_be(b, 8, 4) | put_be(b, ord, 8);
	for (size_t k = 0; k < w->sc->ncols && rc == 0; k++)
		rc = put_bin_value(b, &w->sc->cols[k], &v[k]);
	if (rc == 0 && s == COPY_TARGET)
		rc = put_be(b, strlen(w->job), 4) | sl_buf_append(b, w->job, strlen(w->job));
	if (rc == 0)
		rc = rec ? put_be(b, 8, 4) | put_be(b, *rec, 8) : put_be(b, UINT32_MAX, 4);
	if (rc == SL_INTERNAL)
		return sl__pg_seterr(w->c, SL_INTERNAL,
		                     "COPY: a value sluice cannot write in binary format");
	return rc ? SL_NOMEM : 0;
}

static bool binary(const sl_pg_writer *w, enum step s)
{
	return s == COPY_STAGE ? w->bin_stage : w->bin_target;
}

/* A binary COPY's header and trailer. */
static int copy_head(sl_pg_writer *w, enum step s)
{
	static const char sig[] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
	return binary(w, s) ? sl_buf_append(&w->data, sig, 19) : 0;
}

static int copy_tail(sl_pg_writer *w, enum step s)
{
	return binary(w, s) ? put_be(&w->data, 0xffff, 2) : 0;
}

/* One row's COPY line: for the staging table its ord first, for the table
   the job; the record (rec, NULL: none) last. */
static int put_vals(sl_pg_writer *w, enum step s, size_t ord, const sl_value *v,
                    const uint64_t *rec)
{
	sl_buf *b = &w->data;
	int rc = 0;
	if (binary(w, s))
		return put_bin(w, s, ord, v, rec);
	if (s == COPY_STAGE) {
		char t[32];
		int n = snprintf(t, sizeof t, "%zu\t", ord);
		rc = sl_buf_append(b, t, (size_t)n);
	}
	for (size_t k = 0; k < w->sc->ncols && rc == 0; k++) {
		if (k)
			rc = sl_buf_append(b, "\t", 1);
		if (rc == 0)
			rc = put_value(b, &w->sc->cols[k], &v[k]);
	}
	if (rc == 0 && s == COPY_TARGET)
		rc = sl_buf_append(b, "\t", 1) || put_text(b, w->job, strlen(w->job));
	/* the record, last on both paths: the target's "_sluice_rec", or the
	   stage's, which the move copies */
	if (rc == 0 && rec) {
		char t[32];
		int n = snprintf(t, sizeof t, "\t%llu\n", (unsigned long long)*rec);
		return sl_buf_append(b, t, (size_t)n);
	}
	return rc ? rc : sl_buf_append(b, "\t\\N\n", 4);
}

static int put_row(sl_pg_writer *w, enum step s, size_t i)
{
	return put_vals(w, s, i, w->rows[i], w->recs ? &w->recs[i] : NULL);
}

/* --- one statement ----------------------------------------------------------------- */

/* A distributed table's constraint as its shards name it ("banned_102024":
   Citus appends the shard's id) back to the table's own name ("banned"):
   cut a "_N" whose N is one of the table's shards. */
static void logical_name(const sl_pg_writer *w, char *name)
{
	char *u = strrchr(name, '_');
	if (!u || !u[1] || strspn(u + 1, "0123456789") != strlen(u + 1))
		return;
	uint64_t id = strtoull(u + 1, NULL, 10);
	for (size_t i = 0; i < w->nshards; i++)
		if (w->shards[i] == id) {
			*u = 0;
			return;
		}
}

/* Keep the details of a failed statement for the rows it will refuse: the
   SQLSTATE and constraint sl__pg_fail read (a worker node's, through
   Citus), the primary message. */
static void keep_failure(sl_pg_writer *w, const PGresult *res)
{
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	snprintf(w->state, sizeof w->state, "%s", sl__pg_sqlstate(w->c));
	snprintf(w->constraint, sizeof w->constraint, "%s", sl__pg_constraint(w->c));
	logical_name(w, w->constraint);
	snprintf(w->message, sizeof w->message, "%s", msg ? msg : "");
}

/* The result of a statement: 0, 1 when its rows are refused (class 22 or
   23: the range is to be halved), or the failure's code. */
static int outcome(sl_pg_writer *w, PGresult *res, ExecStatusType want, const char *what)
{
	if (res && PQresultStatus(res) == want)
		return 0;
	int code = sl__pg_fail(w->c, res, what);
	if (code == SL_DB_CONSTRAINT || code == SL_DB_VALUE) {
		keep_failure(w, res);
		return 1;
	}
	return code;
}

static int copy_range(sl_pg_writer *w, enum step s, size_t lo, size_t hi)
{
	PGconn *conn = sl__pg_conn(w->c);
	PGresult *res = PQexec(conn, s == COPY_TARGET ? w->copy_target : w->copy_stage);
	int rc = outcome(w, res, PGRES_COPY_IN, "COPY");
	PQclear(res);
	if (rc)
		return rc;
	w->counts.statements++;
	sl_buf_reset(&w->data);
	rc = copy_head(w, s);
	bool sent = true;
	for (size_t i = lo; i < hi && sent && rc == 0; i++) {
		if (w->out[i] != SL_PG_INSERTED) /* refused, or a duplicate found in memory */
			continue;
		if ((rc = put_row(w, s, i)) != 0)
			break;
		if (w->data.len >= COPY_FLUSH) {
			sent = PQputCopyData(conn, w->data.p, (int)w->data.len) == 1;
			sl_buf_reset(&w->data);
		}
	}
	if (sent && rc == 0)
		rc = copy_tail(w, s);
	if (sent && rc == 0 && w->data.len)
		sent = PQputCopyData(conn, w->data.p, (int)w->data.len) == 1;
	/* ending the COPY with an error message makes the server abort it: the
	   way out when a row could not be encoded */
	PQputCopyEnd(conn, rc ? "sluice could not encode a row" : NULL);
	res = PQgetResult(conn);
	int r2 = outcome(w, res, PGRES_COMMAND_OK, "COPY");
	PQclear(res);
	while ((res = PQgetResult(conn)) != NULL)
		PQclear(res);
	return rc ? rc : r2;
}

/* The keyed move of rows [lo, hi) from the staging table; records what
   became of each on success. */
static int move_range(sl_pg_writer *w, size_t lo, size_t hi)
{
	char a[24], b[24];
	snprintf(a, sizeof a, "%zu", lo);
	snprintf(b, sizeof b, "%zu", hi);
	const char *p[3] = {w->job, a, b};
	PGresult *res = PQexecParams(sl__pg_conn(w->c), w->move, 3, NULL, p, NULL, NULL, 0);
	w->counts.statements++;
	int rc = outcome(w, res, PGRES_TUPLES_OK, "INSERT from the staging table");
	if (rc == 0) {
		/* rows not returned are duplicates; the returned ones went in.
		   With update, a key not returned is one the table holds from a
		   later record of this job (the guard of DO UPDATE): loaded as
		   far as the file goes, overwritten since by that record */
		for (size_t i = lo; i < hi; i++)
			if (w->out[i] != SL_PG_REFUSED)
				w->out[i] = w->upsert ? SL_PG_UPDATED : SL_PG_DUP;
		int n = PQntuples(res);
		for (int r = 0; r < n; r++) {
			size_t i = (size_t)strtoull(PQgetvalue(res, r, 0), NULL, 10);
			if (i < lo || i >= hi)
				continue;
			w->out[i] = w->upsert && PQgetvalue(res, r, 1)[0] != 't' ? SL_PG_UPDATED
			                                                         : SL_PG_INSERTED;
		}
	}
	PQclear(res);
	return rc;
}

/* A savepoint's end after its statements gave rc: released on 0; on 1
   (rows refused) rolled back, and 1; a failure's code as it is (the
   chunk rolls back). */
static int savepoint_end(sl_pg_writer *w, const char *name, int rc)
{
	char sql[128];
	if (rc == 0) {
		snprintf(sql, sizeof sql, "RELEASE SAVEPOINT %s", name);
		return sl__pg_exec(w->c, sql);
	}
	if (rc == 1) {
		snprintf(sql, sizeof sql, "ROLLBACK TO SAVEPOINT %s; RELEASE SAVEPOINT %s", name,
		         name);
		int r2 = sl__pg_exec(w->c, sql);
		return r2 ? r2 : 1;
	}
	return rc;
}

/* One statement over [lo, hi) under a savepoint: 0, 1 (its rows are to be
   refused or split: the savepoint rolled back) or a code. */
static int attempt(sl_pg_writer *w, enum step s, size_t lo, size_t hi)
{
	int rc = sl__pg_exec(w->c, "SAVEPOINT sluice_rows");
	if (rc)
		return rc;
	if (s == MOVE_KEYED)
		rc = move_range(w, lo, hi);
	else
		rc = copy_range(w, s, lo, hi);
	if (rc == 0 && s == COPY_TARGET)
		for (size_t i = lo; i < hi; i++)
			if (w->out[i] != SL_PG_REFUSED)
				w->out[i] = SL_PG_INSERTED;
	return savepoint_end(w, "sluice_rows", rc);
}

static int refuse(sl_pg_writer *w, size_t i)
{
	w->out[i] = SL_PG_REFUSED;
	sl_pg_refusal r = {.row = i,
	                   .code = sl__pg_code(w->state),
	                   .sqlstate = w->state,
	                   .constraint = w->constraint,
	                   .message = w->message};
	return w->cb ? w->cb(w->ctx, &r) : 0;
}

/* Rows [lo, hi) through step s; those refused isolated by halving. */
static int load(sl_pg_writer *w, enum step s, size_t lo, size_t hi)
{
	size_t live = 0;
	for (size_t i = lo; i < hi; i++)
		live += w->out[i] != SL_PG_REFUSED;
	if (!live)
		return 0;
	int rc = attempt(w, s, lo, hi);
	if (rc != 1)
		return rc;
	if (live == 1) {
		size_t i = lo;
		while (w->out[i] == SL_PG_REFUSED)
			i++;
		return refuse(w, i);
	}
	size_t mid = lo + (hi - lo) / 2;
	rc = load(w, s, lo, mid);
	return rc ? rc : load(w, s, mid, hi);
}

/* --- the fast path of a keyed batch ------------------------------------------------------ */

static uint64_t key_hash(const sl_schema *sc, const sl_value *v)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t k = 0; k < sc->nkey; k++) {
		const sl_value *x = &v[sc->key[k]];
		const unsigned char *p;
		size_t n;
		double d = x->d == 0 ? 0 : x->d; /* -0 is 0, as sl_value_cmp says */
		if (x->kind == SL_VALUE_TEXT)
			p = (const unsigned char *)x->s.p, n = x->s.n;
		else if (x->kind == SL_VALUE_REAL)
			p = (const unsigned char *)&d, n = sizeof d;
		else
			p = (const unsigned char *)&x->i,
			n = x->kind == SL_VALUE_INT ? sizeof x->i : 0;
		h = (h ^ (uint64_t)x->kind) * 1099511628211ull;
		for (size_t i = 0; i < n; i++)
			h = (h ^ p[i]) * 1099511628211ull;
	}
	return h;
}

static bool key_eq(const sl_schema *sc, const sl_value *a, const sl_value *b)
{
	for (size_t k = 0; k < sc->nkey; k++)
		if (sl_value_cmp(&a[sc->key[k]], &b[sc->key[k]]) != 0)
			return false;
	return true;
}

/* The slot of a key in the batch's hash table (w->slot): the slot that
   holds the first row with that key, or the empty one where it would go. */
static size_t slot_of(sl_pg_writer *w, const sl_value *row)
{
	size_t j = (size_t)key_hash(w->sc, row) & (w->slot_cap - 1);
	for (; w->slot[j] != SIZE_MAX; j = (j + 1) & (w->slot_cap - 1))
		if (key_eq(w->sc, w->rows[w->slot[j]], row))
			break;
	return j;
}

/* Every row whose key an earlier row of the batch has is a duplicate
   (on_duplicate reject and ignore: the earliest wins), found in memory;
   the table of first rows stays for fast_keyed's answers. */
static int mark_batch_dups(sl_pg_writer *w, size_t n)
{
	size_t cap = 16;
	while (cap < 2 * n)
		cap <<= 1;
	if (cap > w->slot_cap) {
		size_t *s2 = realloc(w->slot, cap * sizeof *s2);
		if (!s2)
			return SL_NOMEM;
		w->slot = s2;
	}
	w->slot_cap = cap;
	memset(w->slot, 0xff, cap * sizeof *w->slot);
	for (size_t i = 0; i < n; i++) {
		size_t j = slot_of(w, w->rows[i]);
		if (w->slot[j] == SIZE_MAX)
			w->slot[j] = i;
		else
			w->out[i] = SL_PG_DUP;
	}
	return 0;
}

/* Can the fast path read its answer back: keys whose text PostgreSQL
   prints exactly as sluice holds them (text, enum, integer)? */
static bool fast_keys(const sl_schema *sc)
{
	for (size_t k = 0; k < sc->nkey; k++) {
		sl_type t = sc->cols[sc->key[k]].type;
		if (t != SL_TYPE_TEXT && t != SL_TYPE_ENUM && t != SL_TYPE_INTEGER)
			return false;
	}
	return true;
}

/* The common case of a keyed batch (reject, ignore) without a refused
   row: duplicates inside the batch found in memory, the unique rest
   COPYed to the staging table and moved by one INSERT ... SELECT ... ORDER
   BY key ON CONFLICT (key) DO NOTHING RETURNING key, whose keys, looked up
   in the batch's hash table, are the rows that went in; the others were
   in the table already. No DISTINCT ON and no join back as on the exact
   path (measured: 13 s against 31 s for a million CDR rows in one
   statement). A refused row rolls the attempt back: 1, and the exact path
   runs. */
static int fast_keyed(sl_pg_writer *w, size_t n)
{
	PGconn *conn = sl__pg_conn(w->c);
	const sl_schema *sc = w->sc;
	int rc = mark_batch_dups(w, n);
	if (rc == 0)
		rc = sl__pg_exec(w->c, "SAVEPOINT sluice_fast");
	if (rc)
		return rc;
	rc = copy_range(w, COPY_STAGE, 0, n);
	sl_value *kv = rc == 0 ? calloc(sc->ncols, sizeof *kv) : NULL;
	if (rc == 0 && !kv)
		rc = SL_NOMEM;
	if (rc == 0) {
		const char *p[1] = {w->job};
		PGresult *res = PQexecParams(conn, w->fast_insert, 1, NULL, p, NULL, NULL, 0);
		w->counts.statements++;
		rc = outcome(w, res, PGRES_TUPLES_OK, "INSERT from the staging table");
		for (size_t i = 0; rc == 0 && i < n; i++)
			if (w->out[i] == SL_PG_INSERTED)
				w->out[i] = SL_PG_DUP;
		for (int r = 0; rc == 0 && r < PQntuples(res); r++) {
			for (size_t k = 0; k < sc->nkey; k++) {
				const char *t = PQgetvalue(res, r, (int)k);
				if (sc->cols[sc->key[k]].type == SL_TYPE_INTEGER)
					kv[sc->key[k]] = (sl_value){.kind = SL_VALUE_INT,
					                            .i = strtoll(t, NULL, 10)};
				else
					kv[sc->key[k]] =
					    (sl_value){.kind = SL_VALUE_TEXT,
					               .s = sl_str_make(
					                   t, (size_t)PQgetlength(res, r, (int)k))};
			}
			size_t j = slot_of(w, kv);
			if (w->slot[j] == SIZE_MAX)
				rc = sl__pg_seterr(
				    w->c, SL_INTERNAL,
				    "the database returned a key the batch does not have");
			else
				w->out[w->slot[j]] = SL_PG_INSERTED;
		}
		PQclear(res);
	}
	free(kv);
	return savepoint_end(w, "sluice_fast", rc);
}

int sl__pg_write(sl_pg_writer *w, const sl_value *const *rows, const uint64_t *recs, size_t n,
                 uint8_t *out, sl_pg_refusal_cb cb, void *ctx)
{
	int rc = 0;
	memset(&w->counts, 0, sizeof w->counts);
	w->rows = rows;
	w->recs = recs;
	w->out = out;
	w->cb = cb;
	w->ctx = ctx;
	if (!n) /* (out may be NULL then: a chunk with no good row) */
		return 0;
	/* SL_PG_INSERTED is 0: a row is live until refused */
	memset(out, SL_PG_INSERTED, n);
	if (!w->sc->nkey) {
		rc = load(w, COPY_TARGET, 0, n);
	} else {
		/* the staging table lives as long as the session: made when
		   missing (a new session, or the transaction that made it rolled
		   back), emptied per batch */
		rc = sl__pg_exec(w->c, w->stage_ddl);
		if (rc == 0 && w->fast) {
			rc = fast_keyed(w, n);
			if (rc != 1)
				goto counts;
			/* the exact path: every row again, refusals isolated */
			memset(out, SL_PG_INSERTED, n);
			rc = 0;
		}
		if (rc == 0)
			rc = load(w, COPY_STAGE, 0, n);
		if (rc == 0)
			rc = load(w, MOVE_KEYED, 0, n);
	}
counts:
	for (size_t i = 0; i < n && rc == 0; i++) {
		w->counts.inserted += out[i] == SL_PG_INSERTED;
		w->counts.duplicates += out[i] == SL_PG_DUP;
		w->counts.updated += out[i] == SL_PG_UPDATED;
		w->counts.refused += out[i] == SL_PG_REFUSED;
	}
	return rc;
}

void sl__pg_writer_counts(const sl_pg_writer *w, sl_pg_counts *out)
{
	*out = w->counts;
}

/* --- the sorted COPY of a keyed chunk ----------------------------------------------- */

/* A keyed chunk merged in key order (store_pg.c) goes straight into the
   table by one COPY, without staging or ON CONFLICT: measured on 300,000
   CDR rows, COPY in key order into the keyed table took 0.9-1.2 s where
   psql's \copy in file order took 1.5-3.3 s and INSERT ... SELECT ...
   ORDER BY key ON CONFLICT DO NOTHING from a staging table 3.1 s. Any
   row the table refuses, a key already in it included (23505), fails
   the whole COPY: the savepoint rolls it back and the caller writes the
   chunk the exact way (sl__pg_write) instead. */
int sl__pg_copy_open(sl_pg_writer *w)
{
	int rc = sl__pg_exec(w->c, "SAVEPOINT sluice_sorted");
	if (rc)
		return rc;
	PGresult *res = PQexec(sl__pg_conn(w->c), w->copy_target);
	rc = outcome(w, res, PGRES_COPY_IN, "COPY");
	PQclear(res);
	w->counts.statements++;
	w->copy_failed = false;
	sl_buf_reset(&w->data);
	if (rc == 0 && copy_head(w, COPY_TARGET))
		rc = SL_NOMEM;
	return rc == 1 ? SL_DB_ERROR : rc;
}

int sl__pg_copy_put(sl_pg_writer *w, const sl_value *vals, uint64_t rec)
{
	int rc = put_vals(w, COPY_TARGET, 0, vals, &rec);
	if (rc == 0 && w->data.len >= COPY_FLUSH) {
		if (PQputCopyData(sl__pg_conn(w->c), w->data.p, (int)w->data.len) != 1)
			rc = sl__pg_seterr(w->c, SL_DB_CONN, "COPY: %s",
			                   PQerrorMessage(sl__pg_conn(w->c)));
		sl_buf_reset(&w->data);
	}
	if (rc)
		w->copy_failed = true;
	return rc;
}

int sl__pg_copy_close(sl_pg_writer *w)
{
	PGconn *conn = sl__pg_conn(w->c);
	bool sent = !w->copy_failed && copy_tail(w, COPY_TARGET) == 0;
	if (sent && w->data.len)
		sent = PQputCopyData(conn, w->data.p, (int)w->data.len) == 1;
	sl_buf_reset(&w->data);
	PQputCopyEnd(conn, sent ? NULL : "sluice could not encode a row");
	PGresult *res = PQgetResult(conn);
	int rc = outcome(w, res, PGRES_COMMAND_OK, "COPY");
	PQclear(res);
	while ((res = PQgetResult(conn)) != NULL)
		PQclear(res);
	if (!sent) /* the caller has the put's failure; the chunk rolls back */
		return rc ? rc : SL_DB_ERROR;
	return savepoint_end(w, "sluice_sorted", rc);
}

/* --- the statements ------------------------------------------------------------------ */

static int add_cols(sl_buf *b, const sl_schema *sc, const char *prefix)
{
	int rc = 0;
	for (size_t i = 0; i < sc->ncols; i++)
		rc |= (i ? sl__pg_add(b, ", ") : 0) | sl__pg_add(b, prefix) |
		      sl__pg_ident(b, sc->cols[i].name);
	return rc;
}

static int add_key(sl_buf *b, const sl_schema *sc, const char *prefix)
{
	int rc = 0;
	for (size_t k = 0; k < sc->nkey; k++)
		rc |= (k ? sl__pg_add(b, ", ") : 0) | sl__pg_add(b, prefix) |
		      sl__pg_ident(b, sc->cols[sc->key[k]].name);
	return rc;
}

/* " AND NOT EXISTS (a row of dups_in with the key of row `alias`)": a key
   that table holds is a duplicate of the row (atomic mode, whose stage is
   the written table and whose target holds the keys loaded before). */
static int not_in_dups_table(const sl_pg_writer *w, sl_buf *b, const char *alias)
{
	if (!w->dups_in)
		return 0;
	int rc = sl__pg_add(b, " AND NOT EXISTS (SELECT 1 FROM ") | sl__pg_ident(b, w->dups_in) |
	         sl__pg_add(b, " d WHERE ");
	for (size_t k = 0; k < w->sc->nkey; k++)
		rc |= sl__pg_add(b, k ? " AND d." : "d.") |
		      sl__pg_ident(b, w->sc->cols[w->sc->key[k]].name) | sl__pg_add(b, " = ") |
		      sl__pg_ident(b, alias) | sl__pg_add(b, ".") |
		      sl__pg_ident(b, w->sc->cols[w->sc->key[k]].name);
	return rc | sl__pg_add(b, ")");
}

static char *take(sl_buf *b)
{
	char *s = sl_buf_append(b, "", 1) ? NULL : strdup(b->p);
	sl_buf_reset(b);
	return s;
}

static int build(sl_pg_writer *w)
{
	const sl_schema *sc = w->sc;
	sl_buf b;
	char stage[128], tb[32];
	int rc;
	sl_buf_init(&b, 1 << 20);
	snprintf(stage, sizeof stage, "sluice_stage_%zu_%s", strlen(sc->table), sc->table);

	rc = sl__pg_add(&b, "COPY ") | sl__pg_ident(&b, sc->table) | sl__pg_add(&b, " (") |
	     add_cols(&b, sc, "") |
	     sl__pg_add(&b, ", \"_sluice_job\", \"_sluice_rec\") FROM STDIN") |
	     sl__pg_add(&b, w->bin_target ? " (FORMAT binary)" : "");
	w->copy_target = take(&b);
	if (sc->nkey) {
		rc |= sl__pg_add(&b, "CREATE TEMP TABLE IF NOT EXISTS ") | sl__pg_ident(&b, stage) |
		      sl__pg_add(&b, " (\"_sluice_ord\" bigint");
		for (size_t i = 0; i < sc->ncols; i++)
			rc |= sl__pg_add(&b, ", ") | sl__pg_ident(&b, sc->cols[i].name) |
			      sl__pg_add(&b, " ") | sl__pg_add(&b, sl__pg_type(&sc->cols[i], tb));
		rc |= sl__pg_add(&b, ", \"_sluice_rec\" bigint); TRUNCATE ") |
		      sl__pg_ident(&b, stage);
		w->stage_ddl = take(&b);

		rc |= sl__pg_add(&b, "COPY ") | sl__pg_ident(&b, stage) |
		      sl__pg_add(&b, " (\"_sluice_ord\", ") | add_cols(&b, sc, "") |
		      sl__pg_add(&b, ", \"_sluice_rec\") FROM STDIN") |
		      sl__pg_add(&b, w->bin_stage ? " (FORMAT binary)" : "");
		w->copy_stage = take(&b);

		/* WITH ins AS (INSERT INTO t (cols, job, rec) SELECT DISTINCT ON
		   (key) cols, $1, rec FROM stage WHERE ord in [$2, $3) ORDER BY
		   key, ord [DESC] ON CONFLICT (key) DO NOTHING | DO UPDATE SET
		   ... WHERE guard RETURNING key [, xmax = 0]) SELECT the ords of
		   the rows that went in */
		rc |= sl__pg_add(&b, "WITH ins AS (INSERT INTO ") | sl__pg_ident(&b, sc->table) |
		      sl__pg_add(&b, " AS \"_sluice_t\" (") | add_cols(&b, sc, "") |
		      sl__pg_add(&b, ", \"_sluice_job\", \"_sluice_rec\") SELECT DISTINCT ON (") |
		      add_key(&b, sc, "") | sl__pg_add(&b, ") ") | add_cols(&b, sc, "") |
		      sl__pg_add(&b, ", $1, \"_sluice_rec\" FROM ") | sl__pg_ident(&b, stage) |
		      sl__pg_add(&b, " WHERE \"_sluice_ord\" >= $2::bigint AND \"_sluice_ord\" < "
		                     "$3::bigint") |
		      not_in_dups_table(w, &b, stage) | sl__pg_add(&b, " ORDER BY ") |
		      add_key(&b, sc, "") |
		      sl__pg_add(&b, w->upsert ? ", \"_sluice_ord\" DESC" : ", \"_sluice_ord\"") |
		      sl__pg_add(&b, " ON CONFLICT (") | add_key(&b, sc, "") | sl__pg_add(&b, ") ");
		if (w->upsert) {
			rc |= sl__pg_add(&b, "DO UPDATE SET ");
			for (size_t i = 0; i < sc->ncols; i++)
				rc |= sl__pg_ident(&b, sc->cols[i].name) |
				      sl__pg_add(&b, " = EXCLUDED.") |
				      sl__pg_ident(&b, sc->cols[i].name) | sl__pg_add(&b, ", ");
			/* the latest record wins whatever the commit order: a row
			   of this job is replaced only by a later record of it */
			rc |= sl__pg_add(
			          &b,
			          "\"_sluice_job\" = EXCLUDED.\"_sluice_job\", \"_sluice_rec\" ="
			          " EXCLUDED.\"_sluice_rec\" WHERE \"_sluice_t\".\"_sluice_job\" <>"
			          " EXCLUDED.\"_sluice_job\" OR "
			          "coalesce(\"_sluice_t\".\"_sluice_rec\","
			          " 0) < EXCLUDED.\"_sluice_rec\" RETURNING ") |
			      add_key(&b, sc, "") |
			      sl__pg_add(&b, ", (xmax = 0) AS \"_sluice_fresh\")");
			rc |= sl__pg_add(&b, " SELECT s.\"_sluice_ord\", ins.\"_sluice_fresh\" AND "
			                     "s.\"_sluice_ord\" ="
			                     " min(s.\"_sluice_ord\") OVER (PARTITION BY ") |
			      add_key(&b, sc, "s.") | sl__pg_add(&b, ")");
		} else {
			rc |= sl__pg_add(&b, "DO NOTHING RETURNING ") | add_key(&b, sc, "") |
			      sl__pg_add(&b, ")") |
			      sl__pg_add(&b, " SELECT min(s.\"_sluice_ord\"), true");
		}
		rc |= sl__pg_add(&b, " FROM ") | sl__pg_ident(&b, stage) |
		      sl__pg_add(&b, " s JOIN ins ON ");
		for (size_t k = 0; k < sc->nkey; k++)
			rc |= sl__pg_add(&b, k ? " AND s." : "s.") |
			      sl__pg_ident(&b, sc->cols[sc->key[k]].name) |
			      sl__pg_add(&b, " = ins.") |
			      sl__pg_ident(&b, sc->cols[sc->key[k]].name);
		rc |= sl__pg_add(
		    &b,
		    " WHERE s.\"_sluice_ord\" >= $2::bigint AND s.\"_sluice_ord\" < $3::bigint");
		if (!w->upsert)
			rc |= sl__pg_add(&b, " GROUP BY ") | add_key(&b, sc, "s.");
		w->move = take(&b);

		rc |= sl__pg_add(&b, "INSERT INTO ") | sl__pg_ident(&b, sc->table) |
		      sl__pg_add(&b, " (") | add_cols(&b, sc, "") |
		      sl__pg_add(&b, ", \"_sluice_job\", \"_sluice_rec\") SELECT ") |
		      add_cols(&b, sc, "s.") | sl__pg_add(&b, ", $1, s.\"_sluice_rec\" FROM ") |
		      sl__pg_ident(&b, stage) | sl__pg_add(&b, " s") |
		      (w->dups_in ? sl__pg_add(&b, " WHERE true") : 0) |
		      not_in_dups_table(w, &b, "s") | sl__pg_add(&b, " ORDER BY ") |
		      add_key(&b, sc, "s.") | sl__pg_add(&b, " ON CONFLICT (") |
		      add_key(&b, sc, "") | sl__pg_add(&b, ") DO NOTHING RETURNING ");
		for (size_t k = 0; k < sc->nkey; k++)
			rc |= sl__pg_add(&b, k ? ", " : "") |
			      sl__pg_ident(&b, sc->cols[sc->key[k]].name) |
			      sl__pg_add(&b, "::text");
		w->fast_insert = take(&b);
	}
	if (rc || !w->copy_target ||
	    (sc->nkey && (!w->stage_ddl || !w->copy_stage || !w->move || !w->fast_insert)))
		rc = SL_NOMEM;
	sl_buf_free(&b);
	return rc;
}

/* Can the table take binary COPY: is every column sluice writes of the
   exact type whose binary form sluice sends (a table sluice made is; an
   existing one may have integer for bigint, varchar(n) for text, real,
   timetz, char(n): those take COPY text, which converts)? */
static bool bin_type(const sl_column *c, const char *have)
{
	switch (c->type) {
	case SL_TYPE_INTEGER:
		return !strcmp(have, "bigint");
	case SL_TYPE_FLOAT:
		return !strcmp(have, "double precision");
	case SL_TYPE_DECIMAL:
		return !strncmp(have, "numeric", 7);
	case SL_TYPE_BOOLEAN:
		return !strcmp(have, "boolean");
	case SL_TYPE_DATE:
		return !strcmp(have, "date");
	case SL_TYPE_TIME:
		return !strcmp(have, "time without time zone");
	case SL_TYPE_TIMESTAMP:
		return !strcmp(have, "timestamp without time zone") ||
		       !strcmp(have, "timestamp with time zone");
	default:
		return !strcmp(have, "text") || !strncmp(have, "character varying", 17);
	}
}

static int bin_ok(sl_pg_writer *w, bool *ok)
{
	const sl_schema *sc = w->sc;
	sl_buf b;
	*ok = false;
	sl_buf_init(&b, 1 << 16);
	if (sl__pg_ident(&b, sc->table) || sl_buf_append(&b, "", 1)) {
		sl_buf_free(&b);
		return SL_NOMEM;
	}
	const char *p[1] = {b.p};
	PGresult *res = PQexecParams(
	    sl__pg_conn(w->c),
	    "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
	    " WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
	    1, NULL, p, NULL, NULL, 0);
	int rc = 0;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = sl__pg_fail(w->c, res, "columns of the target table");
	} else {
		size_t good = 0;
		for (int r = 0; r < PQntuples(res); r++) {
			const char *name = PQgetvalue(res, r, 0), *have = PQgetvalue(res, r, 1);
			if (!strcmp(name, "_sluice_job"))
				good += !strcmp(have, "text");
			else if (!strcmp(name, "_sluice_rec"))
				good += !strcmp(have, "bigint");
			for (size_t i = 0; i < sc->ncols; i++)
				if (!strcmp(name, sc->cols[i].name))
					good += bin_type(&sc->cols[i], have);
		}
		*ok = good == sc->ncols + 2;
	}
	PQclear(res);
	sl_buf_free(&b);
	return rc;
}

int sl__pg_writer_new(sl_pg *c, const sl_schema *sc, const char *job_id, sl_pg_writer **out)
{
	sl_pg_writer *w = calloc(1, sizeof *w);
	*out = w;
	if (!w)
		return SL_NOMEM;
	w->c = c;
	w->sc = sc;
	w->upsert = sc->nkey && sc->on_duplicate == SL_DUP_UPDATE;
	w->fast = sc->nkey && !w->upsert && fast_keys(sc);
	snprintf(w->job, sizeof w->job, "%s", job_id);
	sl_buf_init(&w->data, LINE_MAX_BYTES);
	/* binary unless SLUICE_PG_COPY=text (a knob for measuring both) */
	const char *f = getenv("SLUICE_PG_COPY");
	w->bin_stage = !(f && !strcmp(f, "text"));
	int rc = w->bin_stage ? bin_ok(w, &w->bin_target) : 0;
	if (rc == 0 && sc->distributed)
		rc = sl__pg_citus_shards(c, sc->table, &w->shards, &w->nshards);
	return rc ? rc : build(w);
}

/* The writer's statements, freed (before they are built again). */
static void free_statements(sl_pg_writer *w)
{
	free(w->copy_target);
	free(w->copy_stage);
	free(w->stage_ddl);
	free(w->move);
	free(w->fast_insert);
	w->copy_target = w->copy_stage = w->stage_ddl = w->move = w->fast_insert = NULL;
}

int sl__pg_writer_dups_in(sl_pg_writer *w, const char *table)
{
	free(w->dups_in);
	if (!(w->dups_in = strdup(table)))
		return SL_NOMEM;
	free_statements(w);
	return build(w);
}

void sl__pg_writer_free(sl_pg_writer *w)
{
	if (!w)
		return;
	free(w->dups_in);
	free_statements(w);
	free(w->shards);
	free(w->slot);
	sl_buf_free(&w->data);
	free(w);
}
