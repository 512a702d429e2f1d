/*
 * The job store's leader and reaper ops (leader_suite.c) run against every
 * store backend of backends.c that is wanted (store_backend_wanted:
 * PostgreSQL only as pg_leader_store, with the server of its fixture), on
 * real databases in temporary directories.
 */
#include <stddef.h>

#include "backends.h"

int main(void)
{
	int failed = 0;
	for (const store_backend *b = store_backends; b->name; b++)
		if (store_backend_wanted(b))
			failed += leader_suite_run(b);
	return failed ? 1 : 0;
}
