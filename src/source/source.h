/*
 * Private to sluice (the engine and the source backends): where a job's
 * bytes come from. A source is opened by URI through a small registry of
 * schemes (`file://PATH` and plain paths here; `s3://` in source_s3.c) and
 * answers three questions through its ops table:
 *
 *   stat        size, modification time, an etag or content fingerprint,
 *               and whether a ranged read is cheap (costs about its length)
 *   sequential  a reader from byte 0 to the end (planning: one pass)
 *   ranged      a reader of [offset, offset + length), read sequentially by
 *               one worker thread (a chunk); for a file a pread loop
 *
 * Compression is a filter that stacks on any source, as curl's connection
 * filters stack: sl_source_filter() wraps a byte source (a file, an S3
 * object) in a gzip or zstd decoder, and the result is a source again,
 * whose offsets are decompressed offsets. A filter's sequential reader can
 * hand out access points (sl_source_reader_point): opaque blobs that let a
 * later ranged reader start decoding near its offset instead of at byte 0
 * (for gzip the compressed offset, bit offset and 32 KiB window, as zlib's
 * zran example; for zstd a frame start). Without a point a filter's ranged
 * reader decodes from the start and discards: correct, and as slow as that.
 *
 * Threads: a source is opened and closed by one thread. Between those, its
 * ops (stat, opening readers) may be called from several threads at once,
 * and a backend must allow that (a file shares one descriptor and reads
 * with pread; a filter opens readers of its inner source the same way).
 * A reader belongs to one thread at a time. Every reader is closed before
 * its source is.
 *
 * A backend: fill an sl_source_ops and an sl_reader_ops per kind of reader
 * (NULL for what it lacks takes the shared default: no access points; a
 * ranged reader that reads sequentially and skips, sl__source_range_by_skip),
 * allocate its objects with the sl_source / sl_source_reader header first
 * (sl__source_init, sl__reader_init), and, for a new URI scheme, add
 * an sl_source_scheme to the table in source.c (`schemes[]`).
 *
 * Errors: negative codes of the error table (IO_OPEN, IO_READ, IO_CORRUPT,
 * NOMEM, ...); the place and detail (a path, the compressed and decompressed
 * offsets of a corrupt stream) are in the source's or reader's msg.
 */
#ifndef SLUICE_SOURCE_H
#define SLUICE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/base.h"
#include "sluice/error.h"

#define SL_SOURCE_MSG 320
/* a ranged reader's length meaning "to the end" (an end before a bounded
   length is SL_IO_CHANGED: the source shrank since it was planned) */
#define SL_SOURCE_TO_END UINT64_MAX

typedef struct sl_source sl_source;
typedef struct sl_source_reader sl_source_reader;

typedef struct sl_source_stat {
	uint64_t size;     /* bytes the source yields (decompressed for a filter) */
	bool size_known;   /* false: a filter before its first full read, a pipe */
	int64_t mtime_ns;  /* modification time, 0 when the backend has none */
	char etag[128];    /* "" or the backend's own content fingerprint (S3 ETag) */
	bool ranges_cheap; /* a ranged reader costs about its length */
	bool once;         /* a stream: one sequential reader, ever (source_stream.c) */
	/* a filter: what it reads (the compressed object) */
	uint64_t raw_size;
	/* XXH3-64 of the raw bytes (the compressed ones for a filter), known
	   once a sequential reader of the filter has read to the end */
	bool has_raw_hash;
	uint64_t raw_hash;
} sl_source_stat;

/* How a stream is compressed: a filter's kind, and --compression. */
typedef enum sl_compression {
	SL_COMPRESSION_AUTO = 0, /* by magic bytes (not the name) */
	SL_COMPRESSION_NONE,
	SL_COMPRESSION_GZIP,
	SL_COMPRESSION_ZSTD,
} sl_compression;

/* "auto", "none", "gzip", "zstd"; parse: 0 or SL_INVAL */
const char *sl_compression_name(sl_compression c);
int sl_compression_parse(const char *s, sl_compression *out);

typedef struct sl_source_ops {
	const char *name; /* "file", "gzip", "zstd", "s3" */
	int (*stat)(sl_source *s, sl_source_stat *st);
	int (*open_seq)(sl_source *s, sl_source_reader **out);
	/* [off, off + len) of the source; at is an access point handed out by
	   a sequential reader of this same source (NULL or empty: none). NULL:
	   the shared default, sl__source_range_by_skip. */
	int (*open_range)(sl_source *s, uint64_t off, uint64_t len, const void *at, size_t atlen,
	                  sl_source_reader **out);
	void (*close)(sl_source *s);
} sl_source_ops;

/* A reader's ops (one table per kind of reader: a backend may have a
   sequential and a ranged kind). */
