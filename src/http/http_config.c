/*
 * The config file of `sluice serve`: a YAML mapping of setting names (the
 * command-line options without their dashes) to scalars, read with
 * libfyaml. `api-keys` may be the string form of SLUICE_API_KEYS or a
 * mapping of key to a list of scopes:
 *
 *     data-dir: /var/lib/sluice
 *     schemas: /etc/sluice/schemas
 *     listen: 0.0.0.0:8080
 *     jobs: 2
 *     api-keys:
 *       k1: [read, write, admin]
 *       k2: [read]
 *     watch:
 *       cdr: /srv/landing/cdr
 *
 * `watch` maps a dataset to its drop folder (or to {dir:, settle:}), and
 * becomes "dataset=DIR[;settle=S]" lines (http_watch.c).
 *
 * The values are copied into one buffer (*store) as name\0value\0 pairs
 * before any callback runs, so the pointers the callback keeps stay valid
 * until the caller frees it. Errors name the file, line and column.
 */
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/error.h"
#include "sluice/serve.h"

typedef struct cfg_buf {
	char *p;
	size_t len, cap;
} cfg_buf;

#define CONFIG_MAX (1u << 20) /* a config file is small: refuse anything odd */

static int put(cfg_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > CONFIG_MAX)
		return SL_LIMIT;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return SL_NOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->p[b->len + n] = 0;
	b->len += n + 1;
	return 0;
}

static int where(struct fy_node *n, char *msg, size_t msglen, const char *path, const char *what)
{
	int line = 0, col = 0;
	struct fy_token *t =
	    n && fy_node_get_type(n) == FYNT_SCALAR ? fy_node_get_scalar_token(n) : NULL;
	const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
	if (m) {
		line = m->line + 1;
		col = m->column + 1;
	}
	snprintf(msg, msglen, "%s:%d:%d: %s", path, line, col, what);
	return SL_CONFIG;
}

/* A scalar node's text and length; NULL for another node, or none. */
static const char *scalar_of(struct fy_node *n, size_t *len)
{
	*len = 0;
	return n && fy_node_get_type(n) == FYNT_SCALAR ? fy_node_get_scalar(n, len) : NULL;
}

/* One pair of a mapping written to f (first: the mapping's first pair;
   ks NULL when the key is not a scalar): 0, or SL_CONFIG with msg. */
typedef int (*pair_fn)(FILE *f, bool first, struct fy_node *k, const char *ks, size_t kl,
                       struct fy_node *v, const char *path, char *msg, size_t msglen);

/* A mapping as one value: each pair through fn into one string, put whole. */
static int map_string(struct fy_node *map, cfg_buf *b, pair_fn fn, const char *path, char *msg,
                      size_t msglen)
{
	void *it = NULL;
	struct fy_node_pair *pr;
	char *out = NULL;
	size_t olen = 0;
	FILE *f = open_memstream(&out, &olen);
	int rc = f ? 0 : SL_NOMEM;
	for (bool first = true; rc == 0 && (pr = fy_node_mapping_iterate(map, &it));
	     first = false) {
		struct fy_node *k = fy_node_pair_key(pr);
		size_t kl;
		const char *ks = scalar_of(k, &kl);
		rc = fn(f, first, k, ks, kl, fy_node_pair_value(pr), path, msg, msglen);
	}
	if (f && fclose(f) != 0 && rc == 0)
		rc = SL_NOMEM;
	if (rc == 0)
		rc = put(b, out ? out : "", olen);
	free(out);
	return rc;
}

/* api-keys as a mapping: key: [scope, ...] -> "key:scope+scope,..." */
static int key_pair(FILE *f, bool first, struct fy_node *k, const char *ks, size_t kl,
                    struct fy_node *v, const char *path, char *msg, size_t msglen)
{
	if (!ks || !v || fy_node_get_type(v) != FYNT_SEQUENCE)
		return where(k, msg, msglen, path,
		             "api-keys: each key needs a list of scopes, e.g. k1: [read, write]");
	fprintf(f, "%s%.*s:", first ? "" : ",", (int)kl, ks);
	void *it = NULL;
	struct fy_node *sc;
	for (bool f2 = true; (sc = fy_node_sequence_iterate(v, &it)); f2 = false) {
		size_t sl;
		const char *ss = scalar_of(sc, &sl);
		if (!ss)
			return where(sc, msg, msglen, path,
			             "api-keys: a scope is read, write or admin");
		fprintf(f, "%s%.*s", f2 ? "" : "+", (int)sl, ss);
	}
	return 0;
}

/* watch as a mapping: dataset: DIR, or dataset: {dir: DIR, settle: S}
   -> "dataset=DIR[;settle=S]" lines (http_watch.c reads them) */
