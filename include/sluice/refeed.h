/*
 * Fix and refeed (docs/ingest.md, "Fix and refeed"): a finished job's
 * rejected rows, their raw bytes in file order, become the input of a new
 * job (linked to the first: sl_job.refeed_of) that loads them through a
 * fixed schema into the same table. The rows that load are marked resolved
 * in the first job's error table (and in every copy of them, for a refeed
 * of a refeed), in the transaction that ends the new job; the first job's
 * rejects_open (sl_job: rows_rejected - rejects_resolved) says how many are
 * left. A second refeed of the same job takes only the rows still open and
 * not held by another refeed.
 *
 * The input is the rows themselves, read from the job store as a source
 * (the job's file is refeed://FIRST): the header the first job's file had
 * (when its dialect has one), then each row's raw bytes and a line feed.
 * Nothing is written to disk; a kill and a resume read the same rows.
 */
#ifndef SLUICE_REFEED_H
#define SLUICE_REFEED_H

#include <stddef.h>

#include "sluice/error.h"
#include "sluice/job.h"
#include "sluice/schema.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_refeed_opts {
	const char *db;          /* SQLite file (default ./sluice.db) */
	const char *job_id;      /* the job whose rejected rows are loaded again */
	const char *schema_path; /* the fixed schema; NULL: the job's own (as it is now) */
	const char *new_id;      /* the refeed job's id (sl_job_new_id), or NULL for a fresh one */
	const char *correlation_id;
	/* the refeed job's load mode (SL_MODE_DEFAULT: the schema's `mode:`;
	   docs/ingest.md, Load modes) */
	sl_load_mode mode;
} sl_refeed_opts;

/* Record the refeed job (status Accepted, its rows held) for the open
   rejected rows of o->job_id: 0 and *job. Then run it with sl_ingest()
   and opts.job_id = job->id (the CLI does at once; the service queues it);
   the run's end marks what loaded. SL_NO_OPEN_REJECTS: none to take;
   SL_NOT_FOUND: no such job; SL_CONFLICT: it is not finished, or rolled
   back, or loaded nothing itself (same_as); SL_CONFIG: the schema cannot
   be read or names another table; SL_IO_CHANGED: the header must come
   from the job's file, which changed or is gone. msg says why. */
int sl_refeed_prepare(const sl_refeed_opts *o, sl_job *job, char *msg, size_t msglen);

#ifdef __cplusplus
}
#endif
#endif
