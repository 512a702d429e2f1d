/*
 * Schema inference (include/sluice/infer.h): a starter schema that loads the
 * file it was inferred from with zero rejects.
 *
 * Why it is built this way:
 *   - Acceptance is never reimplemented here. Each candidate type (integer,
 *     decimal, float, boolean, every date/time/timestamp format) is a column
 *     of one candidate schema parsed from YAML, and values are tried with
 *     sl_value_convert, the function ingest calls. A candidate the linked
 *     library does not know (a type or format of a newer schema loader) fails
 *     to parse once at start and is simply not offered.
 *   - What is computed lexically (precision and scale, max_length, enums,
 *     NULL markers) is confirmed: the final YAML is parsed with
 *     sl_schema_parse and every record read is validated again, as ingest
 *     does; a column that rejects anything is widened and the pass repeats.
 *   - Keys are checked in that confirm pass on converted values (so `01`
 *     and `1` in an integer column are the same key, as in the database),
 *     through the bounded sketch of infer_uniq.c.
 *   - Memory: the sniff sample (1 MiB), one reader buffer (bounded by the
 *     row limit), per-column counters, at most ENUM_MAX short values and
 *     DT_MASKS format masks per column, and the sketch budget.
 *
 * One thread; the file is read 2 or 3 times (inference, confirm, and pairs
 * of columns for a key when no single column is one).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "base/base.h"
#include "schema/infer_int.h"
#include "sluice/error.h"
#include "sluice/infer.h"
#include "sluice/schema.h"

#define SNIFF_RECORDS   2000 /* records of the sample used to choose a dialect */
#define HEADER_RECORDS  500  /* records of the sample used to decide the header */
#define ENUM_MAX        12   /* distinct values an enum may have */
#define ENUM_VALUE_MAX  40   /* bytes of an enum value */
#define ENUM_MIN_REPEAT 4    /* values per distinct value, at least, for an enum */
#define BOOL_SPELLINGS  8    /* distinct boolean spellings kept */
#define DT_MASKS        32   /* distinct format masks kept per kind */
#define KEY_SINGLES     16   /* columns checked as single keys */
#define KEY_PAIR_COLS   8    /* columns whose pairs are checked */
#define CONFIRM_ROUNDS  4
#define READ_BUF        (1u << 20)

/* --- candidates ------------------------------------------------------------- */

enum kind { K_INT, K_DEC, K_FLT, K_FLTS, K_BOOL, K_TEXT, K_DATE, K_TIME, K_TS };

struct cand {
	enum kind kind;
	const char *fmt; /* date/time/timestamp format; "" = the ISO 8601 default */
};

/* Preference order within a kind: the first format that fits every value wins
   (so dd/mm/yyyy before mm/dd/yyyy when both fit; docs/schema.md says so). */
static const struct cand cands[] = {
    {K_INT, NULL},
    {K_DEC, NULL},
    {K_FLT, NULL},
    {K_FLTS, NULL},
    {K_BOOL, NULL},
    {K_TEXT, NULL},
    {K_DATE, ""},
    {K_DATE, "%Y-%m-%d"}, /* one-digit months and days */
    {K_DATE, "%d/%m/%Y"},
    {K_DATE, "%m/%d/%Y"},
    {K_DATE, "%Y/%m/%d"},
    {K_DATE, "%d.%m.%Y"},
    {K_DATE, "%d-%m-%Y"},
    {K_DATE, "%m-%d-%Y"},
    {K_DATE, "%d/%m/%y"},
    {K_DATE, "%m/%d/%y"},
    {K_DATE, "%d %b %Y"},
    {K_DATE, "%d-%b-%Y"},
    {K_DATE, "%b %d %Y"},
    {K_DATE, "%b %d, %Y"},
    {K_DATE, "%d %B %Y"},
    {K_DATE, "%B %d, %Y"},
    {K_DATE, "%B %d %Y"},
    {K_DATE, "%a, %d %b %Y"},
    {K_TIME, ""},
    {K_TIME, "%H:%M:%S"},
    {K_TIME, "%H:%M"},
    {K_TIME, "%I:%M %p"},
    {K_TIME, "%I:%M:%S %p"},
    {K_TS, ""},
    {K_TS, "%Y-%m-%d %H:%M:%S"}, /* spelled out: a list cannot name the ISO default */
    {K_TS, "%Y-%m-%dT%H:%M:%S"},
    {K_TS, "%Y-%m-%d %H:%M"},
    {K_TS, "%Y-%m-%dT%H:%M"},
    {K_TS, "%Y/%m/%d %H:%M:%S"},
    {K_TS, "%d/%m/%Y %H:%M:%S"},
    {K_TS, "%d/%m/%Y %H:%M"},
    {K_TS, "%m/%d/%Y %H:%M:%S"},
    {K_TS, "%m/%d/%Y %H:%M"},
    {K_TS, "%d.%m.%Y %H:%M:%S"},
    {K_TS, "%d.%m.%Y %H:%M"},
    {K_TS, "%m/%d/%Y %I:%M:%S %p"},
    {K_TS, "%m/%d/%Y %I:%M %p"},
    {K_TS, "%Y-%m-%d %H:%M:%S %z"},
    {K_TS, "%Y-%m-%dT%H:%M:%S.%f%z"},
};
#define NCANDS (sizeof cands / sizeof cands[0])
#define BIT(k) (UINT64_C(1) << (k))

/* NULL markers recognised in files (an empty field always is one). */
static const char *const markers[] = {"", "NA", "N/A", "\\N", "NULL", "null", "#N/A", "None"};
#define NMARKERS (sizeof markers / sizeof markers[0])
/* Read as NULL wherever they appear; the others only when a typed column
   has them (in a text-only file "NA" may be Namibia). */
static const bool marker_always[NMARKERS] = {true, false, false, true, true, false, false, false};

static const char *const bool_words[] = {"true", "false", "t", "f", "yes", "no", "y", "n"};

enum otype { O_TEXT, O_INT, O_DEC, O_FLT, O_BOOL, O_DATE, O_TIME, O_TS };

struct dtcover {
	bool alive, cover; /* cover: some value fitted no common format (a list is needed) */
	uint64_t all;      /* the formats of this kind */
	uint64_t common;   /* formats that accepted every value so far (AND mode) */
	uint64_t masks[DT_MASKS], counts[DT_MASKS];
	size_t nmasks;
};

struct ev {
	char v[ENUM_VALUE_MAX];
	size_t n;
	uint64_t count;
};

struct icol {
	char *src; /* header name (owned, NUL-terminated), NULL without header */
	size_t srclen;
	char name[64];
	bool skip; /* not in the schema (unusable header name) */
	const char *why_skip;
	/* inference counters */
	uint64_t n, marks[NMARKERS], bad;
	uint64_t alive;
	struct dtcover dt[3];
	int int_digits, frac_digits, sig_max;
	bool has_point, expo, lead0;
	bool have_i;
	int64_t imin, imax;
	uint64_t max_chars, min_chars; /* text values, in code points */
	bool bool_words;
	char bsp[BOOL_SPELLINGS][8];
	size_t nbsp;
	bool bsp_over;
	struct ev ev[ENUM_MAX];
	size_t nev;
	bool ev_over;
	/* decision */
	enum otype t;
	int fmts[8];
	size_t nfmts;
	bool allow_special, required, use_enum, use_maxlen, nullable;
	int precision, scale;
	uint64_t nulls_final;
	/* confirm pass */
	int fail_code;
	uint64_t fail_count;
	char fail_msg[160];
	char widened[160]; /* the confirm pass's reason when the column was widened */
};

struct confirm;

struct infer {
	const sl_infer_opts *o;
	int fd;
	uint64_t size;
	const char *path;
	char *err;
	size_t errlen;
	/* dialect */
	sl_csv_dialect d;
	bool sniffed, bom, header_sniffed;
	const char *eol;
	/* candidates */
	uint64_t supported;
	bool fmt_lists, bool_values, multi_delims, skip_space;
	sl_schema *cs;
	sl_validator *cv;
	/* columns */
	struct icol *c;
	size_t ncols;
	bool global_null[NMARKERS];
	/* conversion buffer */
	char *conv;
	size_t convcap;
	/* results */
	uint64_t records, csv_errors;
	bool whole;
	sl_infer_result *res;
	/* keys */
	int key_cols[2];
	size_t nkey;
	char keys_comment[768];
	struct confirm *cf; /* the confirm pass in progress */
	/* without a header: the last comment line before the data (tzdata's
	   "#codes	coordinates	TZ	comments"), a source of column names */
	char *comment_names;
	size_t comment_len;
};

static int fail(struct infer *x, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct infer *x, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->err, x->errlen, fmt, ap);
	va_end(ap);
	return rc;
}

/* --- YAML text ----------------------------------------------------------------- */

