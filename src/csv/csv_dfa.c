/*
 * The reference state machine: the definition of sluice's CSV grammar.
 *
 * It reads one byte at a time and is deliberately plain. It is the
 * "scalar" scanner, the fallback of the bitmask scanners for every record
 * they do not decide themselves (stray quotes, escapes inside quotes,
 * comment lines, records that cross the end of a window, the last record),
 * and the model they are tested and fuzzed against.
 *
 * States, per field:
 *   S   at the start of a field: a quote opens a quoted field
 *   U   inside an unquoted field (or after the text that follows a closing
 *       quote): a quote here is a stray quote and is data
 *   Q   inside quotes: delimiters and line breaks are data
 *   QX  after the escape byte inside quotes: the next byte is data
 *   QE  after a quote inside quotes: a second quote (when quotes are
 *       escaped by doubling) is data, otherwise the field was closed
 * A record ends at CR, LF or CRLF in S, U or QE, or at the end of input.
 * Stray quotes are noted (CSV_STRAY_QUOTE) but never change where a record
 * ends: only a quote at the start of a field opens quotes.
 */
#include <string.h>

#include "csv/csv_int.h"

enum { ST_S, ST_U, ST_Q, ST_QX, ST_QE };

/* The machine's registers for one record. */
typedef struct dfa {
	int state;
	size_t fs; /* start of the current field (build mode) */
	size_t qs; /* where the last quoted field opened */
	size_t nf; /* fields counted (skip mode) */
	int err;
	bool warn;       /* lenient: a stray quote kept as data */
	bool partial;    /* stopped before a delimiter the window cuts off */
	uint64_t lines;  /* line breaks inside quotes */
	uint64_t qlines; /* lines when the last quoted field opened */
	size_t reopen;   /* 1 + where a quoted field opened that spanned a line
	                    break and had text after its closing quote, or 0 */
} dfa;

/* Is the delimiter at b[i] (its first byte is there)? 1 yes, 0 no, -1 the
   window [.., n) ends inside what may be one and more input will come. */
static inline int delim_at(const sl_csv_parser *p, const unsigned char *b, size_t i, size_t n,
                           bool fin)
{
	size_t dl = p->dlen;
	if (dl == 1)
		return 1;
	size_t have = n - i - 1 < dl - 1 ? n - i - 1 : dl - 1;
	if (memcmp(b + i + 1, p->d.delimiter_tail, have) != 0)
		return 0;
	return have == dl - 1 ? 1 : fin ? 0 : -1;
}

/*
 * Run from window index i until a record ends or index n does (`fin`: the
 * input ends at n). Returns the index of the line break that ends the
 * record, or where it stopped (n, or before a cut-off delimiter with
 * m->partial). With `build` the fields are pushed; without, only counted (a
 * record too long to keep). `cls` is p->cls, or p->cls_nq to read quotes as
 * data.
 */
static size_t dfa_run(sl_csv_parser *p, dfa *m, size_t i, size_t n, bool fin, bool build,
                      bool prev_cr, const unsigned char *cls)
{
	const unsigned char *b = (const unsigned char *)p->buf;
	const bool doubling = p->d.escape == p->d.quote;
	const bool lenient = p->d.lenient_quotes;
	const bool sis = p->d.skip_initial_space;
	int st = m->state;

	for (; i < n; i++) {
		unsigned c = cls[b[i]];
		if (c == CC_DELIM && st != ST_Q && st != ST_QX && p->dlen > 1) {
			int r = delim_at(p, b, i, n, fin);
			if (r < 0) {
				m->partial = true;
				break;
			}
			if (r == 0)
				c = CC_OTHER;
		}
		switch (st) {
		case ST_S:
			if (c == CC_QUOTE) {
				m->qs = i;
				m->qlines = m->lines;
				st = ST_Q;
				continue;
			}
			if (sis && b[i] == ' ') {
				m->fs = i + 1; /* a space at the start of a field is not data */
				continue;
			}
			/* the first byte of an unquoted field */
			__attribute__((fallthrough));
		case ST_U:
		unquoted:
			if (c == CC_DELIM) {
				if (build) {
					if (csv_push(p, m->fs, i) < 0)
						return n;
				} else {
					m->nf++;
				}
				i += p->dlen - 1;
				m->fs = i + 1;
				st = ST_S;
			} else if (c == CC_CR || c == CC_LF) {
				goto end;
			} else {
				if (c == CC_QUOTE) {
					if (!lenient && !m->err)
						m->err = SL_CSV_STRAY_QUOTE;
					m->warn = true;
				}
				st = ST_U;
			}
			break;
		case ST_Q:
		case ST_QX:
			if (st == ST_Q && c == CC_QUOTE)
				st = ST_QE;
			else if (st == ST_Q && c == CC_ESC)
				st = ST_QX;
			else
				st = ST_Q;
			if (c == CC_CR || (c == CC_LF && !(i > 0 ? b[i - 1] == '\r' : prev_cr)))
				m->lines++;
			break;
		case ST_QE:
			if (c == CC_QUOTE && doubling) {
				st = ST_Q;
			} else if (c == CC_DELIM || c == CC_CR || c == CC_LF) {
				goto unquoted;
			} else {
				if (!lenient && !m->err)
					m->err = SL_CSV_STRAY_QUOTE;
				if (m->lines > m->qlines && !m->reopen)
					m->reopen = m->qs + 1;
				m->warn = true;
				st = ST_U;
			}
			break;
		}
	}
end:
	m->state = st;
	return i;
}

