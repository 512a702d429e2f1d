/*
 * Private to sluice: PostgreSQL, the building blocks of its sink and job
 * store (docs/scaling.md). Five parts, one file each:
 *
 *   pg_conn.c     the connection (a libpq URI, or the PG* environment
 *                 variables when the URI says nothing), the session's
 *                 settings, transactions and savepoints, reconnecting, and
 *                 the one mapping of a failure to a sluice code by SQLSTATE;
 *   pg_migrate.c  the job store's tables in the `sluice` schema, versioned,
 *                 forward-only migrations, each in its own transaction;
 *   pg_target.c   the target table: the type of each sluice column, CREATE
 *                 TABLE when missing, the compatibility check when present;
 *   pg_citus.c    a schema's `distribution:`: the target made a Citus
 *                 distributed table on a coordinator;
 *   pg_copy.c     the row writer: COPY straight into a table without a key;
 *                 with a key, COPY into a temporary staging table and
 *                 INSERT ... SELECT ... ON CONFLICT, which says which rows
 *                 were duplicates; rows the database refuses (a CHECK, a
 *                 foreign key, ...) are found by bisection and handed back
 *                 one by one while the rest loads.
 *
 * A connection belongs to one thread. Every call returns 0 or an SL_* code;
 * sl__pg_errmsg() has the database's words for the last failure, with its
 * SQLSTATE.
 */
#ifndef SLUICE_PG_H
#define SLUICE_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "sluice/schema.h"

typedef struct sl_pg sl_pg;

/* --- pg_conn.c: the connection --------------------------------------------- */

/* Is `target` a PostgreSQL connection URI (postgres:// or postgresql://)? */
bool sl__pg_is_uri(const char *target);
/* Connect to `uri` (a libpq URI or key=value string; NULL or "" takes
   everything from PGHOST, PGPORT, PGDATABASE, PGUSER, ...). The session
   is set to UTC, ISO dates, exact float output and UTF-8. A connection
   refused because every slot is taken (53300) is tried again with backoff
   for SLUICE_PG_CONNECT_WAIT seconds (60), then DB_CONN_LIMIT. On failure *out
   may still be set: read sl__pg_errmsg(), then sl__pg_close() it. */
int sl__pg_connect(const char *uri, sl_pg **out);
void sl__pg_close(sl_pg *c);
const char *sl__pg_errmsg(const sl_pg *c);
/* The SQLSTATE of the last failure ("" when there was none, or the
   connection was lost without one). */
const char *sl__pg_sqlstate(const sl_pg *c);
/* The constraint the last failure names ("" when none): the database's
   field, or for class 23 without one (Citus passes a worker's refusal on
   without it) the name PostgreSQL's message quotes. */
const char *sl__pg_constraint(const sl_pg *c);
/* Statements every session of this handle runs after sluice's own
   settings (now, and again after each reconnect), e.g. a lock_timeout. */
int sl__pg_session_sql(sl_pg *c, const char *sql);
/* libpq's connection, for the parts of this module (pg_*.c). */
struct pg_conn *sl__pg_conn(sl_pg *c);
/* Counts the sessions this handle had: 1 after connect, one more per
   reconnect. Session state (temporary tables, prepared statements) is
   rebuilt by whoever sees it change. */
uint64_t sl__pg_session(const sl_pg *c);
/* A new session on the same parameters, when the connection is bad (after
   a transient failure: the server restarted, the connection was cut). 0
   when the connection is good or became good again, DB_CONN otherwise, or
   DB_CONN_LIMIT when the server kept refusing it for want of a free
   connection slot (53300; tried again with backoff, as sl__pg_connect). */
int sl__pg_reconnect(sl_pg *c);

/* The sluice code for an SQLSTATE (five characters; NULL or "" is a lost
   connection): transient ones (40001, 40P01, class 08, 57P01-57P03,
   53300, 55P03) are retry codes, 53100 DB_FULL, class 23 DB_CONSTRAINT,
   class 22 DB_VALUE, everything else DB_ERROR. (sl__pg_fail reads
   Citus's XX000 of a worker's refused row as the class 23 SQLSTATE its
   message says: sl__pg_sqlstate() has that one.) */