/* A double-quoted YAML scalar: exact for any UTF-8 text. */
static void yq(FILE *f, const char *p, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch == '\t')
			fputs("\\t", f);
		else if (ch == '\r')
			fputs("\\r", f);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(f, "\\x%02x", ch);
		else if (ch == 0xc2 && i + 1 < n && (unsigned char)p[i + 1] == 0x85) {
			fputs("\\u0085", f); /* NEL: a line break to YAML 1.1 readers */
			i++;
		} else if (ch == 0xe2 && i + 2 < n && (unsigned char)p[i + 1] == 0x80 &&
		           ((unsigned char)p[i + 2] == 0xa8 || (unsigned char)p[i + 2] == 0xa9)) {
			fprintf(f, "\\u%s", (unsigned char)p[i + 2] == 0xa8 ? "2028" : "2029");
			i += 2;
		} else if (ch == 0xef && i + 2 < n && (unsigned char)p[i + 1] == 0xbb &&
		           (unsigned char)p[i + 2] == 0xbf) {
			fputs("\\ufeff", f);
			i += 2;
		} else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void yqs(FILE *f, const char *s)
{
	yq(f, s, strlen(s));
}

/* A byte of the dialect as YAML. */
static void ybyte(FILE *f, int b)
{
	if (b == SL_CSV_NONE) {
		fputs("none", f);
		return;
	}
	char c = (char)b;
	yq(f, &c, 1);
}

/* Printable form of a value in comments: cut, and only printable ASCII (a
   comment must stay valid UTF-8 whatever the file holds). */
static void ycomment_val(FILE *f, const char *p, size_t n)
{
	size_t m = n > 100 ? 100 : n;
	fputc('\'', f);
	for (size_t i = 0; i < m; i++) {
		unsigned char ch = (unsigned char)p[i];
		fputc(ch < 0x20 || ch >= 0x7f ? '?' : ch, f);
	}
	fputs(n > m ? "...'" : "'", f);
}

/* --- candidate schema ---------------------------------------------------------- */

static void cand_yaml(FILE *f, size_t k)
{
	switch (cands[k].kind) {
	case K_INT:
		fputs("type: integer", f);
		break;
	case K_DEC:
		/* the widest form: the observed precision and scale come later */
		fputs("type: decimal, precision: 38, scale: 18", f);
		break;
	case K_FLT:
		fputs("type: float", f);
		break;
	case K_FLTS:
		fputs("type: float, allow_special: true", f);
		break;
	case K_BOOL:
		fputs("type: boolean", f);
		break;
	case K_TEXT:
		fputs("type: text", f);
		break;
	case K_DATE:
	case K_TIME:
	case K_TS:
		fputs(cands[k].kind == K_DATE   ? "type: date"
		      : cands[k].kind == K_TIME ? "type: time"
		                                : "type: timestamp",
		      f);
		if (cands[k].fmt[0]) {
			fputs(", format: ", f);
			yqs(f, cands[k].fmt);
		}
		break;
	}
}

/* Does the linked schema loader accept this YAML? */
static bool loads(const char *yaml, size_t len)
{
	sl_schema *s = NULL;
	char e[256];
	int rc = sl_schema_parse(yaml, len, "<probe>", &s, e, sizeof e);
	sl_schema_free(s);
	return rc == 0;
}

static bool probe_csv(const char *csv)
{
	char buf[512];
	int n = snprintf(buf, sizeof buf,
	                 "name: probe\ncsv: {%s}\ncolumns:\n  - {name: c, type: text}\n", csv);
	return n > 0 && (size_t)n < sizeof buf && loads(buf, (size_t)n);
}

static bool probe(const char *col)
{
	char buf[512];
	int n = snprintf(buf, sizeof buf, "name: probe\ncolumns:\n  - {name: c, %s}\n", col);
	return n > 0 && (size_t)n < sizeof buf && loads(buf, (size_t)n);
}

/* Build the candidate schema of the types and formats this library knows. */
static int candidates_new(struct infer *x)
{
	int rc = SL_NOMEM;
	char *y = NULL;
	size_t yl = 0;
	char e[256];
	for (size_t k = 0; k < NCANDS; k++) {
		char col[200];
		FILE *f = fmemopen(col, sizeof col, "w");
		if (!f)
			return SL_NOMEM;
		cand_yaml(f, k);
		fputc(0, f);
		fclose(f);
		col[sizeof col - 1] = 0;
		if (probe(col))
			x->supported |= BIT(k);
	}
	x->fmt_lists = probe("type: date, format: ['%Y-%m-%d', '%d/%m/%Y']");
	x->bool_values = probe("type: boolean, true_values: [Yes], false_values: [No]");
	x->multi_delims = probe_csv("delimiter: \"||\"");
	x->skip_space = probe_csv("skip_initial_space: true");
	FILE *f = open_memstream(&y, &yl);
	if (!f)
		return SL_NOMEM;
	fputs("name: infer_candidates\ncsv: {null: []}\ncolumns:\n", f);
	for (size_t k = 0; k < NCANDS; k++) {
		fprintf(f, "  - {name: k%zu, ", k);
		if (x->supported & BIT(k))
			cand_yaml(f, k);
		else
			fputs("type: text", f); /* a placeholder, never tried */
		fputs("}\n", f);
	}
	if (fclose(f) != 0)
		goto out;
	if ((rc = sl_schema_parse(y, yl, "<candidates>", &x->cs, e, sizeof e)) < 0) {
		rc = fail(x, SL_INTERNAL, "the candidate schema does not load: %s", e);
		goto out;
	}
	rc = sl_validator_new(x->cs, &x->cv);
out:
	free(y);
	return rc;
}

/* --- reading ------------------------------------------------------------------- */

static int conv_room(struct infer *x, size_t n)
{
	if (n + 64 <= x->convcap)
		return 0;
	size_t cap = n + 64 + (n >> 1);
	char *p = realloc(x->conv, cap);
	if (!p)
		return SL_NOMEM;
	x->conv = p;
	x->convcap = cap;
	return 0;
}

/* Try candidate k on a value: true when its validator accepts it. */
static bool try_cand(struct infer *x, size_t k, const sl_str *f, sl_value *v)
{
	size_t used;
	char msg[8];
	return sl_value_convert(x->cv, k, f, v, x->conv, &used, msg, sizeof msg) == 0;
}

typedef int (*rec_fn)(struct infer *x, const sl_csv_record *rec);

/* Read the file's records (the header first) through the chosen dialect. */
static int read_records(struct infer *x, rec_fn fn, uint64_t max_rows)
{
	int rc;
	sl_csv_reader *rd = NULL;
	sl_fd_range range = {x->fd, 0, x->size};
	sl_csv_record rec;
	uint64_t n = 0;
	if ((rc = sl_csv_reader_new(&x->d, SL_CSV_SCAN_AUTO, sl_fd_range_read, &range, READ_BUF,
	                            &rd)) < 0)
		goto out;
	while ((rc = sl_csv_reader_next(rd, &rec)) == 1) {
		if (!rec.is_header && max_rows && n >= max_rows) {
			rc = 1;
			break;
		}
		if (!rec.is_header)
			n++;
		if ((rc = fn(x, &rec)) < 0)
			goto out;
	}
	if (rc < 0) {
		rc = fail(x, rc == SL_NOMEM ? SL_NOMEM : SL_IO_READ, "%s: cannot read: %s", x->path,
		          sl_error_message(rc));
		goto out;
	}
	x->whole = rc == 0;
	rc = 0;
out:
	sl_csv_reader_free(rd);
	return rc;
}

/* --- per-column inference -------------------------------------------------------- */

static int marker_of(const sl_str *f)
{
	if (f->n > 4)
		return -1;
	for (size_t m = 0; m < NMARKERS; m++)
		if (sl_str_eq_cstr(*f, markers[m]))
			return (int)m;
	return -1;
}

static void col_init(struct infer *x, struct icol *c)
{
	c->alive = x->supported &
	           (BIT(K_INT) | BIT(K_DEC) | BIT(K_FLT) | BIT(K_FLTS) | BIT(K_BOOL) | BIT(K_TEXT));
	for (int g = 0; g < 3; g++) {
		enum kind kd = g == 0 ? K_DATE : g == 1 ? K_TIME : K_TS;
		for (size_t k = 0; k < NCANDS; k++)
			if (cands[k].kind == kd && (x->supported & BIT(k)))
				c->dt[g].all |= BIT(k);
		c->dt[g].common = c->dt[g].all;
		c->dt[g].alive = c->dt[g].all != 0;
	}
	c->bool_words = true;
}

/* The digits of a number as written: for precision, scale and the float rule. */
static void numeric_lexical(struct icol *c, const sl_str *f)
{
	const char *p = f->p, *e = f->p + f->n;
	if (p < e && (*p == '+' || *p == '-'))
		p++;
	const char *ip = p;
	while (p < e && isdigit((unsigned char)*p))
		p++;
	size_t il = (size_t)(p - ip);
	const char *fp = NULL;
	size_t fl = 0;
	bool point = false;
	if (p < e && *p == '.') {
		point = true;
		fp = ++p;
		while (p < e && isdigit((unsigned char)*p))
			p++;
		fl = (size_t)(p - fp);
	}
	bool expo = false;
	if (p < e && (*p == 'e' || *p == 'E')) {
		expo = true;
		p = e;
	}
	if (p != e || il + fl == 0)
		return; /* inf, nan, ...: not a plain number */
	if (il >= 2 && ip[0] == '0')
		c->lead0 = true;
	size_t z = 0;
	while (z < il && ip[z] == '0')
		z++;
	int idig = (int)(il - z);
	if (idig > c->int_digits)
		c->int_digits = idig;
	if ((int)fl > c->frac_digits)
		c->frac_digits = (int)fl;
	c->has_point |= point;
	c->expo |= expo;
	/* significant digits: from the first non-zero digit, trailing zeros of
	   the fraction left out */
	size_t fe = fl;
	while (fe > 0 && fp[fe - 1] == '0')
		fe--;
	int sig;
	if (idig > 0)
		sig = idig + (int)fe;
	else {
		size_t fz = 0;
		while (fz < fe && fp[fz] == '0')
			fz++;
		sig = (int)(fe - fz);
	}
	if (sig > c->sig_max)
		c->sig_max = sig;
}

