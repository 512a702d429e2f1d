/*
 * Private to src/csv/: the parser's state and the contract between the
 * driver (csv_parser.c), the reference state machine (csv_dfa.c) and the
 * bitmask scanners (csv_fast.h, instantiated per instruction set in
 * csv_scan_generic.c, csv_scan_sse2.c, csv_scan_avx2.c).
 *
 * How a record is found:
 *   1. The fast path classifies the input 64 bytes at a time into bitmasks
 *      (quotes, delimiters, line breaks), marks the bytes inside quotes by a
 *      prefix XOR of the quote mask, and walks the structural bits. It also
 *      marks "anomalies": places where quote parity could disagree with the
 *      grammar (a quote that opens mid-field, text after a closing quote, an
 *      escape byte inside quotes, a comment line, a record crossing the end
 *      of the window). It only ever returns records free of anomalies.
 *   2. A record with an anomaly is handed, from its first byte, to the
 *      reference state machine, which defines the grammar. The fast path then
 *      restarts after that record with fresh state: a record start is always
 *      outside quotes, so nothing needs to be carried.
 * Hence both paths give the same records by construction, and the tests and
 * the fuzzer check it byte for byte.
 */
#ifndef SLUICE_CSV_INT_H
#define SLUICE_CSV_INT_H

#include "base/base.h"
#include "sluice/csv.h"

/* Byte classes of the state machine. */
enum { CC_OTHER = 0, CC_DELIM, CC_QUOTE, CC_ESC, CC_CR, CC_LF };

/* What one step of a scanner produced. */
enum {
	STEP_RECORD = 1, /* p->cur holds a record (fields as raw views) */
	STEP_SKIPPED,    /* an empty or comment line was consumed */
	STEP_SLOW,       /* the record at p->pos needs the state machine */
	STEP_MORE,       /* the window ends inside a record: feed more */
	STEP_STOP,       /* sl_csv_skip reached its stop offset */
};

/* The record being built. Fields are raw views into the window: quoted
   fields still have their quotes; csv_parser.c "cooks" them at the end. */
typedef struct csv_cur {
	size_t start, end; /* raw record [start, end) in window indices */
	uint64_t line;     /* line where it starts */
	size_t nf;         /* fields seen */
	int error;         /* structural error found while scanning, or 0 */
	bool quoted;       /* some field starts with a quote: cook fields */
	bool toolong;      /* raw is the prefix in p->prefix */
	bool warn_quote;   /* lenient: a stray quote was kept as data */
	size_t literal;    /* 1 + window index from which fields are not cooked
	                      (a lenient unterminated quote read as data), or 0 */
} csv_cur;

/* State of a record being skipped because it is too long for the window. It
   survives across windows; nothing else in the parser does. */
typedef struct csv_skip {
	bool active;
	bool comment; /* skipping a comment line rather than a record */
	bool noquote; /* a lenient header line: quotes are data, it ends at a line break */
	bool warn;    /* lenient: a stray quote was kept as data */
	int state;    /* state machine state */
	bool prev_cr;
	size_t nf;
	int error;
	uint64_t offset, line, len;
} csv_skip;

/* Fast path state: the current 64-byte block and what carries to the next.
   Invalid after any restart. */
typedef struct csv_fast {
	bool valid;
	size_t base;      /* window index of the block */
	uint64_t bits;    /* structural bits (delimiters, record ends) not yet walked */
	uint64_t eol;     /* record ends in the block */
	uint64_t term;    /* every line break in the block, quoted or not (CRLF once) */
	uint64_t anomaly; /* places the fast path must not decide */
	uint64_t lines;   /* line breaks before `base` (absolute) */
	/* carries */
	uint64_t inq;        /* all ones if the block starts inside quotes */
	uint64_t prev_ok;    /* 1 if the byte before the block may precede an opening quote */
	uint64_t prev_cr;    /* 1 if the byte before the block is CR */
	uint64_t pend_close; /* 1 if the block before ended with a closing quote */
	uint64_t prev_d;     /* delimiter starts of the block before (multi-byte) */
} csv_fast;

struct sl_csv_parser;

/* The check mode of sl_csv_skip (csv check in one pass): records whose field
   count is the expected one, that fit the row limit and (with --utf8) are
   UTF-8 are counted by the fast path, fields included; every other record is
   built by the state machine and finished, so it has its code, warning and
   position, and is handed to on_record. */
typedef struct csv_check {
	uint64_t fields;
	void (*on_record)(void *ctx, const sl_csv_record *rec);
	void *ctx;
} csv_check;

