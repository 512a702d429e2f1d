/*
 * Several files as one job (docs/ingest.md, Several files): a glob that
 * sluice expands (glob(3)) or a list of paths, read as one stream through
 * the set source (source_multi.c), with one master job, its chunks per file
 * in the files' order (sorted by name, byte order), and every reject naming
 * its file.
 *
 * The job's `file` is the set as it was asked for, its spec: "glob:" and
 * the absolute pattern, or "files:" and the sorted absolute paths, one a
 * line. A resume expands the spec again and compares what it finds with
 * the job's manifest (sl_job.files): another set of files, or a file of it
 * with another size, time or compression, refuses the resume (IO_CHANGED,
 * naming the file); a byte changed inside is caught by the chunks' hashes
 * as for one file.
 *
 * Each file is opened under its own decoder (detected by its own magic
 * bytes), and its header read with the job's dialect: every file's header
 * must be the first's, byte for byte in its fields (FATAL_HEADER naming
 * the file otherwise); the headers of the files after the first are left
 * out of the stream. Planning cuts a chunk at every file's start; a file
 * that ends inside a quoted field (its last record would run into the next
 * file) fails the plan.
 *
 * The manifest, a line per file, tab-separated (paths with a tab or a
 * newline are refused):
 *
 *   raw_size mtime_ns compression skip skip_line vbase vlen nl hash known path
 *
 * skip, skip_line: the header's bytes and the line after it; vbase, vlen:
 * where the file's records are in the stream; nl: a newline added after its
 * last record; hash: XXH3-64 of its decoded bytes; known: the layout fields
 * are set (0 before planning).
 */
#include <errno.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/ingest_int.h"

#define MULTI_MAX_FILES 100000 /* a ceiling on a set's size */

bool sl__multi_spec(const char *file)
{
	return file && (!strncmp(file, "glob:", 5) || !strncmp(file, "files:", 6));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static bool has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

int sl__multi_spec_make(char *const *files, size_t n, char **out, char *msg, size_t msglen)
{
	char **abs = NULL;
	size_t len = 16;
	int rc = 0;
	*out = NULL;
	if (n == 0 || n > MULTI_MAX_FILES) {
		snprintf(msg, msglen, "a set of files has 1..%d of them", MULTI_MAX_FILES);
		return SL_INVAL;
	}
	if (n == 1 && has_glob(files[0])) {
		/* the pattern as sluice expands it, absolute: a resume from
		   elsewhere expands the same */
		char cwd[PATH_MAX];
		if (files[0][0] != '/' && !getcwd(cwd, sizeof cwd)) {
			snprintf(msg, msglen, "getcwd: %s", strerror(errno));
			return SL_IO_OPEN;
		}
		size_t k = strlen(files[0]) + (files[0][0] == '/' ? 0 : strlen(cwd) + 1) + 6;
		if (!(*out = malloc(k)))
			return SL_NOMEM;
		if (files[0][0] == '/')
			snprintf(*out, k, "glob:%s", files[0]);
		else
			snprintf(*out, k, "glob:%s/%s", cwd, files[0]);
		return 0;
	}
	if (!(abs = calloc(n, sizeof *abs)))
		return SL_NOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!(abs[i] = realpath(files[i], NULL))) {
			snprintf(msg, msglen, "%s: %s", files[i], strerror(errno));
			rc = SL_IO_OPEN;
			goto out;
		}
		len += strlen(abs[i]) + 1;
	}
	qsort(abs, n, sizeof *abs, cmp_str);
	for (size_t i = 1; i < n; i++) {
		if (!strcmp(abs[i], abs[i - 1])) {
			snprintf(msg, msglen, "%s is named twice", abs[i]);
			rc = SL_INVAL;
			goto out;
		}
	}
	if (!(*out = malloc(len))) {
		rc = SL_NOMEM;
		goto out;
	}
	char *p = *out + snprintf(*out, len, "files:");
	for (size_t i = 0; i < n; i++)
		p += snprintf(p, len - (size_t)(p - *out), "%s%s", i ? "\n" : "", abs[i]);
out:
	free_list(abs, n);
	return rc;
}