typedef struct sl_reader_ops {
	ssize_t (*read)(sl_source_reader *r, char *buf, size_t cap); /* >0, 0 end, <0 code */
	/* An access point at or before offset `off` of the bytes this
	   sequential reader has yielded, appended to *out (nothing appended:
	   none, a ranged reader starts at 0). Asked in increasing offsets, each
	   at most a few read buffers behind what was read (a filter keeps the
	   recent points only). NULL: never any. */
	int (*point)(sl_source_reader *r, uint64_t off, sl_buf *out);
	void (*close)(sl_source_reader *r);
} sl_reader_ops;

/* The header every backend's source starts with. */
struct sl_source {
	const sl_source_ops *ops;
	char *uri;        /* as opened (owned) */
	sl_source *inner; /* a filter's byte source (owned), else NULL */
	char msg[SL_SOURCE_MSG];
};

/* The header every reader starts with. */
struct sl_source_reader {
	const sl_reader_ops *ops;
	sl_source *src;
	uint64_t pos; /* bytes yielded so far */
	char msg[SL_SOURCE_MSG];
};

/* Options a scheme may need (S3 adds its own fields here). */
typedef struct sl_source_opts {
	sl_compression compression; /* for sl_source_open_uri: the filter to stack */
	const char *s3_endpoint;    /* --s3-endpoint, or NULL (environment) */
} sl_source_opts;

/* A URI scheme in the registry (source.c). `prefix` "file://" etc.; the
   scheme whose prefix matches opens the URI; a URI with no "x://" is a
   path (file). */
typedef struct sl_source_scheme {
	const char *prefix;
	int (*open)(const char *uri, const sl_source_opts *o, sl_source **out, char *msg,
	            size_t msglen);
} sl_source_scheme;

/* Open a byte source by URI (no filter): 0 and *out, or a negative code
   with msg saying why (the path and strerror, the bucket and key). */
int sl_source_open(const char *uri, const sl_source_opts *o, sl_source **out, char *msg,
                   size_t msglen);
/* Stack a decoder on `inner` (taking it over, also on failure): c AUTO
   reads the first bytes and picks gzip, zstd or none (then *out is inner
   itself); *detected says which it took. */
int sl_source_filter(sl_source *inner, sl_compression c, sl_source **out, sl_compression *detected,
                     char *msg, size_t msglen);
/* Both: the byte source, then the filter o->compression asks for. */
int sl_source_open_uri(const char *uri, const sl_source_opts *o, sl_source **out,
                       sl_compression *detected, char *msg, size_t msglen);
/* A file source over an open regular file (taken over, closed with the
   source), named `name` in messages: the engine's spool of decoded bytes. */
int sl_source_from_fd(int fd, const char *name, sl_source **out);
/* A program's standard output as a stream (`sh -c cmd`), and any read
   descriptor (standard input, a FIFO) as one, taken over. */
int sl_source_open_program(const char *cmd, sl_source **out, char *msg, size_t msglen);
int sl__source_stream_new(int fd, pid_t child, const char *name, sl_source **out);
/* A stream copies what its sequential reader yields to fd (not owned),
   for --spool DIR; kept: it was read to its end and the copy is whole. */
int sl__source_stream_keep(sl_source *stream, int fd);
bool sl__source_stream_kept(sl_source *stream);
/* A set of files as one stream (source_multi.c): parts[] (each under its
   own decoder) taken over, also on failure; skip[k]: the header bytes of
   part k left out (NULL: none). */
typedef struct sl_multi_layout {
	uint64_t vbase, vlen; /* where the part is in the stream, and its length there */
	bool nl;              /* a newline was added at its end */
	uint64_t hash;        /* XXH3-64 of its decoded bytes (header included) */
	bool known;
} sl_multi_layout;
int sl_source_multi_new(const char *name, sl_source **parts, const uint64_t *skip, size_t n,
                        sl_source **out);
bool sl_source_is_multi(const sl_source *s);
/* Part k's layout (learned by a sequential read to its end, or set). */
int sl_source_multi_layout(sl_source *s, size_t k, sl_multi_layout *out);
int sl_source_multi_set_layout(sl_source *s, size_t k, const sl_multi_layout *l);
/* The part holding stream offset off (layout known), or -1. */
int sl_source_multi_part_at(sl_source *s, uint64_t off);
/* The first part start after `from` known so far, or UINT64_MAX (the
   split's forced cuts: an sl_csv_cut_fn). */
uint64_t sl_source_multi_cut(sl_source *s, uint64_t from);
/* Rows served by a provider (source_rows.c): a header, then each row's
   raw bytes and a line feed, as a source with cheap ranges. The provider
   (the engine: a refeed's rejected rows in the job store) knows each
   row's offset; this module knows nothing of where rows live. */
