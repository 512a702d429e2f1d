/*
 * The job store's lease ops (lease_suite.c) run against every store
 * backend of backends.c, on real databases in temporary directories.
 */
#include <stddef.h>

#include "backends.h"

int main(void)
{
	int failed = 0;
	for (const store_backend *b = store_backends; b->name; b++)
		failed += lease_suite_run(b);
	return failed ? 1 : 0;
}