static bool has_digit(const sl_str *f)
{
	for (size_t i = 0; i < f->n; i++)
		if (isdigit((unsigned char)f->p[i]))
			return true;
	return false;
}

static void dt_add_mask(struct dtcover *d, uint64_t m, uint64_t count)
{
	for (size_t i = 0; i < d->nmasks; i++) {
		if (d->masks[i] == m) {
			d->counts[i] += count;
			return;
		}
	}
	if (d->nmasks == DT_MASKS) {
		d->alive = false; /* too mixed to be a date column worth a list */
		return;
	}
	d->masks[d->nmasks] = m;
	d->counts[d->nmasks++] = count;
}

static uint64_t dt_test(struct infer *x, uint64_t set, const sl_str *f)
{
	uint64_t m = 0;
	sl_value v;
	for (size_t k = 0; k < NCANDS; k++)
		if ((set & BIT(k)) && try_cand(x, k, f, &v))
			m |= BIT(k);
	return m;
}

/* The first candidate of a set: each kind's ISO default comes first. */
static size_t lowest(uint64_t m)
{
	return m ? (size_t)__builtin_ctzll(m) : 0;
}

static void dt_feed(struct infer *x, struct icol *c, struct dtcover *d, const sl_str *f)
{
	if (!d->cover) {
		uint64_t m = dt_test(x, d->common, f);
		if (m) {
			d->common = m;
			return;
		}
		if (!x->fmt_lists) {
			d->alive = false;
			return;
		}
		/* no single format holds every value: from here on, record which
		   formats hold each value, for a list of formats. A list cannot
		   name the ISO default; for dates "%Y-%m-%d" reads a superset of
		   it and stands in, for times and timestamps the spelled-out
		   formats do */
		d->cover = true;
		size_t iso = lowest(d->all);
		if (cands[iso].kind != K_DATE && !cands[iso].fmt[0]) {
			d->all &= ~BIT(iso);
			d->common &= d->all;
		}
		if (c->n > 1) {
			if (!d->common) {
				d->alive = false; /* earlier values fitted only the ISO default */
				return;
			}
			dt_add_mask(d, d->common, c->n - 1);
		}
	}
	uint64_t m = dt_test(x, d->all, f);
	if (!m)
		d->alive = false;
	else
		dt_add_mask(d, m, 1);
}

static void bool_feed(struct icol *c, const sl_str *f)
{
	bool word = false;
	for (size_t i = 0; i < SL_ARRAY_LEN(bool_words) && !word; i++) {
		size_t wl = strlen(bool_words[i]);
		if (f->n != wl)
			continue;
		word = true;
		for (size_t j = 0; j < wl; j++)
			if (tolower((unsigned char)f->p[j]) != bool_words[i][j])
				word = false;
	}
	if (!word) {
		c->bool_words = false;
		return;
	}
	for (size_t i = 0; i < c->nbsp; i++)
		if (sl_str_eq_cstr(*f, c->bsp[i]))
			return;
	if (c->nbsp == BOOL_SPELLINGS) {
		c->bsp_over = true;
		return;
	}
	memcpy(c->bsp[c->nbsp], f->p, f->n);
	c->bsp[c->nbsp++][f->n] = 0;
}

static void enum_add(struct icol *c, const char *p, size_t n, uint64_t count)
{
	if (c->ev_over)
		return;
	for (size_t i = 0; i < c->nev; i++) {
		if (c->ev[i].n == n && memcmp(c->ev[i].v, p, n) == 0) {
			c->ev[i].count += count;
			return;
		}
	}
	if (c->nev == ENUM_MAX || n >= ENUM_VALUE_MAX || n == 0) {
		c->ev_over = true;
		return;
	}
	memcpy(c->ev[c->nev].v, p, n);
	c->ev[c->nev].n = n;
	c->ev[c->nev++].count = count;
}

static void col_feed(struct infer *x, struct icol *c, const sl_str *f)
{
	int m = marker_of(f);
	if (m >= 0) {
		c->marks[m]++;
		return;
	}
	c->n++;
	if (conv_room(x, f->n) < 0) {
		c->bad++;
		return;
	}
	sl_value v;
	if (c->bool_words)
		bool_feed(c, f);
	if (!c->bool_words)
		c->alive &= ~BIT(K_BOOL); /* boolean is chosen only for word spellings */
	uint64_t alive = c->alive;
	if (alive & (BIT(K_DEC) | BIT(K_FLT) | BIT(K_FLTS) | BIT(K_INT)))
		numeric_lexical(c, f);
	/* Each value is tried from the narrowest type up. A value an integer
	   column accepts is a decimal and a float too, and a decimal is a float;
	   numbers are ASCII text. Those wider candidates are not tried again on
	   it (they cost most of the time): they stay alive, and should one of
	   them disagree, the confirm pass, which tries every value against the
	   final schema, widens the column. */
	uint64_t implied = 0;
	for (size_t k = 0; k <= K_TEXT; k++) {
		if (!(alive & BIT(k)) || (implied & BIT(k)))
			continue;
		if (!try_cand(x, k, f, &v)) {
			alive &= ~BIT(k);
			if (k == K_TEXT)
				c->bad++;
			continue;
		}
		if (k == K_INT) {
			if (!c->have_i || v.i < c->imin)
				c->imin = v.i;
			if (!c->have_i || v.i > c->imax)
				c->imax = v.i;
			c->have_i = true;
			implied |= BIT(K_DEC) | BIT(K_FLT) | BIT(K_FLTS) | BIT(K_TEXT);
		} else if (k == K_DEC) {
			implied |= BIT(K_FLT) | BIT(K_FLTS) | BIT(K_TEXT);
		} else if (k == K_FLT || k == K_FLTS) {
			implied |= BIT(K_FLTS) | BIT(K_TEXT);
		} else if (k == K_TEXT) {
			size_t cps = 0;
			sl_utf8_scan(f->p, f->n, true, &cps, NULL);
			if (cps > c->max_chars)
				c->max_chars = cps;
			if (c->n == 1 || cps < c->min_chars)
				c->min_chars = cps;
		}
	}
	if ((implied & BIT(K_TEXT)) && f->n > c->max_chars)
		c->max_chars = f->n; /* a number: one byte per character */
	c->alive = alive;
	if (!c->ev_over)
		enum_add(c, f->p, f->n, 1);
	bool dtok = f->n >= 3 && f->n <= 64 && has_digit(f);
	for (int g = 0; g < 3; g++) {
		if (!c->dt[g].alive)
			continue;
		if (!dtok)
			c->dt[g].alive = false;
		else
			dt_feed(x, c, &c->dt[g], f);
	}
}

/* --- dialect sniffing ------------------------------------------------------------ */

struct score {
	bool first_ok;   /* the first record has no structural error (a broken header
	                    fails a whole load) */
	bool multi;      /* the usual record has more than one field */
	double fit;      /* share of records with the usual count and no structural error */
	size_t fields;   /* the usual field count */
	uint64_t errors; /* structural errors (not field counts) */
	uint64_t records;
};

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

static int score_dialect(const sl_csv_dialect *d, const char *buf, size_t n, bool final,
                         struct score *s)
{
	int rc;
	sl_csv_parser *p = NULL;
	sl_csv_record rec;
	size_t *counts = malloc(SNIFF_RECORDS * sizeof *counts);
	bool *okrec = malloc(SNIFF_RECORDS * sizeof *okrec);
	size_t nr = 0;
	memset(s, 0, sizeof *s);
	if (!counts || !okrec) {
		rc = SL_NOMEM;
		goto out;
	}
	if ((rc = sl_csv_parser_new(d, SL_CSV_SCAN_AUTO, &p)) < 0)
		goto out;
	sl_csv_feed(p, buf, n, final);
	while (nr < SNIFF_RECORDS && (rc = sl_csv_next(p, &rec)) == 1) {
		bool structural = rec.error && rec.error != SL_CSV_TOO_FEW_FIELDS &&
		                  rec.error != SL_CSV_TOO_MANY_FIELDS;
		if (nr == 0)
			s->first_ok = !structural;
		counts[nr] = rec.nfields_seen;
		okrec[nr++] = !structural;
		s->errors += structural;
	}
	if (rc < 0)
		goto out;
	rc = 0;
	s->records = nr;
	if (!nr)
		goto out;
	size_t *sorted = malloc(nr * sizeof *sorted);
	if (!sorted) {
		rc = SL_NOMEM;
		goto out;
	}
	memcpy(sorted, counts, nr * sizeof *sorted);
	qsort(sorted, nr, sizeof *sorted, cmp_size);
	size_t best = sorted[0], bestn = 0;
	for (size_t i = 0; i < nr;) {
		size_t j = i;
		while (j < nr && sorted[j] == sorted[i])
			j++;
		if (j - i > bestn || (j - i == bestn && sorted[i] > best)) {
			best = sorted[i];
			bestn = j - i;
		}
		i = j;
	}
	free(sorted);
	size_t fit = 0;
	for (size_t i = 0; i < nr; i++)
		fit += counts[i] == best && okrec[i];
	s->fields = best;
	s->multi = best > 1;
	s->fit = (double)fit / (double)nr;
out:
	sl_csv_parser_free(p);
	free(counts);
	free(okrec);
	return rc;
}