/* The spec's files, sorted (byte order, whatever the locale). */
static int expand(ingest *g, const char *spec, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!strncmp(spec, "glob:", 5)) {
		glob_t gl;
		int r = glob(spec + 5, GLOB_NOSORT | GLOB_ERR, NULL, &gl);
		/* a directory of the pattern that is missing: nothing matches */
		if (r == GLOB_NOMATCH || r == GLOB_ABORTED || (r == 0 && gl.gl_pathc == 0)) {
			globfree(&gl);
			sl__ingest_say(g, "%s: no file matches", spec + 5);
			return SL_IO_OPEN;
		}
		if (r != 0) {
			sl__ingest_say(g, "%s: out of memory", spec + 5);
			return SL_NOMEM;
		}
		size_t k = 0;
		char **v = calloc(gl.gl_pathc ? gl.gl_pathc : 1, sizeof *v);
		for (size_t i = 0; v && i < gl.gl_pathc; i++) {
			struct stat st;
			/* files only: a directory the pattern matches is not one */
			if (stat(gl.gl_pathv[i], &st) == 0 && S_ISDIR(st.st_mode))
				continue;
			if (!(v[k] = strdup(gl.gl_pathv[i]))) {
				free_list(v, k);
				v = NULL;
				break;
			}
			k++;
		}
		globfree(&gl);
		if (!v)
			return SL_NOMEM;
		if (k == 0 || k > MULTI_MAX_FILES) {
			free(v);
			sl__ingest_say(g, "%s: %s", spec + 5,
			               k ? "more files match than a set may have"
			                 : "no file matches");
			return k ? SL_LIMIT : SL_IO_OPEN;
		}
		qsort(v, k, sizeof *v, cmp_str);
		*out = v;
		*n = k;
		return 0;
	}
	const char *p = spec + 6;
	size_t k = 1;
	for (const char *q = p; *q; q++)
		k += *q == '\n';
	char **v = calloc(k, sizeof *v);
	if (!v)
		return SL_NOMEM;
	for (size_t i = 0; i < k; i++) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (!(v[i] = strndup(p, len))) {
			free_list(v, i);
			return SL_NOMEM;
		}
		p += len + (e ? 1 : 0);
	}
	*out = v;
	*n = k;
	return 0;
}

void sl__multi_free(ingest *g)
{
	for (size_t i = 0; i < g->nmf; i++)
		free(g->mf[i].path);
	free(g->mf);
	g->mf = NULL;
	g->nmf = 0;
}

/* File k's header: its fields into *h (the first file's kept to compare),
   the bytes and lines it takes. An empty file has none (skip 0). */
static int read_header(ingest *g, sl_source *src, size_t k, sl_buf *first)
{
	mfile *f = &g->mf[k];
	sl_source_reader *in = NULL;
	sl_csv_reader *rd = NULL;
	sl_csv_record rec;
	sl_buf h;
	int rc;
	f->skip = 0;
	f->skip_line = 1;
	if (!g->d.header)
		return 0;
	sl_buf_init(&h, g->d.max_row_bytes + 4096);
	if ((rc = sl_source_open_range(src, 0, SL_SOURCE_TO_END, NULL, 0, &in)) < 0 ||
	    (rc = sl_csv_reader_new(&g->d, SL_CSV_SCAN_AUTO, sl_source_read_fn, in, 1u << 16,
	                            &rd)) < 0) {
		sl__ingest_say(g, "%s: %s", f->path, in && in->msg[0] ? in->msg : src->msg);
		goto out;
	}
	if ((rc = sl_csv_reader_next(rd, &rec)) < 0) {
		sl__ingest_say(g, "%s: %s", f->path, in->msg[0] ? in->msg : sl_error_message(rc));
		goto out;
	}
	if (rc == 0) {
		rc = 0; /* empty: nothing to leave out, nothing to compare */
		if (k == 0) {
			rc = SL_FATAL_HEADER;
			sl__ingest_say(g, "%s, the first file of the set, is empty: no header row",
			               f->path);
		}
		goto out;
	}
	/* the fields, each with its length: a comparable form */
	for (size_t i = 0; i < rec.nfields && rc >= 0; i++) {
		char len[24];
		snprintf(len, sizeof len, "%zu:", rec.fields[i].n);
		if ((rc = sl_buf_append(&h, len, strlen(len))) == 0)
			rc = sl_buf_append(&h, rec.fields[i].p, rec.fields[i].n);
	}
	if (rc < 0)
		goto out;
	sl_csv_pos pos = sl_csv_position(sl_csv_reader_parser(rd));
	/* the first file's header stays: the stream's own */
	f->skip = k ? pos.offset : 0;
	f->skip_line = k ? pos.line : 1;
	if (k == 0) {
		rc = sl_buf_append(first, h.p, h.len);
	} else if (h.len != first->len || memcmp(h.p, first->p, h.len)) {
		rc = SL_FATAL_HEADER;
		sl__ingest_say(g,
		               "%s: its header differs from that of %s, the first file of the set; "
		               "every file of a set must have the same header",
		               f->path, g->mf[0].path);
	} else {
		rc = 0;
	}
out:
	sl_buf_free(&h);
	sl_csv_reader_free(rd);
	sl_source_reader_close(in);
	return rc;
}

