/*
 * The sink conformance suite (backends.h): what every backend of
 * src/store/sink.h must do, through its inline wrappers only, on a real
 * database per test: rows written, duplicates told (the earliest record of
 * a key wins, or with on_duplicate: update the latest), read back, deleted
 * by job; and the transaction it shares with the job store, where a
 * rollback undoes a chunk's rows and its job's counters together.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/base.h"
#include "sluice/error.h"
#include "backends.h"

/* What the sink told: rows loaded (updated: how many of them were updates),
   and the record numbers of duplicates. */
struct told {
	uint64_t loaded, updated;
	uint64_t dups[256];
	size_t ndups;
};

static int told_loaded(void *ctx, size_t n)
{
	((struct told *)ctx)->loaded += n;
	return 0;
}

static int told_updated(void *ctx, size_t n)
{
	((struct told *)ctx)->updated += n;
	return 0;
}

static int told_dup(void *ctx, const sl_sink_row *r)
{
	struct told *t = ctx;
	if (t->ndups < 256)
		t->dups[t->ndups++] = r->record;
	return 0;
}

/* Write rows (record numbers from rec0) as one chunk: write, flush. */
static void write_chunk(sl_sink *k, const sl_value (*vals)[3], size_t n, uint64_t rec0,
                        struct told *t)
{
	sl_sink_row rows[64];
	assert_true(n <= 64);
	for (size_t i = 0; i < n; i++)
		rows[i] = (sl_sink_row){.record = rec0 + i, .line = rec0 + i + 1, .vals = vals[i]};
	sl_sink_cb cb = {told_loaded, told_dup, t, NULL, told_updated};
	OK(k->txn, sl_sink_write(k, rows, n, &cb));
	OK(k->txn, sl_sink_flush(k, &cb));
}

/* --- the target table and records ------------------------------------------------------ */

static const char target_yaml[] = "name: t\ntable: loaded\nkey: [id]\non_duplicate: reject\n"
                                  "columns:\n"
                                  "  - {name: id, type: integer, required: true}\n"
                                  "  - {name: who, type: text, index: true}\n"
                                  "  - {name: cost, type: decimal, precision: 10, scale: 2}\n";
static const char nokey_yaml[] = "name: n\ntable: plain\ncolumns:\n"
                                 "  - {name: a, type: integer}\n  - {name: b, type: text}\n";

static sl_schema *schema(const char *yaml)
{
	char err[256] = "";
	sl_schema *sc = NULL;
	if (sl_schema_parse(yaml, strlen(yaml), "t.yaml", &sc, err, sizeof err))
		fail_msg("schema: %s", err);
	return sc;
}

struct recs {
	int n;
	int64_t ids[64];
	char who[64][8];
	char job[64][8];
	int64_t last_rowid;
};

static int collect_record(void *ctx, const sl_record *r)
{
	struct recs *w = ctx;
	assert_true(r->rowid > w->last_rowid); /* rowid order */
	w->last_rowid = r->rowid;
	if (w->n < 64) {
		w->ids[w->n] = r->vals[0].i;
		if (r->vals[1].kind == SL_VALUE_TEXT)
			snprintf(w->who[w->n], 8, "%.*s", (int)r->vals[1].s.n, r->vals[1].s.p);
		else
			snprintf(w->who[w->n], 8, "NULL");
		snprintf(w->job[w->n], 8, "%s", r->job_id);
		w->n++;
	}
	return 0;
}

