/*
 * Private to the store tests: the store suite, written against the ops
 * table of src/store/store.h only, so that every backend runs the same
 * tests (SQLite today, the fault-injection wrapper around it, PostgreSQL
 * later: the redesign turns this into the backend conformance suite).
 *
 * A backend for the suite is a name and an opener that makes a fresh store
 * in a fresh temporary directory (it may also return a second handle on the
 * same database, for the locking tests). tests/store/test_store.c lists the
 * backends and runs store_suite_run() for each.
 */
#ifndef SLUICE_TEST_STORE_SUITE_H
#define SLUICE_TEST_STORE_SUITE_H

#include "store/store.h"

typedef struct store_backend {
	const char *name;
	/* Open (creating) the store that lives in directory `dir`: 0 or a code. */
	int (*open)(const char *dir, int busy_timeout_ms, sl_store **out);
} store_backend;

/* Runs every test of the suite against `b`; returns the number of failures. */
int store_suite_run(const store_backend *b);

#endif
