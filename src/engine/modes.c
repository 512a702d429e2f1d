/*
 * Load modes in the engine (docs/ingest.md, Load modes): the job keeps the
 * mode it was created with (a resume, a retry and every worker use it,
 * whatever a later command line or schema says), and the finishing
 * transaction of a job that keeps its rows asks the sink to make them the
 * table's (the swap of replace, the merge of atomic: store_sqlite_modes.c).
 * A Failed or Cancelled job leaves the target as it was; its shadow or
 * stage stays for `sluice retry` and goes with `sluice rollback`.
 */
#include <stdio.h>

#include "engine/ingest_int.h"

/* Before the sink is prepared: the job's mode is the schema's for this run. */
int sl__modes_prepare(ingest *g)
{
	sl_load_mode m;
	if (sl_load_mode_parse(g->job.mode, &m) < 0) {
		sl__ingest_say(g, "job %s has an unknown load mode '%s'", g->job.id, g->job.mode);
		return SL_CONFIG;
	}
	g->schema->mode = m;
	return 0;
}

/* In the transaction that finishes the job, after its final state. */
int sl__modes_finish(ingest *g)
{
	sl_job_status s = g->job.status;
	bool aside = g->schema->mode > SL_MODE_APPEND;
	/* a Failed or Cancelled replace or atomic job leaves the target as it
	   was; an append job of any end gets what the sink left for the end
	   (the lookup indexes of a table that lacked them) */
	if (!g->st || (aside && s != SL_JOB_SUCCEEDED && s != SL_JOB_PARTIAL))
		return 0;
	if (aside)
		sl__ingest_test_kill("mode_before");
	int rc = sl_sink_finish(g->sink);
	if (rc < 0) {
		sl__ingest_say(g, "%s table %s: %s",
		               !aside ? "building the lookup indexes of"
		               : g->schema->mode == SL_MODE_REPLACE ? "swapping in the new"
		                                                    : "merging into",
		               g->schema->table, sl_txn_errmsg(g->txn));
		return rc;
	}
	if (aside)
		sl__ingest_test_kill("mode_after");
	return 0;
}
