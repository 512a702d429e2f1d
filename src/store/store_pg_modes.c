/*
 * The PostgreSQL sink's load modes (docs/ingest.md, Load modes; the SQLite
 * sink's are store_sqlite_modes.c, with the same semantics): where a job
 * of each mode writes its rows, and what makes them the table's when the
 * job finishes, inside the transaction that finishes it (the one that
 * commits its last chunk, chunk_run.c), so a kill -9 before that commit
 * leaves the target as it was and the resume does it again.
 *
 *   append   rows go into the target as each chunk commits;
 *   replace  into a shadow table "_sluice_shadow_<job>_<table>"; at the
 *            finish the target is dropped and the shadow renamed to it, in
 *            one transaction (DDL is transactional in PostgreSQL: a reader
 *            sees the old table or the new one, never neither);
 *   atomic   into a stage "_sluice_stage_<job>_<table>"; at the finish the
 *            stage's rows are inserted into the target in key order (an
 *            upsert with on_duplicate: update) and the stage dropped.
 *
 * The shadow and the stage are made with CREATE TABLE ... (LIKE target
 * INCLUDING ALL): every column the target has (sluice's own, such as the
 * job column and the load order's identity, and any a user or a later
 * sluice added), its defaults, CHECK and NOT NULL constraints, its primary
 * key and indexes. So what the target would refuse the shadow refuses
 * (row by row, as DB_CONSTRAINT), and a replaced table keeps its indexes.
 * LIKE copies no foreign keys, grants, triggers or dependent views: a
 * replaced table has none of them (and a view on the target makes the
 * swap fail: docs/scaling.md).
 *
 * Names are cut to PostgreSQL's 63 bytes (at a character's boundary); the
 * job id comes first so the name stays the job's own when the table's
 * name is long.
 *
 * Duplicates in atomic mode are found as an append load finds them: a key
 * the target holds is a duplicate (the writer looks in the target too:
 * sl__pg_writer_dups_in), a key an earlier record of the job staged is one
 * too (the stage's own key). A key another job loads into the target after
 * it was staged would make the merge load it twice: the merge inserts with
 * ON CONFLICT DO NOTHING and, when any staged row did not go in, refuses
 * (MODE_CONFLICT), and the engine rolls the transaction back: the target
 * stays as it was. Done in the one INSERT, there is no window between a
 * check and the merge for another job's commit to fall into.
 *
 * The shadow and the stage are real tables: they outlive a kill, a failed
 * or a cancelled job (so `sluice retry` continues them), and go when the
 * job is rolled back (sl__pq_mode_drop, from the sink's delete_job).
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_pg_int.h"

/* PostgreSQL's longest identifier (NAMEDATALEN - 1). */
#define PG_NAME_MAX 63

int sl__pq_mode_table(const char *table, sl_load_mode mode, const char *job_id,
                      char out[SL_PQ_MODE_TABLE_MAX])
{
	const char *pre = mode == SL_MODE_REPLACE  ? "_sluice_shadow_"
	                  : mode == SL_MODE_ATOMIC ? "_sluice_stage_"
	                                           : NULL;
	if (!pre)
		return SL_INTERNAL;
	snprintf(out, SL_PQ_MODE_TABLE_MAX, "%s%s_%s", pre, job_id, table);
	size_t n = strlen(out);
	if (n > PG_NAME_MAX) {
		n = PG_NAME_MAX;
		/* not inside a UTF-8 character */
		while (n > 0 && ((unsigned char)out[n] & 0xC0) == 0x80)
			n--;
		out[n] = 0;
	}
	return 0;
}

/* Run the statements in b (made of parts; rc the parts' failures). */
static int exec_buf(pq_store *q, sl_buf *b, int rc)
{
	if (rc || sl_buf_append(b, "", 1))
		return SL_NOMEM;
	return sl__pg_exec(q->pg, b->p);
}

/* Does table exist (1), not (0), or a code. */
static int table_exists(pq_store *q, const char *table)
{
	sl_buf b;
	char have[8];
	sl_buf_init(&b, 4096);
	int rc = sl__pg_ident(&b, table) | sl_buf_append(&b, "", 1);
	if (rc == 0) {
		const char *p[1] = {b.p};
		rc = sl__pg_value(q->pg, "SELECT to_regclass($1) IS NOT NULL", 1, p, have,
		                  sizeof have);
		rc = rc < 0 ? rc : rc == 1 && !strcmp(have, "t");
	} else {
		rc = SL_NOMEM;
	}
	sl_buf_free(&b);
	return rc;
}

