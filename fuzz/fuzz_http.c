/*
 * libFuzzer harness of the HTTP request parsers that are ours
 * (src/http/http_parse.c). The first input byte picks the parser, the rest
 * is its input (as a C string, the way the handlers get header values and
 * the request target), and each run checks a property, not only "no crash":
 *   0  header number: accepted exactly when it is all digits and fits,
 *      and then it prints back the same (without leading zeros)
 *   1  Content-Length values (split at '\n'): 0 means all equal numbers
 *   2  base64: what decodes re-encodes and decodes to the same bytes
 *   3  tus Upload-Metadata: accepted means a dataset without NUL, and a
 *      filename that decodes
 *   4  raw target: a raw control byte before '?' is always refused
 *   5  query count: never more than the '&'-separated fields
 *   6  multipart/form-data: the first line is the Content-Type, the rest
 *      the body; fed whole and in pieces split at the second byte's
 *      value, the same file bytes and the same verdict
 * Replayed without libFuzzer by fuzz_http_replay (fuzz/replay_dirs.c) over
 * fuzz/http_corpus in every test run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_frame.h"
#include "http/http_parse.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "fuzz_http: %s failed (line %d)\n", #c, __LINE__);         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* what the parts named file carried: bytes, a hash of them, part starts */
typedef struct mp_got {
	size_t n;
	uint64_t h;
	unsigned starts;
} mp_got;

static void mp_collect(void *ctx, const char *p, size_t n)
{
	mp_got *g = ctx;
	if (!p) {
		g->starts++;
		g->h = g->h * 31 + 7;
		return;
	}
	for (size_t i = 0; i < n; i++)
		g->h = (g->h ^ (unsigned char)p[i]) * 1099511628211ull;
	g->n += n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size || size > 8192)
		return 0;
	char *s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = 0; /* the rest, cut at its first NUL as a C string would be */
	size_t n = strlen(s);
	switch (data[0] % 8) {
	case 0: {
		uint64_t v;
		bool ok = http_parse_u64(s, &v);
		bool digits = n > 0 && strspn(s, "0123456789") == n;
		if (ok) {
			char back[32];
			snprintf(back, sizeof back, "%llu", (unsigned long long)v);
			const char *p = s;
			while (p[0] == '0' && p[1])
				p++;
			CHECK(digits && !strcmp(back, p));
		} else if (digits && n < 20) {
			CHECK(0); /* a short digit string always fits */
		}
		break;
	}
	case 1: {
		const char *vals[16];
		size_t k = 0;
		for (char *p = s, *save = NULL, *tok; k < 16 && (tok = strtok_r(p, "\n", &save));
		     p = NULL)
			vals[k++] = tok;
		uint64_t len = 0, v;
		int rc = http_content_length(vals, k, &len);
		if (rc == 0)
			for (size_t i = 0; i < k; i++)
				CHECK(http_parse_u64(vals[i], &v) && v == len);
		break;
	}
	case 2: {
		unsigned char *dec = malloc(n + 1), *dec2 = malloc(n + 1);
		char *enc = malloc(4 * (n / 3 + 2) + 1);
		if (dec && dec2 && enc) {
			long dl = http_b64_decode(s, n, dec, n + 1);
			if (dl >= 0) {
				http_b64_encode(dec, (size_t)dl, enc);
				long dl2 = http_b64_decode(enc, strlen(enc), dec2, n + 1);
				CHECK(dl2 == dl && !memcmp(dec, dec2, (size_t)dl));
			}
		}
		free(dec);
		free(dec2);
		free(enc);
		break;
	}
	case 3: {
		char ds[TUS_DATASET_MAX + 1], fn[TUS_B64_MAX + 1];
		unsigned char back[TUS_FILENAME_MAX + 1];
		if (!http_tus_metadata(s, ds, fn)) {
			CHECK(ds[0] != 0 && strlen(ds) <= TUS_DATASET_MAX);
			CHECK(http_b64_decode(fn, strlen(fn), back, sizeof back) >= 0);
		}
		break;
	}
	case 4: {
		bool bad = http_target_bad(s);
		size_t path = strcspn(s, "?");
		for (size_t i = 0; i < path; i++)
			if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
				CHECK(bad);
		break;
	}
	case 5: {
		const char *q = strchr(s, '?');
		unsigned fields = 1;
		for (const char *p = q ? q : ""; *p; p++)
			fields += *p == '&';
		CHECK(http_query_count(s, "signature") <= (q ? fields : 0));
		CHECK(http_query_count(s, "") <= (q ? fields : 0));
		break;
	}
	case 6: {
		/* the body may hold NULs: take it from data, not from s */
		const uint8_t *nl = memchr(data + 1, '\n', size - 1);
		if (!nl)
			break;
		size_t cl = (size_t)(nl - (data + 1));
		char ct[256];
		if (cl >= sizeof ct)
			break;
		memcpy(ct, data + 1, cl);
		ct[cl] = 0;
		const char *body = (const char *)nl + 1;
		size_t bl = size - 1 - cl - 1, step = bl ? (size_t)body[0] % 7 + 1 : 1;
		mp_got a = {0}, b = {0};
		http_mp m;
		if (http_mp_init(&m, ct, mp_collect, &a) < 0)
			break;
		int ra = http_mp_feed(&m, body, bl) < 0 ? -1 : http_mp_end(&m);
		CHECK(http_mp_init(&m, ct, mp_collect, &b) == 0);
		int rb = 0;
		for (size_t i = 0; i < bl && rb == 0; i += step)
			rb = http_mp_feed(&m, body + i, bl - i < step ? bl - i : step);
		if (rb == 0)
			rb = http_mp_end(&m);
		CHECK(ra == rb);
		CHECK(a.n == b.n && a.starts == b.starts && a.h == b.h);
		break;
	}
	case 7: {
		const char *in = (const char *)data + 1;
		size_t inl = size - 1, step = inl ? (size_t)data[1] % 13 + 1 : 1;
		size_t pa = 0, pb = 0, hl = 0, pass = 0;
		http_framer f;
		http_frame_init(&f);
		int va = http_frame_scan(&f, in, inl, &pa, &hl);
		CHECK(pa <= inl && (!va || pa + hl <= inl));
		http_frame_init(&f);
		int vb = 0;
		for (size_t have = 0;;) {
			have = have + step < inl ? have + step : inl;
			vb = http_frame_scan(&f, in + pb, have - pb, &pass, &hl);
			pb += pass;
			if (vb || have == inl)
				break;
		}
		CHECK(va == vb && pa == pb);
		break;
	}
	}
	free(s);
	return 0;
}
