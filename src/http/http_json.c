/*
 * The JSON (and CSV) the HTTP API writes: jobs with the fields of
 * `sluice ingest --json` (written by the library, sl_job_json_fields, rates
 * and ETA included) plus upload_id; chunks as `sluice status --chunks --json`
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
	if (s->store_uri && !strncmp(j->file, s->store_uri, strlen(s->store_uri))) {
		/* s3://BUCKET/PREFIX/u<17 hex>.csv of the upload store */
		const char *k = j->file + strlen(s->store_uri);
		if (strlen(k) == 22 && k[0] == 'u' && !strcmp(k + 18, ".csv") &&
		    strspn(k + 1, "0123456789abcdef") == 17 && n > 18) {
			memcpy(uid, k, 18);
			uid[18] = 0;
		}
		return;
	}
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
	/* every number, resumed and duration included, from the library's
	   writer, as `sluice status --json` shows them; the file by its name
	   only: the server's paths are not the client's business */
	sl_job shown = *j;
	const char *slash = j->file ? strrchr(j->file, '/') : NULL;
	if (slash)
		shown.file = (char *)slash + 1;
	fputc('{', f);
	sl_job_json_fields(f, &shown, sl_now_ms());
	fputs(",\"upload_id\":", f);
	http_json_str(f, upload_id && upload_id[0] ? upload_id : NULL);
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
