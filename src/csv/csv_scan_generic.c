/*
 * The bitmask fast path in portable C: the same 64-byte blocks and masks as
 * the SIMD scanners, built one byte at a time. It runs on every CPU and is a
 * third opinion in the tests.
 */
#include <string.h>

#include "csv/csv_int.h"

typedef struct fast_k {
	int q, d, esc;
	bool doubling;
} fast_k;

static inline void fast_k_init(const sl_csv_parser *p, fast_k *k)
{
	k->q = p->d.quote;
	k->d = p->d.delimiter;
	k->esc = (p->d.escape != p->d.quote && p->d.quote != SL_CSV_NONE) ? p->d.escape : SL_CSV_NONE;
	k->doubling = p->d.escape == p->d.quote;
}

struct fast_raw;
static inline void fast_masks(const unsigned char *s, const fast_k *k, struct fast_raw *r);

static inline uint64_t fast_prefix_xor(uint64_t x)
{
	x ^= x << 1;
	x ^= x << 2;
	x ^= x << 4;
	x ^= x << 8;
	x ^= x << 16;
	x ^= x << 32;
	return x;
}

#define FAST_OPS sl__csv_ops_generic
#define FAST_NAME "generic"
#include "csv/csv_fast.h"

static inline void fast_masks(const unsigned char *s, const fast_k *k, struct fast_raw *r)
{
	uint64_t q = 0, d = 0, cr = 0, lf = 0, esc = 0;
	for (unsigned i = 0; i < 64; i++) {
		int c = s[i];
		uint64_t bit = 1ULL << i;
		q |= c == k->q ? bit : 0;
		d |= c == k->d ? bit : 0;
		cr |= c == '\r' ? bit : 0;
		lf |= c == '\n' ? bit : 0;
		esc |= c == k->esc ? bit : 0;
	}
	r->q = q;
	r->d = d;
	r->cr = cr;
	r->lf = lf;
	r->esc = esc;
}
