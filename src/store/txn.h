/*
 * Private to sluice: the connection a sink and a job store share, and the
 * transaction on it (see store.h for the whole picture).
 *
 * The rule (principle 1, exactly once): everything a chunk commits (its
 * rows in the sink, its rejects, its status, the job's counters and its
 * end event in the job store) goes between one sl_txn_begin() and one
 * sl_txn_commit() on ONE sl_txn. A sink and a job store opened together on
 * one database (sl_store_open) point at the same sl_txn, so that holds by
 * construction; the engine refuses a pair that does not (sl_store_shared).
 * A failed call leaves the transaction to be rolled back by the caller.
 *
 * Layers: a wrapper (fault injection) is an sl_txn whose `next` is the one
 * it wraps; an op it leaves NULL is the next layer's (no pass-throughs are
 * written by hand). Every wrapper below walks down to the layer that
 * implements the op.
 *
 * Errors: every call returns 0 or an SL_* code; DB_BUSY, DB_FULL and DB_IO
 * are transient (the engine retries the chunk), others are fatal.
 * sl_txn_errmsg() has the database's own words for the last failure.
 *
 * A connection belongs to one thread at a time (the writer).
 */
#ifndef SLUICE_STORE_TXN_H
#define SLUICE_STORE_TXN_H

#include <stddef.h>

typedef struct sl_txn sl_txn;

typedef struct sl_txn_ops {
	const char *name;                 /* "sqlite", "faults", "null", ... */
	void (*close)(sl_txn *t);         /* frees this layer and the ones below (required
	                                     in every layer, wrappers included) */
	const char *(*errmsg)(sl_txn *t); /* the last failure in the database's words */
	int (*begin)(sl_txn *t);          /* takes the write lock */
	int (*commit)(sl_txn *t);
	void (*rollback)(sl_txn *t);          /* harmless when no transaction is open */
	int (*hold_limit)(sl_txn *t, int ms); /* optional: see sl_txn_hold_limit() */
} sl_txn_ops;

struct sl_txn {
	const sl_txn_ops *ops;
	sl_txn *next; /* the layer a wrapper wraps; NULL at the bottom */
	int refs;     /* the sinks and job stores that use it (the top layer counts) */
};

/* The layer that implements an op: a wrapper leaves the ops it does not
   change NULL, so the call goes to the layer below. Shared by the inline
   wrappers of sink.h and jobstore.h (their objects have `ops` and `next`). */
#define SL__LAYER(p, op)                                                                           \
	while (!(p)->ops->op && (p)->next)                                                         \
	(p) = (p)->next

/* The name of the top layer ("faults" when wrapped). */
static inline const char *sl_txn_name(const sl_txn *t)
{
	return t->ops->name;
}

/* The database's own words for the last failure ("" when none). */
static inline const char *sl_txn_errmsg(sl_txn *t)
{
	SL__LAYER(t, errmsg);
	return t->ops->errmsg(t);
}

/* Open a write transaction (takes the write lock: DB_BUSY when another
   process holds it past the busy timeout). */
static inline int sl_txn_begin(sl_txn *t)
{
	SL__LAYER(t, begin);
	return t->ops->begin(t);
}

/* Commit the open transaction: everything since begin() or nothing. */
static inline int sl_txn_commit(sl_txn *t)
{
	SL__LAYER(t, commit);
	return t->ops->commit(t);
}

/* Roll the open transaction back (none open: nothing happens). */
static inline void sl_txn_rollback(sl_txn *t)
{
	SL__LAYER(t, rollback);
	t->ops->rollback(t);
}

/* The longest this connection may sit idle inside an open transaction
   before the database ends its session (PostgreSQL's
   idle_in_transaction_session_timeout), kept across reconnects. Why: a
   process paused in the middle of a transaction (SIGSTOP, a stall, a
   machine frozen) keeps its row locks for as long as it is paused, and a
   claim's or the reaper's SKIP LOCKED would pass the rows it locked by
   for ever: its leases expire, yet nobody could take its chunks over.
   The engine sets it on every connection that works under a lease
   (sl__lease_hold_limit). A database without row locks held across
   processes has nothing to set (SQLite: a paused writer holds the one
   write lock, whose waiters see DB_BUSY; docs/scaling.md): 0. */
static inline int sl_txn_hold_limit(sl_txn *t, int ms)
{
	SL__LAYER(t, hold_limit);
	return t->ops->hold_limit ? t->ops->hold_limit(t, ms) : 0;
}

/* Drop one user of the connection; the last one closes it. */
static inline void sl_txn_unref(sl_txn *t)
{
	if (t && --t->refs <= 0)
		t->ops->close(t); /* every layer has its own close */
}

#endif
