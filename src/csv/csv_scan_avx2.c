/*
 * The bitmask fast path with AVX2: two 32-byte compares per mask, and the
 * in-quotes mask by one carry-less multiply (PCLMULQDQ) of the quote mask
 * with all ones, which is its prefix XOR. Chosen at run time (csv_dialect.c)
 * when the CPU has AVX2, PCLMUL, BMI1 and POPCNT; this file is compiled with
 * those enabled and nothing in it runs elsewhere.
 */
#include <immintrin.h>
#include <string.h>

#include "csv/csv_int.h"

typedef struct fast_k {
	__m256i q, d, cr, lf, esc;
	uint64_t qon, escon;
	bool doubling;
} fast_k;

static inline void fast_k_init(const sl_csv_parser *p, fast_k *k)
{
	bool esc = p->d.escape != p->d.quote && p->d.escape != SL_CSV_NONE && p->d.quote != SL_CSV_NONE;
	k->q = _mm256_set1_epi8((char)(p->d.quote == SL_CSV_NONE ? 0 : p->d.quote));
	k->d = _mm256_set1_epi8((char)p->d.delimiter);
	k->cr = _mm256_set1_epi8('\r');
	k->lf = _mm256_set1_epi8('\n');
	k->esc = _mm256_set1_epi8((char)(esc ? p->d.escape : 0));
	k->qon = p->d.quote == SL_CSV_NONE ? 0 : ~0ULL;
	k->escon = esc ? ~0ULL : 0;
	k->doubling = p->d.escape == p->d.quote;
}

static inline uint64_t eq64(__m256i lo, __m256i hi, __m256i c)
{
	uint64_t a = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, c));
	uint64_t b = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, c));
	return a | b << 32;
}

struct fast_raw;
static inline void fast_masks(const unsigned char *s, const fast_k *k, struct fast_raw *r);

static inline uint64_t fast_prefix_xor(uint64_t x)
{
	__m128i v = _mm_clmulepi64_si128(_mm_set_epi64x(0, (long long)x), _mm_set1_epi8((char)0xFF), 0);
	return (uint64_t)_mm_cvtsi128_si64(v);
}

#define FAST_OPS sl__csv_ops_avx2
#define FAST_NAME "avx2"
#include "csv/csv_fast.h"

static inline void fast_masks(const unsigned char *s, const fast_k *k, struct fast_raw *r)
{
	__m256i lo = _mm256_loadu_si256((const __m256i *)(const void *)s);
	__m256i hi = _mm256_loadu_si256((const __m256i *)(const void *)(s + 32));
	r->q = eq64(lo, hi, k->q) & k->qon;
	r->d = eq64(lo, hi, k->d);
	r->cr = eq64(lo, hi, k->cr);
	r->lf = eq64(lo, hi, k->lf);
	r->esc = k->escon ? eq64(lo, hi, k->esc) : 0;
}
