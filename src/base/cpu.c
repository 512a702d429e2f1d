/*
 * CPU feature detection, done once; and the clocks (sl_now, sl_now_ms,
 * the SLUICE_TRACE lines of sl_trace). The SIMD scanners are compiled for their
 * instruction sets in their own files and chosen here at run time, so one
 * binary runs everywhere and uses the best the machine has.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "base/base.h"

static sl_cpu cpu;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

static void cpu_detect(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
	__builtin_cpu_init();
	cpu.sse2 = __builtin_cpu_supports("sse2");
	cpu.avx2 = __builtin_cpu_supports("avx2");
	cpu.popcnt = __builtin_cpu_supports("popcnt");
	/* __builtin_cpu_supports knows neither pclmul nor bmi on older
	   compilers: ask CPUID leaf 1 (ECX bit 1) and leaf 7 (EBX bit 3). */
	unsigned a, b, c, d;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
	cpu.pclmul = (c >> 1) & 1;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
	cpu.bmi1 = (b >> 3) & 1;
#endif
}

const sl_cpu *sl_cpu_get(void)
{
	pthread_once(&cpu_once, cpu_detect);
	return &cpu;
}

double sl_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int64_t sl_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int trace_on; /* SLUICE_TRACE set, read once */
static double trace_t0;
static pthread_once_t trace_once = PTHREAD_ONCE_INIT;

static void trace_init(void)
{
	const char *e = getenv("SLUICE_TRACE");
	trace_on = e && *e;
	trace_t0 = sl_now();
}

void sl_trace(const char *fmt, ...)
{
	pthread_once(&trace_once, trace_init);
	if (!trace_on)
		return;
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	/* the calling thread's CPU time beside the wall clock: on a busy
	   machine the wall gaps stretch, the CPU spent does not */
	struct timespec cpu_ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu_ts);
	/* one write per line: lines of several threads do not interleave */
	fprintf(stderr, "sluice trace: +%9.3f ms (thread cpu %8.3f ms) %s\n",
	        (sl_now() - trace_t0) * 1000,
	        (double)cpu_ts.tv_sec * 1e3 + (double)cpu_ts.tv_nsec * 1e-6, line);
}