/* The manifest's line for file k into *out (known: its layout is). */
static int manifest_line(const mfile *f, sl_buf *out)
{
	char line[512];
	int n = snprintf(line, sizeof line,
	                 "%" PRIu64 "\t%" PRId64 "\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
	                 "\t%" PRIu64 "\t%d\t%" PRIu64 "\t%d\t",
	                 f->raw_size, f->mtime_ns, sl_compression_name(f->comp), f->skip,
	                 f->skip_line, f->lay.vbase, f->lay.vlen, f->lay.nl ? 1 : 0, f->lay.hash,
	                 f->lay.known ? 1 : 0);
	int rc = sl_buf_append(out, line, (size_t)n);
	if (rc == 0)
		rc = sl_buf_append(out, f->path, strlen(f->path));
	return rc == 0 ? sl_buf_append(out, "\n", 1) : rc;
}

int sl__multi_manifest(ingest *g)
{
	sl_buf b;
	int rc = 0;
	sl_buf_init(&b, (size_t)MULTI_MAX_FILES * (PATH_MAX + 256));
	for (size_t i = 0; i < g->nmf && rc == 0; i++) {
		if (sl_source_is_multi(g->src))
			sl_source_multi_layout(g->src, i, &g->mf[i].lay);
		rc = manifest_line(&g->mf[i], &b);
	}
	if (rc == 0 && (rc = sl_buf_append(&b, "", 1)) == 0) {
		free(g->job.files);
		g->job.files = b.p; /* taken over */
		return 0;
	}
	sl_buf_free(&b);
	return rc;
}

/* The manifest back (a resume), into *out (n entries; paths malloc'ed). */
static int manifest_parse(const char *text, mfile **out, size_t *n)
{
	size_t k = 0, cap = 0;
	mfile *v = NULL;
	*out = NULL;
	*n = 0;
	for (const char *p = text; p && *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		char comp[16] = "", *line = strndup(p, len);
		mfile f = {0};
		int nl = 0, known = 0, used = 0;
		if (!line)
			goto nomem;
		if (sscanf(line,
		           "%" SCNu64 "\t%" SCNd64 "\t%15[a-z]\t%" SCNu64 "\t%" SCNu64 "\t%" SCNu64
		           "\t%" SCNu64 "\t%d\t%" SCNu64 "\t%d\t%n",
		           &f.raw_size, &f.mtime_ns, comp, &f.skip, &f.skip_line, &f.lay.vbase,
		           &f.lay.vlen, &nl, &f.lay.hash, &known, &used) != 10 ||
		    !used || sl_compression_parse(comp, &f.comp) < 0) {
			free(line);
			for (size_t i = 0; i < k; i++)
				free(v[i].path);
			free(v);
			return SL_INVAL;
		}
		f.lay.nl = nl;
		f.lay.known = known;
		f.path = strdup(line + used);
		free(line);
		if (!f.path)
			goto nomem;
		if (k == cap) {
			size_t nc = cap ? 2 * cap : 16;
			mfile *w = realloc(v, nc * sizeof *w);
			if (!w) {
				free(f.path);
				goto nomem;
			}
			v = w;
			cap = nc;
		}
		v[k++] = f;
		p += len + (e ? 1 : 0);
	}
	*out = v;
	*n = k;
	return 0;
nomem:
	for (size_t i = 0; i < k; i++)
		free(v[i].path);
	free(v);
	return SL_NOMEM;
}