static int watch_pair(FILE *f, bool first, struct fy_node *k, const char *ks, size_t kl,
                      struct fy_node *v, const char *path, char *msg, size_t msglen)
{
	size_t dl = 0, sl = 0, il = 0, ml = 0;
	const char *dir = NULL, *settle = NULL, *interval = NULL, *marker = NULL;
	(void)first;
	if (v && fy_node_get_type(v) == FYNT_SCALAR) {
		dir = scalar_of(v, &dl);
	} else if (v && fy_node_get_type(v) == FYNT_MAPPING) {
		struct fy_node *d = fy_node_mapping_lookup_by_string(v, "dir", FY_NT);
		struct fy_node *st = fy_node_mapping_lookup_by_string(v, "settle", FY_NT);
		/* a bucket's: seconds between listings, and markers */
		struct fy_node *iv = fy_node_mapping_lookup_by_string(v, "interval", FY_NT);
		struct fy_node *mk = fy_node_mapping_lookup_by_string(v, "marker", FY_NT);
		dir = scalar_of(d, &dl);
		settle = scalar_of(st, &sl);
		interval = scalar_of(iv, &il);
		marker = scalar_of(mk, &ml);
		if ((st && !settle) || (iv && !interval) || (mk && !marker) ||
		    (marker && !(ml == 4 && !memcmp(marker, "true", 4)) &&
		     !(ml == 5 && !memcmp(marker, "false", 5))))
			dir = NULL;
		if (fy_node_mapping_item_count(v) !=
		    (d ? 1 : 0) + (st ? 1 : 0) + (iv ? 1 : 0) + (mk ? 1 : 0))
			dir = NULL;
	}
	if (!ks || !dir || memchr(dir, '\n', dl) || memchr(ks, '\n', kl))
		return where(k, msg, msglen, path,
		             "watch: each dataset needs a folder: `cdr: /srv/in/cdr` or "
		             "`cdr: {dir: /srv/in/cdr, settle: 10}` (a bucket's prefix: "
		             "`{dir: s3://b/in/, interval: 5, marker: true}`)");
	fprintf(f, "%.*s=%.*s", (int)kl, ks, (int)dl, dir);
	if (settle)
		fprintf(f, ";settle=%.*s", (int)sl, settle);
	if (interval)
		fprintf(f, ";interval=%.*s", (int)il, interval);
	if (marker && ml == 4)
		fputs(";marker", f);
	fputc('\n', f);
	return 0;
}

int sl_serve_config_read(const char *path,
                         int (*cb)(void *ctx, const char *name, const char *value), void *ctx,
                         char **store, char *msg, size_t msglen)
{
	cfg_buf b = {0};
	struct fy_document *doc = NULL;
	struct fy_diag *diag = NULL;
	int rc = 0;
	*store = NULL;
	msg[0] = 0;
	struct fy_diag_cfg dcfg;
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	if (!(diag = fy_diag_create(&dcfg))) {
		rc = SL_NOMEM;
		goto out;
	}
	fy_diag_set_collect_errors(diag, true);
	struct fy_parse_cfg pcfg;
	memset(&pcfg, 0, sizeof pcfg);
	pcfg.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG;
	pcfg.diag = diag;
	FILE *fp = fopen(path, "r");
	if (!fp) {
		rc = SL_IO_OPEN;
		snprintf(msg, msglen, "cannot open it");
		goto out;
	}
	fclose(fp);
	doc = fy_document_build_from_file(&pcfg, path);
	if (!doc || fy_diag_got_error(diag)) {
		void *it = NULL;
		struct fy_diag_error *e;
		rc = SL_CONFIG;
		snprintf(msg, msglen, "%s: invalid YAML", path);
		while ((e = fy_diag_errors_iterate(diag, &it)))
			if (e->type >= FYET_ERROR) {
				snprintf(msg, msglen, "%s:%d:%d: invalid YAML: %s", path, e->line,
				         e->column, e->msg);
				break;
			}
		goto out;
	}
	struct fy_node *root = fy_document_root(doc);
	if (!root || fy_node_get_type(root) != FYNT_MAPPING) {
		rc = where(root, msg, msglen, path,
		           "the config is a mapping of settings (name: value)");
		goto out;
	}
	void *it = NULL;
	struct fy_node_pair *pr;
	while ((pr = fy_node_mapping_iterate(root, &it))) {
		struct fy_node *k = fy_node_pair_key(pr), *v = fy_node_pair_value(pr);
		size_t kl, vl;
		const char *ks = scalar_of(k, &kl);
		if (!ks) {
			rc = where(k, msg, msglen, path, "a setting name must be a plain word");
			goto out;
		}
		if ((rc = put(&b, ks, kl)) < 0)
			goto out;
		if (v && fy_node_get_type(v) == FYNT_MAPPING && kl == 8 &&
		    !memcmp(ks, "api-keys", 8)) {
			if ((rc = map_string(v, &b, key_pair, path, msg, msglen)) < 0)
				goto out;
			continue;
		}
		if (v && fy_node_get_type(v) == FYNT_MAPPING && kl == 5 &&
		    !memcmp(ks, "watch", 5)) {
			if ((rc = map_string(v, &b, watch_pair, path, msg, msglen)) < 0)
				goto out;
			continue;
		}
		const char *vs = scalar_of(v, &vl);
		if (!vs) {
			rc = where(k, msg, msglen, path, "the value must be a single scalar");
			goto out;
		}
		if ((rc = put(&b, vs, vl)) < 0)
			goto out;
	}
	/* the buffer is final: hand out the pairs */
	for (size_t off = 0; off < b.len;) {
		const char *name = b.p + off;
		const char *value = name + strlen(name) + 1;
		if (cb(ctx, name, value) < 0) {
			rc = SL_CONFIG;
			snprintf(msg, msglen, "%s: setting %s: see the message above", path, name);
			goto out;
		}
		off = (size_t)(value - b.p) + strlen(value) + 1;
	}
	*store = b.p;
	b.p = NULL;
out:
	if (rc == SL_LIMIT)
		snprintf(msg, msglen, "%s: larger than %u bytes", path, CONFIG_MAX);
	else if (rc == SL_NOMEM)
		snprintf(msg, msglen, "out of memory");
	free(b.p);
	if (doc)
		fy_document_destroy(doc);
	if (diag)
		fy_diag_destroy(diag);
	return rc;
}