static void target_rows_insert_dedupe_read_and_delete(void **state)
{
	store_fx *f = *state;
	sl_sink *s = f->s.sink;
	sl_schema *sc = schema(target_yaml);
	struct recs w = {0};
	/* no table yet: no rows, not an error */
	OK(s->txn, sl_sink_records_each(s, sc, NULL, NULL, 0, NULL, 0, 100, collect_record, &w));
	assert_int_equal(w.n, 0);

	OK(s->txn, sl_sink_prepare(s, sc, "ja"));
	sl_value v[6][3];
	for (int i = 1; i <= 5; i++) {
		v[i - 1][0] = (sl_value){.kind = SL_VALUE_INT, .i = i};
		v[i - 1][1] = (sl_value){.kind = SL_VALUE_TEXT,
		                         .s = i % 2 ? SL_STR_LIT("odd") : SL_STR_LIT("even")};
		v[i - 1][2] = (sl_value){.kind = SL_VALUE_TEXT, .s = SL_STR_LIT("1.50")};
	}
	v[5][0] = (sl_value){.kind = SL_VALUE_INT, .i = 3}; /* a duplicate of record 2 */
	v[5][1] = v[5][2] = (sl_value){.kind = SL_VALUE_NULL};
	struct told t = {0};
	OK(s->txn, sl_txn_begin(s->txn));
	write_chunk(s, (const sl_value(*)[3])v, 6, 0, &t);
	OK(s->txn, sl_txn_commit(s->txn));
	assert_int_equal(t.loaded, 5);
	assert_int_equal(t.ndups, 1);
	assert_int_equal(t.dups[0], 5);
	char owner[SL_JOB_ID_LEN] = "x";
	uint64_t orec = 9;
	OK(s->txn, sl_sink_key_owner(s, v[5], owner, &orec));
	assert_string_equal(owner, "ja");
	/* the record the row came from (provenance); 0 where a backend has none yet */
	assert_int_equal(orec, f->b->no_provenance ? 0 : 2);
	/* a second job adds two rows */
	OK(s->txn, sl_sink_prepare(s, sc, "jb"));
	for (int i = 6; i <= 7; i++) {
		v[i - 6][0] = (sl_value){.kind = SL_VALUE_INT, .i = i};
		v[i - 6][1] = v[i - 6][2] = (sl_value){.kind = SL_VALUE_NULL};
	}
	memset(&t, 0, sizeof t);
	OK(s->txn, sl_txn_begin(s->txn));
	write_chunk(s, (const sl_value(*)[3])v, 2, 100, &t);
	OK(s->txn, sl_txn_commit(s->txn));
	assert_int_equal(t.loaded, 2);
	assert_int_equal(t.ndups, 0);
	v[0][0].i = 99;
	OK(s->txn, sl_sink_key_owner(s, v[0], owner, &orec));
	assert_string_equal(owner, ""); /* nobody's */

	OK(s->txn, sl_sink_records_each(s, sc, NULL, NULL, 0, NULL, 0, 100, collect_record, &w));
	assert_int_equal(w.n, 7);
	for (int i = 0; i < 7; i++)
		assert_int_equal(w.ids[i], i + 1);
	assert_string_equal(w.who[2], "odd"); /* the duplicate changed nothing */
	assert_string_equal(w.job[6], "jb");
	/* filters: who = odd; who IS NULL; one job; a page after a rowid */
	size_t col_who = 1;
	sl_value odd = {.kind = SL_VALUE_TEXT, .s = SL_STR_LIT("odd")},
	         null = {.kind = SL_VALUE_NULL};
	memset(&w, 0, sizeof w);
	OK(s->txn,
	   sl_sink_records_each(s, sc, &col_who, &odd, 1, NULL, 0, 100, collect_record, &w));
	assert_int_equal(w.n, 3);
	assert_int_equal(w.ids[0] + w.ids[1] + w.ids[2], 1 + 3 + 5);
	memset(&w, 0, sizeof w);
	OK(s->txn,
	   sl_sink_records_each(s, sc, &col_who, &null, 1, NULL, 0, 100, collect_record, &w));
	assert_int_equal(w.n, 2);
	memset(&w, 0, sizeof w);
	OK(s->txn, sl_sink_records_each(s, sc, NULL, NULL, 0, "ja", 0, 100, collect_record, &w));
	assert_int_equal(w.n, 5);
	memset(&w, 0, sizeof w);
	OK(s->txn, sl_sink_records_each(s, sc, NULL, NULL, 0, NULL, 0, 2, collect_record, &w));
	assert_int_equal(w.n, 2);
	int64_t after = w.last_rowid;
	memset(&w, 0, sizeof w);
	OK(s->txn,
	   sl_sink_records_each(s, sc, NULL, NULL, 0, NULL, after, 100, collect_record, &w));
	assert_int_equal(w.n, 5);
	assert_int_equal(w.ids[0], 3);

	uint64_t rows = 0;
	OK(s->txn, sl_sink_delete_job(s, "loaded", "ja", &rows));
	assert_int_equal(rows, 5);
	memset(&w, 0, sizeof w);
	OK(s->txn, sl_sink_records_each(s, sc, NULL, NULL, 0, NULL, 0, 100, collect_record, &w));
	assert_int_equal(w.n, 2);
	sl_schema_free(sc);
}

