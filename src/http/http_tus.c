/*
 * tus 1.0 resumable uploads (docs/serve.md, "Resumable uploads"): core, creation,
 * termination and checksum (sha1, md5) on /v1/tus/ and /v1/tus/{id}.
 *
 * A client creates an upload with POST (the size and the dataset), then
 * sends the bytes with PATCH requests, each starting where the file stands;
 * after a broken connection it asks with HEAD how far the server got and
 * goes on from there. State lives only in files of DATA_DIR/tus/ (so it
 * survives a restart): ID.part holds the bytes received, ID.info a few
 * lines (size, dataset, file name, correlation id, creation time; `job`
 * once complete), replaced whole through a temporary file, fsync and
 * rename so a crash never leaves half of one. The ID is generated here
 * ('t' + time + random); a path segment is used as a file name only after
 * it passed http_valid_token and starts with 't', and the client's file
 * name is only stored (base64) for display.
 *
 * A PATCH streams: each piece libmicrohttpd hands over is appended with
 * write() to ID.part (O_APPEND), and hashed when Upload-Checksum is given,
 * so nothing holds a whole body. One PATCH per upload at a time: the
 * request holds flock(LOCK_EX) on its descriptor of ID.part, and another
 * one gets 423 at once. The bytes of a client that goes away mid-PATCH are
 * kept (synced): that is what resuming is for. With a checksum they are cut
 * off again, since a piece of the chunk cannot be verified. When the last
 * byte is in, the file is synced and handed to http_accept_file (renamed
 * into DATA_DIR/uploads/, job created and queued); ID.info is rewritten
 * with the job id so that a HEAD after a lost answer still says "complete".
 *
 * Uploads not touched for 24 hours are removed by a sweep of DATA_DIR/tus/
 * that runs when an upload is created (at most once a minute).
 *
 * With --upload-store, after each PATCH the whole parts received go into
 * the bucket as parts of a multipart upload (http_store_tus_flush; ID.mpu
 * records them, and their local bytes are freed), and the last PATCH
 * sends the rest, completes the object and hands it to
 * http_accept_object. DELETE and the sweep abort what is in the bucket.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "base/base.h"
#include "http/http_parse.h"
#include "http/http_reply.h"

#define TUS_VERSION        "1.0.0"
#define TUS_EXPIRE_MS      (24LL * 3600 * 1000) /* untouched uploads are removed after this */
#define TUS_TMP_EXPIRE_MS  (3600LL * 1000)      /* a temporary info file of a crashed write */
#define TUS_SWEEP_EVERY_MS (60LL * 1000)
#define TUS_INFO_MAX       4096 /* an info file is far smaller; more is not one of ours */

/* What ID.info holds. Names are kept base64-encoded, as tus sends them, so
   no byte of theirs can break the line format. */
typedef struct tus_info {
	uint64_t length;
	char dataset[TUS_B64_MAX + 1];  /* base64 */
	char filename[TUS_B64_MAX + 1]; /* base64, "" when not given */
	char corr[HTTP_CORR_MAX + 1];
	int64_t created_ms;
	char job[SL_JOB_ID_LEN]; /* "" until the upload is complete */
	char owner[17];          /* the creating API key's fingerprint; "" none */
	char mode[12];           /* Upload-Metadata's mode (a load mode's name); "" the dataset's */
} tus_info;

/* A PATCH in progress (r->ext). */
typedef struct tus_patch {
	int fd;       /* ID.part, O_APPEND, flock held; -1 once settled */
	bool counted; /* in s->uploads_in_flight */
	char id[SL_JOB_ID_LEN];
	char part[4096];
	tus_info in;
	size_t ds;
	uint64_t start, bytes; /* the offset the PATCH started at; bytes appended */
	EVP_MD_CTX *md;        /* Upload-Checksum given */
	unsigned char want[EVP_MAX_MD_SIZE];
	unsigned wantlen;
	unsigned fail_status; /* found while the body streamed in; answered at its end */
	const char *fail_code;
	char fail_msg[200];
} tus_patch;

/* --- answers ------------------------------------------------------------------------------ */

/* Every answer of a tus route carries Tus-Resumable (and a 412 Tus-Version):
   the common answer path adds them (http_reply.c). */

static enum MHD_Result tus_options(struct MHD_Connection *c, http_req *r)
{
	char max[24];
	snprintf(max, sizeof max, "%llu", (unsigned long long)r->s->o.max_upload);
	const char *const h[] = {"Tus-Version",
	                         TUS_VERSION,
	                         "Tus-Extension",
	                         "creation,termination,checksum,expiration",
	                         "Tus-Checksum-Algorithm",
	                         "sha1,md5",
	                         "Tus-Max-Size",
	                         max,
	                         NULL};
	return http_send_empty(c, r, 204, h);
}

/* Upload-Expires (tus expiration): the HTTP date TUS_EXPIRE_MS after `ms`,
   the last time the upload was touched. */