int sl__multi_open(ingest *g, const char *spec, bool job_known, struct stat *st)
{
	char **paths = NULL;
	size_t n = 0;
	sl_source **parts = NULL;
	uint64_t *skip = NULL, raw = 0;
	int64_t mtime = 0;
	sl_buf first;
	mfile *old = NULL;
	size_t nold = 0;
	bool any_comp = false;
	int rc;
	sl_buf_init(&first, g->d.max_row_bytes + 4096);
	sl_source_opts so = {.s3_endpoint = g->o ? g->o->s3_endpoint : NULL};
	sl_compression forced = SL_COMPRESSION_AUTO;
	if (!job_known && g->o && g->o->compression &&
	    sl_compression_parse(g->o->compression, &forced) < 0) {
		sl__ingest_say(g, "compression '%.100s': expected none, auto, gzip or zstd",
		               g->o->compression);
		return SL_CONFIG;
	}
	if (job_known && g->job.files && manifest_parse(g->job.files, &old, &nold) < 0) {
		sl__ingest_say(g, "job %s: its list of files cannot be read", g->job.id);
		return SL_INTERNAL;
	}
	if ((rc = expand(g, spec, &paths, &n)) < 0)
		goto out;
	sl__multi_free(g);
	if (!(g->mf = calloc(n, sizeof *g->mf)) || !(parts = calloc(n, sizeof *parts)) ||
	    !(skip = calloc(n, sizeof *skip))) {
		rc = SL_NOMEM;
		goto out;
	}
	g->nmf = n;
	for (size_t i = 0; i < n; i++) {
		mfile *f = &g->mf[i];
		sl_source *src = NULL;
		sl_source_stat ss;
		f->path = paths[i];
		paths[i] = NULL;
		if (strpbrk(f->path, "\t\n")) {
			rc = SL_INVAL;
			sl__ingest_say(
			    g, "%s: a file of a set may not have a tab or a newline in its name",
			    f->path);
			goto out;
		}
		/* a resume decodes each file as it was planned */
		so.compression = i < nold && !strcmp(old[i].path, f->path) ? old[i].comp : forced;
		if ((rc = sl_source_open(f->path, &so, &src, g->msg, g->msglen)) < 0 ||
		    (rc = sl_source_filter(src, so.compression, &parts[i], &f->comp, g->msg,
		                           g->msglen)) < 0)
			goto out;
		if ((rc = sl_source_stat_get(parts[i], &ss)) < 0) {
			sl__ingest_say(g, "%s", parts[i]->msg);
			goto out;
		}
		if (ss.once) {
			rc = SL_INVAL;
			sl__ingest_say(g, "%s: a stream cannot be a file of a set", f->path);
			goto out;
		}
		f->raw_size = ss.raw_size;
		f->mtime_ns = ss.mtime_ns;
		raw += ss.raw_size;
		mtime = ss.mtime_ns > mtime ? ss.mtime_ns : mtime;
		any_comp = any_comp || f->comp != SL_COMPRESSION_NONE;
		if ((rc = read_header(g, parts[i], i, &first)) < 0)
			goto out;
		skip[i] = f->skip;
	}
	rc = sl_source_multi_new(spec, parts, skip, n, &g->src);
	free(parts);
	parts = NULL;
	if (rc < 0)
		goto out;
	/* compressed files of the set: the plan spools the stream and keeps
	   the access points, as for one compressed file */
	g->comp = any_comp ? SL_COMPRESSION_GZIP : SL_COMPRESSION_NONE;
	memset(st, 0, sizeof *st);
	st->st_size = (off_t)raw;
	st->st_mtim.tv_sec = (time_t)(mtime / 1000000000);
	st->st_mtim.tv_nsec = (long)(mtime % 1000000000);
	st->st_mode = S_IFREG;
out:
	for (size_t i = 0; parts && i < n; i++)
		sl_source_close(parts[i]);
	free(parts);
	free_list(paths, n);
	free(skip);
	for (size_t i = 0; i < nold; i++)
		free(old[i].path);
	free(old);
	sl_buf_free(&first);
	return rc;
}

int sl__multi_stat(const char *spec, struct stat *st, char *msg, size_t msglen)
{
	ingest tmp = {.msg = msg, .msglen = msglen};
	char **paths = NULL;
	size_t n = 0;
	int64_t mtime = 0;
	uint64_t size = 0;
	int rc = expand(&tmp, spec, &paths, &n);
	if (rc == SL_IO_OPEN && !n)
		rc =
		    0; /* nothing matches (an empty batch): its job fails when it runs, saying so */
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct stat fs;
		if (stat(paths[i], &fs) != 0) {
			snprintf(msg, msglen, "%s: %s", paths[i], strerror(errno));
			rc = SL_IO_OPEN;
			break;
		}
		int64_t mt = (int64_t)fs.st_mtim.tv_sec * 1000000000 + fs.st_mtim.tv_nsec;
		size += (uint64_t)fs.st_size;
		mtime = mt > mtime ? mt : mtime;
	}
	free_list(paths, n);
	memset(st, 0, sizeof *st);
	st->st_size = (off_t)size;
	st->st_mtim.tv_sec = (time_t)(mtime / 1000000000);
	st->st_mtim.tv_nsec = (long)(mtime % 1000000000);
	st->st_mode = S_IFREG;
	return rc;
}

