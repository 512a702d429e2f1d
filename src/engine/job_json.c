/*
 * Jobs and chunks as JSON: one writer for every front end, so `sluice
 * ingest --json`, `sluice status --json` and the HTTP API can never drift
 * apart in their field names.
 */
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "sluice/ingest.h"

static void str_or_null(FILE *f, const char *s)
{
	if (s)
		sl_json_cstr(f, s);
	else
		fputs("null", f);
}

void sl_job_json_fields(FILE *f, const sl_job *j, bool resumed, double duration_s)
{
	fputs("\"job_id\":", f);
	sl_json_cstr(f, j->id);
	fprintf(f, ",\"status\":\"%s\",\"file\":", sl_job_status_name(j->status));
	sl_json_cstr(f, j->file ? j->file : "");
	fputs(",\"dataset\":", f);
	sl_json_cstr(f, j->dataset ? j->dataset : "");
	fputs(",\"table\":", f);
	sl_json_cstr(f, j->table ? j->table : "");
	fputs(",\"correlation_id\":", f);
	str_or_null(f, j->correlation_id);
	fprintf(f,
		",\"bytes\":%llu,\"bytes_done\":%llu,\"rows_read\":%llu,\"rows_loaded\":%llu,"
		"\"rows_rejected\":%llu,\"rejects_by_code\":{",
		(unsigned long long)j->bytes_total, (unsigned long long)j->bytes_done,
		(unsigned long long)j->rows_read, (unsigned long long)j->rows_loaded,
		(unsigned long long)j->rows_rejected);
	bool first = true;
	for (int k = 0; k < SL_ERROR_COUNT; k++) {
		if (!j->rejects_by_code[k])
			continue;
		fprintf(f, "%s\"%s\":%llu", first ? "" : ",", sl__error_report(sl_error_at(k)),
			(unsigned long long)j->rejects_by_code[k]);
		first = false;
	}
	fprintf(f,
		"},\"chunks_total\":%llu,\"chunks_processed\":%llu,\"chunks_succeeded\":%llu,"
		"\"chunks_failed\":%llu,\"resumed\":%s,\"duration_s\":%.3f,\"created_ms\":%lld,"
		"\"started_ms\":%lld,\"finished_ms\":%lld,\"updated_ms\":%lld",
		(unsigned long long)j->chunks_total, (unsigned long long)j->chunks_processed,
		(unsigned long long)j->chunks_succeeded, (unsigned long long)j->chunks_failed,
		resumed ? "true" : "false", duration_s, (long long)j->created_ms,
		(long long)j->started_ms, (long long)j->finished_ms, (long long)j->updated_ms);
	if (j->error_code) {
		fprintf(f, ",\"error\":{\"code\":\"%s\",\"message\":", sl__error_report(j->error_code));
		sl_json_cstr(f, j->error_message ? j->error_message : sl_error_message(j->error_code));
		fputc('}', f);
	}
}

void sl_chunk_json(FILE *f, const sl_job *j, const sl_chunk *c)
{
	fprintf(f,
		"{\"chunk_id\":\"%s-%u\",\"seq\":%u,\"status\":\"%s\",\"attempts\":%u,\"offset\":%llu,"
		"\"length\":%llu,\"first_record\":%llu,\"first_line\":%llu,\"rows_read\":%llu,"
		"\"rows_loaded\":%llu,\"rows_rejected\":%llu,\"duration_ms\":%lld,\"last_error\":",
		j->id, c->seq, c->seq, sl_chunk_status_name(c->status), c->attempts,
		(unsigned long long)c->offset, (unsigned long long)c->length,
		(unsigned long long)c->first_record + 1, (unsigned long long)c->first_line,
		(unsigned long long)c->rows_read, (unsigned long long)c->rows_loaded,
		(unsigned long long)c->rows_rejected, (long long)c->duration_ms);
	str_or_null(f, c->last_error ? sl__error_report(c->last_error) : NULL);
	fputs(",\"last_message\":", f);
	str_or_null(f, c->last_message[0] ? c->last_message : NULL);
	fputc('}', f);
}