static void target_insert_many_without_a_key(void **state)
{
	store_fx *f = *state;
	sl_sink *s = f->s.sink;
	sl_schema *sc = schema(nokey_yaml);
	OK(s->txn, sl_sink_prepare(s, sc, "jm"));
	/* 100 rows: more than one multi-row statement's worth */
	static sl_value rows[100][2];
	sl_sink_row r[100];
	for (int i = 0; i < 100; i++) {
		rows[i][0] = (sl_value){.kind = SL_VALUE_INT, .i = i};
		rows[i][1] = (sl_value){.kind = SL_VALUE_TEXT, .s = SL_STR_LIT("same")};
		r[i] = (sl_sink_row){.record = (uint64_t)i, .vals = rows[i]};
	}
	struct told t = {0};
	sl_sink_cb cb = {told_loaded, told_dup, &t, NULL, told_updated};
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_sink_write(s, r, 100, &cb));
	OK(s->txn, sl_sink_write(s, r, 3, &cb)); /* no key: repeats are rows too */
	OK(s->txn, sl_sink_flush(s, &cb));
	OK(s->txn, sl_txn_commit(s->txn));
	assert_int_equal(t.loaded, 103);
	assert_int_equal(t.ndups, 0);
	struct recs w = {0};
	int64_t after = 0;
	int total = 0;
	long sum = 0;
	do {
		memset(&w, 0, sizeof w);
		w.last_rowid = after;
		OK(s->txn,
		   sl_sink_records_each(s, sc, NULL, NULL, 0, NULL, after, 64, collect_record, &w));
		for (int i = 0; i < w.n; i++)
			sum += w.ids[i];
		total += w.n;
		after = w.last_rowid;
	} while (w.n == 64);
	assert_int_equal(total, 103);
	assert_int_equal(sum, 99 * 100 / 2 + 0 + 1 + 2);
	sl_schema_free(sc);
}

/* A table already there with other columns is refused, not altered. */
static void target_with_other_columns_is_refused(void **state)
{
	store_fx *f = *state;
	sl_sink *s = f->s.sink;
	sl_schema *a = schema(nokey_yaml);
	OK(s->txn, sl_sink_prepare(s, a, "j1"));
	sl_schema_free(a);
	sl_schema *b = schema("name: n\ntable: plain\ncolumns:\n  - {name: a, type: integer}\n"
	                      "  - {name: zzz, type: text}\n");
	int rc = sl_sink_prepare(s, b, "j2");
	assert_true(rc < 0);
	assert_non_null(strstr(sl_sink_errmsg(s), "zzz"));
	sl_schema_free(b);
}

static const char upd_yaml[] = "name: u\ntable: upd\nkey: [id]\non_duplicate: update\n"
                               "columns:\n"
                               "  - {name: id, type: integer, required: true}\n"
                               "  - {name: who, type: text}\n"
                               "  - {name: cost, type: text}\n";

/* Keys out of order, repeated inside a write, across writes of a chunk
   and across chunks: the earliest record of a key is the row, every later
   one a duplicate, whatever order the rows came in. */
