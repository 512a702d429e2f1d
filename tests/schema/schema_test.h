/*
 * Helpers the schema module's cmocka tests share (private to tests/schema/):
 * P() parses a schema that must load, E() one that must not and returns its
 * error message, assert_error() checks it. Include after <cmocka.h>.
 */
#ifndef SLUICE_TESTS_SCHEMA_TEST_H
#define SLUICE_TESTS_SCHEMA_TEST_H

#include <string.h>

#include "sluice/error.h"
#include "sluice/schema.h"

static inline sl_schema *P(const char *yaml)
{
	char err[512] = "";
	sl_schema *s = NULL;
	int rc = sl_schema_parse(yaml, strlen(yaml), "t.yaml", &s, err, sizeof err);
	if (rc)
		fail_msg("unexpected error %d: %s", rc, err);
	return s;
}

/* The error message of a schema that must not load (valid until the next call). */
static inline const char *E(const char *yaml)
{
	static char err[512];
	sl_schema *s = NULL;
	err[0] = 0;
	int rc = sl_schema_parse(yaml, strlen(yaml), "t.yaml", &s, err, sizeof err);
	assert_int_equal(rc, SL_CONFIG);
	assert_null(s);
	return err;
}

/* The error of a schema that must not load must start with `where` and
   contain `what`. */
#define assert_error(yaml, where, what)                                                            \
	do {                                                                                       \
		const char *e_ = E(yaml);                                                          \
		if (strncmp(e_, where, strlen(where)) != 0 || !strstr(e_, what))                   \
			fail_msg("got \"%s\", want \"%s ... %s\"", e_, where, what);               \
	} while (0)

#endif
