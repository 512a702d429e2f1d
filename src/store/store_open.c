/*
 * The registry of store backends (store.h): a URI's scheme picks the
 * backend, which opens one connection with its sink and job store; the
 * caller keeps the parts it asked for. "sqlite:PATH" and a plain path are
 * SQLite; a backend adds its line to `backends` below.
 */
#include <stdio.h>
#include <string.h>

#include "store/store.h"

static const sl_store_backend *const backends[] = {
	&sl__store_sqlite,
};

/* The backend of `uri` and what it is given: "scheme:rest" of a known
   scheme, else a plain path (SQLite). A scheme of a URL ("postgres://")
   is given the whole URI. */
static const sl_store_backend *pick(const char *uri, const char **target)
{
	for (size_t i = 0; i < sizeof backends / sizeof *backends; i++) {
		size_t n = strlen(backends[i]->scheme);
		if (!strncmp(uri, backends[i]->scheme, n) && uri[n] == ':') {
			*target = !strncmp(uri + n, "://", 3) ? uri : uri + n + 1;
			return backends[i];
		}
	}
	*target = uri;
	return strstr(uri, "://") ? NULL : &sl__store_sqlite;
}

int sl_store_open(const char *uri, int busy_timeout_ms, int what, sl_store *out, char *msg,
                  size_t msglen)
{
	const char *u = uri ? uri : "sluice.db", *target;
	const sl_store_backend *b = pick(u, &target);
	sl_store s = {0};
	int rc;
	memset(out, 0, sizeof *out);
	if (!b) {
		snprintf(msg, msglen, "database %s: no store backend for this URI scheme", u);
		return SL_CONFIG;
	}
	rc = b->open(target, busy_timeout_ms, &s.txn, &s.sink, &s.js);
	if (rc == 0)
		rc = sl__store_faults_wrap(&s);
	if (rc < 0) {
		snprintf(msg, msglen, "database %s: %s", u,
		         s.txn && sl_txn_errmsg(s.txn)[0] ? sl_txn_errmsg(s.txn) : sl_error_message(rc));
		if (s.txn)
			s.txn->ops->close(s.txn);
		return rc;
	}
	/* the parts not asked for: their references go */
	if (!(what & SL_STORE_SINK)) {
		sl_sink_close(s.sink);
		s.sink = NULL;
	}
	if (!(what & SL_STORE_JOBS)) {
		sl_js_close(s.js);
		s.js = NULL;
	}
	*out = s;
	return 0;
}

void sl_store_close(sl_store *s)
{
	sl_sink_close(s->sink);
	sl_js_close(s->js);
	memset(s, 0, sizeof *s);
}

int sl_jobstore_open(const char *uri, int busy_timeout_ms, sl_jobstore **out, char *msg,
                     size_t msglen)
{
	sl_store s;
	int rc = sl_store_open(uri, busy_timeout_ms, SL_STORE_JOBS, &s, msg, msglen);
	*out = s.js;
	return rc;
}

int sl_sink_open(const char *uri, int busy_timeout_ms, sl_sink **out, char *msg, size_t msglen)
{
	sl_store s;
	int rc = sl_store_open(uri, busy_timeout_ms, SL_STORE_SINK, &s, msg, msglen);
	*out = s.sink;
	return rc;
}