static void earliest_record_of_a_key_wins(void **state)
{
	store_fx *f = *state;
	sl_sink *s = f->s.sink;
	sl_schema *sc = schema(target_yaml);
	OK(s->txn, sl_sink_prepare(s, sc, "je"));
	/* chunk 1: records 0..9 with keys 5 3 5 1 9 3 7 1 1 2, in two writes */
	static const int keys[10] = {5, 3, 5, 1, 9, 3, 7, 1, 1, 2};
	sl_value v[10][3];
	sl_sink_row r[10];
	for (int i = 0; i < 10; i++) {
		char *who = malloc(8);
		snprintf(who, 8, "r%d", i);
		v[i][0] = (sl_value){.kind = SL_VALUE_INT, .i = keys[i]};
		v[i][1] = (sl_value){.kind = SL_VALUE_TEXT, .s = sl_str_make(who, strlen(who))};
		v[i][2] = (sl_value){.kind = SL_VALUE_NULL};
		r[i] = (sl_sink_row){.record = (uint64_t)i, .vals = v[i]};
	}
	struct told t = {0};
	sl_sink_cb cb = {told_loaded, told_dup, &t, NULL, told_updated};
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_sink_write(s, r, 6, &cb));
	OK(s->txn, sl_sink_write(s, r + 6, 4, &cb));
	OK(s->txn, sl_sink_flush(s, &cb));
	OK(s->txn, sl_txn_commit(s->txn));
	assert_int_equal(t.loaded + t.ndups, 10); /* every row told once */
	assert_int_equal(t.loaded, 6);            /* keys 1 2 3 5 7 9 */
	uint64_t dup_set = 0;
	for (size_t i = 0; i < t.ndups; i++)
		dup_set |= 1u << t.dups[i];
	assert_int_equal(dup_set, (1u << 2) | (1u << 5) | (1u << 7) | (1u << 8));
	/* chunk 2: key 3 again (record 10) and a new key 4 */
	memset(&t, 0, sizeof t);
	sl_value w2[2][3] = {
	    {{.kind = SL_VALUE_INT, .i = 4}, {.kind = SL_VALUE_NULL}, {.kind = SL_VALUE_NULL}},
	    {{.kind = SL_VALUE_INT, .i = 3}, {.kind = SL_VALUE_NULL}, {.kind = SL_VALUE_NULL}}};
	OK(s->txn, sl_txn_begin(s->txn));
	write_chunk(s, (const sl_value(*)[3])w2, 2, 10, &t);
	OK(s->txn, sl_txn_commit(s->txn));
	assert_int_equal(t.loaded, 1);
	assert_int_equal(t.ndups, 1);
	assert_int_equal(t.dups[0], 11);
	/* the rows are the earliest records: key 1 from r3, 3 from r1, 5 from r0 */
	struct recs got = {0};
	OK(s->txn, sl_sink_records_each(s, sc, NULL, NULL, 0, NULL, 0, 100, collect_record, &got));
	assert_int_equal(got.n, 7);
	for (int i = 0; i < got.n; i++) {
		const char *want = got.ids[i] == 1   ? "r3"
		                   : got.ids[i] == 3 ? "r1"
		                   : got.ids[i] == 5 ? "r0"
		                   : got.ids[i] == 9 ? "r4"
		                   : got.ids[i] == 7 ? "r6"
		                   : got.ids[i] == 2 ? "r9"
		                                     : "NULL";
		assert_string_equal(got.who[i], want);
	}
	for (int i = 0; i < 10; i++)
		free((void *)v[i][1].s.p);
	sl_schema_free(sc);
}

/* on_duplicate: update: the latest record of a key is the row. */
static void update_keeps_the_latest_record(void **state)
{
	store_fx *f = *state;
	sl_sink *s = f->s.sink;
	sl_schema *sc = schema(upd_yaml);
	OK(s->txn, sl_sink_prepare(s, sc, "ju"));
	static const int keys[6] = {2, 1, 2, 1, 3, 2};
	static const char *const who[6] = {"a", "b", "c", "d", "e", "f"};
	sl_value v[6][3];
	for (int i = 0; i < 6; i++) {
		v[i][0] = (sl_value){.kind = SL_VALUE_INT, .i = keys[i]};
		v[i][1] = (sl_value){.kind = SL_VALUE_TEXT, .s = sl_str_make(who[i], 1)};
		v[i][2] = (sl_value){.kind = SL_VALUE_NULL};
	}
	struct told t = {0};
	OK(s->txn, sl_txn_begin(s->txn));
	write_chunk(s, (const sl_value(*)[3])v, 4, 0, &t);
	write_chunk(s, (const sl_value(*)[3])(v + 4), 2, 4, &t);
	OK(s->txn, sl_txn_commit(s->txn));
	assert_int_equal(t.loaded, 6);  /* inserted or updated: all in the table */
	assert_int_equal(t.updated, 3); /* keys 1, 2, 3 new; 2, 1, 2 again */
	assert_int_equal(t.ndups, 0);
	struct recs got = {0};
	OK(s->txn, sl_sink_records_each(s, sc, NULL, NULL, 0, NULL, 0, 100, collect_record, &got));
	assert_int_equal(got.n, 3);
	for (int i = 0; i < got.n; i++)
		assert_string_equal(got.who[i], got.ids[i] == 1   ? "d"
		                                : got.ids[i] == 2 ? "f"
		                                                  : "e");
	sl_schema_free(sc);
}

