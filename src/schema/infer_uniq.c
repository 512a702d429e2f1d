/*
 * The bounded uniqueness sketch of schema inference (see infer_int.h): is
 * every value of a candidate key distinct, checked on a file of any size in
 * fixed memory. Hashes go to a per-candidate array; a full array becomes a
 * sorted run in one shared temporary file (tmpfile(), so in $TMPDIR and
 * gone when closed); MERGE_FAN runs of a candidate are merged into one as
 * soon as they exist. A duplicate is two equal neighbours in sorted order,
 * within a run or during a merge.
 *
 * One thread owns a sketch.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "schema/infer_int.h"
#include "sluice/error.h"

#define MERGE_FAN 64   /* runs merged at once, and the most a candidate keeps */
#define MERGE_BUF 512  /* hashes read at a time from each run while merging */
#define MIN_CAP   4096 /* the smallest in-memory array per candidate */

struct run {
	uint64_t off, n; /* in hashes, in the temporary file */
};

struct cand {
	uint64_t *a;
	size_t n;
	bool dead;
	struct run runs[MERGE_FAN];
	size_t nruns;
};

struct sl__uniq {
	struct cand *c;
	size_t ncand, cap;
	FILE *tmp;
	int fd;
	uint64_t end; /* next free hash slot in the file */
	uint64_t spilled;
};

int sl__uniq_new(size_t ncand, size_t budget, sl__uniq **out)
{
	sl__uniq *u = calloc(1, sizeof *u);
	*out = NULL;
	if (!u)
		return SL_NOMEM;
	u->ncand = ncand;
	u->cap = ncand ? budget / ncand : MIN_CAP;
	if (u->cap < MIN_CAP)
		u->cap = MIN_CAP;
	u->fd = -1;
	u->c = calloc(ncand ? ncand : 1, sizeof *u->c);
	if (!u->c) {
		free(u);
		return SL_NOMEM;
	}
	*out = u;
	return 0;
}

void sl__uniq_free(sl__uniq *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->ncand; i++)
		free(u->c[i].a);
	free(u->c);
	if (u->tmp)
		fclose(u->tmp);
	free(u);
}

/* Quicksort of hashes: no comparison callback (qsort's took a sixth of the
   time of a whole inference). Hoare partitioning stays O(n log n) when many
   hashes are equal (a column of one repeated value); recursion goes to the
   smaller side, so the stack is O(log n). */
static void sort_u64(uint64_t *a, size_t n)
{
	while (n > 16) {
		uint64_t x = a[0], y = a[n / 2], z = a[n - 1];
		uint64_t p = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
		size_t i = 0, j = n - 1;
		for (;;) {
			while (a[i] < p)
				i++;
			while (a[j] > p)
				j--;
			if (i >= j)
				break;
			uint64_t t = a[i];
			a[i] = a[j];
			a[j] = t;
			i++;
			j--;
		}
		/* [0, j] <= p <= [j + 1, n) */
		size_t left = j + 1;
		if (left < n - left) {
			sort_u64(a, left);
			a += left;
			n -= left;
		} else {
			sort_u64(a + left, n - left);
			n = left;
		}
	}
	for (size_t i = 1; i < n; i++) {
		uint64_t v = a[i];
		size_t j = i;
		while (j > 0 && a[j - 1] > v) {
			a[j] = a[j - 1];
			j--;
		}
		a[j] = v;
	}
}

void sl__uniq_drop(sl__uniq *u, size_t cand)
{
	struct cand *c = &u->c[cand];
	c->dead = true;
	free(c->a);
	c->a = NULL;
	c->n = 0;
	c->nruns = 0;
}

bool sl__uniq_alive(const sl__uniq *u, size_t cand)
{
	return !u->c[cand].dead;
}

uint64_t sl__uniq_spilled(const sl__uniq *u)
{
	return u->spilled;
}

