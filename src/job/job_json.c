/*
 * Jobs and chunks as JSON: one writer for every front end, so `sluice
 * ingest --json`, `sluice status --json` and the HTTP API can never drift
 * apart in their field names or their numbers: the derived ones (duration,
 * rate, ETA) are computed here too, from the job as stored.
 */
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "sluice/job.h"

static void str_or_null(FILE *f, const char *s)
{
	if (s)
		sl_json_cstr(f, s);
	else
		fputs("null", f);
}

void sl_job_json_list(FILE *f, const char *s, char sep)
{
	fputc('[', f);
	for (bool first = true; s && *s;) {
		const char *e = strchr(s, sep);
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n) {
			fputs(first ? "" : ",", f);
			sl_json_sv(f, sl_str_make(s, n));
			first = false;
		}
		s += n + (e != NULL);
	}
	fputc(']', f);
}

void sl_job_json_codes(FILE *f, const sl_job *j)
{
	bool first = true;
	fputc('{', f);
	for (int k = 0; k < SL_ERROR_COUNT; k++) {
		if (!j->rejects_by_code[k])
			continue;
		fprintf(f, "%s\"%s\":%llu", first ? "" : ",", sl__error_report(sl_error_at(k)),
		        (unsigned long long)j->rejects_by_code[k]);
		first = false;
	}
	fputc('}', f);
}

void sl_job_json_fields(FILE *f, const sl_job *j, int64_t now_ms)
{
	bool final = sl_job_status_final(j->status);
	double duration_s = sl_job_duration_s(j, now_ms);
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
	        "\"rows_inserted\":%llu,\"rows_updated\":%llu,"
	        "\"rows_rejected\":%llu,\"rejects_by_code\":",
	        (unsigned long long)j->bytes_total, (unsigned long long)j->bytes_done,
	        (unsigned long long)j->rows_read, (unsigned long long)j->rows_loaded,
	        (unsigned long long)j->rows_inserted, (unsigned long long)j->rows_updated,
	        (unsigned long long)j->rows_rejected);
	sl_job_json_codes(f, j);
	fprintf(f,
	        ",\"chunks_total\":%llu,\"chunks_processed\":%llu,\"chunks_succeeded\":%llu,"
	        "\"chunks_failed\":%llu,\"resumed\":%s,\"duration_s\":%.3f",
	        (unsigned long long)j->chunks_total, (unsigned long long)j->chunks_processed,
	        (unsigned long long)j->chunks_succeeded, (unsigned long long)j->chunks_failed,
	        j->resumed ? "true" : "false", duration_s);
	/* a time not known yet (not started, not finished) is null, never 0 */
	const struct {
		const char *name;
		int64_t ms;
	} times[] = {{"created_ms", j->created_ms},
	             {"started_ms", j->started_ms},
	             {"finished_ms", j->finished_ms},
	             {"updated_ms", j->updated_ms}};
	for (size_t i = 0; i < sizeof times / sizeof times[0]; i++)
		if (times[i].ms)
			fprintf(f, ",\"%s\":%lld", times[i].name, (long long)times[i].ms);
		else
			fprintf(f, ",\"%s\":null", times[i].name);
	fprintf(f, ",\"rows_per_s\":%.1f",
	        duration_s > 0 ? (double)j->rows_read / duration_s : 0.0);
	/* ETA from the bytes rate so far; unknown before the first chunk commits */
	if (final)
		fputs(",\"eta_s\":0", f);
	else if (j->bytes_done && j->bytes_total > j->bytes_done && duration_s > 0)
		fprintf(f, ",\"eta_s\":%.1f",
		        duration_s * (double)(j->bytes_total - j->bytes_done) /
		            (double)j->bytes_done);
	else
		fputs(",\"eta_s\":null", f);
	fprintf(f, ",\"records_padded\":%llu,\"records_truncated\":%llu,\"dialect\":",
	        (unsigned long long)j->records_padded, (unsigned long long)j->records_truncated);
	str_or_null(f, j->dialect);
	fputs(",\"ignored_columns\":", f);
	sl_job_json_list(f, j->ignored_columns, '\n');
	fputs(",\"warnings\":", f);
	sl_job_json_list(f, j->warnings, '\n');
	fputs(",\"same_as\":", f);
	str_or_null(f, j->same_as[0] ? j->same_as : NULL);
	/* fix and refeed: the job this one refed, and this job's rejected rows
	   that no refeed has loaded yet */
	fputs(",\"refeed_of\":", f);
	str_or_null(f, j->refeed_of[0] ? j->refeed_of : NULL);
	uint64_t resolved =
	    j->rejects_resolved < j->rows_rejected ? j->rejects_resolved : j->rows_rejected;
	fprintf(f, ",\"rejects_open\":%llu,\"rejects_resolved\":%llu",
	        (unsigned long long)(j->rows_rejected - resolved), (unsigned long long)resolved);
	fprintf(f, ",\"mode\":\"%s\"", j->mode[0] ? j->mode : "append");
	if (j->error_code) {
		fprintf(
		    f, ",\"error\":{\"code\":\"%s\",\"message\":", sl__error_report(j->error_code));
		sl_json_cstr(f,
		             j->error_message ? j->error_message : sl_error_message(j->error_code));
		fputc('}', f);
	}
}

