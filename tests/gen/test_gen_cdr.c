/*
 * Tests of the CDR generator (src/gen/gen_cdr.c, docs/gen.md): determinism,
 * the exact header, the format of every field of valid rows, quoted rows,
 * defect rows against the manifest, line endings, the BOM and write errors.
 *
 * The files are parsed here by a small independent reader (not the project's
 * CSV engine), so a bug in one cannot hide a bug in the other.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/error.h"
#include "sluice/gen.h"

#define HEADER "caller_id,recipient,call_date,end_time,duration,cost,reference,currency"

/* --- generating into memory ------------------------------------------------ */
struct mem {
	char *data, *man;
	size_t len, man_len;
	sl_gen_cdr_stats st;
	int rc;
};

static void gen(struct mem *m, const sl_gen_cdr_opts *o)
{
	FILE *f = open_memstream(&m->data, &m->len);
	FILE *mf = open_memstream(&m->man, &m->man_len);
	assert_non_null(f);
	assert_non_null(mf);
	m->rc = sl_gen_cdr(f, mf, o, &m->st);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(fclose(mf), 0);
	assert_int_equal(m->rc, 0);
}

static void mem_free(struct mem *m)
{
	free(m->data);
	free(m->man);
}

static sl_gen_cdr_opts opts(uint64_t rows, double error_rate, double quoted_rate, uint64_t seed)
{
	sl_gen_cdr_opts o;
	sl_gen_cdr_defaults(&o);
	o.rows = rows;
	o.error_rate = error_rate;
	o.quoted_rate = quoted_rate;
	o.seed = seed;
	return o;
}

/* --- a small CSV reader ------------------------------------------------------
 * RFC 4180 with LF or CRLF. A quote that does not open a field is kept as
 * data and flagged (stray), and never changes where the record ends. */
#define MAXF 16
#define MAXV 64

struct rec {
	int nf;
	char f[MAXF][MAXV];
	bool quoted[MAXF];
	bool stray;
	uint64_t line; /* physical line where the record starts */
};

struct reader {
	const char *p, *end;
	uint64_t line;
};

static void reader_init(struct reader *r, const char *p, size_t n)
{
	r->p = p;
	r->end = p + n;
	r->line = 1;
	if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		r->p += 3;
}

static void add_char(struct rec *c, size_t *len, char ch)
{
	if (*len + 1 < MAXV && c->nf < MAXF)
		c->f[c->nf][(*len)++] = ch;
}

static void end_field(struct rec *c, size_t *len)
{
	if (c->nf < MAXF)
		c->f[c->nf][*len] = '\0';
	c->nf++;
	*len = 0;
}

/* false at the end of the input */
static bool next_rec(struct reader *r, struct rec *c)
{
	if (r->p >= r->end)
		return false;
	memset(c, 0, sizeof *c);
	c->line = r->line;
	size_t len = 0;
	bool at_start = true;
	while (r->p < r->end) {
		char ch = *r->p++;
		if (at_start && ch == '"') {
			if (c->nf < MAXF)
				c->quoted[c->nf] = true;
			/* quoted field up to the closing quote */
			while (r->p < r->end) {
				ch = *r->p++;
				if (ch == '"') {
					if (r->p < r->end && *r->p == '"') {
						add_char(c, &len, '"');
						r->p++;
						continue;
					}
					break;
				}
				if (ch == '\n')
					r->line++;
				add_char(c, &len, ch);
			}
			at_start = false;
			continue;
		}
		at_start = false;
		if (ch == ',') {
			end_field(c, &len);
			at_start = true;
		} else if (ch == '\r' && r->p < r->end && *r->p == '\n') {
			/* CRLF: the LF ends the record */
		} else if (ch == '\n') {
			r->line++;
			break;
		} else {
			if (ch == '"')
				c->stray = true;
			add_char(c, &len, ch);
		}
	}
	end_field(c, &len);
	return true;
}