typedef struct sl_rows_ops {
	/* Rows from the one holding byte off (or the first after it), in
	   offset order: emit(ectx, row offset, raw bytes) for each until it
	   returns nonzero or the provider's batch ends (no row: the end).
	   0 or a negative code with msg saying why. May be called from
	   several threads at once. */
	int (*read)(void *ctx, uint64_t off, int (*emit)(void *ectx, uint64_t off, sl_str raw),
	            void *ectx, char *msg, size_t msglen);
	void (*close)(void *ctx); /* NULL: nothing to free */
} sl_rows_ops;
typedef struct sl_rows_desc {
	const char *name;     /* the source's URI in messages */
	sl_str header;        /* the bytes before the first row (copied) */
	uint64_t size;        /* header and rows, each with its line feed */
	int64_t mtime_ns;     /* stat's time */
	uint64_t fingerprint; /* stat's etag (hex) */
} sl_rows_desc;
/* 0 and *out (ctx is the source's from then, closed with it, also on
   failure), or SL_NOMEM. */
int sl_source_rows_new(const sl_rows_desc *d, const sl_rows_ops *ops, void *ctx, sl_source **out);
/* The innermost byte source (the file under a gzip filter), not owned. */
sl_source *sl_source_raw(sl_source *s);

/* --- for backends --------------------------------------------------------- */

/* Fill the header (uri copied); SL_NOMEM. */
int sl__source_init(sl_source *s, const sl_source_ops *ops, const char *uri, sl_source *inner);
void sl__source_fini(sl_source *s);
void sl__reader_init(sl_source_reader *r, const sl_reader_ops *ops, sl_source *s);
/* A decoder's source (gzip, zstd): the shared part. What a sequential
   reader learns at the end (the decompressed size, the compressed size
   and hash) is kept for stat, under a lock (stat may run on any thread). */
int sl__filter_new(const sl_source_ops *ops, sl_source *inner, sl_source **out, char *msg,
                   size_t msglen);
int sl__filter_stat(sl_source *s, sl_source_stat *st);
void sl__filter_close(sl_source *s);
void sl__filter_learned(sl_source *s, uint64_t size, uint64_t raw_size, uint64_t raw_hash);
/* The default open_range: a sequential reader that skips off bytes and
   stops after len (decodes from the start: for sources without points). */
int sl__source_range_by_skip(sl_source *s, uint64_t off, uint64_t len, sl_source_reader **out);

/* --- the wrappers: call these, never the ops directly ------------------- */

/* Size, time, fingerprint, cost of ranges. */
static inline int sl_source_stat_get(sl_source *s, sl_source_stat *st)
{
	return s->ops->stat(s, st);
}

/* A reader from byte 0 to the end. */
static inline int sl_source_open_seq(sl_source *s, sl_source_reader **out)
{
	return s->ops->open_seq(s, out);
}

/* A reader of [off, off + len), starting from access point `at` when given
   (a backend without ranges reads from 0 and skips: the shared default). */
static inline int sl_source_open_range(sl_source *s, uint64_t off, uint64_t len, const void *at,
                                       size_t atlen, sl_source_reader **out)
{
	if (!s->ops->open_range)
		return sl__source_range_by_skip(s, off, len, out);
	return s->ops->open_range(s, off, len, at, atlen, out);
}

/* Up to cap bytes: >0 read, 0 the end (of the range), <0 a code (msg says). */
static inline ssize_t sl_source_read(sl_source_reader *r, char *buf, size_t cap)
{
	ssize_t n = r->ops->read(r, buf, cap);
	if (n > 0)
		r->pos += (uint64_t)n;
	return n;
}

/* An access point at or before off (see sl_source_ops.point). */
static inline int sl_source_reader_point(sl_source_reader *r, uint64_t off, sl_buf *out)
{
	return r->ops->point ? r->ops->point(r, off, out) : 0;
}

/* As an sl_read_fn for sl_csv_reader_new (ctx is the reader). */
ssize_t sl_source_read_fn(void *ctx, char *buf, size_t cap);

/* NULL is fine. */
static inline void sl_source_reader_close(sl_source_reader *r)
{
	if (r)
		r->ops->close(r);
}

/* NULL is fine; a filter closes its inner source. */
static inline void sl_source_close(sl_source *s)
{
	if (s)
		s->ops->close(s);
}

/* The schemes and filters of this build. */
extern const sl_source_scheme sl__source_file_scheme;
extern const sl_source_scheme sl__source_s3_scheme; /* source_s3.c */
int sl__source_gzip_new(sl_source *inner, sl_source **out, char *msg, size_t msglen);
int sl__source_zstd_new(sl_source *inner, sl_source **out, char *msg, size_t msglen);
/* The gzip decoder readers opened now use: "isal" (ISA-L's igzip, the
   default of a build with libisal) or "zlib" (a build without it, or
   SLUICE_GZIP_DECODER=zlib in the environment, read at each open). */
const char *sl__source_gzip_decoder(void);

#endif