void sl_chunk_json(FILE *f, const sl_job *j, const sl_chunk *c)
{
	fprintf(
	    f,
	    "{\"chunk_id\":\"%s-%u\",\"seq\":%u,\"status\":\"%s\",\"attempts\":%u,\"offset\":%llu,"
	    "\"length\":%llu,\"first_record\":%llu,\"first_line\":%llu,\"rows_read\":%llu,"
	    "\"rows_loaded\":%llu,\"rows_inserted\":%llu,\"rows_updated\":%llu,"
	    "\"rows_rejected\":%llu,\"duration_ms\":%lld,\"last_error\":",
	    j->id, c->seq, c->seq, sl_chunk_status_name(c->status), c->attempts,
	    (unsigned long long)c->offset, (unsigned long long)c->length,
	    (unsigned long long)c->first_record + 1, (unsigned long long)c->first_line,
	    (unsigned long long)c->rows_read, (unsigned long long)c->rows_loaded,
	    (unsigned long long)c->rows_inserted, (unsigned long long)c->rows_updated,
	    (unsigned long long)c->rows_rejected, (long long)c->duration_ms);
	str_or_null(f, c->last_error ? sl__error_report(c->last_error) : NULL);
	fputs(",\"last_message\":", f);
	str_or_null(f, c->last_message[0] ? c->last_message : NULL);
	fputc('}', f);
}

static void csv_field(FILE *f, const char *p, size_t n)
{
	bool q = false;
	for (size_t i = 0; i < n && !q; i++)
		q = p[i] == ',' || p[i] == '"' || p[i] == '\n' || p[i] == '\r';
	if (!q) {
		fwrite(p, 1, n, f);
		return;
	}
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '"')
			fputc('"', f);
		fputc(p[i], f);
	}
	fputc('"', f);
}

void sl_reject_csv(FILE *f, uint32_t chunk, const sl_reject *r, const char *column)
{
	fprintf(f, "%llu,%llu,%llu,%u,", (unsigned long long)r->record, (unsigned long long)r->line,
	        (unsigned long long)r->offset, chunk);
	csv_field(f, column ? column : "", column ? strlen(column) : 0);
	fprintf(f, ",%s,", sl__error_report(r->code));
	csv_field(f, r->message.p, r->message.n);
	fputc(',', f);
	csv_field(f, r->raw.p, r->raw.n);
	fputc('\n', f);
}

void sl_reject_jsonl(FILE *f, uint32_t chunk, const sl_reject *r, const char *column)
{
	fprintf(f, "{\"record\":%llu,\"line\":%llu,\"offset\":%llu,\"chunk\":%u,\"column\":",
	        (unsigned long long)r->record, (unsigned long long)r->line,
	        (unsigned long long)r->offset, chunk);
	str_or_null(f, column);
	fprintf(f, ",\"code\":\"%s\",\"message\":", sl__error_report(r->code));
	sl_json_sv(f, r->message);
	fputs(",\"raw\":", f);
	sl_json_sv(f, r->raw);
	fputs("}\n", f);
}
