/*
 * The job store's lease ops (lease_suite.c) run against every store
 * backend of backends.c that is wanted (store_backend_wanted: PostgreSQL only
 * as pg_lease_store, with the server of its fixture), on real databases in
 * temporary directories.
 */
#include <stddef.h>

#include "backends.h"

int main(void)
{
	int failed = 0;
	for (const store_backend *b = store_backends; b->name; b++)
		if (store_backend_wanted(b))
			failed += lease_suite_run(b);
	return failed ? 1 : 0;
}