/* --- field checks ------------------------------------------------------------ */
static bool all_digits(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);
	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int num2(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

static bool valid_date(const char *s)
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (strlen(s) != 10 || s[2] != '/' || s[5] != '/')
		return false;
	char d[3] = {s[0], s[1], 0}, m[3] = {s[3], s[4], 0}, y[5] = {s[6], s[7], s[8], s[9], 0};
	if (!all_digits(d, 2, 2) || !all_digits(m, 2, 2) || !all_digits(y, 4, 4))
		return false;
	int day = num2(d), mon = num2(m), year = atoi(y);
	if (year < 2024 || year > 2026 || mon < 1 || mon > 12 || day < 1)
		return false;
	int len = mdays[mon - 1] + (mon == 2 && year % 4 == 0);
	return day <= len;
}

static bool valid_time(const char *s)
{
	if (strlen(s) != 8 || s[2] != ':' || s[5] != ':')
		return false;
	for (int i = 0; i < 8; i++)
		if (i != 2 && i != 5 && (s[i] < '0' || s[i] > '9'))
			return false;
	return num2(s) <= 23 && num2(s + 3) <= 59 && num2(s + 6) <= 59;
}

static bool valid_duration(const char *s)
{
	return all_digits(s, 1, 4) && atoi(s) <= 7200;
}

static bool valid_cost(const char *s)
{
	const char *dot = strchr(s, '.');
	if (!dot || dot == s || strlen(dot + 1) != 3)
		return false;
	for (const char *q = s; *q; q++)
		if (q != dot && (*q < '0' || *q > '9'))
			return false;
	return dot - s <= 2; /* 0.000 .. 99.999 */
}