static void expires_at(int64_t ms, char *out, size_t n)
{
	time_t t = (time_t)((ms + TUS_EXPIRE_MS) / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static int64_t mtime_ms(const struct stat *st);

/* --- small parsers ----------------------------------------------------------------------- */

/* Upload-Checksum: "ALGORITHM BASE64". 0 ok (p->md ready), else the
   status to answer with p->fail_msg set. */
static unsigned parse_checksum(const char *h, tus_patch *p)
{
	const char *sp = strchr(h, ' ');
	const EVP_MD *alg = NULL;
	if (sp && (size_t)(sp - h) == 4 && !strncasecmp(h, "sha1", 4))
		alg = EVP_sha1();
	else if (sp && (size_t)(sp - h) == 3 && !strncasecmp(h, "md5", 3))
		alg = EVP_md5();
	if (!alg) {
		snprintf(p->fail_msg, sizeof p->fail_msg,
		         "Upload-Checksum: ALGORITHM BASE64 with algorithm sha1 or md5");
		return 400;
	}
	long n = http_b64_decode(sp + 1, strlen(sp + 1), p->want, sizeof p->want);
	if (n != EVP_MD_size(alg)) {
		snprintf(p->fail_msg, sizeof p->fail_msg, "Upload-Checksum: not a base64 %s digest",
		         alg == EVP_md5() ? "md5" : "sha1");
		return 400;
	}
	p->wantlen = (unsigned)n;
	if (!(p->md = EVP_MD_CTX_new()) || EVP_DigestInit_ex(p->md, alg, NULL) != 1) {
		snprintf(p->fail_msg, sizeof p->fail_msg, "out of memory");
		return 503;
	}
	return 0;
}

/* --- files -------------------------------------------------------------------------------- */

static bool valid_id(const char *id)
{
	return id && id[0] == 't' && strlen(id) < SL_JOB_ID_LEN &&
	       http_valid_token(id, HTTP_ID_MAX, true);
}

static void tus_path(const http_srv *s, const char *id, const char *ext, char *out, size_t n)
{
	snprintf(out, n, "%s/%s.%s", s->tus_dir, id, ext);
}

static void sync_dir(const http_srv *s)
{
	int fd = open(s->tus_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Write ID.info whole: temporary file, fsync, rename, then the directory,
   so a reader sees the old file or the new one, never a piece. */
static int info_write(const http_srv *s, const char *id, const tus_info *in)
{
	char path[4096], text[TUS_INFO_MAX];
	int len = snprintf(text, sizeof text,
	                   "sluice-tus 1\nlength %llu\ndataset %s\nfilename %s\ncorr %s\ncreated "
	                   "%lld\njob %s\nowner %s\nmode %s\n",
	                   (unsigned long long)in->length, in->dataset,
	                   in->filename[0] ? in->filename : "-", in->corr[0] ? in->corr : "-",
	                   (long long)in->created_ms, in->job[0] ? in->job : "-",
	                   in->owner[0] ? in->owner : "-", in->mode[0] ? in->mode : "-");
	if (len < 0 || (size_t)len >= sizeof text)
		return -1;
	tus_path(s, id, "info", path, sizeof path);
	int e = sl_write_file_durable(path, text, (size_t)len);
	if (e) {
		errno = e;
		return -1;
	}
	sync_dir(s);
	return 0;
}

/* Read ID.info. 0, or -1 when there is none (or it is not one of ours). */
static int info_read(const http_srv *s, const char *id, tus_info *in)
{
	char path[4096], text[TUS_INFO_MAX + 1];
	memset(in, 0, sizeof *in);
	tus_path(s, id, "info", path, sizeof path);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	size_t n = 0;
	for (;;) {
		ssize_t got = read(fd, text + n, sizeof text - 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
		if (n == sizeof text - 1)
			break;
	}
	close(fd);
	text[n] = 0;
	if (strncmp(text, "sluice-tus 1\n", 13))
		return -1;
	bool have_len = false;
	char *save = NULL;
	for (char *line = strtok_r(text + 13, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *v = strchr(line, ' ');
		if (!v)
			continue;
		*v++ = 0;
		bool none = !strcmp(v, "-");
		if (!strcmp(line, "length"))
			have_len = http_parse_u64(v, &in->length);
		else if (!strcmp(line, "dataset"))
			snprintf(in->dataset, sizeof in->dataset, "%s", v);
		else if (!strcmp(line, "filename") && !none)
			snprintf(in->filename, sizeof in->filename, "%s", v);
		else if (!strcmp(line, "corr") && !none &&
		         http_valid_token(v, HTTP_CORR_MAX, false))
			snprintf(in->corr, sizeof in->corr, "%s", v);
		else if (!strcmp(line, "created"))
			in->created_ms = strtoll(v, NULL, 10);
		else if (!strcmp(line, "job") && !none &&
		         http_valid_token(v, SL_JOB_ID_LEN - 1, true))
			snprintf(in->job, sizeof in->job, "%s", v);
		else if (!strcmp(line, "owner") && !none &&
		         http_valid_token(v, sizeof in->owner - 1, true))
			snprintf(in->owner, sizeof in->owner, "%s", v);
		else if (!strcmp(line, "mode") && !none &&
		         sl_load_mode_parse(v, &(sl_load_mode){0}) == 0)
			snprintf(in->mode, sizeof in->mode, "%s", v);
	}
	return have_len && in->dataset[0] ? 0 : -1;
}

/* info_read for a request: an upload of another API key is "no such upload"
   (an upload made without keys, or before uploads had owners, is anyone's). */
static int info_owned(const http_req *r, const char *id, tus_info *in)
{
	if (info_read(r->s, id, in) != 0)
		return -1;
	return in->owner[0] && strcmp(in->owner, r->owner) ? -1 : 0;
}

/* The dataset an info names: its index, or -1 when it is not loaded (now). */
static int info_dataset(const http_srv *s, const tus_info *in, char *name, size_t n)
{
	unsigned char dec[TUS_DATASET_MAX + 1];
	long dl = http_b64_decode(in->dataset, strlen(in->dataset), dec, sizeof dec - 1);
	if (dl <= 0) {
		snprintf(name, n, "?");
		return -1;
	}
	dec[dl] = 0;
	snprintf(name, n, "%s", (char *)dec);
	return http_dataset_find(s, name);
}

/* Upload-Metadata echoed by HEAD. */
static void metadata_echo(const tus_info *in, char *out, size_t n)
{
	int k = in->filename[0]
	            ? snprintf(out, n, "dataset %s,filename %s", in->dataset, in->filename)
	            : snprintf(out, n, "dataset %s", in->dataset);
	if (in->mode[0] && k > 0 && (size_t)k < n) {
		char b64[24];
		http_b64_encode((const unsigned char *)in->mode, strlen(in->mode), b64);
		snprintf(out + k, n - (size_t)k, ",mode %s", b64);
	}
}

/* Open ID.part and take its lock. 0 and *fd (size in *size); -1 no such
   file (or it was renamed or removed while we waited: it is not this
   upload's any more); -2 another request holds it; -3 another error. */
static int part_open_locked(const char *part, int flags, int *fd, uint64_t *size)
{
	*fd = open(part, flags | O_CLOEXEC | O_NOFOLLOW);
	if (*fd < 0)
		return errno == ENOENT ? -1 : -3;
	if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		close(*fd);
		*fd = -1;
		return e == EWOULDBLOCK ? -2 : -3;
	}
	/* A finishing PATCH renames the file and DELETE unlinks it, both under
	   the lock: the descriptor we opened before may name a file that is no
	   longer ID.part. */
	struct stat a, b;
	if (fstat(*fd, &a) != 0 || stat(part, &b) != 0 || a.st_ino != b.st_ino ||
	    a.st_dev != b.st_dev) {
		close(*fd);
		*fd = -1;
		return -1;
	}
	*size = (uint64_t)a.st_size;
	return 0;
}

/* --- expiry ---------------------------------------------------------------------------------- */

static int64_t mtime_ms(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
}

/* Remove ID.part unless a request holds it. true when it is gone. */
static bool remove_part(const char *part)
{
	int fd = open(part, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT;
	bool gone = false;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		gone = unlink(part) == 0 || errno == ENOENT;
	close(fd);
	return gone;
}

/* Remove uploads (and completion markers) whose files were not touched for
   24 hours, orphaned .part files as old, and temporary info files older than
   an hour. A PATCH in progress writes the file, so its mtime is fresh; the
   lock keeps one that just stalled. Runs at most once a minute, on the
   thread of a creation request: the directory holds only live uploads, so
   one pass is a readdir and a few stats. */
static void sweep(http_srv *s)
{
	static _Atomic int64_t last;
	int64_t now = sl_now_ms(), prev = atomic_load(&last);
	if (now - prev < TUS_SWEEP_EVERY_MS || !atomic_compare_exchange_strong(&last, &prev, now))
		return;
	DIR *d = opendir(s->tus_dir);
	if (!d)
		return;
	unsigned removed = 0;
	for (struct dirent *e; (e = readdir(d));) {
		char id[SL_JOB_ID_LEN], path[4096], part[4096];
		const char *name = e->d_name, *dot = strchr(name, '.');
		size_t il = dot ? (size_t)(dot - name) : 0;
		if (name[0] != 't' || !il || il >= sizeof id)
			continue;
		memcpy(id, name, il);
		id[il] = 0;
		if (!valid_id(id))
			continue;
		struct stat st, pst;
		snprintf(path, sizeof path, "%s/%s", s->tus_dir, name);
		if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		tus_path(s, id, "part", part, sizeof part);
		bool have_part = lstat(part, &pst) == 0;
		if (!strcmp(dot, ".info")) {
			int64_t newest = mtime_ms(&st);
			if (have_part && mtime_ms(&pst) > newest)
				newest = mtime_ms(&pst);
			if (now - newest < TUS_EXPIRE_MS || !remove_part(part))
				continue;
			unlink(path);
			char mpu[4096];
			tus_path(s, id, "mpu", mpu, sizeof mpu);
			http_store_tus_abort(s, mpu);
			removed++;
		} else if (!strcmp(dot, ".part")) {
			char info[4096];
			tus_path(s, id, "info", info, sizeof info);
			/* created but its info never written (a crash in between) */
			if (access(info, F_OK) != 0 && now - mtime_ms(&st) >= TUS_EXPIRE_MS &&
			    remove_part(part))
				removed++;
		} else if (!strncmp(dot, ".info.", 6) && now - mtime_ms(&st) >= TUS_TMP_EXPIRE_MS) {
			unlink(path);
		}
	}
	closedir(d);
	if (removed)
		http_log(s, "info", "tus: removed %u uploads not touched for 24 hours", removed);
}

/* --- creation -----------------------------------------------------------------------------------
 */

static pthread_mutex_t create_mu = PTHREAD_MUTEX_INITIALIZER;

/* Pending uploads (created, not complete): a readdir of DATA_DIR/tus/ and
   their info files. The directory holds only live uploads (sweep), and
   creation runs off the event loop (RF_SLOW), so a pass is cheap enough
   for the few creations a client makes. */
static void pending_counts(http_srv *s, const char *owner, uint64_t *n_all, uint64_t *b_all,
                           uint64_t *n_key, uint64_t *b_key)
{
	*n_all = *b_all = *n_key = *b_key = 0;
	DIR *d = opendir(s->tus_dir);
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));) {
		char id[SL_JOB_ID_LEN];
		const char *dot = strchr(e->d_name, '.');
		size_t il = dot ? (size_t)(dot - e->d_name) : 0;
		if (!dot || strcmp(dot, ".info") || il >= sizeof id)
			continue;
		memcpy(id, e->d_name, il);
		id[il] = 0;
		tus_info in;
		if (!valid_id(id) || info_read(s, id, &in) != 0 || in.job[0])
			continue;
		(*n_all)++;
		*b_all += in.length;
		if (!strcmp(in.owner, owner)) {
			(*n_key)++;
			*b_key += in.length;
		}
	}
	closedir(d);
}

/* true when one more upload of `length` bytes would pass a cap (*sent: the
   429 for a count, the 507 for declared bytes). */
static bool over_caps(struct MHD_Connection *c, http_req *r, uint64_t length, enum MHD_Result *sent)
{
	http_srv *s = r->s;
	uint64_t n_all, b_all, n_key, b_key;
	pending_counts(s, r->owner, &n_all, &b_all, &n_key, &b_key);
	const char *who = r->owner[0] ? "this API key" : "this server";
	if (n_all >= s->o.max_tus_pending || n_key >= s->o.max_tus_pending_per_key) {
		bool all = n_all >= s->o.max_tus_pending;
		atomic_fetch_add(&s->client_refused, 1);
		*sent = http_send_error(
		    c, r, 429, "TOO_MANY_PENDING_UPLOADS",
		    "%s has %llu unfinished tus uploads, the limit; finish or DELETE one",
		    all ? "this server" : who, (unsigned long long)(all ? n_all : n_key));
		return true;
	}
	if (b_all + length > s->o.max_tus_pending_bytes ||
	    b_key + length > s->o.max_tus_pending_bytes_per_key) {
		bool all = b_all + length > s->o.max_tus_pending_bytes;
		atomic_fetch_add(&s->client_refused, 1);
		*sent = http_send_error(
		    c, r, 507, "PENDING_BYTES_LIMIT",
		    "%s has %llu bytes declared by unfinished tus uploads; %llu more "
		    "would pass the limit of %llu",
		    all ? "this server" : who, (unsigned long long)(all ? b_all : b_key),
		    (unsigned long long)length,
		    (unsigned long long)(all ? s->o.max_tus_pending_bytes
		                             : s->o.max_tus_pending_bytes_per_key));
		return true;
	}
	return false;
}

static enum MHD_Result tus_create(struct MHD_Connection *c, http_req *r)
{
	http_srv *s = r->s;
	tus_info in;
	char dsname[TUS_DATASET_MAX + 1];
	memset(&in, 0, sizeof in);
	if (http_header(c, "Upload-Defer-Length"))
		return http_send_error(c, r, 400, "BAD_REQUEST",
		                       "Upload-Defer-Length is not supported: give Upload-Length");
	if (!http_parse_u64(http_header(c, "Upload-Length"), &in.length))
		return http_send_error(c, r, 400, "BAD_REQUEST",
		                       "Upload-Length: the size of the file in bytes is required");
	if (!in.length)
		return http_send_error(c, r, 400, "BAD_REQUEST",
		                       "Upload-Length is 0: an empty file is no CSV");
	if (in.length > s->o.max_upload)
		return http_send_error(
		    c, r, 413, "TOO_LARGE", "the upload is %llu bytes; the limit is %llu",
		    (unsigned long long)in.length, (unsigned long long)s->o.max_upload);
	uint64_t cl = 0;
	if (http_parse_u64(http_header(c, MHD_HTTP_HEADER_CONTENT_LENGTH), &cl) && cl)
		return http_send_error(
		    c, r, 400, "BAD_REQUEST",
		    "creation-with-upload is not supported: create empty, then PATCH the data");
	const char *meta = http_header(c, "Upload-Metadata");
	if (!meta)
		return http_send_error(
		    c, r, 400, "BAD_REQUEST",
		    "Upload-Metadata must name the dataset: dataset BASE64_NAME");
	const char *why = http_tus_metadata(meta, dsname, in.filename);
	if (why)
		return http_send_error(c, r, 400, "BAD_REQUEST", "%s", why);
	/* mode: the job's load mode over the dataset schema's `mode:`, as
	   ?mode= of a plain upload (docs/api.yaml) */
	sl_load_mode mode = SL_MODE_DEFAULT;
	int mg = http_tus_meta_get(meta, "mode", in.mode, sizeof in.mode);
	if (mg < 0 || (mg == 1 && (!in.mode[0] || sl_load_mode_parse(in.mode, &mode) < 0)))
		return http_send_error(
		    c, r, 400, "BAD_REQUEST",
		    "Upload-Metadata: mode is append, replace or atomic (none: the "
		    "dataset's)");
	if (http_dataset_find(s, dsname) < 0)
		return http_send_error(c, r, 404, "NOT_FOUND", "no dataset with that name");
	http_b64_encode((const unsigned char *)dsname, strlen(dsname), in.dataset);
	sweep(s);
	snprintf(in.owner, sizeof in.owner, "%s", r->owner);
	/* the caps on pending uploads: checked and taken under one lock, so two
	   creations at once cannot both squeeze under them */
	pthread_mutex_lock(&create_mu);
	enum MHD_Result capped;
	if (over_caps(c, r, in.length, &capped)) {
		pthread_mutex_unlock(&create_mu);
		return capped;
	}

	char id[SL_JOB_ID_LEN], part[4096];
	int fd = -1;
	for (int attempt = 0; attempt < 3 && fd < 0; attempt++) {
		http_new_id('t', id);
		tus_path(s, id, "part", part, sizeof part);
		fd = open(part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		pthread_mutex_unlock(&create_mu);
		http_log(s, "error", "tus: cannot create an upload file in %s: %s", s->tus_dir,
		         strerror(errno));
		return http_send_error(c, r, 503, "IO_WRITE", "cannot store the upload");
	}
	close(fd);
	/* without a header, the upload id is the correlation id (as for raw uploads) */
	if (!r->corr_given)
		snprintf(r->corr, sizeof r->corr, "%s", id);
	snprintf(in.corr, sizeof in.corr, "%s", r->corr);
	in.created_ms = sl_now_ms();
	int wr = info_write(s, id, &in);
	pthread_mutex_unlock(&create_mu);
	if (wr != 0) {
		int e = errno;
		unlink(part);
		http_log(s, "error", "tus: cannot write the state of upload %s: %s", id,
		         strerror(e));
		return http_send_error(c, r, e == ENOSPC || e == EDQUOT ? 507 : 503, "IO_WRITE",
		                       "cannot store the upload");
	}
	http_log_job(s, "info", NULL, r->corr, "tus upload %s created: %llu bytes for dataset %s",
	             id, (unsigned long long)in.length, dsname);
	char loc[64], exp[64];
	snprintf(loc, sizeof loc, "/v1/tus/%s", id);
	expires_at(in.created_ms, exp, sizeof exp);
	const char *const h[] = {MHD_HTTP_HEADER_LOCATION, loc, "Upload-Expires", exp, NULL};
	return http_send_empty(c, r, 201, h);
}

/* --- completion
 * ------------------------------------------------------------------------------------ */

/* The last byte is in (caller holds the lock on fd): sync, hand the file
   to the ingest, mark the upload complete. Returns the HTTP status of
   http_accept_file (job is set whenever it took the file: 200/202, or 503
   when queuing failed and the job runs after a restart), or 507 when the
   sync failed. */
static unsigned finish(http_srv *s, const char *id, int fd, tus_info *in, size_t ds,
                       const char *corr, char *job, char *msg, size_t msglen)
{
	char part[4096];
	tus_path(s, id, "part", part, sizeof part);
	job[0] = msg[0] = 0;
	if (fdatasync(fd) != 0) {
		snprintf(msg, msglen, "cannot store the upload: %s", strerror(errno));
		return 507;
	}
	unsigned st;
	sl_load_mode mode = SL_MODE_DEFAULT;
	if (in->mode[0] && sl_load_mode_parse(in->mode, &mode) < 0)
		mode = SL_MODE_DEFAULT; /* info_read let only a mode's name through */
	if (http_store_on(s)) {
		/* the last parts into the bucket, the object completed, then taken
		   as a streamed upload is; a failure before keeps the upload (a
		   HEAD, or the client's retry, hands it over again) */
		char uid[SL_JOB_ID_LEN], mpu[4096];
		tus_path(s, id, "mpu", mpu, sizeof mpu);
		int rc = http_store_tus_flush(s, mpu, part, in->length, true, uid, sizeof uid, msg,
		                              msglen);
		if (rc < 0) {
			http_log_job(s, "error", NULL, corr, "tus upload %s: %s (%s)", id, msg,
			             sl_error_name(rc));
			return 503;
		}
		st = http_accept_object(s, ds, uid, true, in->length, 0, "", corr, mode, job, msg,
		                        msglen);
		unlink(part); /* the object is the upload now, or it is gone */
		unlink(mpu);
	} else {
		st = http_accept_file(s, ds, part, in->length, 0, "", corr, mode, job, msg, msglen);
	}
	/* a job id means the file was taken, even when queuing it failed (it
	   then runs after a restart): the upload is complete either way */
	if (job[0]) {
		snprintf(in->job, sizeof in->job, "%s", job);
		/* the marker only lets a HEAD after a lost answer see "complete":
		   the job is queued whatever happens to it */
		if (info_write(s, id, in) != 0)
			http_log(s, "warn", "tus: upload %s: cannot record its job %s: %s", id, job,
			         strerror(errno));
		http_log_job(s, "info", job, corr, "tus upload %s complete: %llu bytes, job %s", id,
		             (unsigned long long)in->length, job);
		return st;
	}
	/* http_accept_file removed the file it did not take: the upload is gone */
	char info[4096];
	tus_path(s, id, "info", info, sizeof info);
	unlink(info);
	unlink(part);
	http_log_job(s, "error", NULL, corr, "tus upload %s: cannot queue it: %s", id, msg);
	return st;
}

static const char *status_code(unsigned st)
{
	return st == 507   ? "IO_WRITE"
	       : st == 503 ? "UNAVAILABLE"
	       : st == 409 ? "CONFLICT"
	       : st == 404 ? "NOT_FOUND"
	                   : "INTERNAL";
}

/* --- HEAD
 * ------------------------------------------------------------------------------------------ */

static enum MHD_Result head_complete(struct MHD_Connection *c, http_req *r, const tus_info *in)
{
	char len[24], meta[2 * TUS_B64_MAX + 32];
	snprintf(len, sizeof len, "%llu", (unsigned long long)in->length);
	metadata_echo(in, meta, sizeof meta);
	snprintf(r->job, sizeof r->job, "%s", in->job);
	const char *const h[] = {
	    "Upload-Offset", len, "Upload-Length", len, "Upload-Metadata", meta, "X-Job-Id",
	    in->job,         NULL};
	return http_send_empty(c, r, 200, h);
}

static enum MHD_Result tus_head(struct MHD_Connection *c, http_req *r, const char *id)
{
	http_srv *s = r->s;
	tus_info in;
	char part[4096], dsname[TUS_DATASET_MAX + 1];
	if (info_owned(r, id, &in) != 0)
		return http_send_error(c, r, 404, "NOT_FOUND", "no upload with that id");
	if (!r->corr_given && in.corr[0])
		snprintf(r->corr, sizeof r->corr, "%s", in.corr);
	if (in.job[0])
		return head_complete(c, r, &in);
	tus_path(s, id, "part", part, sizeof part);
	struct stat st;
	if (stat(part, &st) != 0) {
		/* a PATCH may have just finished it (renamed, marker not yet written) */
		if (info_read(s, id, &in) == 0 && in.job[0])
			return head_complete(c, r, &in);
		return http_send_error(c, r, 404, "NOT_FOUND", "no upload with that id");
	}
	uint64_t size = (uint64_t)st.st_size;
	if (size == in.length) {
		/* Every byte is here but the upload was never handed over (the
		   server stopped between the last write and the hand-over): do it
		   now, unless a PATCH is at it. */
		int fd, ds = info_dataset(s, &in, dsname, sizeof dsname);
		uint64_t sz;
		if (ds >= 0 && part_open_locked(part, O_RDONLY, &fd, &sz) == 0) {
			char job[SL_JOB_ID_LEN], msg[256];
			unsigned fs = sz == in.length ? finish(s, id, fd, &in, (size_t)ds,
			                                       in.corr[0] ? in.corr : r->corr, job,
			                                       msg, sizeof msg)
			                              : 0;
			close(fd);
			if (fs == 200 || fs == 202)
				return head_complete(c, r, &in);
			if (fs)
				return http_send_error(c, r, fs, status_code(fs), "%s", msg);
		}
	}
	char off[24], len[24], meta[2 * TUS_B64_MAX + 32], exp[64];
	snprintf(off, sizeof off, "%llu", (unsigned long long)size);
	snprintf(len, sizeof len, "%llu", (unsigned long long)in.length);
	metadata_echo(&in, meta, sizeof meta);
	/* the sweep's clock: the newest of the part's and the info's mtimes */
	int64_t touched = mtime_ms(&st);
	char info[4096];
	struct stat ist;
	tus_path(s, id, "info", info, sizeof info);
	if (stat(info, &ist) == 0 && mtime_ms(&ist) > touched)
		touched = mtime_ms(&ist);
	expires_at(touched, exp, sizeof exp);
	const char *const h[] = {"Upload-Offset",
	                         off,
	                         "Upload-Length",
	                         len,
	                         "Upload-Metadata",
	                         meta,
	                         "Upload-Expires",
	                         exp,
	                         NULL};
	return http_send_empty(c, r, 200, h);
}

/* --- DELETE (termination)
 * ------------------------------------------------------------------------- */

static enum MHD_Result tus_delete(struct MHD_Connection *c, http_req *r, const char *id)
{
	http_srv *s = r->s;
	tus_info in;
	char part[4096], info[4096];
	if (info_owned(r, id, &in) != 0)
		return http_send_error(c, r, 404, "NOT_FOUND", "no upload with that id");
	if (!r->corr_given && in.corr[0])
		snprintf(r->corr, sizeof r->corr, "%s", in.corr);
	if (in.job[0]) {
		snprintf(r->job, sizeof r->job, "%s", in.job);
		return http_send_error(
		    c, r, 409, "UPLOAD_COMPLETE",
		    "the upload is complete and was handed to job %s: roll the job back instead",
		    in.job);
	}
	tus_path(s, id, "part", part, sizeof part);
	tus_path(s, id, "info", info, sizeof info);
	int fd;
	uint64_t size;
	int rc = part_open_locked(part, O_RDONLY, &fd, &size);
	if (rc == -2)
		return http_send_error(c, r, 423, "LOCKED",
		                       "a PATCH of this upload is in progress");
	if (rc == -3)
		return http_send_error(c, r, 503, "IO_READ", "cannot open the upload");
	if (rc == -1 && info_read(s, id, &in) == 0 && in.job[0])
		return http_send_error(
		    c, r, 409, "UPLOAD_COMPLETE",
		    "the upload is complete and was handed to job %s: roll the job back instead",
		    in.job);
	/* under the lock: no PATCH can be appending now */
	if (rc == 0)
		unlink(part);
	unlink(info);
	char mpu[4096];
	tus_path(s, id, "mpu", mpu, sizeof mpu);
	http_store_tus_abort(s, mpu); /* its parts in the bucket, if any */
	if (rc == 0)
		close(fd);
	http_log_job(s, "info", NULL, r->corr, "tus upload %s terminated", id);
	return http_send_empty(c, r, 204, NULL);
}

/* --- PATCH
 * ------------------------------------------------------------------------------------------ */

/* Close the file (releasing the lock) and the other holds of a PATCH. */
static void patch_release(http_srv *s, tus_patch *p)
{
	if (p->fd >= 0) {
		close(p->fd);
		p->fd = -1;
	}
	if (p->counted) {
		atomic_fetch_sub(&s->uploads_in_flight, 1);
		p->counted = false;
	}
	EVP_MD_CTX_free(p->md);
	p->md = NULL;
}

/* Cut the file back to where the PATCH started: a refused chunk leaves no trace. */
static void patch_rewind(http_srv *s, tus_patch *p)
{
	if (ftruncate(p->fd, (off_t)p->start) != 0 || fdatasync(p->fd) != 0)
		http_log(s, "error", "tus: upload %s: cannot cut it back to %llu: %s", p->id,
		         (unsigned long long)p->start, strerror(errno));
	p->bytes = 0;
}

static void patch_fail(tus_patch *p, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void patch_fail(tus_patch *p, unsigned status, const char *code, const char *fmt, ...)
{
	va_list ap;
	p->fail_status = status;
	p->fail_code = code;
	va_start(ap, fmt);
	vsnprintf(p->fail_msg, sizeof p->fail_msg, fmt, ap);
	va_end(ap);
}

static void patch_body(http_req *r, const char *data, size_t n)
{
	tus_patch *p = r->ext;
	if (p->fail_status || p->fd < 0)
		return; /* drop the rest of a refused body */
	if (n > p->in.length - p->start - p->bytes) {
		patch_rewind(r->s, p);
		patch_fail(p, 413, "TOO_LARGE", "the body goes past Upload-Length (%llu bytes)",
		           (unsigned long long)p->in.length);
		return;
	}
	size_t done = 0;
	int e = sl_write_all(p->fd, data, n, &done);
	if (e) {
		http_log(r->s, "error", "tus: upload %s: write: %s", p->id, strerror(e));
		/* what was written is good data and stays (HEAD shows it),
		   unless it cannot be verified */
		p->bytes += done;
		atomic_fetch_add(&r->s->upload_bytes, done);
		if (p->md || fdatasync(p->fd) != 0)
			patch_rewind(r->s, p);
		patch_fail(p, e == ENOSPC || e == EDQUOT || e == EFBIG ? 507 : 500, "IO_WRITE",
		           "cannot store the upload: %s", strerror(e));
		return;
	}
	if (p->md && EVP_DigestUpdate(p->md, data, n) != 1) {
		patch_rewind(r->s, p);
		patch_fail(p, 500, "INTERNAL", "cannot hash the body");
		return;
	}
	p->bytes += n;
	atomic_fetch_add(&r->s->upload_bytes, n);
}

static enum MHD_Result patch_end(struct MHD_Connection *c, http_req *r)
{
	http_srv *s = r->s;
	tus_patch *p = r->ext;
	char off[24], job[SL_JOB_ID_LEN], msg[256];
	if (p->fail_status) {
		patch_release(s, p);
		return http_send_error(c, r, p->fail_status, p->fail_code, "%s", p->fail_msg);
	}
	if (p->md) {
		unsigned char got[EVP_MAX_MD_SIZE];
		unsigned gl = 0;
		if (EVP_DigestFinal_ex(p->md, got, &gl) != 1 || gl != p->wantlen ||
		    memcmp(got, p->want, gl) != 0) {
			patch_rewind(s, p);
			patch_release(s, p);
			return http_send_error(c, r, 460, "CHECKSUM_MISMATCH",
			                       "the body does not match Upload-Checksum; the "
			                       "upload stays at offset %llu",
			                       (unsigned long long)p->start);
		}
	}
	uint64_t now = p->start + p->bytes;
	snprintf(off, sizeof off, "%llu", (unsigned long long)now);
	if (now == p->in.length) {
		unsigned st = finish(s, p->id, p->fd, &p->in, p->ds,
		                     p->in.corr[0] ? p->in.corr : r->corr, job, msg, sizeof msg);
		patch_release(s, p);
		if (st != 200 && st != 202)
			return http_send_error(c, r, st, status_code(st), "%s", msg);
		snprintf(r->job, sizeof r->job, "%s", job);
		const char *const h[] = {"Upload-Offset", off, "X-Job-Id", job, NULL};
		return http_send_empty(c, r, 204, h);
	}
	/* the answer promises the bytes are kept */
	if (p->bytes && fdatasync(p->fd) != 0) {
		int e = errno;
		patch_rewind(s, p);
		patch_release(s, p);
		return http_send_error(c, r, 507, "IO_WRITE", "cannot store the upload: %s",
		                       strerror(e));
	}
	if (p->bytes && http_store_on(s)) {
		/* the whole parts so far into the bucket, under the lock; a
		   failure is tried again after the next PATCH (the bytes are kept) */
		char mpu[4096], uid[SL_JOB_ID_LEN];
		tus_path(s, p->id, "mpu", mpu, sizeof mpu);
		int rc = http_store_tus_flush(s, mpu, p->part, now, false, uid, sizeof uid, msg,
		                              sizeof msg);
		if (rc < 0)
			http_log_job(s, "warn", NULL, r->corr,
			             "tus upload %s: parts not sent yet: %s (%s); tried after the "
			             "next PATCH",
			             p->id, msg, sl_error_name(rc));
	}
	patch_release(s, p);
	char exp[64];
	expires_at(sl_now_ms(), exp, sizeof exp);
	const char *const h[] = {"Upload-Offset", off, "Upload-Expires", exp, NULL};
	return http_send_empty(c, r, 204, h);
}

/* The request ended. When it was not answered (the client went away, or
   the connection failed mid-body), keep what arrived: the client resumes
   from it after a HEAD. A chunk with a checksum is cut off instead. If
   every byte had arrived, the upload is handed over now. */
static void patch_done(http_req *r, bool ok)
{
	http_srv *s = r->s;
	tus_patch *p = r->ext;
	(void)ok;
	if (!p)
		return;
	if (p->fd >= 0 && !p->fail_status) {
		if (p->md) {
			patch_rewind(s, p);
		} else if (fdatasync(p->fd) != 0) {
			http_log(s, "error", "tus: upload %s: cannot sync the bytes received: %s",
			         p->id, strerror(errno));
		} else if (p->start + p->bytes == p->in.length) {
			char job[SL_JOB_ID_LEN], msg[256];
			finish(s, p->id, p->fd, &p->in, p->ds, p->in.corr[0] ? p->in.corr : r->corr,
			       job, msg, sizeof msg);
		} else if (p->bytes) {
			http_log_job(s, "info", NULL, r->corr,
			             "tus upload %s: the client left mid-PATCH; kept %llu bytes "
			             "(offset %llu)",
			             p->id, (unsigned long long)p->bytes,
			             (unsigned long long)(p->start + p->bytes));
		}
	}
	patch_release(s, p);
	free(p);
	r->ext = NULL;
}

static bool is_offset_stream(const char *ct)
{
	static const char want[] = "application/offset+octet-stream";
	size_t n = sizeof want - 1;
	if (!ct || strncasecmp(ct, want, n))
		return false;
	return ct[n] == 0 || ct[n] == ';' || ct[n] == ' ';
}

static enum MHD_Result patch_begin(struct MHD_Connection *c, http_req *r, const char *id)
{
	http_srv *s = r->s;
	tus_patch *p = NULL;
	enum MHD_Result ret;
	char dsname[TUS_DATASET_MAX + 1];
	uint64_t offset, size, cl;
	if (!is_offset_stream(http_header(c, MHD_HTTP_HEADER_CONTENT_TYPE)))
		return http_send_error(c, r, 415, "UNSUPPORTED_MEDIA_TYPE",
		                       "Content-Type: application/offset+octet-stream is required");
	if (!http_parse_u64(http_header(c, "Upload-Offset"), &offset))
		return http_send_error(c, r, 400, "BAD_REQUEST",
		                       "Upload-Offset: the offset in bytes is required");
	if (!(p = calloc(1, sizeof *p)))
		return http_send_error(c, r, 503, "NOMEM", "out of memory");
	p->fd = -1;
	snprintf(p->id, sizeof p->id, "%s", id);
	tus_path(s, id, "part", p->part, sizeof p->part);
	const char *ck = http_header(c, "Upload-Checksum");
	unsigned st = ck ? parse_checksum(ck, p) : 0;
	if (st) {
		ret = http_send_error(c, r, st, st == 400 ? "CHECKSUM_ALGORITHM" : "NOMEM", "%s",
		                      p->fail_msg);
		goto fail;
	}
	if (info_owned(r, id, &p->in) != 0) {
		ret = http_send_error(c, r, 404, "NOT_FOUND", "no upload with that id");
		goto fail;
	}
	if (!r->corr_given && p->in.corr[0])
		snprintf(r->corr, sizeof r->corr, "%s", p->in.corr);
	if (p->in.job[0]) {
		snprintf(r->job, sizeof r->job, "%s", p->in.job);
		ret = http_send_error(c, r, 409, "UPLOAD_COMPLETE",
		                      "the upload is complete (job %s)", p->in.job);
		goto fail;
	}
	int ds = info_dataset(s, &p->in, dsname, sizeof dsname);
	if (ds < 0) {
		ret = http_send_error(c, r, 404, "NOT_FOUND", "dataset %s is not loaded any more",
		                      dsname);
		goto fail;
	}
	p->ds = (size_t)ds;
	if (atomic_fetch_add(&s->uploads_in_flight, 1) >= (int)s->o.max_uploads) {
		atomic_fetch_sub(&s->uploads_in_flight, 1);
		ret = http_send_error(c, r, 429, "TOO_MANY_UPLOADS",
		                      "%u uploads are in progress; try again later",
		                      s->o.max_uploads);
		goto fail;
	}
	p->counted = true;
	int rc = part_open_locked(p->part, O_WRONLY | O_APPEND, &p->fd, &size);
	if (rc == -1) {
		tus_info again;
		if (info_read(s, id, &again) == 0 && again.job[0])
			ret = http_send_error(c, r, 409, "UPLOAD_COMPLETE",
			                      "the upload is complete (job %s)", again.job);
		else
			ret = http_send_error(c, r, 404, "NOT_FOUND", "no upload with that id");
		goto fail;
	}
	if (rc == -2) {
		ret = http_send_error(c, r, 423, "LOCKED",
		                      "another PATCH of this upload is in progress");
		goto fail;
	}
	if (rc < 0) {
		http_log(s, "error", "tus: upload %s: cannot open %s: %s", id, p->part,
		         strerror(errno));
		ret = http_send_error(c, r, 503, "IO_WRITE", "cannot open the upload");
		goto fail;
	}
	if (offset != size) {
		ret = http_send_error(c, r, 409, "OFFSET_MISMATCH",
		                      "Upload-Offset is %llu but the upload is at %llu",
		                      (unsigned long long)offset, (unsigned long long)size);
		goto fail;
	}
	if (size > p->in.length ||
	    (http_parse_u64(http_header(c, MHD_HTTP_HEADER_CONTENT_LENGTH), &cl) &&
	     cl > p->in.length - size)) {
		ret = http_send_error(c, r, 413, "TOO_LARGE",
		                      "the body goes past Upload-Length (%llu bytes)",
		                      (unsigned long long)p->in.length);
		goto fail;
	}
	p->start = size;
	r->ext = p;
	r->on_body = patch_body;
	r->on_end = patch_end;
	r->on_done = patch_done;
	return MHD_YES;
fail:
	patch_release(s, p);
	free(p);
	return ret;
}

/* --- entry
 * ---------------------------------------------------------------------------------------- */

enum MHD_Result http_tus(struct MHD_Connection *c, http_req *r, const char *method, const char *id)
{
	if (!strcmp(method, "OPTIONS"))
		return tus_options(c, r);
	const char *v = http_header(c, "Tus-Resumable");
	if (!v || strcmp(v, TUS_VERSION))
		return http_send_error(
		    c, r, 412, "PRECONDITION_FAILED",
		    "Tus-Resumable: 1.0.0 is required (the only tus version this server speaks)");
	if (!id)
		return !strcmp(method, "POST") ? tus_create(c, r)
		                               : http_send_error(c, r, 405, "METHOD_NOT_ALLOWED",
		                                                 "%s is not allowed here", method);
	if (!valid_id(id))
		return http_send_error(c, r, 404, "NOT_FOUND", "no upload with that id");
	if (!strcmp(method, "HEAD"))
		return tus_head(c, r, id);
	if (!strcmp(method, "PATCH"))
		return patch_begin(c, r, id);
	if (!strcmp(method, "DELETE"))
		return tus_delete(c, r, id);
	return http_send_error(c, r, 405, "METHOD_NOT_ALLOWED", "%s is not allowed here", method);
}
