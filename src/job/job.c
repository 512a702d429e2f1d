/*
 * Job and chunk statuses: names as stored and shown, in their order; the
 * job's strings, its duration, and its id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "sluice/job.h"

static const char *const job_names[SL_JOB_NSTATUS] = {
	"Accepted",  "Chunking",           "ChunksQueued", "Processing",
	"Succeeded", "PartiallySucceeded", "Failed",       "RolledBack",
	"Cancelled",
};
static const char *const chunk_names[SL_CHUNK_NSTATUS] = {"Queued", "Processing", "Succeeded",
							   "Failed"};

const char *sl_job_status_name(sl_job_status s)
{
	return (unsigned)s < SL_JOB_NSTATUS ? job_names[s] : "Unknown";
}

const char *sl_chunk_status_name(sl_chunk_status s)
{
	return (unsigned)s < SL_CHUNK_NSTATUS ? chunk_names[s] : "Unknown";
}

int sl_job_status_parse(const char *name, sl_job_status *out)
{
	for (int i = 0; i < SL_JOB_NSTATUS; i++) {
		if (!strcmp(name, job_names[i])) {
			*out = (sl_job_status)i;
			return 0;
		}
	}
	return SL_INVAL;
}

bool sl_job_status_final(sl_job_status s)
{
	return s == SL_JOB_SUCCEEDED || s == SL_JOB_PARTIAL || s == SL_JOB_FAILED ||
	       s == SL_JOB_ROLLEDBACK || s == SL_JOB_CANCELLED;
}

void sl_job_clear(sl_job *j)
{
	free(j->file);
	free(j->schema_path);
	free(j->dataset);
	free(j->table);
	free(j->error_message);
	free(j->correlation_id);
	free(j->dialect);
	free(j->ignored_columns);
	free(j->warnings);
	free(j->files);
	memset(j, 0, sizeof *j);
}

double sl_job_duration_s(const sl_job *j, int64_t now_ms)
{
	if (!j->started_ms)
		return 0;
	int64_t end = sl_job_status_final(j->status) ? j->finished_ms : now_ms;
	return end > j->started_ms ? (double)(end - j->started_ms) / 1000 : 0;
}

void sl_job_new_id(char id[SL_JOB_ID_LEN])
{
	uint32_t r = 0;
	if (getrandom(&r, sizeof r, 0) != sizeof r)
		r = (uint32_t)getpid() ^ (uint32_t)time(NULL);
	/* time first: ids sort by creation */
	snprintf(id, SL_JOB_ID_LEN, "j%011llx%06x", (unsigned long long)sl_now_ms(), r & 0xFFFFFF);
}