static bool valid_reference(const char *s)
{
	if (strlen(s) != 33 || s[0] != 'C')
		return false;
	for (int i = 1; i < 33; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

static bool valid_currency(const char *s)
{
	return strcmp(s, "GBP") == 0 || strcmp(s, "EUR") == 0 || strcmp(s, "USD") == 0;
}

/* UK style: 44 and 9 or 10 more digits. */
static bool valid_number(const char *s)
{
	return all_digits(s, 11, 12) && s[0] == '4' && s[1] == '4';
}

/* A quoted recipient: "+44 dddd ddddd[d],<LF>ext ddd". */
static bool valid_quoted_recipient(const char *s)
{
	return strncmp(s, "+44 ", 4) == 0 && strchr(s, ',') && strstr(s, ",\next ") &&
	       strlen(strstr(s, ",\next ")) == 9;
}

/* Which defect a record shows (the first check that fails, in the order a
   loader meets them: structure, then columns left to right, then keys), or
   SL_GEN_NDEFECTS when it is valid apart from the reference's uniqueness. */
static sl_gen_defect classify(const struct rec *c)
{
	if (c->stray)
		return SL_GEN_STRAY_QUOTE;
	if (c->nf < 8)
		return SL_GEN_TOO_FEW_FIELDS;
	if (c->nf > 8)
		return SL_GEN_TOO_MANY_FIELDS;
	if (c->f[0][0] == '\0')
		return SL_GEN_MISSING_CALLER;
	if (!all_digits(c->f[0], 6, 15))
		return SL_GEN_BAD_CALLER;
	if (!valid_date(c->f[2]))
		return SL_GEN_BAD_DATE;
	if (!valid_time(c->f[3]))
		return SL_GEN_BAD_TIME;
	if (c->f[4][0] == '-' && all_digits(c->f[4] + 1, 1, 4))
		return SL_GEN_NEGATIVE_DURATION;
	if (!valid_cost(c->f[5]))
		return SL_GEN_BAD_COST;
	if (!valid_currency(c->f[7]))
		return SL_GEN_BAD_CURRENCY;
	return SL_GEN_NDEFECTS;
}

/* Every field of a record the generator meant to be valid. */
static void check_valid(const struct rec *c)
{
	assert_int_equal(c->nf, 8);
	assert_false(c->stray);
	assert_true(valid_number(c->f[0]));
	assert_true(all_digits(c->f[0], 6, 15));
	if (c->quoted[1])
		assert_true(valid_quoted_recipient(c->f[1]));
	else
		assert_true(valid_number(c->f[1]));
	assert_true(valid_date(c->f[2]));
	assert_true(valid_time(c->f[3]));
	assert_true(valid_duration(c->f[4]));
	assert_true(valid_cost(c->f[5]));
	assert_true(valid_reference(c->f[6]));
	assert_true(valid_currency(c->f[7]));
	for (int i = 0; i < 8; i++)
		if (i != 1)
			assert_false(c->quoted[i]);
}

static int cmp_ref(const void *a, const void *b)
{
	return memcmp(a, b, 33);
}

/* --- manifest ------------------------------------------------------------------ */
struct entry {
	uint64_t record, line;
	sl_gen_defect kind;
};

/* Parses the manifest; returns the number of entries (*out malloc'd). */
static size_t read_manifest(const struct mem *m, struct entry **out)
{
	size_t n = 0;
	for (size_t i = 0; i < m->man_len; i++)
		n += m->man[i] == '\n';
	struct entry *e = calloc(n + 1, sizeof *e);
	assert_non_null(e);
	const char *p = m->man;
	for (size_t i = 0; i < n; i++) {
		char *q;
		e[i].record = strtoull(p, &q, 10);
		assert_int_equal(*q, '\t');
		e[i].line = strtoull(q + 1, &q, 10);
		assert_int_equal(*q, '\t');
		const char *name = q + 1;
		const char *nl = strchr(name, '\n');
		assert_non_null(nl);
		e[i].kind = SL_GEN_NDEFECTS;
		for (int k = 0; k < SL_GEN_NDEFECTS; k++) {
			const char *kn = sl_gen_defect_name((sl_gen_defect)k);
			if (strlen(kn) == (size_t)(nl - name) && memcmp(kn, name, strlen(kn)) == 0)
				e[i].kind = (sl_gen_defect)k;
		}
		assert_int_not_equal(e[i].kind, SL_GEN_NDEFECTS);
		if (i > 0)
			assert_true(e[i].record > e[i - 1].record);
		p = nl + 1;
	}
	*out = e;
	return n;
}

/* --- tests -------------------------------------------------------------------- */
static void test_deterministic(void **state)
{
	(void)state;
	sl_gen_cdr_opts o = opts(5000, 0.1, 0.05, 7);
	struct mem a = {0}, b = {0}, c = {0};
	gen(&a, &o);
	gen(&b, &o);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	assert_int_equal(a.man_len, b.man_len);
	assert_memory_equal(a.man, b.man, a.man_len);
	assert_memory_equal(&a.st, &b.st, sizeof a.st);

	o.seed = 8;
	gen(&c, &o);
	assert_false(c.len == a.len && memcmp(a.data, c.data, a.len) == 0);
	/* same header, different rows */
	assert_memory_equal(a.data, c.data, sizeof HEADER);
	mem_free(&a);
	mem_free(&b);
	mem_free(&c);
}

static void test_header_and_empty(void **state)
{
	(void)state;
	sl_gen_cdr_opts o = opts(0, 0.5, 0.5, 42);
	struct mem m = {0};
	gen(&m, &o);
	assert_int_equal(m.len, sizeof HEADER); /* header and '\n' */
	assert_memory_equal(m.data, HEADER "\n", m.len);
	assert_int_equal(m.st.rows, 0);
	assert_int_equal(m.st.lines, 1);
	assert_int_equal(m.st.bytes, m.len);
	assert_int_equal(m.man_len, 0);
	mem_free(&m);
}

/* Unquoted clean file: a line is a record, checked with plain splitting. */
static void test_clean_rows(void **state)
{
	(void)state;
	const uint64_t rows = 20000;
	sl_gen_cdr_opts o = opts(rows, 0.0, 0.0, 123);
	struct mem m = {0};
	gen(&m, &o);
	assert_memory_equal(m.data, HEADER "\n", sizeof HEADER);
	assert_int_equal(m.data[m.len - 1], '\n');
	assert_null(memchr(m.data, '"', m.len));
	assert_null(memchr(m.data, '\r', m.len));

	char(*refs)[33] = malloc(rows * 33);
	assert_non_null(refs);
	uint64_t n = 0;
	char *line = m.data + sizeof HEADER;
	char *end = m.data + m.len;
	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		assert_non_null(nl);
		struct rec c;
		memset(&c, 0, sizeof c);
		char *f = line;
		for (;;) {
			char *comma = memchr(f, ',', (size_t)(nl - f));
			char *fe = comma ? comma : nl;
			assert_true(c.nf < MAXF && fe - f < MAXV);
			memcpy(c.f[c.nf], f, (size_t)(fe - f));
			c.f[c.nf][fe - f] = '\0';
			c.nf++;
			if (!comma)
				break;
			f = comma + 1;
		}
		check_valid(&c);
		assert_true(n < rows);
		memcpy(refs[n], c.f[6], 33);
		n++;
		line = nl + 1;
	}
	assert_int_equal(n, rows);
	assert_int_equal(m.st.rows, rows);
	assert_int_equal(m.st.lines, rows + 1);
	assert_int_equal(m.st.bad_rows, 0);
	assert_int_equal(m.st.quoted_rows, 0);
	assert_int_equal(m.st.bytes, m.len);
	assert_int_equal(m.man_len, 0);

	qsort(refs, rows, 33, cmp_ref);
	for (uint64_t i = 1; i < rows; i++)
		assert_true(memcmp(refs[i - 1], refs[i], 33) != 0);
	free(refs);
	mem_free(&m);
}

/* Quoted rows: a quoted recipient holding a comma and a line break. */
static void test_quoted_rows(void **state)
{
	(void)state;
	const uint64_t rows = 10000;
	sl_gen_cdr_opts o = opts(rows, 0.0, 0.3, 99);
	struct mem m = {0};
	gen(&m, &o);

	struct reader r;
	struct rec c;
	reader_init(&r, m.data, m.len);
	assert_true(next_rec(&r, &c));
	assert_int_equal(c.nf, 8);
	uint64_t n = 0, quoted = 0, nl = 0;
	while (next_rec(&r, &c)) {
		check_valid(&c);
		quoted += c.quoted[1];
		n++;
	}
	for (size_t i = 0; i < m.len; i++)
		nl += m.data[i] == '\n';
	assert_int_equal(n, rows);
	assert_int_equal(quoted, m.st.quoted_rows);
	assert_int_equal(nl, m.st.lines);
	assert_int_equal(m.st.lines, 1 + rows + quoted);
	/* about 30% */
	assert_true(quoted > rows * 25 / 100 && quoted < rows * 35 / 100);

	/* every valid row quoted */
	sl_gen_cdr_opts all = opts(200, 0.0, 1.0, 5);
	struct mem a = {0};
	gen(&a, &all);
	reader_init(&r, a.data, a.len);
	assert_true(next_rec(&r, &c));
	while (next_rec(&r, &c)) {
		check_valid(&c);
		assert_true(c.quoted[1]);
	}
	assert_int_equal(a.st.quoted_rows, 200);
	mem_free(&a);
	mem_free(&m);
}

/* Bad rows: the manifest lists exactly the rows that fail, with the right
   kind and line; stats agree; every kind occurs. */
static void check_defects(uint64_t rows, double rate, double qrate, uint64_t seed)
{
	sl_gen_cdr_opts o = opts(rows, rate, qrate, seed);
	struct mem m = {0};
	gen(&m, &o);
	struct entry *e;
	size_t ne = read_manifest(&m, &e);
	assert_int_equal(ne, m.st.bad_rows);

	uint64_t sum = 0;
	for (int k = 0; k < SL_GEN_NDEFECTS; k++) {
		uint64_t cnt = 0;
		for (size_t i = 0; i < ne; i++)
			cnt += e[i].kind == (sl_gen_defect)k;
		assert_int_equal(cnt, m.st.defects[k]);
		sum += cnt;
	}
	assert_int_equal(sum, m.st.bad_rows);

	/* the references of valid rows, to check DUP_REFERENCE and uniqueness */
	char(*good)[33] = malloc((rows + 1) * 33);
	char(*dups)[33] = malloc((rows + 1) * 33);
	assert_non_null(good);
	assert_non_null(dups);
	size_t ngood = 0, ndups = 0, next = 0;

	struct reader r;
	struct rec c;
	reader_init(&r, m.data, m.len);
	assert_true(next_rec(&r, &c));
	uint64_t rec = 0, quoted = 0;
	while (next_rec(&r, &c)) {
		rec++;
		bool listed = next < ne && e[next].record == rec;
		sl_gen_defect got = classify(&c);
		if (listed) {
			assert_int_equal(e[next].line, c.line);
			assert_false(c.quoted[1]); /* bad rows are never quoted */
			if (e[next].kind == SL_GEN_DUP_REFERENCE) {
				assert_int_equal(got, SL_GEN_NDEFECTS);
				check_valid(&c);
				memcpy(dups[ndups++], c.f[6], 33);
			} else {
				assert_int_equal(got, e[next].kind);
				if (got != SL_GEN_TOO_FEW_FIELDS) /* the reference is field 7 */
					assert_true(valid_reference(c.f[6]));
			}
			next++;
		} else {
			assert_int_equal(got, SL_GEN_NDEFECTS);
			check_valid(&c);
			memcpy(good[ngood++], c.f[6], 33);
			quoted += c.quoted[1];
		}
	}
	assert_int_equal(rec, rows);
	assert_int_equal(next, ne);
	assert_int_equal(quoted, m.st.quoted_rows);
	assert_int_equal(ngood + ne, rows);
	assert_true(rows < 2 || ne != 1 || e[0].record != 1 || e[0].kind != SL_GEN_DUP_REFERENCE);

	qsort(good, ngood, 33, cmp_ref);
	for (size_t i = 1; i < ngood; i++)
		assert_true(memcmp(good[i - 1], good[i], 33) != 0);
	for (size_t i = 0; i < ndups; i++)
		assert_non_null(bsearch(dups[i], good, ngood, 33, cmp_ref));

	free(good);
	free(dups);
	free(e);
	mem_free(&m);
}

static void test_defects(void **state)
{
	(void)state;
	const uint64_t rows = 50000;
	sl_gen_cdr_opts o = opts(rows, 0.1, 0.0, 2024);
	struct mem m = {0};
	gen(&m, &o);
	/* 5000 expected, standard deviation about 67 */
	assert_true(m.st.bad_rows > 4500 && m.st.bad_rows < 5500);
	for (int k = 0; k < SL_GEN_NDEFECTS; k++)
		assert_true(m.st.defects[k] > 300); /* about 455 each */
	/* without quoted rows record N starts on line N+1 */
	struct entry *e;
	size_t ne = read_manifest(&m, &e);
	for (size_t i = 0; i < ne; i++)
		assert_int_equal(e[i].line, e[i].record + 1);
	free(e);
	mem_free(&m);

	check_defects(rows, 0.1, 0.0, 2024);
	check_defects(20000, 0.2, 0.1, 11); /* quoted rows shift the lines */
	check_defects(3000, 1.0, 0.5, 3);   /* every row bad */
}

/* With every row bad there is no earlier valid row, so no duplicate ever. */
static void test_first_row_not_dup(void **state)
{
	(void)state;
	for (uint64_t seed = 0; seed < 200; seed++) {
		sl_gen_cdr_opts o = opts(1, 1.0, 0.0, seed);
		struct mem m = {0};
		gen(&m, &o);
		assert_int_equal(m.st.bad_rows, 1);
		assert_int_equal(m.st.defects[SL_GEN_DUP_REFERENCE], 0);
		mem_free(&m);
	}
	sl_gen_cdr_opts o = opts(2000, 1.0, 0.0, 1);
	struct mem m = {0};
	gen(&m, &o);
	assert_int_equal(m.st.bad_rows, 2000);
	assert_int_equal(m.st.defects[SL_GEN_DUP_REFERENCE], 0);
	mem_free(&m);
}

/* Raising the rate only turns more rows bad; the rest stay byte-identical. */
static void test_rate_monotonic(void **state)
{
	(void)state;
	sl_gen_cdr_opts lo = opts(5000, 0.05, 0.0, 77), hi = opts(5000, 0.2, 0.0, 77);
	struct mem a = {0}, b = {0};
	gen(&a, &lo);
	gen(&b, &hi);
	assert_true(b.st.bad_rows > a.st.bad_rows);
	struct entry *ea, *eb;
	size_t na = read_manifest(&a, &ea), nb = read_manifest(&b, &eb);
	size_t j = 0;
	for (size_t i = 0; i < na; i++) {
		while (j < nb && eb[j].record < ea[i].record)
			j++;
		assert_true(j < nb && eb[j].record == ea[i].record);
	}
	free(ea);
	free(eb);
	mem_free(&a);
	mem_free(&b);
}

static void test_crlf_bom(void **state)
{
	(void)state;
	sl_gen_cdr_opts o = opts(3000, 0.1, 0.2, 9);
	o.crlf = true;
	o.bom = true;
	struct mem m = {0};
	gen(&m, &o);
	assert_memory_equal(m.data, "\xEF\xBB\xBF" HEADER "\r\n", sizeof HEADER + 4);
	uint64_t crlf = 0;
	for (size_t i = 0; i < m.len; i++) {
		if (m.data[i] == '\n') {
			assert_true(i > 0 && m.data[i - 1] == '\r');
			crlf++;
		}
		if (m.data[i] == '\r')
			assert_true(i + 1 < m.len && m.data[i + 1] == '\n');
	}
	assert_int_equal(crlf, m.st.lines);
	assert_int_equal(m.data[m.len - 1], '\n');
	assert_int_equal(m.st.bytes, m.len);

	/* same rows as LF without BOM, apart from the line endings */
	sl_gen_cdr_opts plain = opts(3000, 0.1, 0.2, 9);
	struct mem p = {0};
	gen(&p, &plain);
	assert_int_equal(p.data[0], 'c');
	assert_int_equal(m.len, p.len + 3 + p.st.lines);
	size_t j = 3;
	for (size_t i = 0; i < p.len; i++, j++) {
		if (m.data[j] == '\r')
			j++;
		assert_int_equal(m.data[j], p.data[i]);
	}
	assert_int_equal(p.man_len, m.man_len);
	assert_memory_equal(p.man, m.man, p.man_len);
	mem_free(&m);
	mem_free(&p);
}

static void test_write_error(void **state)
{
	(void)state;
	FILE *f = fopen("/dev/full", "w");
	if (!f)
		skip();
	sl_gen_cdr_opts o = opts(100000, 0.0, 0.0, 1);
	sl_gen_cdr_stats st;
	assert_int_equal(sl_gen_cdr(f, NULL, &o, &st), SL_IO_WRITE);
	fclose(f);
	/* a small file fails at the final flush */
	f = fopen("/dev/full", "w");
	assert_non_null(f);
	o.rows = 1;
	assert_int_equal(sl_gen_cdr(f, NULL, &o, NULL), SL_IO_WRITE);
	fclose(f);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(sl_gen_defect_name(SL_GEN_TOO_FEW_FIELDS), "TOO_FEW_FIELDS");
	assert_string_equal(sl_gen_defect_name(SL_GEN_DUP_REFERENCE), "DUP_REFERENCE");
	assert_string_equal(sl_gen_defect_name(SL_GEN_NDEFECTS), "UNKNOWN");
	assert_non_null(strstr(sl_gen_defect_desc(SL_GEN_BAD_DATE), "VAL_TYPE"));
	sl_gen_cdr_opts o;
	sl_gen_cdr_defaults(&o);
	assert_true(o.seed == 42 && o.error_rate == 0.0 && o.quoted_rate == 0.01);
	assert_false(o.crlf || o.bom);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_deterministic),  cmocka_unit_test(test_header_and_empty),
	    cmocka_unit_test(test_clean_rows),     cmocka_unit_test(test_quoted_rows),
	    cmocka_unit_test(test_defects),        cmocka_unit_test(test_first_row_not_dup),
	    cmocka_unit_test(test_rate_monotonic), cmocka_unit_test(test_crlf_bom),
	    cmocka_unit_test(test_write_error),    cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
