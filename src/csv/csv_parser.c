/*
 * The parser driver: windows, the choice between the fast path and the
 * reference state machine, and finishing a record (unescaping quoted
 * fields, the row limit, UTF-8, field counts, numbering).
 *
 * Ownership: a record's field views point into the caller's window or into
 * the parser's scratch buffer; both stay valid until the next call on the
 * parser. Header names are copied and live as long as the parser.
 */
#include <stdlib.h>
#include <string.h>

#include "csv/csv_int.h"

#define FIELDS_INITIAL 64

static const csv_ops *ops_for(sl_csv_scanner s)
{
	switch (s) {
	case SL_CSV_SCAN_SCALAR:
		return NULL;
#if defined(SLUICE_X86)
	case SL_CSV_SCAN_SSE2:
		return &sl__csv_ops_sse2;
	case SL_CSV_SCAN_AVX2:
		return &sl__csv_ops_avx2;
#endif
	default:
		return &sl__csv_ops_generic;
	}
}

int sl_csv_parser_new(const sl_csv_dialect *d, sl_csv_scanner s, sl_csv_parser **out)
{
	int rc = 0;
	sl_csv_parser *p = NULL;
	*out = NULL;
	if ((rc = sl_csv_dialect_check(d, NULL)) < 0)
		goto out;
	p = calloc(1, sizeof *p);
	if (!p) {
		rc = SL_NOMEM;
		goto out;
	}
	p->d = *d;
	p->scanner = sl_csv_scanner_resolve(s);
	p->ops = ops_for(p->scanner);
	p->dlen = d->delimiter_len > 1 ? d->delimiter_len : 1;
	p->d.delimiter_len = (unsigned char)p->dlen;
	p->cls[p->d.delimiter] = CC_DELIM;
	p->cls['\r'] = CC_CR;
	p->cls['\n'] = CC_LF;
	memcpy(p->cls_nq, p->cls, sizeof p->cls);
	if (d->quote != SL_CSV_NONE)
		p->cls[d->quote] = CC_QUOTE;
	if (d->escape != SL_CSV_NONE && d->escape != d->quote && d->quote != SL_CSV_NONE)
		p->cls[d->escape] = CC_ESC;
	for (int c = 'a'; c <= 'z'; c++) {
		if (p->cls[c] == CC_OTHER && c != d->comment) {
			p->pad = (unsigned char)c;
			break;
		}
	}
	p->line = p->line0 = 1;
	p->fields = malloc(FIELDS_INITIAL * sizeof *p->fields);
	if (!p->fields) {
		rc = SL_NOMEM;
		goto out;
	}
	p->fields_cap = FIELDS_INITIAL;
	sl_buf_init(&p->scratch, d->max_row_bytes + 64);
	sl_buf_init(&p->prefix, SL_CSV_RAW_PREFIX);
	sl_buf_init(&p->hdr_buf, d->max_row_bytes + 64);
	*out = p;
	p = NULL;
out:
	sl_csv_parser_free(p);
	return rc;
}

void sl_csv_parser_free(sl_csv_parser *p)
{
	if (!p)
		return;
	free(p->fields);
	free(p->hdr);
	sl_buf_free(&p->scratch);
	sl_buf_free(&p->prefix);
	sl_buf_free(&p->hdr_buf);
	free(p);
}

int sl_csv_parser_start_at(sl_csv_parser *p, const sl_csv_pos *pos, size_t expected_fields)
{
	p->abs = pos->offset;
	p->buf = NULL;
	p->len = p->pos = 0;
	p->line = pos->line;
	p->counts = (sl_csv_counts){.records = pos->records};
	p->line0 = pos->line;
	p->bom_done = pos->offset > 0;
	p->pending_cr = false;
	p->skip.active = false;
	p->fast.valid = false;
	if (pos->offset > 0 || expected_fields > 0) {
		p->header_done = true;
		p->expected = expected_fields;
	}
	return 0;
}

void sl_csv_feed(sl_csv_parser *p, const char *buf, size_t len, bool final)
{
	p->abs += p->pos;
	p->buf = buf;
	p->len = len;
	p->final = final;
	p->pos = 0;
	p->fast.valid = false;
}

size_t sl_csv_consumed(const sl_csv_parser *p)
{
	return p->pos;
}

sl_csv_pos sl_csv_position(const sl_csv_parser *p)
{
	sl_csv_pos r = {p->abs + p->pos, p->counts.records, p->line};
	return r;
}

const sl_csv_counts *sl_csv_counts_get(const sl_csv_parser *p)
{
	sl_csv_parser *q = (sl_csv_parser *)p; /* lines is derived, not kept */
	q->counts.lines = p->line - p->line0;
	return &p->counts;
}

size_t sl_csv_expected_fields(const sl_csv_parser *p)
{
	return p->expected;
}

const sl_str *sl_csv_header(const sl_csv_parser *p, size_t *n)
{
	*n = p->nhdr;
	return p->hdr;
}