int sl__pq_mode_prepare(pq_store *q, const sl_schema *sc, const char *job_id)
{
	int rc = sl__pq_mode_table(sc->table, sc->mode, job_id, q->wtable);
	if (rc < 0)
		return rc;
	/* the writer's schema: sc's, writing the shadow or the stage */
	q->wsc = *sc;
	q->wsc.table = q->wtable;
	bool own = PQtransactionStatus(sl__pg_conn(q->pg)) == PQTRANS_IDLE;
	if (own && (rc = sl__pg_begin(q->pg)) < 0)
		return rc;
	/* two workers preparing one job wait for each other, so neither
	   trips on the other's half-made CREATE */
	sl_buf b;
	sl_buf_init(&b, 1 << 16);
	rc = sl__pg_ident(&b, q->wtable) | sl_buf_append(&b, "", 1);
	if (rc == 0) {
		const char *p[1] = {b.p};
		rc = sl__pg_execp(q->pg, "SELECT pg_advisory_xact_lock(hashtext($1))", 1, p);
	} else {
		rc = SL_NOMEM;
	}
	if (rc == 0) {
		sl_buf_reset(&b);
		rc = exec_buf(q, &b,
		              sl__pg_add(&b, "CREATE TABLE IF NOT EXISTS ") |
		                  sl__pg_ident(&b, q->wtable) | sl__pg_add(&b, " (LIKE ") |
		                  sl__pg_ident(&b, sc->table) | sl__pg_add(&b, " INCLUDING ALL)"));
	}
	sl_buf_free(&b);
	if (own)
		rc = rc == 0 ? sl__pg_commit(q->pg) : (sl__pg_rollback(q->pg), rc);
	return rc;
}

/* The shadow becomes the target: the old table gone, the shadow renamed. */
static int swap_in(pq_store *q, const sl_schema *sc)
{
	sl_buf b;
	sl_buf_init(&b, 1 << 16);
	int rc = exec_buf(q, &b,
	                  sl__pg_add(&b, "DROP TABLE ") | sl__pg_ident(&b, sc->table) |
	                      sl__pg_add(&b, "; ALTER TABLE ") | sl__pg_ident(&b, q->wtable) |
	                      sl__pg_add(&b, " RENAME TO ") | sl__pg_ident(&b, sc->table));
	sl_buf_free(&b);
	return rc;
}

static bool is_key(const sl_schema *sc, const char *name)
{
	for (size_t k = 0; k < sc->nkey; k++)
		if (!strcmp(sc->cols[sc->key[k]].name, name))
			return true;
	return false;
}

static int add_key(sl_buf *b, const sl_schema *sc)
{
	int rc = 0;
	for (size_t k = 0; k < sc->nkey; k++)
		rc |= (k ? sl__pg_add(b, ", ") : 0) | sl__pg_ident(b, sc->cols[sc->key[k]].name);
	return rc;
}

/* The stage's rows join the target in key order, then the stage goes.
   Every column the stage has moves but the ones the target makes itself
   (the load order's identity, generated columns). */
