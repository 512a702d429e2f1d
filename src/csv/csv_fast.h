/*
 * Private to src/csv/: the bitmask fast path, written once and compiled once
 * per instruction set. The including file (csv_scan_<isa>.c) defines:
 *
 *   fast_k                   its broadcast constants
 *   fast_k_init(p, k)        fill them from the dialect
 *   fast_masks(src, k, r)    compare 64 bytes: quote, delimiter, CR, LF and
 *                            escape bitmasks (bit i = byte i)
 *   fast_prefix_xor(x)       bit i = XOR of bits 0..i
 *   FAST_OPS, FAST_NAME      the ops table to define and its name
 *
 * and includes this file. See csv_int.h for how the fast path and the state
 * machine share the work, and docs/csv.md for why it is exact.
 */
#ifndef FAST_OPS
#error "define FAST_OPS before including csv_fast.h"
#endif

typedef struct fast_raw {
	uint64_t q, d, cr, lf, esc;
} fast_raw;

/* Bits 0..i. */
static inline uint64_t upto(unsigned i)
{
	return ~0ULL >> (63 - i);
}

/* Keep the candidates in d (first delimiter bytes of the block at base)
   that the rest of the delimiter follows inside the window. */
static inline uint64_t fast_confirm(const sl_csv_parser *p, size_t base, uint64_t d)
{
	uint64_t keep = 0;
	size_t dl = p->dlen;
	const unsigned char *t = p->d.delimiter_tail;
	const unsigned char *b = (const unsigned char *)p->buf;
	/* inline byte compares, not memcmp: 1 to 3 bytes, once per candidate */
	while (d) {
		unsigned i = (unsigned)__builtin_ctzll(d);
		d &= d - 1;
		size_t at = base + i;
		if (at + dl <= p->len && b[at + 1] == t[0] && (dl < 3 || b[at + 2] == t[1]) &&
		    (dl < 4 || b[at + 3] == t[2]))
			keep |= 1ULL << i;
	}
	return keep;
}

/* Classify the block at f->base (64 bytes, or what is left of the window,
   padded) and derive the masks the walk needs. */
static inline void fast_block(sl_csv_parser *p, const fast_k *k, csv_fast *f)
{
	const unsigned char *src = (const unsigned char *)p->buf + f->base;
	size_t avail = p->len - f->base;
	uint64_t valid = ~0ULL;
	unsigned char tmp[64];
	if (avail < 64) {
		memcpy(tmp, src, avail);
		memset(tmp + avail, p->pad, 64 - avail);
		src = tmp;
		valid = (1ULL << avail) - 1;
	}
	fast_raw r;
	fast_masks(src, k, &r);

	uint64_t q = r.q & valid;
	uint64_t inq = fast_prefix_xor(q) ^ f->inq;
	f->inq = (uint64_t)((int64_t)inq >> 63);

	/* Line breaks: CR, and LF unless it completes a CRLF. */
	uint64_t term = r.cr | (r.lf & ~((r.cr << 1) | f->prev_cr));
	f->prev_cr = r.cr >> 63;
	f->term = term;
	f->eol = term & ~inq;

	/* Delimiters: bit i is where one starts. A multi-byte one is found by
	   its first byte and confirmed per candidate against the window (one
	   the window cuts off is not one: its record crosses the window's end,
	   which the fast path never decides). dend marks each one's last byte. */
	uint64_t d = r.d, dend = d, a = 0;
	size_t dl = p->dlen;
	if (dl > 1) {
		d = fast_confirm(p, f->base, d);
		dend = (d << (dl - 1)) | (f->prev_d >> (65 - dl));
		/* Overlapping candidates ("|||" with "||"): the state machine
		   decides which is the delimiter. */
		uint64_t near = 0;
		for (size_t sh = 1; sh < dl; sh++)
			near |= (d << sh) | (f->prev_d >> (64 - sh));
		a = d & near;
		f->prev_d = d;
	}
	f->bits = (d & ~inq) | f->eol;

	/* Anomalies: where quote parity alone could disagree with the grammar.
	   A quote that opens must follow a field boundary (or, when quotes
	   escape by doubling, the quote that closed); a quote that closes must
	   be followed by one. Escape bytes inside quotes change parity. */
	uint64_t brk = r.cr | r.lf, dq = k->doubling ? q : 0;
	uint64_t ok_open = dend | brk | dq, ok_close = d | brk | dq;
	if (q | f->pend_close) {
		uint64_t open = q & inq, close = q & ~inq;
		a |= (open & ~((ok_open << 1) | f->prev_ok)) |
		     (close & ~((ok_close >> 1) | (1ULL << 63)));
		a |= f->pend_close & ~ok_close & 1;
		f->pend_close = close >> 63;
	}
	f->prev_ok = ok_open >> 63;
	a |= r.esc & inq;
	f->anomaly = a;
}