int sl__csv_push_slow(sl_csv_parser *p, size_t s, size_t e)
{
	if (p->fields_cap < SL_CSV_MAX_FIELDS) {
		size_t cap = p->fields_cap * 2;
		sl_str *f = realloc(p->fields, cap * sizeof *f);
		if (!f) {
			p->oom = SL_NOMEM;
			return SL_NOMEM;
		}
		p->fields = f;
		p->fields_cap = cap;
		return csv_push(p, s, e);
	}
	p->cur.nf++; /* counted, not kept */
	return 0;
}

void sl__csv_settle(sl_csv_parser *p)
{
	if (p->pending_cr && p->pos < p->len) {
		if (p->buf[p->pos] == '\n')
			p->pos++;
		p->pending_cr = false;
	}
	if (!p->bom_done && p->abs == 0 && p->pos == 0) {
		if (p->len >= 3 || p->final) {
			if (p->len >= 3 && memcmp(p->buf, "\xEF\xBB\xBF", 3) == 0)
				p->pos = 3;
			p->bom_done = true;
		}
	}
}

/*
 * Unescape a quoted field into scratch (which has room for the record).
 * Text after the closing quote is appended as it is (lenient mode; in strict
 * mode the record carries CSV_STRAY_QUOTE and the value is informative).
 */
static sl_str cook(sl_csv_parser *p, sl_str f)
{
	const unsigned char q = (unsigned char)p->d.quote;
	const int esc = p->d.escape != q ? p->d.escape : SL_CSV_NONE;
	const bool doubling = p->d.escape == p->d.quote;
	const char *s = f.p;
	size_t n = f.n, k = 1;

	/* Common case: "text" with no quote or escape inside. */
	while (k < n && (unsigned char)s[k] != q && (int)(unsigned char)s[k] != esc)
		k++;
	if (k == n)
		return sl_str_make(s + 1, n - 1); /* unterminated: open to the end */
	if (k == n - 1 && (unsigned char)s[k] == q)
		return sl_str_make(s + 1, n - 2);

	char *o = p->scratch.p + p->scratch.len, *o0 = o;
	memcpy(o, s + 1, k - 1);
	o += k - 1;
	while (k < n) {
		unsigned char c = (unsigned char)s[k];
		if ((int)c == esc && k + 1 < n &&
		    ((unsigned char)s[k + 1] == q || (int)(unsigned char)s[k + 1] == esc)) {
			*o++ = s[k + 1];
			k += 2;
		} else if (c == q) {
			if (doubling && k + 1 < n && (unsigned char)s[k + 1] == q) {
				*o++ = (char)q;
				k += 2;
			} else {
				memcpy(o, s + k + 1, n - k - 1); /* after the closing quote */
				o += n - k - 1;
				break;
			}
		} else {
			*o++ = (char)c;
			k++;
		}
	}
	p->scratch.len += (size_t)(o - o0);
	return sl_str_make(o0, (size_t)(o - o0));
}

static void keep_header(sl_csv_parser *p, const sl_csv_record *rec)
{
	size_t total = 0;
	for (size_t i = 0; i < rec->nfields; i++)
		total += rec->fields[i].n + 1;
	free(p->hdr);
	p->hdr = calloc(rec->nfields ? rec->nfields : 1, sizeof *p->hdr);
	sl_buf_reset(&p->hdr_buf);
	if (!p->hdr || sl_buf_reserve(&p->hdr_buf, total + 1) < 0) {
		p->oom = SL_NOMEM;
		p->nhdr = 0;
		return;
	}
	for (size_t i = 0; i < rec->nfields; i++) {
		char *dst = p->hdr_buf.p + p->hdr_buf.len;
		memcpy(dst, rec->fields[i].p, rec->fields[i].n);
		dst[rec->fields[i].n] = '\0';
		p->hdr[i] = sl_str_make(dst, rec->fields[i].n);
		p->hdr_buf.len += rec->fields[i].n + 1;
	}
	p->nhdr = rec->nfields;
}

static void count_warning(sl_csv_parser *p, int code)
{
	if (code == SL_CSV_TOO_FEW_FIELDS)
		p->counts.warn_too_few++;
	else if (code == SL_CSV_TOO_MANY_FIELDS)
		p->counts.warn_too_many++;
	else if (code == SL_CSV_STRAY_QUOTE)
		p->counts.warn_stray_quote++;
}