/* A chunk rolled back and discarded leaves nothing behind: not in the
   table, not in what the next chunk flushes. */
static void a_discarded_chunk_leaves_nothing(void **state)
{
	store_fx *f = *state;
	sl_sink *s = f->s.sink;
	sl_schema *sc = schema(target_yaml);
	OK(s->txn, sl_sink_prepare(s, sc, "jd"));
	sl_value v[3][3] = {
	    {{.kind = SL_VALUE_INT, .i = 1}, {.kind = SL_VALUE_NULL}, {.kind = SL_VALUE_NULL}},
	    {{.kind = SL_VALUE_INT, .i = 2}, {.kind = SL_VALUE_NULL}, {.kind = SL_VALUE_NULL}},
	    {{.kind = SL_VALUE_INT, .i = 3}, {.kind = SL_VALUE_NULL}, {.kind = SL_VALUE_NULL}}};
	sl_sink_row r[3];
	for (int i = 0; i < 3; i++)
		r[i] = (sl_sink_row){.record = (uint64_t)i, .vals = v[i]};
	struct told t = {0};
	sl_sink_cb cb = {told_loaded, told_dup, &t, NULL, told_updated};
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_sink_write(s, r, 2, &cb)); /* keys 1, 2: maybe deferred */
	sl_txn_rollback(s->txn);
	sl_sink_discard(s);
	memset(&t, 0, sizeof t);
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_sink_write(s, r + 2, 1, &cb)); /* key 3 */
	OK(s->txn, sl_sink_flush(s, &cb));
	OK(s->txn, sl_txn_commit(s->txn));
	assert_int_equal(t.loaded, 1);
	struct recs got = {0};
	OK(s->txn, sl_sink_records_each(s, sc, NULL, NULL, 0, NULL, 0, 100, collect_record, &got));
	assert_int_equal(got.n, 1);
	assert_int_equal(got.ids[0], 3);
	sl_schema_free(sc);
}

/* Principle 1: a chunk's rows, its reject, its chunk row and its job's
   counters are in one transaction: a rollback undoes all of them, a
   commit keeps all of them. */
static void one_transaction_for_rows_and_counters(void **state)
{
	store_fx *f = *state;
	sl_sink *k = f->s.sink;
	sl_jobstore *js = f->s.js;
	assert_true(sl_store_shared(k, js));
	assert_ptr_equal(sl_sink_txn(k), sl_js_txn(js));
	sl_schema *sc = schema(target_yaml);
	sl_job j = {0};
	snprintf(j.id, sizeof j.id, "jt");
	j.status = SL_JOB_PROCESSING;
	j.table = strdup("loaded");
	sl_chunk c = {.seq = 0, .length = 10, .records_planned = 3, .status = SL_CHUNK_QUEUED};
	OK(k->txn, sl_js_job_insert(js, &j));
	OK(k->txn, sl_js_chunks_replace(js, "jt", &c, 1));
	OK(k->txn, sl_sink_prepare(k, sc, "jt"));
	sl_value v[2][3] = {
	    {{.kind = SL_VALUE_INT, .i = 1}, {.kind = SL_VALUE_NULL}, {.kind = SL_VALUE_NULL}},
	    {{.kind = SL_VALUE_INT, .i = 2}, {.kind = SL_VALUE_NULL}, {.kind = SL_VALUE_NULL}}};
	sl_reject rj = {.record = 2,
	                .line = 3,
	                .column = -1,
	                .code = SL_CSV_TOO_FEW_FIELDS,
	                .message = SL_STR_LIT("short"),
	                .raw = SL_STR_LIT("x")};
	sl_job_counts d = {.rows_read = 3,
	                   .rows_loaded = 2,
	                   .rows_rejected = 1,
	                   .chunks_processed = 1,
	                   .chunks_succeeded = 1,
	                   .bytes_done = 10};
	d.by_code[sl_error_index(SL_CSV_TOO_FEW_FIELDS)] = 1;
	c.status = SL_CHUNK_SUCCEEDED;
	for (int round = 0; round < 2; round++) {
		struct told t = {0};
		OK(k->txn, sl_txn_begin(k->txn));
		write_chunk(k, (const sl_value(*)[3])v, 2, 0, &t);
		assert_int_equal(t.loaded, 2);
		OK(k->txn, sl_js_reject_insert(js, "jt", 0, &rj, NULL));
		OK(k->txn, sl_js_chunk_commit(js, "jt", &c, &d));
		if (round == 0) {
			sl_txn_rollback(k->txn);
			sl_sink_discard(k);
		} else {
			OK(k->txn, sl_txn_commit(k->txn));
		}
		struct recs got = {0};
		OK(k->txn,
		   sl_sink_records_each(k, sc, NULL, NULL, 0, NULL, 0, 100, collect_record, &got));
		sl_job back = {0};
		assert_int_equal(sl_js_job_get(js, "jt", &back), 1);
		sl_chunk *ch = NULL;
		size_t n = 0;
		OK(k->txn, sl_js_chunks_get(js, "jt", &ch, &n));
		assert_int_equal(n, 1);
		if (round == 0) { /* nothing of it */
			assert_int_equal(got.n, 0);
			assert_true(back.rows_loaded == 0 && back.chunks_succeeded == 0 &&
			            back.rejects_by_code[sl_error_index(SL_CSV_TOO_FEW_FIELDS)] ==
			                0);
			assert_int_equal(ch[0].status, SL_CHUNK_QUEUED);
		} else { /* all of it */
			assert_int_equal(got.n, 2);
			assert_true(back.rows_loaded == 2 && back.rows_rejected == 1 &&
			            back.chunks_succeeded == 1 &&
			            back.rejects_by_code[sl_error_index(SL_CSV_TOO_FEW_FIELDS)] ==
			                1);
			assert_int_equal(ch[0].status, SL_CHUNK_SUCCEEDED);
		}
		free(ch);
		sl_job_clear(&back);
	}
	sl_job_clear(&j);
	sl_schema_free(sc);
}

