/*
 * The CDR generator behind `sluice gen cdr`: telecom call detail records with
 * a controlled share of defective rows, for tests and benchmarks.
 *
 * Determinism: every value of data row i comes from a small PRNG seeded by a
 * hash of (seed, i), drawn in a fixed order, with integer arithmetic only, so
 * the same options give the same bytes on every platform. Because a row's
 * draws do not depend on other rows, raising the error rate only turns more
 * rows bad (a row is bad when its first draw falls under the rate), and the
 * field values of a row do not change with the rates.
 *
 * Speed: this writes 5,000,000-row benchmark files, so rows are formatted by
 * hand (no printf, no floating point) into a block that is written with one
 * fwrite when it is nearly full.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "sluice/error.h"
#include "sluice/gen.h"

static const char *const defect_names[] = {
#define SL__GEN_NAME(name, desc) #name,
    SL_GEN_DEFECT_MAP(SL__GEN_NAME)
#undef SL__GEN_NAME
};

static const char *const defect_descs[] = {
#define SL__GEN_DESC(name, desc) desc,
    SL_GEN_DEFECT_MAP(SL__GEN_DESC)
#undef SL__GEN_DESC
};

const char *sl_gen_defect_name(sl_gen_defect k)
{
	return (unsigned)k < SL_GEN_NDEFECTS ? defect_names[k] : "UNKNOWN";
}

const char *sl_gen_defect_desc(sl_gen_defect k)
{
	return (unsigned)k < SL_GEN_NDEFECTS ? defect_descs[k] : "unknown defect";
}

void sl_gen_cdr_defaults(sl_gen_cdr_opts *o)
{
	memset(o, 0, sizeof *o);
	o->rows = 0;
	o->error_rate = 0.0;
	o->seed = 42;
	o->quoted_rate = 0.01;
}

/* --- randomness -------------------------------------------------------------
 * The splitmix64 finalizer: a bijection of 64-bit words (xor-shifts and odd
 * multiplications are invertible), which the references rely on. */
static inline uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
	return z ^ (z >> 31);
}

#define GOLDEN 0x9E3779B97F4A7C15u

struct rng {
	uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
	r->s += GOLDEN;
	return mix64(r->s);
}

/* Uniform in [0, n) for n < 2^32 (multiply-shift: no division, bias < 2^-32). */
static inline uint32_t rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)(((rng_next(r) >> 32) * n) >> 32);
}

/* A probability as a threshold on a 64-bit draw; `all` when it is 1. */
struct chance {
	uint64_t thresh;
	bool all;
};

static struct chance chance_of(double p)
{
	struct chance c = {0, false};
	if (!(p > 0.0)) /* also NaN */
		return c;
	if (p >= 1.0) {
		c.all = true;
		return c;
	}
	c.thresh = (uint64_t)(p * 18446744073709551616.0); /* p * 2^64 < 2^64 */
	return c;
}

static inline bool chance_hit(struct chance c, uint64_t draw)
{
	return c.all || draw < c.thresh;
}

/* --- formatting ------------------------------------------------------------ */
static const char digit_pairs[] = "00010203040506070809"
                                  "10111213141516171819"
                                  "20212223242526272829"
                                  "30313233343536373839"
                                  "40414243444546474849"
                                  "50515253545556575859"
                                  "60616263646566676869"
                                  "70717273747576777879"
                                  "80818283848586878889"
                                  "90919293949596979899";

static const char hex_upper[] = "0123456789ABCDEF";

static inline char *put2(char *p, unsigned v)
{
	memcpy(p, digit_pairs + 2 * v, 2);
	return p + 2;
}

/* v in exactly n digits, zero-padded (v < 10^n). */
static char *put_fixed(char *p, uint64_t v, unsigned n)
{
	char *e = p + n;
	char *q = e;
	while (q - p >= 2) {
		q -= 2;
		memcpy(q, digit_pairs + 2 * (v % 100), 2);
		v /= 100;
	}
	if (q > p)
		*--q = (char)('0' + v % 10);
	return e;
}

