/*
 * The JSON (and CSV) the HTTP API writes: jobs with the fields of
 * `sluice ingest --json` (written by the library, sl_job_json_fields) plus
 * upload_id, rows_per_s and eta_s; chunks as `sluice status --chunks --json`
 * (sl_chunk_json); datasets; error bodies; rejected rows as `sluice errors` writes
 * them. Every writer takes a FILE, in practice an open_memstream buffer that
 * becomes the response body. Strings go through sl_json_str, so the output
 * is valid JSON whatever bytes the store holds.
 */
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "http/http_int.h"

void http_json_str(FILE *f, const char *s)
{
	if (s)
		sl_json_str(f, s, strlen(s));
	else
		fputs("null", f);
}

void http_upload_of(const http_srv *s, const sl_job *j, char *uid, size_t n)
{
	uid[0] = 0;
	if (!j->file || !s->uploads_dir)
		return;
	size_t dl = strlen(s->uploads_dir), fl = strlen(j->file);
	/* DATA_DIR/uploads/u<17 chars>.csv: the id is ours, never a user's */
	if (fl > dl + 5 && !strncmp(j->file, s->uploads_dir, dl) && j->file[dl] == '/' &&
	    j->file[dl + 1] == 'u' && !strcmp(j->file + fl - 4, ".csv") && fl - dl - 5 < n &&
	    !strchr(j->file + dl + 1, '/')) {
		memcpy(uid, j->file + dl + 1, fl - dl - 5);
		uid[fl - dl - 5] = 0;
	}
}

void http_json_job(FILE *f, const sl_job *j, const char *upload_id)
{
	int64_t now = sl_now_ms();
	bool final = sl_job_status_final(j->status);
	int64_t end = final && j->finished_ms ? j->finished_ms : now;
	double elapsed =
	    j->started_ms && end > j->started_ms ? (double)(end - j->started_ms) / 1000 : 0;
	double duration =
	    j->finished_ms > j->started_ms ? (double)(j->finished_ms - j->started_ms) / 1000 : 0;

	/* the file by its name only: the server's paths are not the client's business */
	sl_job shown = *j;
	const char *slash = j->file ? strrchr(j->file, '/') : NULL;
	if (slash)
		shown.file = (char *)slash + 1;
	fputc('{', f);
	sl_job_json_fields(f, &shown, false, duration);
	fputs(",\"upload_id\":", f);
	http_json_str(f, upload_id && upload_id[0] ? upload_id : NULL);
	fprintf(f, ",\"rows_per_s\":%.1f", elapsed > 0 ? (double)j->rows_read / elapsed : 0.0);
	/* ETA from the bytes rate so far; unknown before the first chunk commits */
	if (final)
		fputs(",\"eta_s\":0", f);
	else if (j->bytes_done && j->bytes_total > j->bytes_done && elapsed > 0)
		fprintf(f, ",\"eta_s\":%.1f",
		        elapsed * (double)(j->bytes_total - j->bytes_done) / (double)j->bytes_done);
	else
		fputs(",\"eta_s\":null", f);
	fputc('}', f);
}

void http_json_chunk(FILE *f, const sl_job *j, const sl_chunk *c)
{
	sl_chunk_json(f, j, c);
}

void http_json_dataset(FILE *f, const sl_schema *s)
{
	fputs("{\"name\":", f);
	http_json_str(f, s->name);
	fputs(",\"table\":", f);
	http_json_str(f, s->table);
	fputs(",\"key\":[", f);
	for (size_t i = 0; i < s->nkey; i++) {
		fputs(i ? "," : "", f);
		http_json_str(f, s->cols[s->key[i]].name);
	}
	fputs("],\"columns\":[", f);
	for (size_t i = 0; i < s->ncols; i++) {
		fputs(i ? ",{\"name\":" : "{\"name\":", f);
		http_json_str(f, s->cols[i].name);
		fprintf(f, ",\"type\":\"%s\",\"required\":%s}", sl_type_name(s->cols[i].type),
		        s->cols[i].required ? "true" : "false");
	}
	fputs("]}", f);
}

void http_json_error(FILE *f, const char *code, const char *message)
{
	fputs("{\"error\":{\"code\":", f);
	http_json_str(f, code);
	fputs(",\"message\":", f);
	http_json_str(f, message);
	fputs("}}\n", f);
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

void http_reject_csv(FILE *f, uint32_t chunk, const sl_reject *r, const char *column)
{
	fprintf(f, "%llu,%llu,%llu,%u,", (unsigned long long)r->record, (unsigned long long)r->line,
	        (unsigned long long)r->offset, chunk);
	csv_field(f, column ? column : "", column ? strlen(column) : 0);
	fprintf(f, ",%s,", sl_error_name(r->code));
	csv_field(f, r->message.p, r->message.n);
	fputc(',', f);
	csv_field(f, r->raw.p, r->raw.n);
	fputc('\n', f);
}

void http_reject_jsonl(FILE *f, uint32_t chunk, const sl_reject *r, const char *column)
{
	fprintf(f, "{\"record\":%llu,\"line\":%llu,\"offset\":%llu,\"chunk\":%u,\"column\":",
	        (unsigned long long)r->record, (unsigned long long)r->line,
	        (unsigned long long)r->offset, chunk);
	http_json_str(f, column);
	fprintf(f, ",\"code\":\"%s\",\"message\":", sl_error_name(r->code));
	sl_json_sv(f, r->message);
	fputs(",\"raw\":", f);
	sl_json_sv(f, r->raw);
	fputs("}\n", f);
}