int sl__pg_code(const char *sqlstate);

/* Run statements that return no rows (several may be given in one string
   when params is 0). */
int sl__pg_exec(sl_pg *c, const char *sql);
/* The same with text parameters ($1, $2, ...; NULL is SQL NULL). */
int sl__pg_execp(sl_pg *c, const char *sql, int n, const char *const *params);
/* One value of a one-row query into buf (NUL-terminated, cut at len): 1
   when there was a row, 0 when none (buf ""), or a code. */
int sl__pg_value(sl_pg *c, const char *sql, int n, const char *const *params, char *buf,
                 size_t len);

/* Transactions. begin() reconnects first when the connection is bad. A
   failed call leaves the transaction to be rolled back by the caller;
   rollback() never fails (a lost connection has nothing to roll back). */
int sl__pg_begin(sl_pg *c);
int sl__pg_commit(sl_pg *c);
void sl__pg_rollback(sl_pg *c);

/* Record a failure of the last command (from libpq's result, NULL for a
   connection failure) in the handle and return its code. For the parts of
   this module. */
int sl__pg_fail(sl_pg *c, const struct pg_result *res, const char *what);
/* Set the handle's message (and clear its SQLSTATE) for a failure sluice
   itself finds (a column that does not fit, a newer store); returns code. */
