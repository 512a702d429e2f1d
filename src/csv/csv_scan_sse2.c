/*
 * The bitmask fast path with SSE2, the x86-64 baseline: four 16-byte
 * compares per mask. Prefix XOR by shifts (PCLMUL is not in the baseline).
 */
#include <emmintrin.h>
#include <string.h>

#include "csv/csv_int.h"

typedef struct fast_k {
	__m128i q, d, cr, lf, esc;
	uint64_t qon, escon;
	bool doubling;
} fast_k;

static inline void fast_k_init(const sl_csv_parser *p, fast_k *k)
{
	bool esc = p->d.escape != p->d.quote && p->d.escape != SL_CSV_NONE && p->d.quote != SL_CSV_NONE;
	k->q = _mm_set1_epi8((char)(p->d.quote == SL_CSV_NONE ? 0 : p->d.quote));
	k->d = _mm_set1_epi8((char)p->d.delimiter);
	k->cr = _mm_set1_epi8('\r');
	k->lf = _mm_set1_epi8('\n');
	k->esc = _mm_set1_epi8((char)(esc ? p->d.escape : 0));
	k->qon = p->d.quote == SL_CSV_NONE ? 0 : ~0ULL;
	k->escon = esc ? ~0ULL : 0;
	k->doubling = p->d.escape == p->d.quote;
}

static inline uint64_t eq64(const __m128i v[4], __m128i c)
{
	uint64_t m0 = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v[0], c));
	uint64_t m1 = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v[1], c));
	uint64_t m2 = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v[2], c));
	uint64_t m3 = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v[3], c));
	return m0 | m1 << 16 | m2 << 32 | m3 << 48;
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

#define FAST_OPS sl__csv_ops_sse2
#define FAST_NAME "sse2"
#include "csv/csv_fast.h"

static inline void fast_masks(const unsigned char *s, const fast_k *k, struct fast_raw *r)
{
	__m128i v[4];
	for (int i = 0; i < 4; i++)
		v[i] = _mm_loadu_si128((const __m128i *)(const void *)(s + 16 * i));
	r->q = eq64(v, k->q) & k->qon;
	r->d = eq64(v, k->d);
	r->cr = eq64(v, k->cr);
	r->lf = eq64(v, k->lf);
	r->esc = k->escon ? eq64(v, k->esc) : 0;
}