/* Copy up to SL_CSV_RAW_PREFIX bytes of a too-long record. */
static void keep_prefix(sl_csv_parser *p, const char *s, size_t n)
{
	size_t room = SL_CSV_RAW_PREFIX - p->prefix.len;
	if (n > room)
		n = room;
	if (n && sl_buf_append(&p->prefix, s, n) < 0)
		p->oom = SL_NOMEM;
}

/* A comment line from p->pos: skip it (possibly across windows). */
static int comment_step(sl_csv_parser *p)
{
	size_t i = p->pos, n = p->len;
	const char *b = p->buf;
	while (i < n && b[i] != '\r' && b[i] != '\n')
		i++;
	if (i == n && !p->final) {
		if (n - p->pos <= p->d.max_row_bytes && !p->skip.active)
			return STEP_MORE; /* read it again whole with more input */
		p->skip.active = true;
		p->skip.comment = true;
		p->pos = n;
		return STEP_MORE;
	}
	p->skip.active = false;
	p->skip.comment = false;
	p->counts.comment_lines++;
	if (i < n) {
		p->pos = sl__csv_after_break(p, i);
		p->line++;
	} else {
		p->pos = n;
	}
	return STEP_SKIPPED;
}

/* Continue a record too long for the window (p->skip.active). */
static int skip_step(sl_csv_parser *p)
{
	csv_skip *k = &p->skip;
	dfa m = {.state = k->state, .nf = k->nf, .err = k->error, .warn = k->warn};
	size_t start = p->pos;
	size_t i = dfa_run(p, &m, start, p->len, p->final, false, k->prev_cr,
	                   k->noquote ? p->cls_nq : p->cls);
	keep_prefix(p, p->buf + start, i - start);
	k->len += i - start;
	p->line += m.lines;
	if (m.partial || (i == p->len && !p->final)) {
		k->state = m.state;
		k->nf = m.nf;
		k->error = m.err;
		k->warn = m.warn;
		k->prev_cr = i > start ? p->buf[i - 1] == '\r' : k->prev_cr;
		p->pos = i;
		return STEP_MORE;
	}
	k->active = false;
	csv_cur *c = &p->cur;
	memset(c, 0, sizeof *c);
	c->start = c->end = 0;
	c->line = k->line;
	c->nf = m.nf + 1;
	c->toolong = true;
	c->warn_quote = m.warn;
	c->error = (m.state == ST_Q || m.state == ST_QX) && i == p->len ? SL_CSV_UNTERMINATED_QUOTE
	                                                                : SL_CSV_ROW_TOO_LONG;
	if (i < p->len) {
		p->pos = sl__csv_after_break(p, i);
		p->line++;
	} else {
		p->pos = i;
	}
	return STEP_RECORD;
}

static size_t reread_from_quote(sl_csv_parser *p, dfa *m, size_t i, size_t e);

/*
 * The header in lenient mode (lenient_fields) is one physical line, so a
 * damaged header cannot take later lines with it: a quoted field that does
 * not close on the line is read, from its opening quote to the line's end,
 * as unquoted text (the quote is a stray quote). A header line longer than
 * the row limit is counted with every quote as data, the same in one window
 * and across many (it cannot be held to be read again).
 * Returns the line's end (its line break, or the end of the input), or
 * SIZE_MAX when the window ends first (p->skip set up if it is too long).
 */
static size_t header_line(sl_csv_parser *p, dfa *m, size_t i)
{
	const char *b = p->buf;
	size_t n = p->len, e = i;
	while (e < n && b[e] != '\r' && b[e] != '\n')
		e++;
	if (e == n && !p->final) {
		if (n - i <= p->d.max_row_bytes)
			return SIZE_MAX;
		csv_skip *k = &p->skip;
		memset(k, 0, sizeof *k);
		k->active = true;
		k->noquote = true;
		k->state = ST_S;
		k->offset = p->abs + i;
		k->line = p->line;
		sl_buf_reset(&p->prefix);
		return SIZE_MAX; /* skip_step reads it from i */
	}
	if (e - i > p->d.max_row_bytes) {
		dfa_run(p, m, i, e, true, true, false, p->cls_nq);
		return e;
	}
	dfa_run(p, m, i, e, true, true, false, p->cls);
	if (m->state == ST_Q || m->state == ST_QX)
		reread_from_quote(p, m, i, e);
	return e;
}