/* Load modes: a replace or atomic job's rows are not the table's until
   finish() in the transaction that finishes it (a rollback of that
   transaction leaves the table as it was); atomic duplicates are the
   table's keys and the job's earlier records; a rollback of a job that
   never finished drops what it wrote aside. */
static void ids_are(sl_sink *s, sl_schema *sc, const char *want)
{
	struct recs got = {0};
	char ids[256] = "";
	OK(s->txn, sl_sink_records_each(s, sc, NULL, NULL, 0, NULL, 0, 100, collect_record, &got));
	for (int i = 0; i < got.n; i++)
		snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%lld:%s", i ? " " : "",
		         (long long)got.ids[i], got.job[i]);
	assert_string_equal(ids, want);
}

/* One chunk in a transaction of its own, committed (t zeroed first). */
static void committed_chunk(sl_sink *s, sl_value (*v)[3], size_t n, uint64_t rec0, struct told *t)
{
	memset(t, 0, sizeof *t);
	OK(s->txn, sl_txn_begin(s->txn));
	write_chunk(s, (const sl_value(*)[3])v, n, rec0, t);
	OK(s->txn, sl_txn_commit(s->txn));
}

/* The job's finishing transaction: finish(), committed. */
static void finished(sl_sink *s)
{
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_sink_finish(s));
	OK(s->txn, sl_txn_commit(s->txn));
}