static char *put_uint(char *p, uint64_t v)
{
	char tmp[20];
	char *q = tmp + sizeof tmp;
	do {
		*--q = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	size_t n = (size_t)(tmp + sizeof tmp - q);
	memcpy(p, q, n);
	return p + n;
}

static inline char *put_str(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define PUT_LIT(p, s) put_str((p), (s), sizeof(s) - 1)

/* --- the fields -------------------------------------------------------------
 * All values of a row are drawn up front (struct row), whether or not the row
 * turns bad, so the draws and thus the values never depend on the rates. */

/* The dates span 2024-01-01 .. 2026-12-31 (2024 is a leap year). */
#define FIRST_YEAR 2024
#define NDAYS      (366 + 365 + 365)

static bool is_leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned month_days(unsigned y, unsigned m /* 1..12 */)
{
	static const unsigned char days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

struct row {
	uint64_t caller, recipient;         /* digits after the leading "44" */
	unsigned caller_len, recipient_len; /* digits after the "44": 9 or 10 */
	unsigned day, month, year;
	unsigned secs; /* end_time, seconds since midnight */
	unsigned duration;
	unsigned cost; /* millis */
	unsigned currency;
	unsigned ext; /* extension number shown in quoted recipients */
};

static const char currencies[3][4] = {"GBP", "EUR", "USD"};

/* "44" followed by 9 or 10 digits, the first of them 1-9: a UK-style number. */
static void draw_number(struct rng *r, uint64_t *digits, unsigned *len)
{
	*len = 9 + rng_below(r, 2);
	uint64_t lead = 1 + rng_below(r, 9);
	uint64_t rest = *len == 9 ? rng_below(r, 100000000u) : rng_below(r, 1000000000u);
	*digits = lead * (*len == 9 ? 100000000u : 1000000000u) + rest;
}

static void draw_row(struct rng *r, struct row *w)
{
	draw_number(r, &w->caller, &w->caller_len);
	draw_number(r, &w->recipient, &w->recipient_len);
	unsigned d = rng_below(r, NDAYS);
	unsigned y = FIRST_YEAR;
	while (d >= (is_leap(y) ? 366u : 365u)) {
		d -= is_leap(y) ? 366u : 365u;
		y++;
	}
	unsigned m = 1;
	while (d >= month_days(y, m)) {
		d -= month_days(y, m);
		m++;
	}
	w->year = y;
	w->month = m;
	w->day = d + 1;
	w->secs = rng_below(r, 86400);
	w->duration = rng_below(r, 7201);
	w->cost = rng_below(r, 100000);
	w->currency = rng_below(r, 3);
	w->ext = rng_below(r, 1000);
}

static char *put_number(char *p, uint64_t digits, unsigned len)
{
	p = PUT_LIT(p, "44");
	return put_fixed(p, digits, len);
}

static char *put_date(char *p, unsigned day, unsigned month, unsigned year)
{
	p = put2(p, day % 100);
	*p++ = '/';
	p = put2(p, month % 100);
	*p++ = '/';
	return put_fixed(p, year, 4);
}

static char *put_time(char *p, unsigned h, unsigned m, unsigned s)
{
	p = put2(p, h % 100);
	*p++ = ':';
	p = put2(p, m % 100);
	*p++ = ':';
	return put2(p, s % 100);
}

static char *put_cost(char *p, unsigned millis)
{
	p = put_uint(p, millis / 1000);
	*p++ = '.';
	return put_fixed(p, millis % 1000, 3);
}

/* The reference of row `index` (0-based): 'C' and 128 bits in hex. The low
   64 bits are a bijection of the index (mix64 of index ^ key), so two rows
   of one file never share a reference; the high 64 bits only add noise. */
static char *put_reference(char *p, uint64_t key_lo, uint64_t key_hi, uint64_t index)
{
	uint64_t lo = mix64(index ^ key_lo);
	uint64_t hi = mix64(lo + key_hi);
	*p++ = 'C';
	for (int sh = 60; sh >= 0; sh -= 4)
		*p++ = hex_upper[(hi >> sh) & 15];
	for (int sh = 60; sh >= 0; sh -= 4)
		*p++ = hex_upper[(lo >> sh) & 15];
	return p;
}

/* A quoted recipient holding a delimiter and a line break, for example
   "+44 7946 123456,<EOL>ext 042": valid CSV, and valid for the CDR schema,
   whose recipient column is free text. */
static char *put_quoted_recipient(char *p, const struct row *w, const char *eol, size_t eol_len)
{
	char digits[10];
	put_fixed(digits, w->recipient, w->recipient_len);
	p = PUT_LIT(p, "\"+44 ");
	p = put_str(p, digits, 4);
	*p++ = ' ';
	p = put_str(p, digits + 4, w->recipient_len - 4);
	*p++ = ',';
	p = put_str(p, eol, eol_len);
	p = PUT_LIT(p, "ext ");
	p = put_fixed(p, w->ext, 3);
	*p++ = '"';
	return p;
}

/* --- output ------------------------------------------------------------------ */
#define BLOCK   (32 * 1024)
#define ROW_MAX 512 /* far above the longest row (about 160 bytes) */

struct sink {
	FILE *f;
	size_t n;
	uint64_t total;
	bool failed;
	char buf[BLOCK];
};

static void sink_flush(struct sink *s)
{
	if (s->n && !s->failed && fwrite(s->buf, 1, s->n, s->f) != s->n)
		s->failed = true;
	s->total += s->n;
	s->n = 0;
}

/* Room for one row. */
static inline char *sink_reserve(struct sink *s)
{
	if (BLOCK - s->n < ROW_MAX)
		sink_flush(s);
	return s->buf + s->n;
}

static void manifest_line(FILE *m, uint64_t record, uint64_t line, sl_gen_defect k)
{
	char tmp[96];
	char *p = put_uint(tmp, record);
	*p++ = '\t';
	p = put_uint(p, line);
	*p++ = '\t';
	size_t n = strlen(defect_names[k]);
	p = put_str(p, defect_names[k], n);
	*p++ = '\n';
	fwrite(tmp, 1, (size_t)(p - tmp), m); /* errors: ferror() at the end */
}

/* --- one row ----------------------------------------------------------------- */
struct gen {
	uint64_t key_lo, key_hi; /* references */
	uint64_t key_row;        /* per-row PRNG seeds */
	const char *eol;
	size_t eol_len;
	bool have_good; /* a valid row (whose reference a DUP_REFERENCE copies) exists */
	uint64_t last_good;
};

/* Writes row `index` into p with defect `k` (SL_GEN_NDEFECTS: none) and, for
   a valid row, the quoted recipient when `quoted`; returns the end. */
static char *put_row(const struct gen *g, struct rng *r, const struct row *w, uint64_t index,
                     sl_gen_defect k, bool quoted, char *p)
{
	/* caller_id */
	switch (k) {
	case SL_GEN_MISSING_CALLER:
		break;
	case SL_GEN_STRAY_QUOTE: {
		/* a quote after the first digits: the field is unquoted (it does not
		   start with a quote), so the quote is stray; the record still ends
		   at its line break */
		char *s = put_number(p, w->caller, w->caller_len);
		unsigned at = 2 + rng_below(r, w->caller_len - 1); /* 2..len: inside */
		memmove(p + at + 1, p + at, (size_t)(s - (p + at)));
		p[at] = '"';
		p = s + 1;
		break;
	}
	case SL_GEN_BAD_CALLER: {
		/* one or two digits become capital letters: same length, not digits */
		char *s = put_number(p, w->caller, w->caller_len);
		unsigned nletters = 1 + rng_below(r, 2);
		for (unsigned j = 0; j < nletters; j++)
			p[2 + rng_below(r, w->caller_len)] = (char)('A' + rng_below(r, 26));
		p = s;
		break;
	}
	default:
		p = put_number(p, w->caller, w->caller_len);
		break;
	}
	*p++ = ',';

	/* recipient */
	if (quoted)
		p = put_quoted_recipient(p, w, g->eol, g->eol_len);
	else
		p = put_number(p, w->recipient, w->recipient_len);
	*p++ = ',';

	/* call_date */
	if (k == SL_GEN_BAD_DATE) {
		unsigned y = w->year;
		switch (rng_below(r, 5)) {
		case 0: /* 30 or 31 February */
			p = put_date(p, 30 + rng_below(r, 2), 2, y);
			break;
		case 1: /* 29 February of a common year */
			p = put_date(p, 29, 2, 2025 + rng_below(r, 2));
			break;
		case 2: { /* 31 of a 30-day month */
			static const unsigned char m30[4] = {4, 6, 9, 11};
			p = put_date(p, 31, m30[rng_below(r, 4)], y);
			break;
		}
		case 3: /* month 13 */
			p = put_date(p, w->day > 28 ? 28 : w->day, 13, y);
			break;
		default: /* day 00 or 32 */
			p = put_date(p, rng_below(r, 2) ? 32 : 0, w->month, y);
			break;
		}
	} else {
		p = put_date(p, w->day, w->month, w->year);
	}
	*p++ = ',';

	/* end_time */
	unsigned hh = w->secs / 3600, mm = w->secs / 60 % 60, ss = w->secs % 60;
	if (k == SL_GEN_BAD_TIME) {
		/* out of range whatever reading: no hour 24 (ISO end of day) and no
		   second 60 or 61 (leap seconds, accepted by strptime) */
		switch (rng_below(r, 3)) {
		case 0:
			hh = 25 + rng_below(r, 5);
			break;
		case 1:
			mm = 60 + rng_below(r, 40);
			break;
		default:
			ss = 62 + rng_below(r, 38);
			break;
		}
	}
	p = put_time(p, hh, mm, ss);
	*p++ = ',';

	/* duration */
	if (k == SL_GEN_NEGATIVE_DURATION) {
		*p++ = '-';
		p = put_uint(p, 1 + w->duration % 7200);
	} else {
		p = put_uint(p, w->duration);
	}
	*p++ = ',';

	/* cost */
	if (k == SL_GEN_BAD_COST) {
		switch (rng_below(r, 3)) {
		case 0: { /* a digit replaced by a letter: "12.3x4" */
			char *s = put_cost(p, w->cost);
			char *at = p + rng_below(r, (uint32_t)(s - p));
			if (*at == '.')
				at++; /* the last char is always a digit */
			*at = 'x';
			p = s;
			break;
		}
		case 1:
			p = PUT_LIT(p, "abc");
			break;
		default: /* two decimal points */
			p = put_cost(p, w->cost);
			p = PUT_LIT(p, ".5");
			break;
		}
	} else {
		p = put_cost(p, w->cost);
	}
	*p++ = ',';

	/* reference */
	p = put_reference(p, g->key_lo, g->key_hi,
	                  k == SL_GEN_DUP_REFERENCE ? g->last_good : index);

	/* currency */
	if (k != SL_GEN_TOO_FEW_FIELDS) {
		*p++ = ',';
		if (k == SL_GEN_BAD_CURRENCY) {
			static const char bad[6][4] = {"JPY", "CHF", "AUD", "gbp", "eur", "usd"};
			p = put_str(p, bad[rng_below(r, 6)], 3);
		} else {
			p = put_str(p, currencies[w->currency], 3);
		}
	}
	if (k == SL_GEN_TOO_MANY_FIELDS)
		p = PUT_LIT(p, ",extra");

	return put_str(p, g->eol, g->eol_len);
}

/* --- the file ----------------------------------------------------------------- */
int sl_gen_cdr(FILE *out, FILE *manifest, const sl_gen_cdr_opts *o, sl_gen_cdr_stats *stats)
{
	static const char header[] = "caller_id,recipient,call_date,end_time,duration,cost,"
	                             "reference,currency";
	sl_gen_cdr_opts def;
	sl_gen_cdr_stats local;
	struct sink sink;
	struct gen g;
	int rc = 0;

	if (!o) {
		sl_gen_cdr_defaults(&def);
		o = &def;
	}
	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof *stats);

	sink.f = out;
	sink.n = 0;
	sink.total = 0;
	sink.failed = false;

	/* independent keys for the references and the rows, all from the seed */
	g.key_lo = mix64(o->seed ^ 0x5245464C4F574B59u);
	g.key_hi = mix64(o->seed ^ 0x5245464849474859u);
	g.key_row = mix64(o->seed + GOLDEN);
	g.eol = o->crlf ? "\r\n" : "\n";
	g.eol_len = o->crlf ? 2 : 1;
	g.have_good = false;
	g.last_good = 0;

	struct chance bad_chance = chance_of(o->error_rate);
	struct chance quote_chance = chance_of(o->quoted_rate);

	char *p = sink_reserve(&sink);
	if (o->bom)
		p = PUT_LIT(p, "\xEF\xBB\xBF");
	p = put_str(p, header, sizeof header - 1);
	p = put_str(p, g.eol, g.eol_len);
	sink.n = (size_t)(p - sink.buf);
	uint64_t lines = 1;

	for (uint64_t i = 0; i < o->rows && !sink.failed; i++) {
		/* a PRNG of the row's own, so the row depends only on (seed, i) */
		struct rng r = {mix64(g.key_row ^ mix64(i))};
		uint64_t u_bad = rng_next(&r);
		uint64_t u_quote = rng_next(&r);
		uint32_t u_kind = rng_below(&r, SL_GEN_NDEFECTS);
		uint32_t u_kind2 = rng_below(&r, SL_GEN_NDEFECTS - 1);
		struct row w;
		draw_row(&r, &w);

		sl_gen_defect k = SL_GEN_NDEFECTS;
		bool quoted = false;
		if (chance_hit(bad_chance, u_bad)) {
			k = (sl_gen_defect)u_kind;
			/* a duplicate needs an earlier valid row; DUP_REFERENCE is the
			   last kind, so u_kind2 picks uniformly among the others */
			if (k == SL_GEN_DUP_REFERENCE && !g.have_good)
				k = (sl_gen_defect)u_kind2;
		} else {
			quoted = chance_hit(quote_chance, u_quote);
		}

		uint64_t line = lines + 1; /* where this row starts */
		p = sink_reserve(&sink);
		char *e = put_row(&g, &r, &w, i, k, quoted, p);
		sink.n += (size_t)(e - p);

		lines += 1 + quoted;
		stats->rows++;
		if (k != SL_GEN_NDEFECTS) {
			stats->bad_rows++;
			stats->defects[k]++;
			if (manifest)
				manifest_line(manifest, i + 1, line, k);
		} else {
			g.have_good = true;
			g.last_good = i;
			stats->quoted_rows += quoted;
		}
	}
	sink_flush(&sink);

	stats->bytes = sink.total;
	stats->lines = lines;
	if (sink.failed || fflush(out) != 0 || ferror(out))
		rc = SL_IO_WRITE;
	if (manifest && (fflush(manifest) != 0 || ferror(manifest)))
		rc = SL_IO_WRITE;
	return rc;
}