/* Read the record at i again with the quoted field that opened at m->qs as
   unquoted text from that quote to the end of its line (the quote is a
   stray quote); returns the record's new end. Shared by the lenient header
   line and the lenient unterminated quote. */
static size_t reread_from_quote(sl_csv_parser *p, dfa *m, size_t i, size_t e)
{
	size_t qs = m->qs;
	p->cur.nf = 0;
	p->cur.quoted = false;
	*m = (dfa){.state = ST_S, .fs = i};
	dfa_run(p, m, i, qs, true, true, false, p->cls);
	if (!p->d.lenient_quotes && !m->err)
		m->err = SL_CSV_STRAY_QUOTE;
	m->warn = true;
	m->state = ST_S;
	dfa_run(p, m, qs, e, true, true, false, p->cls_nq);
	return e;
}

/*
 * Lenient quotes: two marks of a stray opening quote, not of a value that
 * runs over lines: a quoted field still open at the end of the input, and a
 * quoted field that spans a line break and has text after its closing quote
 * (`1,"x,2` ... `5,"z",6` pairs the stray quote with the next opening one).
 * In a record within the row limit (so one window holds it however the input
 * is read, and the decision is the record's own), the record is read again
 * with that quote as data, ending at the first line break after it; the
 * lines after it are records again.
 */
static size_t reread_unclosed(sl_csv_parser *p, dfa *m, size_t i)
{
	const char *b = p->buf;
	size_t e = m->qs, n = p->len;
	while (e < n && b[e] != '\r' && b[e] != '\n')
		e++;
	p->cur.literal = m->qs + 1; /* its quote is data: not unescaped */
	return reread_from_quote(p, m, i, e);
}

int sl__csv_dfa_step(sl_csv_parser *p)
{
	if (p->skip.active)
		return p->skip.comment ? comment_step(p) : skip_step(p);

	size_t i = p->pos, n = p->len;
	const unsigned char *b = (const unsigned char *)p->buf;
	if (i >= n)
		return STEP_MORE;

	unsigned c0 = p->cls[b[i]];
	if ((c0 == CC_CR || c0 == CC_LF) && p->d.skip_empty_lines) {
		p->counts.empty_lines++;
		p->line++;
		p->pos = sl__csv_after_break(p, i);
		return STEP_SKIPPED;
	}
	if (p->d.comment != SL_CSV_NONE && b[i] == (unsigned)p->d.comment)
		return comment_step(p);

	csv_cur *cur = &p->cur;
	memset(cur, 0, sizeof *cur);
	cur->start = i;
	cur->line = p->line;
	dfa m = {.state = ST_S, .fs = i};
	size_t e;
	if (!p->header_done && p->d.header && p->d.lenient_fields) {
		e = header_line(p, &m, i);
		if (e == SIZE_MAX)
			return p->skip.active ? skip_step(p) : STEP_MORE;
	} else {
		e = dfa_run(p, &m, i, n, p->final, true, false, p->cls);
		bool whole = !m.partial && (e < n || p->final);
		if (whole && p->d.lenient_quotes && e - i <= p->d.max_row_bytes &&
		    (m.reopen || ((m.state == ST_Q || m.state == ST_QX) && e == n))) {
			if (m.reopen)
				m.qs = m.reopen - 1;
			e = reread_unclosed(p, &m, i);
		}
	}
	if (p->oom)
		return STEP_MORE;

	if (m.partial || (e == n && !p->final)) {
		if (n - i <= p->d.max_row_bytes)
			return STEP_MORE; /* read it again whole with more input */
		/* Too long to hold: skip it from here on, keeping a prefix. */
		csv_skip *k = &p->skip;
		k->active = true;
		k->comment = false;
		k->noquote = false;
		k->state = m.state;
		k->nf = cur->nf > 0 ? cur->nf : 0;
		k->error = m.err;
		k->warn = m.warn;
		k->prev_cr = e > i && b[e - 1] == '\r';
		k->offset = p->abs + i;
		k->line = cur->line;
		k->len = e - i;
		sl_buf_reset(&p->prefix);
		keep_prefix(p, p->buf + i, e - i);
		p->line += m.lines;
		p->pos = e;
		return STEP_MORE;
	}

	if (csv_push(p, m.fs, e) < 0)
		return STEP_MORE;
	cur->end = e;
	cur->error = m.err;
	cur->warn_quote = m.warn;
	p->line += m.lines;
	if (e < n) {
		p->pos = sl__csv_after_break(p, e);
		p->line++;
	} else {
		p->pos = e;
		if (m.state == ST_Q || m.state == ST_QX)
			cur->error = SL_CSV_UNTERMINATED_QUOTE;
	}
	return STEP_RECORD;
}