static void modes_finish_makes_the_rows_the_tables(void **state)
{
	store_fx *f = *state;
	sl_sink *s = f->s.sink;
	sl_schema *sc = schema(target_yaml);
	sl_value v[4][3];
	for (int i = 0; i < 4; i++)
		v[i][1] = v[i][2] = (sl_value){.kind = SL_VALUE_NULL};
	struct told t = {0};
	char owner[SL_JOB_ID_LEN];
	uint64_t orec;
#define IDS(a, b, c, d) (v[0][0].i = a, v[1][0].i = b, v[2][0].i = c, v[3][0].i = d)
	for (int i = 0; i < 4; i++)
		v[i][0].kind = SL_VALUE_INT;
	OK(s->txn, sl_sink_prepare(s, sc, "j0")); /* append: 1, 2 */
	IDS(1, 2, 0, 0);
	OK(s->txn, sl_txn_begin(s->txn));
	write_chunk(s, (const sl_value(*)[3])v, 2, 0, &t);
	OK(s->txn, sl_sink_finish(s)); /* nothing to do */
	OK(s->txn, sl_txn_commit(s->txn));
	ids_are(s, sc, "1:j0 2:j0");

	sc->mode = SL_MODE_REPLACE; /* 2, 3, 3: the old table's keys are not looked at */
	if (f->b->no_modes) {
		/* refused, never loaded as append */
		assert_int_equal(sl_sink_prepare(s, sc, "jr"), SL_CONFIG);
		sc->mode = SL_MODE_ATOMIC;
		assert_int_equal(sl_sink_prepare(s, sc, "ja"), SL_CONFIG);
		ids_are(s, sc, "1:j0 2:j0");
		sl_schema_free(sc);
		return;
	}
	OK(s->txn, sl_sink_prepare(s, sc, "jr"));
	IDS(2, 3, 3, 0);
	committed_chunk(s, v, 3, 0, &t);
	assert_int_equal(t.loaded, 2);
	assert_int_equal(t.ndups, 1);
	assert_int_equal(t.dups[0], 2);
	ids_are(s, sc, "1:j0 2:j0");
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_sink_finish(s));
	sl_txn_rollback(s->txn); /* its commit failed: the table as it was */
	ids_are(s, sc, "1:j0 2:j0");
	IDS(7, 0, 0, 0); /* the chunk's retry, on the same statements */
	committed_chunk(s, v, 1, 5, &t);
	assert_int_equal(t.loaded, 1);
	ids_are(s, sc, "1:j0 2:j0");
	finished(s);
	ids_are(s, sc, "2:jr 3:jr 7:jr");

	sc->mode = SL_MODE_ATOMIC; /* 3 (the table's), 4, 4 (its own earlier record), 5 */
	OK(s->txn, sl_sink_prepare(s, sc, "ja"));
	IDS(3, 4, 4, 5);
	committed_chunk(s, v, 4, 10, &t);
	assert_int_equal(t.loaded, 2);
	assert_int_equal(t.ndups, 2);
	assert_true((t.dups[0] == 10 && t.dups[1] == 12) || (t.dups[0] == 12 && t.dups[1] == 10));
	OK(s->txn, sl_sink_key_owner(s, v[0], owner, &orec));
	assert_string_equal(owner, "jr");
	OK(s->txn, sl_sink_key_owner(s, v[1], owner, &orec));
	assert_string_equal(owner, "ja"); /* staged, its own */
	assert_int_equal(orec, 11);
	ids_are(s, sc, "2:jr 3:jr 7:jr");
	finished(s);
	ids_are(s, sc, "2:jr 3:jr 4:ja 5:ja 7:jr");

	OK(s->txn, sl_sink_prepare(s, sc, "jx")); /* staged, never finished, rolled back */
	IDS(9, 0, 0, 0);
	committed_chunk(s, v, 1, 0, &t);
	uint64_t rows = 0;
	OK(s->txn, sl_sink_delete_job(s, "loaded", "jx", &rows));
	assert_int_equal(rows, 1);
	ids_are(s, sc, "2:jr 3:jr 4:ja 5:ja 7:jr");
#undef IDS
	sl_schema_free(sc);
}

/* Determinism without ordered commits, the sink's part: a later record's
   chunk committed first; the earlier record's row is a duplicate, the
   key's owner names the later record, and replace() gives the row the
   earlier record's values and record (reject); with update the earlier
   record changes nothing of a row a later record of its job wrote, yet
   counts as loaded, and another job's record still updates it. */
