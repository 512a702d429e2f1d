/*
 * libFuzzer harness for the CSV engine. The first bytes of the input choose
 * a dialect; the rest is the CSV. Every scanner, streamed through small
 * windows and split into small chunks, must produce exactly what the
 * reference state machine produces in one pass; none may crash, leak or
 * read outside its buffer (run under ASan+UBSan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/csv/oracle.h"

/* b[0] % 6 picks a one-byte delimiter; (b[1] >> 2) % 8 >= 4 a multi-byte
   one instead (self-overlapping "||" and "aba", ", " and a 4-byte UTF-8
   character); b[2] bit 6 skip_initial_space, bit 7 lenient_fields. */
static void pick_dialect(const uint8_t *b, sl_csv_dialect *d)
{
	static const char delims[] = ",;|\t a";
	static const char *const multi[] = {"||", ", ", "aba", "\xF0\x9F\xA6\x86"};
	sl_csv_dialect_init(d);
	d->delimiter = (unsigned char)delims[b[0] % 6];
	unsigned m = (b[1] >> 2) % 8;
	if (m >= 4)
		sl_csv_dialect_set_delimiter(d, multi[m - 4], strlen(multi[m - 4]));
	switch (b[1] % 4) {
	case 0:
		break;
	case 1:
		d->escape = '\\';
		break;
	case 2:
		d->quote = '\'';
		d->escape = '\'';
		break;
	default:
		d->quote = SL_CSV_NONE;
		d->escape = SL_CSV_NONE;
	}
	d->header = b[2] & 1;
	d->skip_empty_lines = !(b[2] & 2);
	d->lenient_quotes = b[2] & 4;
	d->validate_utf8 = b[2] & 8;
	d->comment = (b[2] & 16) ? '#' : SL_CSV_NONE;
	d->max_row_bytes = (b[2] & 32) ? 64 : 100000;
	d->skip_initial_space = (b[2] & 64) && d->delimiter != ' ';
	d->lenient_fields = b[2] & 128;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	oracle_opts ref = {0};
	pick_dialect(data, &ref.d);
	size_t step = 1 + data[3] % 67;
	const char *csv = (const char *)data + 4;
	size_t n = size - 4;

	sl_buf want, got;
	sl_buf_init(&want, 1u << 30);
	sl_buf_init(&got, 1u << 30);
	ref.scanner = SL_CSV_SCAN_SCALAR;
	if (oracle_run(csv, n, &ref, &want) < 0)
		abort();

	static const sl_csv_scanner scanners[] = {SL_CSV_SCAN_SCALAR, SL_CSV_SCAN_GENERIC,
	                                          SL_CSV_SCAN_SSE2, SL_CSV_SCAN_AVX2};
	for (size_t s = 0; s < sizeof scanners / sizeof scanners[0]; s++) {
		for (int mode = 0; mode < 3; mode++) {
			oracle_opts o = ref;
			o.scanner = scanners[s];
			if (mode == 1)
				o.window = step;
			if (mode == 2)
				o.chunk = step;
			if (s == 0 && mode == 0)
				continue;
			if (oracle_run(csv, n, &o, &got) < 0 || got.len != want.len ||
			    memcmp(got.p, want.p, want.len) != 0) {
				fprintf(stderr,
				        "mismatch: scanner %s mode %d step %zu\n--- want\n%.*s--- "
				        "got\n%.*s",
				        sl_csv_scanner_name(o.scanner), mode, step, (int)want.len,
				        want.p, (int)got.len, got.p);
				abort();
			}
		}
	}
	for (size_t s = 0; s < sizeof scanners / sizeof scanners[0]; s++) {
		if (oracle_check_agree(csv, n, &ref.d, scanners[s], step) < 0) {
			fprintf(stderr, "csv check in one pass differs: scanner %s step %zu\n",
			        sl_csv_scanner_name(scanners[s]), step);
			abort();
		}
	}
	sl_buf_free(&want);
	sl_buf_free(&got);
	return 0;
}