static int file_write(sl__uniq *u, const uint64_t *a, size_t n, uint64_t at)
{
	const char *p = (const char *)a;
	size_t left = n * sizeof *a;
	off_t off = (off_t)(at * sizeof *a);
	while (left) {
		ssize_t w = pwrite(u->fd, p, left, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return SL_IO_WRITE;
		p += w;
		left -= (size_t)w;
		off += w;
	}
	return 0;
}

static int file_read(sl__uniq *u, uint64_t *a, size_t n, uint64_t at)
{
	char *p = (char *)a;
	size_t left = n * sizeof *a;
	off_t off = (off_t)(at * sizeof *a);
	while (left) {
		ssize_t r = pread(u->fd, p, left, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return SL_IO_READ;
		p += r;
		left -= (size_t)r;
		off += r;
	}
	return 0;
}

static int open_tmp(sl__uniq *u)
{
	if (u->tmp)
		return 0;
	u->tmp = tmpfile();
	if (!u->tmp)
		return SL_IO_WRITE;
	u->fd = fileno(u->tmp);
	return 0;
}

/* Sort the in-memory hashes; a duplicate kills the candidate. */
static void sort_mem(struct cand *c)
{
	sort_u64(c->a, c->n);
	for (size_t i = 1; i < c->n; i++) {
		if (c->a[i] == c->a[i - 1]) {
			c->dead = true;
			return;
		}
	}
}

/*
 * Merge runs [0, nruns) of a candidate, plus the sorted in-memory array when
 * `mem`, checking neighbours. With `write`, the merged output becomes the
 * candidate's only run. A duplicate kills the candidate.
 */
static int merge(sl__uniq *u, struct cand *c, bool mem, bool write)
{
	int rc = SL_NOMEM;
	size_t k = c->nruns;
	uint64_t *buf = malloc((k ? k : 1) * MERGE_BUF * sizeof *buf);
	uint64_t *outb = write ? malloc(MERGE_BUF * sizeof *outb) : NULL;
	size_t pos[MERGE_FAN], len[MERGE_FAN];
	uint64_t left[MERGE_FAN], next[MERGE_FAN];
	size_t mi = 0, on = 0;
	uint64_t total = 0, start = u->end, prev = 0;
	bool have_prev = false;
	if (!buf || (write && !outb))
		goto out;
	for (size_t r = 0; r < k; r++) {
		pos[r] = len[r] = 0;
		left[r] = c->runs[r].n;
		next[r] = c->runs[r].off;
		total += c->runs[r].n;
	}
	if (mem)
		total += c->n;
	for (;;) {
		/* refill empty buffers, then take the smallest head */
		int best = -1;
		uint64_t bv = 0;
		for (size_t r = 0; r < k; r++) {
			if (pos[r] == len[r] && left[r]) {
				size_t n = left[r] < MERGE_BUF ? (size_t)left[r] : MERGE_BUF;
				if ((rc = file_read(u, buf + r * MERGE_BUF, n, next[r])) < 0)
					goto out;
				pos[r] = 0;
				len[r] = n;
				left[r] -= n;
				next[r] += n;
			}
			if (pos[r] < len[r] && (best < 0 || buf[r * MERGE_BUF + pos[r]] < bv)) {
				best = (int)r;
				bv = buf[r * MERGE_BUF + pos[r]];
			}
		}
		if (mem && mi < c->n && (best < 0 || c->a[mi] < bv)) {
			best = (int)k;
			bv = c->a[mi];
		}
		if (best < 0)
			break;
		if (best == (int)k)
			mi++;
		else
			pos[best]++;
		if (have_prev && bv == prev) {
			c->dead = true;
			rc = 0;
			goto out;
		}
		prev = bv;
		have_prev = true;
		if (write) {
			outb[on++] = bv;
			if (on == MERGE_BUF) {
				if ((rc = file_write(u, outb, on, u->end)) < 0)
					goto out;
				u->end += on;
				u->spilled += on;
				on = 0;
			}
		}
	}
	if (write) {
		if (on && (rc = file_write(u, outb, on, u->end)) < 0)
			goto out;
		u->end += on;
		u->spilled += on;
		c->runs[0].off = start;
		c->runs[0].n = total;
		c->nruns = 1;
	}
	rc = 0;
out:
	free(buf);
	free(outb);
	return rc;
}

/* The in-memory array is full: make it a run (merging when there are many). */
static int spill(sl__uniq *u, struct cand *c)
{
	int rc;
	sort_mem(c);
	if (c->dead)
		return 0;
	if ((rc = open_tmp(u)) < 0)
		return rc;
	if ((rc = file_write(u, c->a, c->n, u->end)) < 0)
		return rc;
	c->runs[c->nruns].off = u->end;
	c->runs[c->nruns].n = c->n;
	c->nruns++;
	u->end += c->n;
	u->spilled += c->n;
	c->n = 0;
	if (c->nruns == MERGE_FAN)
		return merge(u, c, false, true);
	return 0;
}

int sl__uniq_add(sl__uniq *u, size_t cand, uint64_t h)
{
	struct cand *c = &u->c[cand];
	if (c->dead)
		return 0;
	if (!c->a && !(c->a = malloc(u->cap * sizeof *c->a)))
		return SL_NOMEM;
	c->a[c->n++] = h;
	if (c->n < u->cap)
		return 0;
	int rc = spill(u, c);
	if (c->dead)
		sl__uniq_drop(u, cand);
	return rc;
}

int sl__uniq_finish(sl__uniq *u)
{
	for (size_t i = 0; i < u->ncand; i++) {
		struct cand *c = &u->c[i];
		if (c->dead)
			continue;
		if (c->n)
			sort_mem(c);
		int rc = 0;
		if (!c->dead && c->nruns)
			rc = merge(u, c, true, false);
		if (rc < 0)
			return rc;
		if (c->dead)
			sl__uniq_drop(u, i);
	}
	return 0;
}
