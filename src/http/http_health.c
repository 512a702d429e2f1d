/*
 * Health and discovery: /healthz/live (the process answers),
 * /healthz/ready (schemas loaded, free space above --min-free, a writable
 * store that opens, reads and is at this build's version: for PostgreSQL
 * the connection and sluice.store_version; 503 with the reasons
 * otherwise) and /v1/datasets.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "http/http_reply.h"

typedef http_req req;
typedef http_body body;

enum MHD_Result http_ready(struct MHD_Connection *c, req *r)
{
	http_srv *s = r->s;
	char reasons[3][600];
	int n = 0;
	if (!s->nds)
		snprintf(reasons[n++], sizeof reasons[0], "no schemas loaded from %s",
		         s->o.schemas_dir);
	struct statvfs vf;
	if (statvfs(s->o.data_dir, &vf) != 0)
		snprintf(reasons[n++], sizeof reasons[0], "data directory %s: %s", s->o.data_dir,
		         strerror(errno));
	else if ((uint64_t)vf.f_bavail * vf.f_frsize < s->o.min_free)
		snprintf(reasons[n++], sizeof reasons[0],
		         "free space in %s is %llu bytes, below the %llu required", s->o.data_dir,
		         (unsigned long long)vf.f_bavail * vf.f_frsize,
		         (unsigned long long)s->o.min_free);
	/* writable: the file (or, before the first job, its directory; a
	   server's database, postgres://, has none) and a store that opens
	   (connects), reads, and is at this build's version */
	char dir[4096], msg[512] = "";
	bool server = strstr(s->o.db, "://") != NULL;
	snprintf(dir, sizeof dir, "%s", s->o.db);
	char *slash = strrchr(dir, '/');
	if (slash)
		slash[slash == dir ? 1 : 0] = 0;
	else
		snprintf(dir, sizeof dir, ".");
	sl_store_status ss = {0};
	if (!server &&
	    ((access(s->o.db, F_OK) == 0 && access(s->o.db, W_OK) != 0) || access(dir, W_OK) != 0))
		snprintf(reasons[n++], sizeof reasons[0], "database %s is not writable", s->o.db);
	else if (sl_store_check(s->o.db, &ss, msg, sizeof msg) < 0)
		snprintf(reasons[n++], sizeof reasons[0], "%s", msg);
	body b;
	if (!http_body_open(&b))
		return http_send_error(c, r, 500, "NOMEM", "out of memory");
	if (!n) {
		fputs("{\"status\":\"ready\",\"store\":{\"backend\":", b.f);
		http_json_str(b.f, ss.backend);
		fprintf(b.f, ",\"version\":%d}}\n", ss.version);
		return http_body_send(c, r, 200, &b, "application/json", NULL);
	}
	fputs("{\"status\":\"not ready\",\"reasons\":[", b.f);
	for (int i = 0; i < n; i++) {
		fputs(i ? "," : "", b.f);
		http_json_str(b.f, reasons[i]);
	}
	fputs("],\"error\":{\"code\":\"NOT_READY\",\"message\":", b.f);
	http_json_str(b.f, reasons[0]);
	fputs("}}\n", b.f);
	return http_body_send(c, r, 503, &b, "application/json", NULL);
}

enum MHD_Result http_datasets(struct MHD_Connection *c, req *r)
{
	body b;
	if (!http_body_open(&b))
		return http_send_error(c, r, 500, "NOMEM", "out of memory");
	fputs("{\"datasets\":[", b.f);
	for (size_t i = 0; i < r->s->nds; i++) {
		fputs(i ? "," : "", b.f);
		http_json_dataset(b.f, r->s->ds[i].schema);
	}
	fputs("]}\n", b.f);
	return http_body_send(c, r, 200, &b, "application/json", NULL);
}

enum MHD_Result http_live(struct MHD_Connection *c, req *r)
{
	char *p = strdup("{\"status\":\"ok\"}\n");
	return p ? http_send_buf(c, r, 200, p, strlen(p), "application/json", NULL) : MHD_NO;
}