typedef struct csv_ops {
	const char *name;
	/* Find the next record from p->pos; STEP_RECORD, STEP_SKIPPED or STEP_SLOW. */
	int (*next)(struct sl_csv_parser *p);
	/* Count records from p->pos until the next record start >= stop (window
	   index); STEP_STOP or STEP_SLOW. */
	int (*count)(struct sl_csv_parser *p, size_t stop);
} csv_ops;

struct sl_csv_parser {
	sl_csv_dialect d;
	sl_csv_scanner scanner;
	const csv_ops *ops;        /* NULL for the scalar scanner */
	unsigned char cls[256];    /* byte classes for the state machine */
	unsigned char cls_nq[256]; /* the same with quote and escape as data */
	size_t dlen;               /* delimiter length, 1..SL_CSV_MAX_DELIM */
	unsigned char pad;         /* a byte of class OTHER, to pad partial blocks */

	/* the window */
	const char *buf;
	size_t len;
	bool final;
	uint64_t abs;    /* absolute offset of buf[0] */
	size_t pos;      /* window index where the next record starts */
	uint64_t line;   /* line at pos */
	bool pending_cr; /* the byte before pos was a CR: an LF at pos ends it */
	bool bom_done;   /* offset 0 was looked at for a byte-order mark */
	int oom;         /* SL_NOMEM once an allocation failed */
	uint64_t line0;  /* line where parsing began */

	csv_check *check; /* sl_csv_skip in check mode, or NULL */

	/* records */
	bool header_done;
	size_t expected; /* fields per record, 0 until known */
	sl_csv_counts counts;
	csv_cur cur;
	csv_fast fast;
	csv_skip skip;

	/* storage (each with a ceiling) */
	sl_str *fields; /* field views */
	size_t fields_cap;
	sl_buf scratch; /* unescaped field values of the current record */
	sl_buf prefix;  /* raw prefix of a too-long record */
	sl_buf hdr_buf; /* header names */
	sl_str *hdr;
	size_t nhdr;
};
typedef struct sl_csv_parser sl_csv_parser;

/* csv_dfa.c: the reference state machine. One step from p->pos: STEP_RECORD,
   STEP_SKIPPED or STEP_MORE. Also continues a skip across windows. */
int sl__csv_dfa_step(sl_csv_parser *p);

/* The scanners. NULL when not compiled in. */
extern const csv_ops sl__csv_ops_generic;
#if defined(SLUICE_X86)
extern const csv_ops sl__csv_ops_sse2;
extern const csv_ops sl__csv_ops_avx2;

#endif

/* Append a raw field [s, e) of the window to the current record. Inline
   because the fast path calls it once per field. Past SL_CSV_MAX_FIELDS
   fields are counted, not kept. */
int sl__csv_push_slow(sl_csv_parser *p, size_t s, size_t e);

static inline int csv_push(sl_csv_parser *p, size_t s, size_t e)
{
	size_t nf = p->cur.nf;
	if (SL_LIKELY(nf < p->fields_cap)) {
		p->fields[nf].p = p->buf + s;
		p->fields[nf].n = e - s;
		p->cur.nf = nf + 1;
		p->cur.quoted |= (e > s && (unsigned char)p->buf[s] == p->d.quote);
		return 0;
	}
	return sl__csv_push_slow(p, s, e);
}

/* Index just past the line break at i (CR, LF or CRLF). A CR that is the
   last byte of a window that is not final sets p->pending_cr, so an LF
   starting the next window is taken as its end. Inline: once per record. */
static inline size_t sl__csv_after_break(sl_csv_parser *p, size_t i)
{
	if (p->buf[i] == '\n')
		return i + 1;
	if (i + 1 < p->len)
		return i + 1 + (p->buf[i + 1] == '\n');
	if (!p->final)
		p->pending_cr = true;
	return i + 1;
}

/* Check mode: count a record that finish() built (sl_csv_next's), and hand
   it to on_record if it has an error or a warning. */
void sl__csv_check_record(sl_csv_parser *p, const sl_csv_record *rec);

/* sl_csv_split with the parser in check mode (chk may be NULL). */
int sl__csv_split_check(int fd, const sl_csv_dialect *d, sl_csv_scanner s, uint64_t chunk_size,
                        sl_csv_plan *plan, csv_check *chk);

/* Skip an LF that completes a CR ending the previous window; and the BOM. */
void sl__csv_settle(sl_csv_parser *p);

#endif