/* Turn p->cur into the caller's record. 1, or SL_NOMEM. */
static int finish(sl_csv_parser *p, sl_csv_record *rec)
{
	csv_cur *c = &p->cur;
	memset(rec, 0, sizeof *rec);
	rec->line = c->line;
	rec->nfields_seen = c->nf;
	rec->error = c->error;
	if (c->toolong) {
		rec->offset = p->skip.offset;
		rec->raw_len = p->skip.len;
		rec->raw = sl_str_make(p->prefix.p, p->prefix.len);
	} else {
		rec->offset = p->abs + c->start;
		rec->raw_len = c->end - c->start;
		rec->raw = sl_str_make(p->buf + c->start, c->end - c->start);
		if (rec->raw_len > p->d.max_row_bytes) {
			if (rec->error != SL_CSV_UNTERMINATED_QUOTE)
				rec->error = SL_CSV_ROW_TOO_LONG;
			if (rec->raw.n > SL_CSV_RAW_PREFIX)
				rec->raw.n = SL_CSV_RAW_PREFIX;
		} else {
			rec->fields = p->fields;
			rec->nfields = c->nf < p->fields_cap ? c->nf : p->fields_cap;
			if (p->d.skip_initial_space) {
				/* the state machine pushes fields past their leading
				   spaces already; the fast path leaves them here */
				for (size_t i = 0; i < rec->nfields; i++) {
					sl_str *f = &p->fields[i];
					while (f->n && f->p[0] == ' ') {
						f->p++;
						f->n--;
					}
				}
			}
			if (c->quoted) {
				sl_buf_reset(&p->scratch);
				if (sl_buf_reserve(&p->scratch, rec->raw_len) < 0) {
					p->oom = SL_NOMEM;
					return SL_NOMEM;
				}
				const unsigned char q = (unsigned char)p->d.quote;
				const char *lit = c->literal ? p->buf + c->literal - 1 : NULL;
				for (size_t i = 0; i < rec->nfields; i++) {
					sl_str f = p->fields[i];
					if (f.n && (unsigned char)f.p[0] == q &&
					    !(lit && f.p >= lit))
						p->fields[i] = cook(p, f);
				}
			}
		}
	}
	if (!rec->error && p->d.validate_utf8 &&
	    sl_utf8_scan(rec->raw.p, rec->raw.n, false, NULL, NULL))
		rec->error = SL_CSV_INVALID_UTF8;

	if (!rec->error && c->warn_quote && p->d.lenient_quotes)
		rec->warning = SL_CSV_STRAY_QUOTE;
	if (!p->header_done) {
		p->header_done = true;
		p->expected = c->nf;
		if (p->d.header) {
			rec->is_header = true;
			count_warning(p, rec->warning);
			keep_header(p, rec);
			return p->oom ? p->oom : 1;
		}
	} else if (!rec->error && c->nf != p->expected) {
		int code = c->nf < p->expected ? SL_CSV_TOO_FEW_FIELDS : SL_CSV_TOO_MANY_FIELDS;
		if (p->d.lenient_fields)
			rec->warning = code; /* kept as it is */
		else
			rec->error = code;
	}
	if (rec->error)
		rec->nfields = 0;
	count_warning(p, rec->warning);
	rec->record = ++p->counts.records;
	return 1;
}

/* One step: the fast path when it can, else the state machine. */
static int step(sl_csv_parser *p)
{
	sl__csv_settle(p);
	if (p->pos >= p->len && !p->skip.active)
		return STEP_MORE;
	if (!p->bom_done)
		return STEP_MORE; /* fewer than 3 bytes at offset 0: wait */
	int r = STEP_SLOW;
	/* a lenient header is one physical line: the state machine reads it */
	bool line_header = !p->header_done && p->d.header && p->d.lenient_fields;
	if (p->ops && !p->skip.active && !line_header)
		r = p->ops->next(p);
	if (r == STEP_SLOW) {
		p->fast.valid = false;
		r = sl__csv_dfa_step(p);
	}
	return r;
}

int sl_csv_next(sl_csv_parser *p, sl_csv_record *rec)
{
	for (;;) {
		if (p->oom)
			return p->oom;
		int r = step(p);
		if (p->oom)
			return p->oom;
		if (r == STEP_RECORD)
			return finish(p, rec);
		if (r == STEP_MORE)
			return 0;
	}
}

void sl__csv_check_record(sl_csv_parser *p, const sl_csv_record *rec)
{
	if (!rec->is_header)
		p->check->fields += rec->nfields_seen;
	if (rec->error || rec->warning)
		p->check->on_record(p->check->ctx, rec);
}

int sl_csv_skip(sl_csv_parser *p, uint64_t stop_at)
{
	for (;;) {
		if (p->oom)
			return p->oom;
		sl__csv_settle(p);
		if (p->pending_cr && !p->final)
			return 0; /* an LF may follow in the next window */
		if (p->abs + p->pos >= stop_at && !p->skip.active)
			return 1;
		if (p->pos >= p->len && !p->skip.active)
			return 0;
		if (!p->bom_done || !p->header_done) {
			/* the header (and the first record) go through sl_csv_next */
			sl_csv_record rec;
			int r = sl_csv_next(p, &rec);
			if (r <= 0)
				return r;
			if (p->check)
				sl__csv_check_record(p, &rec);
			continue;
		}
		int r = STEP_SLOW;
		if (p->ops && !p->skip.active) {
			uint64_t stop = stop_at - p->abs;
			r = p->ops->count(p, stop < p->len ? (size_t)stop : p->len + 1);
		}
		if (r == STEP_SLOW) {
			p->fast.valid = false;
			r = sl__csv_dfa_step(p);
			if (r == STEP_RECORD && p->check) {
				sl_csv_record rec;
				if (finish(p, &rec) < 0)
					return p->oom;
				sl__csv_check_record(p, &rec);
			} else if (r == STEP_RECORD) {
				p->counts.records++;
			}
		}
		if (p->oom)
			return p->oom;
		if (r == STEP_MORE)
			return 0;
	}
}