/* Is a better than b? Near-equal fits are ties, decided by the caller's
   order of preference (a later candidate must be clearly better). */
static bool score_better(const struct score *a, const struct score *b)
{
	if (a->first_ok != b->first_ok)
		return a->first_ok;
	if (a->multi != b->multi)
		return a->multi;
	if (a->fit > b->fit + 0.01)
		return true;
	if (a->fit + 0.01 < b->fit)
		return false;
	/* as consistent, and one reads every record while the other rejects
	   some (a stray quote in an unquoted file: quotes there are data) */
	bool a_all = a->errors == 0 && a->fit >= 1.0, b_all = b->errors == 0 && b->fit >= 1.0;
	if (a_all != b_all)
		return a_all;
	return a->fields > b->fields && a->fit >= b->fit;
}

/* Header or data? Vote per column: a typed column whose first value is not
   of its type votes header, one whose first value is votes data. */
static int sniff_header(struct infer *x, const char *buf, size_t n, bool final);

/* How often the delimiter is followed by a space, per thousand occurrences. */
static unsigned space_after_delim(const sl_csv_dialect *d, const char *buf, size_t n, size_t *occ)
{
	char dl[SL_CSV_MAX_DELIM];
	size_t dn = sl_csv_dialect_delimiter(d, dl), hits = 0;
	*occ = 0;
	for (size_t i = 0; i + dn < n; i++) {
		if (memcmp(buf + i, dl, dn) != 0)
			continue;
		(*occ)++;
		hits += buf[i + dn] == ' ';
		i += dn - 1;
	}
	return *occ ? (unsigned)(hits * 1000 / *occ) : 0;
}

/*
 * After the single-byte candidates: a multi-byte delimiter wins over the
 * best single byte when it holds that byte and fits as well (`a||b` is also
 * a consistent `|` file, with empty fields between); spaces after the
 * delimiter are skipped when they remove structural errors (`a, "b"`) or
 * follow nine delimiters in ten. Each only where the schema loader takes
 * it (the confirm pass reads the file through the schema's own dialect).
 */
static int sniff_more(struct infer *x, const char *buf, size_t n, bool final, struct score *best,
                      sl_csv_dialect *bd)
{
	int rc;
	const char *why;
	struct score s;
	static const char *const multi[] = {"||", "|~|", "~|~", "::", ";;", "^|^"};
	for (size_t mi = 0; x->multi_delims && mi < SL_ARRAY_LEN(multi); mi++) {
		sl_csv_dialect t = *bd;
		size_t ml = strlen(multi[mi]);
		if (!memchr(multi[mi], bd->delimiter, ml) ||
		    sl_csv_dialect_set_delimiter(&t, multi[mi], ml) < 0 ||
		    sl_csv_dialect_check(&t, &why) < 0)
			continue;
		if ((rc = score_dialect(&t, buf, n, final, &s)) < 0)
			return rc;
		if (s.multi && s.first_ok >= best->first_ok && s.fit + 0.01 >= best->fit &&
		    s.errors <= best->errors) {
			*best = s;
			*bd = t;
		}
	}
	if (x->skip_space) {
		sl_csv_dialect t = *bd;
		t.skip_initial_space = true;
		size_t occ;
		unsigned per_mille = space_after_delim(bd, buf, n, &occ);
		if (sl_csv_dialect_check(&t, &why) == 0) {
			if ((rc = score_dialect(&t, buf, n, final, &s)) < 0)
				return rc;
			bool fewer = best->errors && s.errors < best->errors &&
			             s.fit >= best->fit && s.first_ok >= best->first_ok;
			bool usual = occ >= 10 && per_mille >= 900 && s.errors <= best->errors;
			if (fewer || usual) {
				*best = s;
				*bd = t;
			}
		}
	}
	return 0;
}

/* Keep the last comment line before the first other line of the sample. */
static int last_comment_line(struct infer *x, const char *buf, size_t n)
{
	size_t i = x->bom ? 3 : 0;
	const char *last = NULL;
	size_t lastlen = 0;
	while (i < n && buf[i] == (char)x->d.comment) {
		size_t e = i;
		while (e < n && buf[e] != '\n' && buf[e] != '\r')
			e++;
		if (e == n)
			break; /* cut by the sample's end */
		last = buf + i + 1;
		lastlen = e - i - 1;
		i = e;
		while (i < n && (buf[i] == '\n' || buf[i] == '\r'))
			i++;
	}
	if (!last)
		return 0;
	while (lastlen && (*last == ' ' || *last == '\t')) {
		last++;
		lastlen--;
	}
	if (!lastlen || lastlen > 4096)
		return 0;
	if (!(x->comment_names = malloc(lastlen)))
		return SL_NOMEM;
	memcpy(x->comment_names, last, lastlen);
	x->comment_len = lastlen;
	return 0;
}

/* The comment line split at the delimiter, when it has exactly n non-empty
   fields: names for the columns of a file without a header. */
static bool comment_name(const struct infer *x, size_t want, size_t i, const char **p, size_t *len)
{
	char dl[SL_CSV_MAX_DELIM];
	size_t dn = sl_csv_dialect_delimiter(&x->d, dl), k = 0, start = 0;
	const char *s = x->comment_names;
	size_t n = x->comment_len;
	if (!s)
		return false;
	for (size_t j = 0; j <= n; j++) {
		bool end = j == n || (j + dn <= n && memcmp(s + j, dl, dn) == 0);
		if (!end)
			continue;
		if (j == start)
			return false; /* an empty name: not a list of names */
		if (k == i) {
			*p = s + start;
			*len = j - start;
		}
		k++;
		if (j < n)
			j += dn - 1;
		start = j + 1;
	}
	return k == want;
}