static inline void fast_restart(sl_csv_parser *p, const fast_k *k)
{
	csv_fast *f = &p->fast;
	f->valid = true;
	f->base = p->pos;
	f->lines = p->line - 1;
	f->inq = 0;
	f->prev_ok = 1;
	f->prev_cr = 0;
	f->pend_close = 0;
	f->prev_d = 0;
	fast_block(p, k, f);
}

/* Move to the next block. false at the end of the window. */
static inline bool fast_advance(sl_csv_parser *p, const fast_k *k, csv_fast *f)
{
	f->lines += (uint64_t)__builtin_popcountll(f->term);
	f->base += 64;
	if (f->base >= p->len)
		return false;
	fast_block(p, k, f);
	return true;
}

static inline bool fast_comment_at(const sl_csv_parser *p, size_t i)
{
	return p->d.comment != SL_CSV_NONE && i < p->len &&
	       (unsigned char)p->buf[i] == (unsigned)p->d.comment;
}

static int fast_next(sl_csv_parser *p)
{
	fast_k k;
	fast_k_init(p, &k);
	csv_fast *f = &p->fast;
	if (!f->valid)
		fast_restart(p, &k);

	size_t rs = p->pos, fs = rs;
	const size_t dl = p->dlen; /* a local: csv_push stores through p */
	if (fast_comment_at(p, rs))
		return STEP_SLOW;
	csv_cur *c = &p->cur;
	c->start = rs;
	c->line = p->line;
	c->nf = 0;
	c->error = 0;
	c->quoted = false;
	c->toolong = false;
	c->warn_quote = false;
	c->literal = 0;

	for (;;) {
		while (f->bits == 0) {
			if (f->anomaly || !fast_advance(p, &k, f))
				return STEP_SLOW;
		}
		unsigned i = (unsigned)__builtin_ctzll(f->bits);
		if (SL_UNLIKELY(f->anomaly & upto(i)))
			return STEP_SLOW;
		f->bits &= f->bits - 1;
		size_t at = f->base + i;
		if (!((f->eol >> i) & 1)) {
			if (SL_UNLIKELY(csv_push(p, fs, at) < 0))
				return STEP_SLOW;
			fs = at + dl;
			continue;
		}
		size_t next = sl__csv_after_break(p, at);
		uint64_t next_line =
		    f->lines + (uint64_t)__builtin_popcountll(f->term & upto(i)) + 1;
		if (at == rs && p->d.skip_empty_lines) {
			p->counts.empty_lines++;
			p->pos = rs = fs = next;
			p->line = next_line;
			c->start = rs;
			c->line = next_line;
			if (fast_comment_at(p, rs))
				return STEP_SLOW;
			continue;
		}
		if (SL_UNLIKELY(csv_push(p, fs, at) < 0))
			return STEP_SLOW;
		c->end = at;
		p->pos = next;
		p->line = next_line;
		return STEP_RECORD;
	}
}

/* In check mode: may the fast path count the record [rs, at) with nf
   fields, or must the state machine build it? */
static inline bool fast_check_ok(const sl_csv_parser *p, size_t rs, size_t at, uint64_t nf)
{
	return nf == p->expected && at - rs <= p->d.max_row_bytes &&
	       !(p->d.validate_utf8 && sl_utf8_scan(p->buf + rs, at - rs, false, NULL, NULL));
}

static int fast_count(sl_csv_parser *p, size_t stop)
{
	fast_k k;
	fast_k_init(p, &k);
	csv_fast *f = &p->fast;
	if (!f->valid)
		fast_restart(p, &k);

	csv_check *chk = p->check;
	uint64_t nd = 0; /* check mode: delimiters of the record so far */
	size_t rs = p->pos;
	if (fast_comment_at(p, rs))
		return STEP_SLOW;
	if (rs >= stop)
		return STEP_STOP;
	for (;;) {
		uint64_t e;
		while ((e = f->bits & f->eol) == 0) {
			if (f->anomaly)
				return STEP_SLOW;
			if (chk)
				nd += (uint64_t)__builtin_popcountll(f->bits);
			if (!fast_advance(p, &k, f))
				return STEP_SLOW;
		}
		unsigned i = (unsigned)__builtin_ctzll(e);
		if (SL_UNLIKELY(f->anomaly & upto(i)))
			return STEP_SLOW;
		size_t at = f->base + i;
		bool empty = at == rs && p->d.skip_empty_lines;
		if (chk && !empty) {
			nd += (uint64_t)__builtin_popcountll(f->bits & upto(i) & ~f->eol);
			if (!fast_check_ok(p, rs, at, nd + 1))
				return STEP_SLOW;
			chk->fields += nd + 1;
		}
		nd = 0;
		f->bits &= ~upto(i);
		size_t next = sl__csv_after_break(p, at);
		if (empty)
			p->counts.empty_lines++;
		else
			p->counts.records++;
		p->pos = rs = next;
		p->line = f->lines + (uint64_t)__builtin_popcountll(f->term & upto(i)) + 1;
		if (fast_comment_at(p, rs))
			return STEP_SLOW;
		if (rs >= stop)
			return STEP_STOP;
	}
}

const csv_ops FAST_OPS = {FAST_NAME, fast_next, fast_count};