int sl__pg_seterr(sl_pg *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Append an SQL identifier, quoted, to b. */
int sl__pg_ident(sl_buf *b, const char *name);
int sl__pg_add(sl_buf *b, const char *s);

/* --- pg_migrate.c: the job store's schema ------------------------------------ */

/* The version this build writes; migrations 1..SL_PG_STORE_VERSION exist. */
#define SL_PG_STORE_VERSION 10
/* Bring the `sluice` schema to version `to` (0: SL_PG_STORE_VERSION),
   one migration per transaction, under an advisory lock so that processes
   opening the store together apply each migration once. A store newer
   than `to` is left alone and refused (DB_SCHEMA): migrations only go
   forward. *version (may be NULL) gets the version the store is at. */
int sl__pg_migrate(sl_pg *c, int to, int *version);

/* --- pg_target.c: the target table --------------------------------------------- */

/* The PostgreSQL type of a sluice column, as CREATE TABLE writes it
   ("bigint", "numeric(12,3)", "timestamptz", ...). buf has 32 bytes. */
const char *sl__pg_type(const sl_column *c, char *buf);
/* Is a timestamp column zoned: does every one of its formats say the zone
   (%z, %Z, %s)? Then it is timestamptz, otherwise timestamp. */
bool sl__pg_zoned(const sl_column *c);
/* Create sc's table (its columns, "_sluice_job", "_sluice_rec", the load
   order "_sluice_row" and the key as PRIMARY KEY) when it does not exist;
   check it when it does: every column present with a compatible type
   ("_sluice_rec" added to a table without it), and with a key a unique
   index on exactly the key's columns. DB_SCHEMA, naming the column, when not. Inside or outside
   a transaction. */
int sl__pg_table_prepare(sl_pg *c, const sl_schema *sc);

/* --- pg_citus.c: the distributed target ---------------------------------------------- */

/* Can sc's `distribution:` be honoured here: is the database a Citus
   coordinator? 0, or CONFIG saying what is missing. */
int sl__pg_citus_check(sl_pg *c, const sl_schema *sc);
/* Inside sl__pg_table_prepare's transaction: make the table `qname` (an
   identifier, quoted) hash-distributed on sc's distribution column with
   its shard count, unless Citus distributes it already: on that column is
   0, on another (or as a reference table) DB_SCHEMA naming both. */
int sl__pg_citus_distribute(sl_pg *c, const sl_schema *sc, const char *qname);
/* Is a failure (its SQLSTATE and primary message) Citus's report of a
   worker node's connection lost inside the transaction, which Citus gives
   as an internal error (XX000)? Then it is DB_CONN, not DB_ERROR. */
bool sl__pg_citus_node_lost(const char *sqlstate, const char *message);
/* The shard ids of Citus table `table` (an unquoted name) into *ids
   (malloc'ed, *n of them; none for a table Citus does not know): the
   suffixes Citus gives the names of the table's constraints and indexes
   on its shards. */
int sl__pg_citus_shards(sl_pg *c, const char *table, uint64_t **ids, size_t *n);

/* --- pg_copy.c: the row writer ---------------------------------------------------- */

/* What became of each row handed to sl__pg_write. */
enum {
	SL_PG_INSERTED = 0, /* a new row */
	SL_PG_DUP = 1,      /* the key was there already (or earlier in the batch): skipped */
	SL_PG_UPDATED = 2,  /* on_duplicate: update: it replaced the row with its key */
	SL_PG_REFUSED = 3,  /* the database refused it: the callback said why */
};

/* A row the database refused: its index in the batch, DB_CONSTRAINT or
   DB_VALUE, the SQLSTATE, the constraint's name ("" when the database names
   none) and the database's message. Valid during the callback. */
typedef struct sl_pg_refusal {
	size_t row;
	int code;
	const char *sqlstate, *constraint, *message;
} sl_pg_refusal;
typedef int (*sl_pg_refusal_cb)(void *ctx, const sl_pg_refusal *r);

typedef struct sl_pg_writer sl_pg_writer;

/* A writer of sc's rows (values in schema column order) into its table for
   job `job_id`; the table must be prepared (sl__pg_table_prepare). text
   chooses COPY's format: true for text, false for binary. */
int sl__pg_writer_new(sl_pg *c, const sl_schema *sc, const char *job_id, sl_pg_writer **out);
void sl__pg_writer_free(sl_pg_writer *w);
/* Keys `table` holds are duplicates too (reject, ignore): the writer of an
   atomic job's stage, whose target holds the keys loaded before it. */
int sl__pg_writer_dups_in(sl_pg_writer *w, const char *table);
/* Write n rows inside the caller's transaction, row i from record recs[i]
   of the file (its "_sluice_rec"; recs NULL: none, SQL NULL); out[i] says
   what became of row i. With on_duplicate: update a row whose key the
   table holds from a later record of the same job changes nothing (the
   latest record wins whatever the commit order) and is SL_PG_UPDATED, as
   if it had been overwritten since. Rows refused by the database are isolated (bisection under
   savepoints), given to cb, and the others load. A code other than 0 is a
   failure of the whole batch (the transaction is to be rolled back). */
int sl__pg_write(sl_pg_writer *w, const sl_value *const *rows, const uint64_t *recs, size_t n,
                 uint8_t *out, sl_pg_refusal_cb cb, void *ctx);
/* Rows of the last write that went in each way. */
typedef struct sl_pg_counts {
	uint64_t inserted, duplicates, updated, refused;
	uint64_t statements; /* COPY and INSERT statements sent (bisection shows here) */
} sl_pg_counts;
void sl__pg_writer_counts(const sl_pg_writer *w, sl_pg_counts *out);
/* The sorted COPY of a keyed chunk (reject or ignore), or of a Citus
   table's chunk without a key: open, the chunk's unique rows in key (or
   record) order, close. Straight into the table under a
   savepoint, no staging; close says 0 (every row in), 1 (the table refused
   a row, or already had a key: the savepoint is rolled back, nothing went
   in, write the rows with sl__pg_write) or a failure's code. */
int sl__pg_copy_open(sl_pg_writer *w);
int sl__pg_copy_put(sl_pg_writer *w, const sl_value *vals, uint64_t rec);
int sl__pg_copy_close(sl_pg_writer *w);

#endif