static void commits_out_of_file_order(void **state)
{
	store_fx *f = *state;
	sl_sink *s = f->s.sink;
	sl_schema *sc = schema(target_yaml);
	char owner[SL_JOB_ID_LEN];
	uint64_t orec = 0;
	struct told t = {0};
	sl_value late[2][3] = {{{.kind = SL_VALUE_INT, .i = 1},
	                        {.kind = SL_VALUE_TEXT, .s = SL_STR_LIT("late")},
	                        {.kind = SL_VALUE_NULL}},
	                       {{.kind = SL_VALUE_INT, .i = 2},
	                        {.kind = SL_VALUE_TEXT, .s = SL_STR_LIT("late")},
	                        {.kind = SL_VALUE_NULL}}};
	sl_value early[2][3] = {{{.kind = SL_VALUE_INT, .i = 1},
	                         {.kind = SL_VALUE_TEXT, .s = SL_STR_LIT("early")},
	                         {.kind = SL_VALUE_TEXT, .s = SL_STR_LIT("2.50")}},
	                        {{.kind = SL_VALUE_INT, .i = 3},
	                         {.kind = SL_VALUE_TEXT, .s = SL_STR_LIT("early")},
	                         {.kind = SL_VALUE_NULL}}};
	OK(s->txn, sl_sink_prepare(s, sc, "jp"));
	committed_chunk(s, late, 2, 10, &t); /* records 10, 11 */
	assert_int_equal(t.loaded, 2);
	memset(&t, 0, sizeof t);
	OK(s->txn, sl_txn_begin(s->txn));
	write_chunk(s, (const sl_value(*)[3])early, 2, 1, &t); /* records 1, 2 */
	assert_int_equal(t.loaded, 1);
	assert_int_equal(t.ndups, 1);
	assert_int_equal(t.dups[0], 1);
	OK(s->txn, sl_sink_key_owner(s, early[0], owner, &orec));
	assert_string_equal(owner, "jp");
	assert_int_equal(orec, 10);
	sl_sink_row r = {.record = 1, .line = 2, .vals = early[0]};
	OK(s->txn, sl_sink_replace(s, &r));
	OK(s->txn, sl_txn_commit(s->txn));
	OK(s->txn, sl_sink_key_owner(s, early[0], owner, &orec));
	assert_int_equal(orec, 1);
	struct recs got = {0};
	OK(s->txn, sl_sink_records_each(s, sc, NULL, NULL, 0, NULL, 0, 100, collect_record, &got));
	assert_int_equal(got.n, 3);
	for (int i = 0; i < got.n; i++)
		assert_string_equal(got.who[i], got.ids[i] == 2 ? "late" : "early");
	sl_schema_free(sc);

	sc = schema(upd_yaml);
	OK(s->txn, sl_sink_prepare(s, sc, "jq"));
	committed_chunk(s, late, 1, 10, &t);
	assert_int_equal(t.updated, 0);      /* an insert */
	committed_chunk(s, early, 2, 1, &t); /* key 1 from record 1: older than the row */
	assert_int_equal(t.loaded, 2);
	assert_int_equal(t.updated, 1); /* the update record 10 overwrote; key 3 new */
	assert_int_equal(t.ndups, 0);
	OK(s->txn, sl_sink_key_owner(s, early[0], owner, &orec));
	assert_string_equal(owner, "jq");
	assert_int_equal(orec, 10);
	OK(s->txn, sl_sink_prepare(s, sc, "jz")); /* another job: its record 1 updates */
	committed_chunk(s, early, 1, 1, &t);
	assert_int_equal(t.loaded, 1);
	assert_int_equal(t.updated, 1);
	OK(s->txn, sl_sink_key_owner(s, early[0], owner, &orec));
	assert_string_equal(owner, "jz");
	assert_int_equal(orec, 1);
	memset(&got, 0, sizeof got);
	OK(s->txn, sl_sink_records_each(s, sc, NULL, NULL, 0, NULL, 0, 100, collect_record, &got));
	assert_int_equal(got.n, 2);
	for (int i = 0; i < got.n; i++)
		assert_string_equal(got.who[i], "early");
	sl_schema_free(sc);
}

int sink_suite_run(const store_backend *b)
{
	void *st = (void *)b;
#define T(fn) cmocka_unit_test_prestate_setup_teardown(fn, store_fx_setup, store_fx_teardown, st)
	const struct CMUnitTest tests[] = {
	    T(target_rows_insert_dedupe_read_and_delete),
	    T(target_insert_many_without_a_key),
	    T(target_with_other_columns_is_refused),
	    T(earliest_record_of_a_key_wins),
	    T(update_keeps_the_latest_record),
	    T(a_discarded_chunk_leaves_nothing),
	    T(one_transaction_for_rows_and_counters),
	    T(modes_finish_makes_the_rows_the_tables),
	    T(commits_out_of_file_order),
	};
#undef T
	char name[128];
	snprintf(name, sizeof name, "sink suite: %s", b->name);
	return _cmocka_run_group_tests(name, tests, SL_ARRAY_LEN(tests), NULL, NULL);
}
