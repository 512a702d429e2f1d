/*
 * Private to the store tests: the backends every conformance suite runs
 * against (tests/store/js_suite.c for the job store, sink_suite.c for the
 * sink), and the fixture they share. Adding a backend to the suites is one
 * line in store_backends[] (backends.c).
 *
 * A backend for the suites is a name and an opener that opens the store
 * living in a directory (creating it when new): both parts on one
 * connection, as sl_store_open() gives them. Opening the same directory
 * again gives a second connection to the same database (the locking
 * tests).
 */
#ifndef SLUICE_TEST_STORE_BACKENDS_H
#define SLUICE_TEST_STORE_BACKENDS_H

#include <stdbool.h>

#include "store/store.h"

typedef struct store_backend {
	const char *name;
	int (*open)(const char *dir, int busy_timeout_ms, sl_store *out, char *msg, size_t msglen);
	/* What a backend does not do yet, and the suites check it says so:
	   no provenance (key_owner gives record 0), no load modes (prepare
	   refuses replace and atomic with CONFIG). */
	bool no_provenance, no_modes;
} store_backend;

/* Every backend, ended by one with a NULL name. */
extern const store_backend store_backends[];
/* Does this run test b? SLUICE_STORE_BACKEND names the one backend to run
   (tests/pg runs "postgres" with its server); unset, every backend that
   needs no server. */
bool store_backend_wanted(const store_backend *b);

/* A test's state: its backend, a fresh temporary directory, the store. */
typedef struct store_fx {
	const store_backend *b;
	char dir[64];
	sl_store s;
} store_fx;

/* cmocka setup and teardown: *state is the backend before setup, the
   fixture after. */
int store_fx_setup(void **state);
int store_fx_teardown(void **state);

/* a call that must succeed, with the database's own words when it does not */
#define OK(txn, call)                                                                              \
	do {                                                                                       \
		int rc_ = (call);                                                                  \
		if (rc_ < 0)                                                                       \
			fail_msg("%s: %s (%s)", #call, sl_error_name(rc_), sl_txn_errmsg(txn));    \
	} while (0)

/* The suites (each returns its number of failures). */
int js_suite_run(const store_backend *b);
int sink_suite_run(const store_backend *b);
int lease_suite_run(const store_backend *b); /* lease_suite.c */
int leader_suite_run(const store_backend *b); /* leader_suite.c */
/* A job in status st with n (at most 8) Queued chunks (lease_suite.c). */
void lease_job_with_chunks(sl_jobstore *s, const char *id, sl_job_status st, uint32_t n);
/* In the open transaction: reap (no backoff), then claim (lease_suite.c). */
int lease_reap_claim(sl_jobstore *s, const char *job, const char *owner, int64_t ttl,
                     sl_owner_dead_fn dead, sl_lease *l);

#endif