int sl__multi_check(ingest *g)
{
	mfile *old = NULL;
	size_t nold = 0;
	int rc = 0;
	/* an accepted job (a drop-folder batch) has no manifest before its plan */
	if (!g->nmf || (!g->job.files && g->job.status == SL_JOB_ACCEPTED))
		return 0;
	if (!g->job.files || manifest_parse(g->job.files, &old, &nold) < 0) {
		sl__ingest_say(g, "job %s: its list of files cannot be read", g->job.id);
		return SL_INTERNAL;
	}
	for (size_t i = 0; i < nold || i < g->nmf; i++) {
		const mfile *o = i < nold ? &old[i] : NULL, *f = i < g->nmf ? &g->mf[i] : NULL;
		const char *how = NULL;
		if (!o || !f || strcmp(o->path, f->path))
			how = !o                                   ? "is new in the set"
			      : !f || strcmp(o->path, f->path) < 0 ? "is gone from the set"
			                                           : "is new in the set";
		else if (o->raw_size != f->raw_size)
			how = "has another size";
		else if (o->mtime_ns != f->mtime_ns)
			how = "has another modification time";
		else if (o->comp != f->comp)
			how = "is compressed otherwise";
		if (how) {
			const char *name = !o                             ? f->path
			                   : !f                           ? o->path
			                   : strcmp(o->path, f->path) < 0 ? o->path
			                                                  : f->path;
			sl__ingest_say(g,
			               "%s %s since job %s was planned: the set of files changed; "
			               "start a new job with --new",
			               name, how, g->job.id);
			rc = SL_IO_CHANGED;
			break;
		}
		if (o->lay.known) {
			g->mf[i].lay = o->lay;
			g->mf[i].skip_line = o->skip_line;
			if (o->skip != g->mf[i].skip) {
				sl__ingest_say(g, "%s: its header changed since job %s was planned",
				               o->path, g->job.id);
				rc = SL_IO_CHANGED;
				break;
			}
			if ((rc = sl_source_multi_set_layout(g->src, i, &o->lay)) < 0)
				break;
		}
	}
	for (size_t i = 0; i < nold; i++)
		free(old[i].path);
	free(old);
	return rc;
}

int sl__multi_lines(ingest *g)
{
	size_t c = 0;
	for (size_t k = 0; k < g->nmf; k++) {
		mfile *f = &g->mf[k];
		f->line_delta = 0;
		if (k == 0 || !f->lay.vlen)
			continue;
		while (c < g->nchunks && g->chunks[c].offset < f->lay.vbase)
			c++;
		if (c >= g->nchunks || g->chunks[c].offset != f->lay.vbase) {
			sl__ingest_say(
			    g,
			    "%s ends inside a quoted field: its last record would run into "
			    "%s; every file of a set must end with a whole record",
			    g->mf[k - 1].path, f->path);
			return SL_IO_CORRUPT;
		}
		f->line_delta = (int64_t)f->skip_line - (int64_t)g->chunks[c].first_line;
	}
	return 0;
}

int sl__multi_planned(ingest *g)
{
	int rc;
	if (!g->nmf)
		return 0;
	for (size_t i = 0; i < g->nmf; i++)
		sl_source_multi_layout(g->src, i, &g->mf[i].lay);
	if ((rc = sl__multi_lines(g)) < 0)
		return rc;
	return sl__multi_manifest(g);
}

void sl__multi_place(const ingest *g, uint32_t seq, sl_reject *r)
{
	if (!g->nmf || seq >= g->nchunks)
		return;
	uint64_t off = g->chunks[seq].offset;
	size_t lo = 0, hi = g->nmf; /* the last file starting at or before the chunk */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (g->mf[mid].lay.vbase <= off)
			lo = mid;
		else
			hi = mid;
	}
	while (lo > 0 && !g->mf[lo].lay.vlen)
		lo--;
	const mfile *f = &g->mf[lo];
	r->file = sl_str_make(f->path, strlen(f->path));
	if (lo == 0)
		return;
	r->line = (uint64_t)((int64_t)r->line + f->line_delta);
	r->offset = r->offset - f->lay.vbase + f->skip;
}
