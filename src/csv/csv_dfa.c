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
	size_t fs;      /* start of the current field (build mode) */
	size_t nf;      /* fields counted (skip mode) */
	int err;
	uint64_t lines; /* line breaks inside quotes */
} dfa;


/*
 * Run from window index i until a record ends or the window does. Returns
 * the index of the line break that ends the record, or p->len. With `build`
 * the fields are pushed; without, only counted (a record too long to keep).
 */
static size_t dfa_run(sl_csv_parser *p, dfa *m, size_t i, bool build, bool prev_cr)
{
	const unsigned char *b = (const unsigned char *)p->buf;
	const unsigned char *cls = p->cls;
	const bool doubling = p->d.escape == p->d.quote;
	const bool lenient = p->d.lenient_quotes;
	int st = m->state;
	size_t n = p->len;

	for (; i < n; i++) {
		unsigned c = cls[b[i]];
		switch (st) {
		case ST_S:
			if (c == CC_QUOTE) {
				st = ST_Q;
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
				m->fs = i + 1;
				st = ST_S;
			} else if (c == CC_CR || c == CC_LF) {
				goto end;
			} else {
				if (c == CC_QUOTE && !lenient && !m->err)
					m->err = SL_CSV_STRAY_QUOTE;
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
	dfa m = {.state = k->state, .nf = k->nf, .err = k->error};
	size_t start = p->pos;
	size_t i = dfa_run(p, &m, start, false, k->prev_cr);
	keep_prefix(p, p->buf + start, i - start);
	k->len += i - start;
	p->line += m.lines;
	if (i == p->len && !p->final) {
		k->state = m.state;
		k->nf = m.nf;
		k->error = m.err;
		k->prev_cr = i > start && p->buf[i - 1] == '\r';
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
	c->error = (m.state == ST_Q || m.state == ST_QX) && i == p->len
			   ? SL_CSV_UNTERMINATED_QUOTE
			   : SL_CSV_ROW_TOO_LONG;
	if (i < p->len) {
		p->pos = sl__csv_after_break(p, i);
		p->line++;
	} else {
		p->pos = i;
	}
	return STEP_RECORD;
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
	size_t e = dfa_run(p, &m, i, true, false);
	if (p->oom)
		return STEP_MORE;

	if (e == n && !p->final) {
		if (n - i <= p->d.max_row_bytes)
			return STEP_MORE; /* read it again whole with more input */
		/* Too long to hold: skip it from here on, keeping a prefix. */
		csv_skip *k = &p->skip;
		k->active = true;
		k->comment = false;
		k->state = m.state;
		k->nf = cur->nf > 0 ? cur->nf : 0;
		k->error = m.err;
		k->prev_cr = b[n - 1] == '\r';
		k->offset = p->abs + i;
		k->line = cur->line;
		k->len = n - i;
		sl_buf_reset(&p->prefix);
		keep_prefix(p, p->buf + i, n - i);
		p->line += m.lines;
		p->pos = n;
		return STEP_MORE;
	}

	if (csv_push(p, m.fs, e) < 0)
		return STEP_MORE;
	cur->end = e;
	cur->error = m.err;
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
