/*
 * Private to sluice: opening stores by URI. A store is a database seen
 * through two interfaces: the sink (sink.h, where loaded rows go) and the
 * job store (jobstore.h, where jobs live), which share one connection and
 * its transaction (txn.h) when they live in the same database.
 *
 * The registry: a backend is a URI scheme and an opener that returns the
 * connection with its sink and job store (SQLite: "sqlite:PATH", and a
 * plain path; PostgreSQL registers "postgres://" and "postgresql://").
 * Adding one: an sl_store_backend in the backend's files, a line in the
 * table of store_open.c, a line in tests/store/backends.c
 * (DEVELOPERS.md, "Adding a store backend"). No caller ever asks which
 * backend it has.
 *
 * With SLUICE_FAULTS set (tests), what the registry opens is wrapped by
 * fault injection (store_faults.c).
 */
#ifndef SLUICE_STORE_H
#define SLUICE_STORE_H

#include "store/jobstore.h"
#include "store/sink.h"
#include "store/txn.h"

/* A backend: its scheme ("sqlite") and its opener, given what follows the
   scheme (the path of "sqlite:PATH", the whole URI of "postgres://...").
   The opener returns the connection, whose refs it sets to 2, with its sink
   and job store pointing at it; on failure *txn may still be set: read
   sl_txn_errmsg(), then close it (t->ops->close). */
typedef struct sl_store_backend {
	const char *scheme;
	int (*open)(const char *target, int busy_timeout_ms, sl_txn **txn, sl_sink **sink,
	            sl_jobstore **js);
} sl_store_backend;

extern const sl_store_backend sl__store_sqlite;

/* What sl_store_open() gives: both interfaces of one database. */
typedef struct sl_store {
	sl_txn *txn;     /* shared by both */
	sl_sink *sink;   /* NULL when not asked for */
	sl_jobstore *js; /* NULL when not asked for */
} sl_store;

enum { SL_STORE_SINK = 1, SL_STORE_JOBS = 2, SL_STORE_BOTH = 3 };

/*
 * Open the store at `uri` (NULL: ./sluice.db) with the parts `what` asks
 * for, on one connection. On failure: the code, msg says why ("database
 * URI: ..."), *out is zeroed. A busy_timeout_ms <= 0 means 5 s. Close with
 * sl_store_close() (or sl_sink_close / sl_js_close of each part).
 */
int sl_store_open(const char *uri, int busy_timeout_ms, int what, sl_store *out, char *msg,
                  size_t msglen);
void sl_store_close(sl_store *s);

/* One part alone (the readers of the job store, the records API). */
int sl_jobstore_open(const char *uri, int busy_timeout_ms, sl_jobstore **out, char *msg,
                     size_t msglen);
int sl_sink_open(const char *uri, int busy_timeout_ms, sl_sink **out, char *msg, size_t msglen);

/* Do a sink and a job store commit together (one transaction)? The engine
   needs it for exactly-once; a null sink (nothing to commit) always does. */
bool sl_store_shared(const sl_sink *k, const sl_jobstore *js);

/* Test hook (store_faults.c): wrap an opened store in fault injection as
   SLUICE_FAULTS says (unset or empty: leave it as it is). */
int sl__store_faults_wrap(sl_store *s);

#endif