static int sniff(struct infer *x)
{
	int rc;
	char *buf = NULL;
	size_t n = 0, cap = SL_INFER_SNIFF_BYTES;
	if (x->size < cap)
		cap = (size_t)x->size;
	buf = malloc(cap ? cap : 1);
	if (!buf)
		return SL_NOMEM;
	while (n < cap) {
		ssize_t r = pread(x->fd, buf + n, cap - n, (off_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = fail(x, SL_IO_READ, "%s: cannot read: %s", x->path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	bool final = n == x->size;
	x->bom = n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0;
	/* line endings (quotes ignored: a hint for the comment, not a rule) */
	uint64_t crlf = 0, lf = 0, cr = 0;
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '\r') {
			if (i + 1 < n && buf[i + 1] == '\n') {
				crlf++;
				i++;
			} else
				cr++;
		} else if (buf[i] == '\n')
			lf++;
	}
	x->eol = (crlf && !lf && !cr)   ? "CRLF"
	         : (lf && !crlf && !cr) ? "LF"
	         : (cr && !lf && !crlf) ? "CR"
	         : (crlf || lf || cr)   ? "mixed"
	                                : "none";
	if (x->o->dialect_given) {
		x->d = x->o->dialect;
	} else {
		sl_csv_dialect_init(&x->d);
		size_t start = x->bom ? 3 : 0;
		if (start < n && buf[start] == '#')
			x->d.comment = '#';
		static const unsigned char delims[] = {',', ';', '\t', '|'};
		static const int quotes[] = {'"', '\'', SL_CSV_NONE};
		struct score best = {0};
		bool have = false;
		sl_csv_dialect bd = x->d;
		for (size_t qi = 0; qi < SL_ARRAY_LEN(quotes); qi++) {
			for (size_t di = 0; di < SL_ARRAY_LEN(delims); di++) {
				sl_csv_dialect t = x->d;
				t.delimiter = delims[di];
				t.quote = quotes[qi];
				t.escape = quotes[qi];
				t.header = false;
				const char *why;
				if (sl_csv_dialect_check(&t, &why) < 0)
					continue;
				struct score s;
				if ((rc = score_dialect(&t, buf, n, final, &s)) < 0)
					goto out;
				/* a backslash escape only when it removes structural errors */
				if (t.quote != SL_CSV_NONE && s.errors) {
					sl_csv_dialect e = t;
					struct score es;
					e.escape = '\\';
					if (sl_csv_dialect_check(&e, &why) == 0) {
						if ((rc = score_dialect(&e, buf, n, final, &es)) <
						    0)
							goto out;
						if (es.errors < s.errors && es.fit >= s.fit) {
							s = es;
							t = e;
						}
					}
				}
				if (!have || score_better(&s, &best)) {
					best = s;
					bd = t;
					have = true;
				}
			}
		}
		if ((rc = sniff_more(x, buf, n, final, &best, &bd)) < 0)
			goto out;
		x->d = bd;
		x->d.header = true;
		x->sniffed = true;
		if ((rc = sniff_header(x, buf, n, final)) < 0)
			goto out;
		if (!x->d.header && x->d.comment != SL_CSV_NONE &&
		    (rc = last_comment_line(x, buf, n)) < 0)
			goto out;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

static int sniff_header(struct infer *x, const char *buf, size_t n, bool final)
{
	int rc;
	sl_csv_parser *p = NULL;
	sl_csv_record rec;
	sl_csv_dialect t = x->d;
	t.header = false;
	struct icol *cols = NULL;
	char **first = NULL;
	size_t *firstlen = NULL, nf = 0, nr = 0;
	if ((rc = sl_csv_parser_new(&t, SL_CSV_SCAN_AUTO, &p)) < 0)
		goto out;
	sl_csv_feed(p, buf, n, final);
	while (nr < HEADER_RECORDS && (rc = sl_csv_next(p, &rec)) == 1) {
		if (nr == 0) {
			nf = rec.nfields;
			if (nf > SL_INFER_MAX_COLUMNS || nf == 0)
				break;
			cols = calloc(nf, sizeof *cols);
			first = calloc(nf, sizeof *first);
			firstlen = calloc(nf, sizeof *firstlen);
			if (!cols || !first || !firstlen) {
				rc = SL_NOMEM;
				goto out;
			}
			for (size_t i = 0; i < nf; i++) {
				col_init(x, &cols[i]);
				if (!(first[i] = malloc(rec.fields[i].n + 1))) {
					rc = SL_NOMEM;
					goto out;
				}
				memcpy(first[i], rec.fields[i].p, rec.fields[i].n);
				firstlen[i] = rec.fields[i].n;
			}
		} else if (!rec.error) {
			for (size_t i = 0; i < nf && i < rec.nfields; i++)
				col_feed(x, &cols[i], &rec.fields[i]);
		}
		nr++;
	}
	if (rc < 0)
		goto out;
	rc = 0;
	if (nr < 2 || !cols)
		goto out; /* one record or none: call it a header */
	int hv = 0, dv = 0;
	for (size_t i = 0; i < nf; i++) {
		struct icol *c = &cols[i];
		sl_str f = sl_str_make(first[i], firstlen[i]);
		if (!c->n)
			continue;
		uint64_t typed =
		    c->alive & (BIT(K_INT) | BIT(K_DEC) | BIT(K_FLT) | BIT(K_FLTS) | BIT(K_BOOL));
		for (int g = 0; g < 3; g++)
			if (c->dt[g].alive && !c->dt[g].cover)
				typed |= c->dt[g].common;
		if (!typed) {
			/* text of one length in every row (codes, hashes): a header
			   name of another length votes header (Python's csv.Sniffer
			   rule), one of the same length data; half as much as a type */
			size_t cps = 0;
			if (c->bad || c->n < 2 || c->min_chars != c->max_chars || !c->max_chars ||
			    sl_utf8_scan(f.p, f.n, true, &cps, NULL))
				continue;
			if (cps == c->max_chars)
				dv++;
			else
				hv++;
			continue;
		}
		if (marker_of(&f) >= 0) {
			dv += 2;
			continue;
		}
		sl_value v;
		bool fits = false;
		if (conv_room(x, f.n) < 0) {
			rc = SL_NOMEM;
			goto out;
		}
		for (size_t k = 0; k < NCANDS && !fits; k++)
			if ((typed & BIT(k)) && try_cand(x, k, &f, &v))
				fits = true;
		if (fits)
			dv += 2;
		else
			hv += 2;
	}
	/* an all-text sample says nothing: most files have a header */
	x->d.header = !(dv > hv);
	x->header_sniffed = true;
out:
	if (first)
		for (size_t i = 0; i < nf; i++)
			free(first[i]);
	free(first);
	free(firstlen);
	free(cols);
	sl_csv_parser_free(p);
	return rc;
}

/* --- names --------------------------------------------------------------------- */

static void make_name(const char *src, size_t n, size_t pos, char out[64])
{
	size_t o = 0;
	bool us = false;
	for (size_t i = 0; i < n && o < 63; i++) {
		unsigned char ch = (unsigned char)src[i];
		if (isalnum(ch) && ch < 0x80) {
			out[o++] = (char)tolower(ch);
			us = false;
		} else if (o && !us) {
			out[o++] = '_';
			us = true;
		}
	}
	while (o && out[o - 1] == '_')
		o--;
	out[o] = 0;
	if (!o) {
		snprintf(out, 64, "col_%zu", pos + 1);
		return;
	}
	if (isdigit((unsigned char)out[0]) || !strncmp(out, "sluice_", 7) ||
	    !strcmp(out, "sluice")) {
		char t[64];
		snprintf(t, sizeof t, "c_%.60s", out);
		memcpy(out, t, 64);
		out[63] = 0;
	}
}

static void unique_names(struct infer *x)
{
	for (size_t i = 0; i < x->ncols; i++) {
		if (x->c[i].skip)
			continue;
		char base[64];
		memcpy(base, x->c[i].name, 64);
		for (int k = 2;; k++) {
			bool clash = false;
			for (size_t j = 0; j < i && !clash; j++)
				clash = !x->c[j].skip && !strcasecmp(x->c[j].name, x->c[i].name);
			if (!clash)
				break;
			char t[64];
			snprintf(t, sizeof t, "%.50s_%d", base, k % 100000);
			memcpy(x->c[i].name, t, 64);
		}
	}
}

static int set_columns(struct infer *x, const sl_csv_record *rec)
{
	size_t n = rec->nfields_seen;
	if (n > SL_INFER_MAX_COLUMNS)
		return fail(x, SL_LIMIT, "%s: %zu columns; inference reads at most %d", x->path, n,
		            SL_INFER_MAX_COLUMNS);
	if (n > rec->nfields)
		n = rec->nfields;
	x->c = calloc(n ? n : 1, sizeof *x->c);
	if (!x->c)
		return SL_NOMEM;
	x->ncols = n;
	for (size_t i = 0; i < n; i++) {
		struct icol *c = &x->c[i];
		col_init(x, c);
		if (rec->is_header) {
			const sl_str *h = &rec->fields[i];
			if (!(c->src = malloc(h->n + 1)))
				return SL_NOMEM;
			memcpy(c->src, h->p, h->n);
			c->src[h->n] = 0;
			c->srclen = h->n;
			bool nul = false;
			if (h->n == 0) {
				c->skip = true;
				c->why_skip = "its header name is empty";
			} else if (sl_utf8_scan(h->p, h->n, true, NULL, &nul)) {
				c->skip = true;
				c->why_skip = nul ? "its header name has a NUL byte"
				                  : "its header name is not UTF-8";
			}
			for (size_t j = 0; j < i; j++) {
				if (sl_str_eq(*h, rec->fields[j]) && h->n) {
					c->skip = x->c[j].skip = true;
					c->why_skip = x->c[j].why_skip =
					    "its header name appears twice (sluice matches names)";
				}
			}
			make_name(h->p, h->n, i, c->name);
		} else {
			const char *cn = NULL;
			size_t cl = 0;
			if (comment_name(x, n, i, &cn, &cl))
				make_name(cn, cl, i, c->name);
			else
				snprintf(c->name, sizeof c->name, "col_%zu", i + 1);
		}
	}
	unique_names(x);
	return 0;
}

/* --- the inference pass ------------------------------------------------------------ */

static int infer_rec(struct infer *x, const sl_csv_record *rec)
{
	int rc;
	if (rec->is_header && rec->error)
		return fail(
		    x, SL_CONFIG,
		    "%s: the header line is malformed in the %s dialect (%s): ingest would "
		    "fail the file with FATAL_HEADER; give the dialect (--quote, --lenient, "
		    "--no-header)",
		    x->path, x->sniffed ? "sniffed" : "given", sl_error_name(rec->error));
	if (!x->c && (rc = set_columns(x, rec)) < 0)
		return rc;
	if (rec->is_header)
		return 0;
	x->records++;
	if (rec->error) {
		x->csv_errors++;
		return 0;
	}
	for (size_t i = 0; i < x->ncols && i < rec->nfields; i++)
		if (!x->c[i].skip)
			col_feed(x, &x->c[i], &rec->fields[i]);
	return 0;
}

/* --- decisions ------------------------------------------------------------------- */

/* Formats for a date/time/timestamp kind, or 0 when the kind does not fit. */
static size_t pick_formats(const struct dtcover *d, int *out, size_t max)
{
	if (!d->alive)
		return 0;
	if (!d->cover) {
		for (size_t k = 0; k < NCANDS; k++)
			if (d->common & BIT(k)) {
				out[0] = (int)k;
				return 1;
			}
		return 0;
	}
	/* greedy cover of the masks, weighted by the values they stand for */
	bool done[DT_MASKS] = {false};
	size_t n = 0, left = d->nmasks;
	while (left && n < max) {
		size_t bk = 0;
		uint64_t bw = 0;
		for (size_t k = 0; k < NCANDS; k++) {
			if (!(d->all & BIT(k)))
				continue;
			uint64_t w = 0;
			for (size_t i = 0; i < d->nmasks; i++)
				if (!done[i] && (d->masks[i] & BIT(k)))
					w += d->counts[i];
			if (w > bw) {
				bw = w;
				bk = k;
			}
		}
		if (!bw)
			return 0;
		out[n++] = (int)bk;
		for (size_t i = 0; i < d->nmasks; i++)
			if (!done[i] && (d->masks[i] & BIT(bk))) {
				done[i] = true;
				left--;
			}
	}
	return left ? 0 : n;
}

static void decide_type(struct icol *c)
{
	uint64_t a = c->alive;
	c->t = O_TEXT;
	c->nfmts = 0;
	c->allow_special = false;
	if (!c->n || c->bad)
		return;
	bool fraction = c->has_point || c->expo;
	bool float_rule = c->expo || c->sig_max > 15;
	if (c->bool_words && (a & BIT(K_BOOL))) {
		c->t = O_BOOL;
		return;
	}
	if ((a & BIT(K_INT)) && !c->lead0) {
		c->t = O_INT;
		return;
	}
	if ((a & BIT(K_DEC)) && !c->lead0 && fraction) {
		int p = c->int_digits + c->frac_digits;
		if (p < 1)
			p = 1;
		bool want_float = float_rule && (a & (BIT(K_FLT) | BIT(K_FLTS)));
		if (!want_float && p <= 38) {
			c->t = O_DEC;
			c->precision = p;
			c->scale = c->frac_digits;
			return;
		}
	}
	if ((a & BIT(K_FLT)) && !c->lead0 && fraction) {
		c->t = O_FLT;
		return;
	}
	if ((a & BIT(K_FLTS)) && !c->lead0 && fraction) {
		c->t = O_FLT;
		c->allow_special = true;
		return;
	}
	static const enum otype dts[3] = {O_DATE, O_TIME, O_TS};
	for (int g = 0; g < 3; g++) {
		size_t n = pick_formats(&c->dt[g], c->fmts, SL_ARRAY_LEN(c->fmts));
		if (n) {
			c->t = dts[g];
			c->nfmts = n;
			return;
		}
	}
}

static void decide(struct infer *x)
{
	memset(x->global_null, 0, sizeof x->global_null);
	x->global_null[0] = true;
	for (size_t i = 0; i < x->ncols; i++) {
		struct icol *c = &x->c[i];
		if (c->skip)
			continue;
		decide_type(c);
		for (size_t m = 0; m < NMARKERS; m++)
			if (c->marks[m] && (marker_always[m] || c->t != O_TEXT))
				x->global_null[m] = true;
	}
	for (size_t i = 0; i < x->ncols; i++) {
		struct icol *c = &x->c[i];
		if (c->skip)
			continue;
		c->nulls_final = 0;
		for (size_t m = 0; m < NMARKERS; m++) {
			if (!c->marks[m])
				continue;
			if (x->global_null[m]) {
				c->nulls_final += c->marks[m];
			} else if (c->t == O_TEXT) {
				/* data in this column: the text counters learn it */
				size_t ml = strlen(markers[m]);
				if (ml > c->max_chars)
					c->max_chars = ml;
				enum_add(c, markers[m], ml, c->marks[m]);
			}
		}
		uint64_t nonnull = c->n;
		for (size_t m = 0; m < NMARKERS; m++)
			if (!x->global_null[m])
				nonnull += c->marks[m];
		/* NaN is no value for a required float column (the validator says so) */
		c->required = x->whole && c->nulls_final == 0 && nonnull > 0 &&
		              !(c->t == O_FLT && c->allow_special);
		c->nullable = c->nulls_final > 0;
		c->use_maxlen = c->t == O_TEXT && nonnull > 0 && !c->bad;
		c->use_enum = c->t == O_TEXT && !c->ev_over && c->nev > 0 && !c->bad &&
		              nonnull >= (uint64_t)ENUM_MIN_REPEAT * c->nev && nonnull >= 10;
	}
}

/* --- writing the schema ------------------------------------------------------------ */

static const char *type_word(enum otype t)
{
	static const char *const w[] = {"text",    "integer", "decimal", "float",
	                                "boolean", "date",    "time",    "timestamp"};
	return w[t];
}

static int cmp_ev(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int r = memcmp(x->v, y->v, n);
	return r ? r : (x->n > y->n) - (x->n < y->n);
}

static bool bool_is_true(const char *s)
{
	char c = (char)tolower((unsigned char)s[0]);
	return c == 't' || c == 'y';
}

/* 1: a true spelling seen, 2: a false one, 3: both. */
static int bool_sides(const struct icol *c)
{
	int s = 0;
	for (size_t i = 0; i < c->nbsp; i++)
		s |= bool_is_true(c->bsp[i]) ? 1 : 2;
	return s;
}

static void col_comment(struct infer *x, FILE *f, struct icol *c)
{
	fputs("  # ", f);
	if (c->src) {
		yq(f, c->src, c->srclen);
		fputs(": ", f);
	} else {
		fprintf(f, "%s: ", c->name);
	}
	uint64_t nn = c->n;
	for (size_t m = 0; m < NMARKERS; m++)
		if (!x->global_null[m])
			nn += c->marks[m];
	fprintf(f, "%llu values", (unsigned long long)nn);
	if (c->nulls_final) {
		fprintf(f, ", %llu NULL (", (unsigned long long)c->nulls_final);
		bool first = true;
		for (size_t m = 0; m < NMARKERS; m++) {
			if (!c->marks[m] || !x->global_null[m])
				continue;
			fprintf(f, "%s'%s' %llu", first ? "" : ", ", markers[m],
			        (unsigned long long)c->marks[m]);
			first = false;
		}
		fputc(')', f);
	} else if (nn) {
		fputs(", never NULL", f);
	}
	switch (c->t) {
	case O_INT:
		if (c->have_i)
			fprintf(f, "; %lld to %lld", (long long)c->imin, (long long)c->imax);
		break;
	case O_DEC:
		fprintf(f, "; up to %d integer and %d fraction digits", c->int_digits,
		        c->frac_digits);
		break;
	case O_FLT:
		fprintf(f, "; %s", c->expo ? "exponents" : "more than 15 significant digits");
		break;
	case O_BOOL:
		fputs("; spellings", f);
		for (size_t i = 0; i < c->nbsp; i++)
			fprintf(f, " %s", c->bsp[i]);
		break;
	case O_DATE:
	case O_TIME:
	case O_TS:
		if (c->nfmts > 1)
			fputs("; several formats (the first that parses wins)", f);
		break;
	case O_TEXT:
		if (c->bad)
			fprintf(f, "; %llu values are not UTF-8 text (their rows will be rejected)",
			        (unsigned long long)c->bad);
		else if (c->use_maxlen)
			fprintf(f, "; longest %llu characters", (unsigned long long)c->max_chars);
		if (c->use_enum) {
			fputs("; counts", f);
			for (size_t i = 0; i < c->nev; i++) {
				fputc(' ', f);
				ycomment_val(f, c->ev[i].v, c->ev[i].n);
				fprintf(f, " %llu", (unsigned long long)c->ev[i].count);
			}
		}
		break;
	}
	if (c->widened[0]) {
		fputs("\n  # widened after the confirm pass rejected a value: ", f);
		ycomment_val(f, c->widened, strlen(c->widened));
	}
	for (size_t m = 0; m < NMARKERS; m++)
		if (c->marks[m] && x->global_null[m] && c->t == O_TEXT && m > 0)
			fprintf(f, "\n  # note: '%s' is read as NULL in this column too",
			        markers[m]);
	fputc('\n', f);
}

static void col_yaml(struct infer *x, FILE *f, struct icol *c)
{
	col_comment(x, f, c);
	fprintf(f, "  - {name: %s", c->name);
	if (c->src && (strlen(c->name) != c->srclen || memcmp(c->name, c->src, c->srclen))) {
		fputs(", source: ", f);
		yq(f, c->src, c->srclen);
	}
	fprintf(f, ", type: %s", type_word(c->t));
	if (c->required)
		fputs(", required: true", f);
	switch (c->t) {
	case O_DEC:
		fprintf(f, ", precision: %d, scale: %d", c->precision, c->scale);
		break;
	case O_FLT:
		if (c->allow_special)
			fputs(", allow_special: true", f);
		break;
	case O_BOOL:
		/* exact spellings only when both sides were seen: the lists go together */
		if (x->bool_values && !c->bsp_over && bool_sides(c) == 3) {
			bool first = true;
			fputs(", true_values: [", f);
			for (size_t i = 0; i < c->nbsp; i++)
				if (bool_is_true(c->bsp[i])) {
					fputs(first ? "" : ", ", f);
					yqs(f, c->bsp[i]);
					first = false;
				}
			fputs("], false_values: [", f);
			first = true;
			for (size_t i = 0; i < c->nbsp; i++)
				if (!bool_is_true(c->bsp[i])) {
					fputs(first ? "" : ", ", f);
					yqs(f, c->bsp[i]);
					first = false;
				}
			fputs("]", f);
		}
		break;
	case O_DATE:
	case O_TIME:
	case O_TS:
		if (c->nfmts == 1 && cands[c->fmts[0]].fmt[0]) {
			fputs(", format: ", f);
			yqs(f, cands[c->fmts[0]].fmt);
		} else if (c->nfmts > 1) {
			fputs(", format: [", f);
			for (size_t i = 0; i < c->nfmts; i++) {
				fputs(i ? ", " : "", f);
				/* the ISO default written out for a list */
				const char *fm = cands[c->fmts[i]].fmt;
				yqs(f, fm[0]            ? fm
				       : c->t == O_DATE ? "%Y-%m-%d"
				       : c->t == O_TIME ? "%H:%M:%S"
				                        : "%Y-%m-%dT%H:%M:%S");
			}
			fputs("]", f);
		}
		break;
	case O_TEXT:
		if (c->use_maxlen)
			fprintf(f, ", max_length: %llu", (unsigned long long)c->max_chars);
		if (c->use_enum) {
			qsort(c->ev, c->nev, sizeof c->ev[0], cmp_ev);
			fputs(", enum: [", f);
			for (size_t i = 0; i < c->nev; i++) {
				fputs(i ? ", " : "", f);
				yq(f, c->ev[i].v, c->ev[i].n);
			}
			fputs("]", f);
		}
		break;
	case O_INT:
		break;
	}
	fputs("}\n", f);
}

static void dataset_name(const char *path, char *name, size_t cap)
{
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	size_t n = strlen(b);
	const char *dot = strchr(b, '.');
	if (dot && dot > b)
		n = (size_t)(dot - b);
	make_name(b, n, 0, name);
	if (!strncmp(name, "col_", 4))
		snprintf(name, cap, "data");
}

static int write_yaml(struct infer *x, char **out, size_t *outlen)
{
	FILE *f = open_memstream(out, outlen);
	if (!f)
		return SL_NOMEM;
	char name[64];
	dataset_name(x->path, name, sizeof name);
	const char *base = strrchr(x->path, '/');
	base = base ? base + 1 : x->path;
	fputs("# A starter schema written by `sluice schema infer` from ", f);
	ycomment_val(f, base, strlen(base));
	fprintf(f,
	        "\n# (%llu records read, %s). The types are the narrowest that hold every\n"
	        "# value read; review the names, types and limits before the first load.\n",
	        (unsigned long long)x->records,
	        x->whole ? "the whole file" : "a sample: values past it may not fit");
	fprintf(f, "# dialect: %s; line endings %s%s%s", x->sniffed ? "sniffed" : "as given",
	        x->eol, x->bom ? "; UTF-8 byte-order mark" : "",
	        !x->header_sniffed ? ""
	        : x->d.header      ? "; the first line looks like a header"
	                           : "; the first line looks like data (no header)");
	if (x->csv_errors)
		fprintf(f, "\n# %llu records have a structural CSV error: any schema rejects them",
		        (unsigned long long)x->csv_errors);
	fputc('\n', f);
	fprintf(f, "name: %s\ntable: %s\n", name, name);
	if (x->nkey && x->o->key_auto) {
		fprintf(f, "key: [%s%s%s]\n", x->c[x->key_cols[0]].name, x->nkey > 1 ? ", " : "",
		        x->nkey > 1 ? x->c[x->key_cols[1]].name : "");
	}
	if (x->keys_comment[0])
		fprintf(f, "%s", x->keys_comment);
	fputs("csv:\n  delimiter: ", f);
	char dl[SL_CSV_MAX_DELIM];
	size_t dn = sl_csv_dialect_delimiter(&x->d, dl);
	if (dn == 1 && dl[0] == '\t')
		fputs("tab", f);
	else
		yq(f, dl, dn);
	fputs("\n  quote: ", f);
	ybyte(f, x->d.quote);
	if (x->d.quote != SL_CSV_NONE) {
		fputs("\n  escape: ", f);
		ybyte(f, x->d.escape);
	}
	if (x->d.comment != SL_CSV_NONE) {
		fputs("\n  comment: ", f);
		ybyte(f, x->d.comment);
	}
	fprintf(f, "\n  header: %s", x->d.header ? "true" : "false");
	if (!x->d.header)
		fputs("    # columns by position", f);
	fputs("\n  null: [", f);
	bool first = true;
	for (size_t m = 0; m < NMARKERS; m++) {
		if (!x->global_null[m])
			continue;
		fputs(first ? "" : ", ", f);
		yqs(f, markers[m]);
		first = false;
	}
	fputs("]\n", f);
	if (!x->d.skip_empty_lines)
		fputs("  keep_empty_lines: true\n", f);
	if (x->d.lenient_quotes)
		fputs("  lenient: true\n", f);
	if (x->d.skip_initial_space)
		fputs("  skip_initial_space: true\n", f);
	if (x->d.validate_utf8)
		fputs("  utf8: true\n", f);
	if (x->d.max_row_bytes != SL_CSV_DEFAULT_MAX_ROW)
		fprintf(f, "  max_row: %zu\n", x->d.max_row_bytes);
	fputs("columns:\n", f);
	for (size_t i = 0; i < x->ncols; i++) {
		struct icol *c = &x->c[i];
		if (c->skip) {
			fprintf(f, "  # field %zu ", i + 1);
			if (c->src)
				ycomment_val(f, c->src, c->srclen);
			fprintf(f, " is left out: %s\n", c->why_skip);
			continue;
		}
		col_yaml(x, f, c);
	}
	return fclose(f) == 0 ? 0 : SL_NOMEM;
}

/* --- the confirm pass -------------------------------------------------------------- */

struct confirm {
	sl_schema *s;
	sl_validator *v;
	int *map;       /* schema column -> file field */
	size_t *sc2col; /* schema column -> inference column */
	sl__uniq *u;
	size_t nslots;
	int slot_a[KEY_SINGLES + KEY_PAIR_COLS * KEY_PAIR_COLS],
	    slot_b[KEY_SINGLES + KEY_PAIR_COLS * KEY_PAIR_COLS]; /* schema columns; b -1 */
	uint64_t *hashes; /* per schema column, this record */
	bool *hnull;
	uint64_t rejected;
	bool mapped;
	int rc;
};

static uint64_t value_hash(const sl_value *v)
{
	if (v->kind == SL_VALUE_INT)
		return XXH3_64bits_withSeed(&v->i, sizeof v->i, 1);
	if (v->kind == SL_VALUE_REAL) {
		double d = v->d == 0 ? 0 : v->d; /* -0 and 0 are one key */
		return XXH3_64bits_withSeed(&d, sizeof d, 3);
	}
	return XXH3_64bits_withSeed(v->s.p, v->s.n, 2);
}

static int confirm_rec(struct infer *x, const sl_csv_record *rec)
{
	struct confirm *cf = x->cf;
	char msg[160];
	if (rec->is_header) {
		char err[512];
		int rc = sl_schema_map_header(cf->s, rec->fields, rec->nfields, cf->map, err,
		                              sizeof err);
		if (rc < 0)
			return fail(x, SL_INTERNAL,
			            "the inferred schema does not match the header: %s", err);
		cf->mapped = true;
		return 0;
	}
	if (!cf->mapped) {
		for (size_t i = 0; i < cf->s->ncols; i++)
			cf->map[i] = (int)cf->sc2col[i];
		cf->mapped = true;
	}
	if (rec->error)
		return 0;
	bool rejected = false;
	for (size_t i = 0; i < cf->s->ncols; i++) {
		int fi = cf->map[i];
		const sl_str *f = fi >= 0 && (size_t)fi < rec->nfields ? &rec->fields[fi] : NULL;
		sl_value v;
		size_t used;
		if (conv_room(x, f ? f->n : 0) < 0)
			return SL_NOMEM;
		int rc = sl_value_convert(cf->v, i, f, &v, x->conv, &used, msg, sizeof msg);
		struct icol *c = &x->c[cf->sc2col[i]];
		cf->hnull[i] = rc < 0 || v.kind == SL_VALUE_NULL;
		if (rc < 0) {
			if (!c->fail_count++) {
				c->fail_code = rc;
				snprintf(c->fail_msg, sizeof c->fail_msg, "%s", msg);
			}
			rejected = true;
			continue;
		}
		if (!cf->hnull[i])
			cf->hashes[i] = value_hash(&v);
	}
	cf->rejected += rejected;
	for (size_t k = 0; k < cf->nslots; k++) {
		if (!sl__uniq_alive(cf->u, k))
			continue;
		int a = cf->slot_a[k], b = cf->slot_b[k];
		if (cf->hnull[a] || (b >= 0 && cf->hnull[b])) {
			sl__uniq_drop(cf->u, k);
			continue;
		}
		uint64_t h = cf->hashes[a];
		if (b >= 0)
			h = XXH3_64bits_withSeed(&cf->hashes[b], sizeof cf->hashes[b], h);
		int rc = sl__uniq_add(cf->u, k, h);
		if (rc < 0)
			return fail(x, rc, "key check: cannot use the temporary file: %s",
			            sl_error_message(rc));
	}
	return 0;
}

static bool key_type(const struct icol *c)
{
	return c->t != O_FLT && c->t != O_BOOL && !c->use_enum && !c->nullable && c->n > 0;
}

/* One confirm pass of the schema in yaml; pairs: check pairs, not singles. */
static int confirm_pass(struct infer *x, const char *yaml, size_t len, bool pairs,
                        uint64_t *rejected, char *keys, size_t keyslen, int *kc, size_t *nk)
{
	int rc;
	char e[512];
	struct confirm cf = {0};
	size_t ns = 0;
	*nk = 0;
	keys[0] = 0;
	if ((rc = sl_schema_parse(yaml, len, "<inferred>", &cf.s, e, sizeof e)) < 0) {
		rc = fail(x, SL_INTERNAL,
		          "the inferred schema does not load (please report it): %s", e);
		goto out;
	}
	if ((rc = sl_validator_new(cf.s, &cf.v)) < 0)
		goto out;
	ns = cf.s->ncols;
	cf.map = calloc(ns + 1, sizeof *cf.map);
	cf.sc2col = calloc(ns + 1, sizeof *cf.sc2col);
	cf.hashes = calloc(ns + 1, sizeof *cf.hashes);
	cf.hnull = calloc(ns + 1, sizeof *cf.hnull);
	rc = SL_NOMEM;
	if (!cf.map || !cf.sc2col || !cf.hashes || !cf.hnull)
		goto out;
	for (size_t i = 0, j = 0; i < x->ncols; i++)
		if (!x->c[i].skip && j < ns)
			cf.sc2col[j++] = i;
	/* key candidates, as schema columns */
	int elig[KEY_SINGLES];
	size_t ne = 0;
	for (size_t j = 0; j < ns && ne < (pairs ? KEY_PAIR_COLS : KEY_SINGLES); j++) {
		const struct icol *c = &x->c[cf.sc2col[j]];
		if (pairs ? (c->t != O_FLT && !c->nullable && c->n > 0) : key_type(c))
			elig[ne++] = (int)j;
	}
	if (!pairs) {
		for (size_t i = 0; i < ne; i++) {
			cf.slot_a[cf.nslots] = elig[i];
			cf.slot_b[cf.nslots++] = -1;
		}
	} else {
		for (size_t i = 0; i < ne; i++)
			for (size_t j = i + 1; j < ne; j++) {
				cf.slot_a[cf.nslots] = elig[i];
				cf.slot_b[cf.nslots++] = elig[j];
			}
	}
	size_t budget = x->o->sketch_entries ? x->o->sketch_entries : SL_INFER_SKETCH_DEFAULT;
	if ((rc = sl__uniq_new(cf.nslots, budget, &cf.u)) < 0)
		goto out;
	for (size_t i = 0; i < x->ncols; i++) {
		x->c[i].fail_code = 0;
		x->c[i].fail_count = 0;
	}
	/* exactly what ingest reads: the dialect and NULL texts of the parsed schema */
	sl_csv_dialect sniffed = x->d;
	x->d = cf.s->dialect;
	x->cf = &cf;
	rc = read_records(x, confirm_rec, x->o->max_rows);
	x->cf = NULL;
	x->d = sniffed;
	if (rc < 0)
		goto out;
	if ((rc = sl__uniq_finish(cf.u)) < 0) {
		rc = fail(x, rc, "key check: cannot use the temporary file: %s",
		          sl_error_message(rc));
		goto out;
	}
	x->res->spilled += sl__uniq_spilled(cf.u);
	*rejected = cf.rejected;
	/* keys: every unique candidate is listed, the first is the one declared */
	size_t o = 0;
	for (size_t k = 0; k < cf.nslots; k++) {
		if (!sl__uniq_alive(cf.u, k))
			continue;
		const char *a = cf.s->cols[cf.slot_a[k]].name;
		const char *b = cf.slot_b[k] >= 0 ? cf.s->cols[cf.slot_b[k]].name : NULL;
		if (*nk == 0) {
			kc[0] = (int)cf.sc2col[cf.slot_a[k]];
			if (b)
				kc[1] = (int)cf.sc2col[cf.slot_b[k]];
			*nk = b ? 2 : 1;
		}
		int w = snprintf(keys + o, keyslen - o, "%s[%s%s%s]", o ? ", " : "", a,
		                 b ? ", " : "", b ? b : "");
		if (w < 0 || (size_t)w >= keyslen - o) {
			keys[o] = 0;
			break;
		}
		o += (size_t)w;
	}
	rc = 0;
out:
	sl__uniq_free(cf.u);
	sl_validator_free(cf.v);
	sl_schema_free(cf.s);
	free(cf.map);
	free(cf.sc2col);
	free(cf.hashes);
	free(cf.hnull);
	return rc;
}

/* Widen each column the confirm pass found rejecting. True if any changed. */
static bool widen(struct infer *x)
{
	bool changed = false;
	for (size_t i = 0; i < x->ncols; i++) {
		struct icol *c = &x->c[i];
		if (c->skip || !c->fail_count)
			continue;
		bool was = changed;
		changed = false;
		switch (c->fail_code) {
		case SL_VAL_REQUIRED:
			if (c->required) {
				c->required = false;
				changed = true;
			}
			break;
		case SL_VAL_LENGTH:
			if (c->use_maxlen) {
				c->use_maxlen = false;
				changed = true;
			}
			break;
		case SL_VAL_ENUM:
			if (c->use_enum) {
				c->use_enum = false;
				changed = true;
			}
			break;
		default:
			if (c->t == O_DEC && (x->supported & BIT(K_FLT)) &&
			    (c->alive & BIT(K_FLT))) {
				c->t = O_FLT;
				changed = true;
			} else if (c->t != O_TEXT) {
				c->t = O_TEXT;
				c->use_maxlen = false;
				changed = true;
			} else if (c->use_maxlen || c->use_enum) {
				c->use_maxlen = c->use_enum = false;
				changed = true;
			}
			break;
		}
		if (changed)
			snprintf(c->widened, sizeof c->widened, "%s", c->fail_msg);
		changed |= was;
	}
	return changed;
}

/* --- entry point -------------------------------------------------------------------- */

int sl_schema_infer(const char *path, const sl_infer_opts *o, sl_infer_result *out, char *err,
                    size_t errlen)
{
	int rc;
	struct infer x = {0};
	char *yaml = NULL;
	size_t len = 0;
	memset(out, 0, sizeof *out);
	x.o = o;
	x.path = path;
	x.err = err;
	x.errlen = errlen;
	x.res = out;
	x.fd = -1;
	err[0] = 0;
	x.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (x.fd < 0) {
		rc = fail(&x, SL_IO_OPEN, "%s: %s", path, strerror(errno));
		goto out;
	}
	struct stat st;
	if (fstat(x.fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = fail(&x, SL_IO_OPEN, "%s: not a regular file", path);
		goto out;
	}
	x.size = (uint64_t)st.st_size;
	if ((rc = candidates_new(&x)) < 0)
		goto out;
	if ((rc = sniff(&x)) < 0)
		goto out;
	const char *why;
	if (sl_csv_dialect_check(&x.d, &why) < 0) {
		rc = fail(&x, SL_CONFIG, "the dialect is not usable: %s", why);
		goto out;
	}
	if ((rc = read_records(&x, infer_rec, o->max_rows)) < 0)
		goto out;
	if (!x.c) {
		rc =
		    fail(&x, SL_CONFIG, "%s: the file has no records to infer a schema from", path);
		goto out;
	}
	size_t usable = 0;
	for (size_t i = 0; i < x.ncols; i++)
		usable += !x.c[i].skip;
	if (!usable) {
		rc =
		    fail(&x, SL_CONFIG, "%s: no column has a header name a schema can match", path);
		goto out;
	}
	decide(&x);
	uint64_t rejected = 0;
	char keys[400];
	int kc[2];
	size_t nk = 0;
	int round = 0;
	for (;;) {
		free(yaml);
		yaml = NULL;
		if ((rc = write_yaml(&x, &yaml, &len)) < 0)
			goto out;
		round++;
		if ((rc = confirm_pass(&x, yaml, len, false, &rejected, keys, sizeof keys, kc,
		                       &nk)) < 0)
			goto out;
		if (!rejected || round == CONFIRM_ROUNDS || !widen(&x))
			break;
	}
	out->confirm_rounds = round;
	if (!nk && !rejected) {
		uint64_t r2;
		if ((rc = confirm_pass(&x, yaml, len, true, &r2, keys, sizeof keys, kc, &nk)) < 0)
			goto out;
	}
	if (nk) {
		x.nkey = nk;
		x.key_cols[0] = kc[0];
		x.key_cols[1] = kc[1];
		snprintf(out->key, sizeof out->key, "[%s%s%s]", x.c[kc[0]].name, nk > 1 ? ", " : "",
		         nk > 1 ? x.c[kc[1]].name : "");
		if (o->key_auto)
			snprintf(x.keys_comment, sizeof x.keys_comment,
			         "# candidate keys (unique and never NULL in the rows read): %s\n",
			         keys);
		else
			snprintf(x.keys_comment, sizeof x.keys_comment,
			         "# candidate keys (unique and never NULL in the rows read): %s\n"
			         "# key: %s    # uncomment to declare it (`--key auto` does)\n",
			         keys, out->key);
	} else {
		snprintf(
		    x.keys_comment, sizeof x.keys_comment,
		    "# no candidate key: no column or pair of columns is unique and never NULL\n");
	}
	free(yaml);
	yaml = NULL;
	if ((rc = write_yaml(&x, &yaml, &len)) < 0)
		goto out;
	out->yaml = yaml;
	out->len = len;
	yaml = NULL;
	out->records = x.records;
	out->csv_errors = x.csv_errors;
	out->rows_rejected = rejected;
	out->whole_file = x.whole;
	out->ncols = usable;
	for (size_t i = 0; i < x.ncols; i++)
		out->bad_values += x.c[i].bad;
	rc = 0;
out:
	free(yaml);
	if (x.c)
		for (size_t i = 0; i < x.ncols; i++)
			free(x.c[i].src);
	free(x.c);
	free(x.conv);
	free(x.comment_names);
	sl_validator_free(x.cv);
	sl_schema_free(x.cs);
	if (x.fd >= 0)
		close(x.fd);
	return rc;
}

void sl_infer_result_free(sl_infer_result *r)
{
	if (!r)
		return;
	free(r->yaml);
	r->yaml = NULL;
}