static int merge_in(pq_store *q, const sl_schema *sc)
{
	bool upsert = sc->nkey && sc->on_duplicate == SL_DUP_UPDATE;
	sl_buf b, cols;
	PGresult *res = NULL, *moved = NULL;
	int rc;
	sl_buf_init(&b, 1 << 20);
	sl_buf_init(&cols, 1 << 20);
	if (sl__pg_ident(&b, q->wtable) || sl_buf_append(&b, "", 1)) {
		rc = SL_NOMEM;
		goto out;
	}
	pq_params p = {.n = 0};
	sl__pq_str(&p, b.p);
	res = sl__pq_run(q,
	                 "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1)"
	                 " AND attnum > 0 AND NOT attisdropped AND attidentity = ''"
	                 " AND attgenerated = '' ORDER BY attnum",
	                 &p, &rc);
	if (!res)
		goto out;
	for (int r = 0; r < PQntuples(res); r++)
		rc |=
		    (r ? sl__pg_add(&cols, ", ") : 0) | sl__pg_ident(&cols, PQgetvalue(res, r, 0));
	if (rc || sl_buf_append(&cols, "", 1)) {
		rc = SL_NOMEM;
		goto out;
	}
	/* WITH ins AS (INSERT INTO target (cols) SELECT cols FROM stage ORDER
	   BY key ON CONFLICT (key) DO NOTHING | DO UPDATE ... RETURNING 1)
	   SELECT the staged rows that did not go in */
	sl_buf_reset(&b);
	rc = sl__pg_add(&b, "WITH ins AS (INSERT INTO ") | sl__pg_ident(&b, sc->table) |
	     sl__pg_add(&b, " (") | sl__pg_add(&b, cols.p) | sl__pg_add(&b, ") SELECT ") |
	     sl__pg_add(&b, cols.p) | sl__pg_add(&b, " FROM ") | sl__pg_ident(&b, q->wtable);
	if (sc->nkey)
		rc |= sl__pg_add(&b, " ORDER BY ") | add_key(&b, sc) |
		      sl__pg_add(&b, " ON CONFLICT (") | add_key(&b, sc) | sl__pg_add(&b, ") ");
	if (sc->nkey && !upsert)
		rc |= sl__pg_add(&b, "DO NOTHING");
	if (upsert) {
		/* the target holds no row of this job: staged rows win */
		rc |= sl__pg_add(&b, "DO UPDATE SET ");
		bool first = true;
		for (int r = 0; r < PQntuples(res); r++) {
			const char *c = PQgetvalue(res, r, 0);
			if (is_key(sc, c))
				continue;
			rc |= sl__pg_add(&b, first ? "" : ", ") | sl__pg_ident(&b, c) |
			      sl__pg_add(&b, " = EXCLUDED.") | sl__pg_ident(&b, c);
			first = false;
		}
	}
	rc |= sl__pg_add(&b, " RETURNING 1) SELECT (SELECT count(*) FROM ") |
	      sl__pg_ident(&b, q->wtable) | sl__pg_add(&b, ") - (SELECT count(*) FROM ins)") |
	      sl_buf_append(&b, "", 1);
	if (rc) {
		rc = SL_NOMEM;
		goto out;
	}
	if (!(moved = sl__pq_run(q, b.p, NULL, &rc)))
		goto out;
	long long left = PQntuples(moved) ? strtoll(PQgetvalue(moved, 0, 0), NULL, 10) : 0;
	if (left > 0) {
		rc =
		    sl__pg_seterr(q->pg, SL_MODE_CONFLICT,
		                  "%lld staged keys were loaded into table %s by another job while "
		                  "this one ran: nothing merged",
		                  left, sc->table);
		goto out;
	}
	sl_buf_reset(&b);
	rc = exec_buf(q, &b, sl__pg_add(&b, "DROP TABLE ") | sl__pg_ident(&b, q->wtable));
out:
	PQclear(res);
	PQclear(moved);
	sl_buf_free(&cols);
	sl_buf_free(&b);
	return rc;
}

int sl__pq_sink_finish(sl_sink *k)
{
	pq_store *q = pq_of_sink(k);
	const sl_schema *sc = q->schema;
	/* append: the rows are in the table already. Otherwise the writer's
	   statements stay: when this transaction rolls back (a failed commit,
	   then the chunk's retry) they write into the restored shadow or stage
	   again; once it commits the job writes no more, and the next
	   prepare() makes new ones. */
	if (!sc || !q->wtable[0])
		return 0;
	return sc->mode == SL_MODE_REPLACE ? swap_in(q, sc) : merge_in(q, sc);
}

int sl__pq_mode_drop(pq_store *q, const char *table, const char *job_id, uint64_t *rows)
{
	static const sl_load_mode modes[] = {SL_MODE_REPLACE, SL_MODE_ATOMIC};
	int rc = 0;
	for (size_t m = 0; m < 2 && rc == 0; m++) {
		char name[SL_PQ_MODE_TABLE_MAX];
		if ((rc = sl__pq_mode_table(table, modes[m], job_id, name)) < 0)
			break;
		if ((rc = table_exists(q, name)) <= 0)
			continue;
		sl_buf b;
		sl_buf_init(&b, 4096);
		rc = sl__pg_add(&b, "SELECT count(*) FROM ") | sl__pg_ident(&b, name) |
		             sl_buf_append(&b, "", 1)
		         ? SL_NOMEM
		         : 0;
		PGresult *res = rc ? NULL : sl__pq_run(q, b.p, NULL, &rc);
		if (res && PQntuples(res))
			*rows += strtoull(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		if (rc == 0) {
			sl_buf_reset(&b);
			rc =
			    exec_buf(q, &b, sl__pg_add(&b, "DROP TABLE ") | sl__pg_ident(&b, name));
		}
		sl_buf_free(&b);
	}
	return rc < 0 ? rc : 0;
}
