/*
 * The WAL checkpoint of a connection that loads rows, off its thread.
 *
 * SQLite checkpoints by default in the connection that commits, inside its
 * COMMIT, once the WAL holds 1000 pages: every chunk's commit then waits
 * while the chunk's pages are copied from the WAL into the database file
 * and synced (about 100 ms of a 1M-row load's 0.85 s, measured with
 * SLUICE_TRACE). The writer is the load's critical path; the parse
 * workers leave CPU to spare. So a sink's connection hands the checkpoint
 * to a thread with its own connection to the same file, which runs the
 * same PASSIVE checkpoint SQLite would have (it waits for no reader or
 * writer) while the writer goes on with the next chunk.
 *
 * Guarantees: a checkpoint only copies committed frames, so a kill -9 at
 * any moment leaves what SQLite's own would (the next opener recovers the
 * WAL). The WAL may hold up to about two chunks' pages instead of one,
 * since it restarts only once checkpointed (and never past CKPT_CEILING
 * pages: then the commit checkpoints itself too). The last connection to close
 * checkpoints what is left, as before; the thread is joined (its
 * checkpoint finished) before the writer's connection closes. When the
 * thread cannot be had, the commit checkpoints itself, as SQLite does.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "store/store_sqlite_int.h"

/* SQLite's default autocheckpoint: the WAL pages that make a checkpoint worth it. */
#define CKPT_FRAMES 1000
/* The WAL's ceiling: a thread that falls behind (a slow disk, a starved
   core) lets the WAL grow, since it restarts only once checkpointed; past
   this many pages (1 GiB of 16 KiB pages) the commit checkpoints itself
   as well, as SQLite would, so the WAL stays bounded whatever the speed. */
#define CKPT_CEILING 65536

struct sq_ckpt {
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool want, stop;
	sqlite3 *db; /* its own connection: a checkpoint on the writer's would wait for it */
};

static void *ckpt_main(void *arg)
{
	sq_ckpt *k = arg;
	pthread_mutex_lock(&k->mu);
	for (;;) {
		while (!k->want && !k->stop)
			pthread_cond_wait(&k->cv, &k->mu);
		if (k->stop)
			break;
		k->want = false;
		pthread_mutex_unlock(&k->mu);
		/* SQLITE_BUSY (another process's checkpoint runs) is no failure:
		   that one copies the pages; the next commit asks again */
		sqlite3_wal_checkpoint_v2(k->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&k->mu);
	}
	pthread_mutex_unlock(&k->mu);
	return NULL;
}

/* The connection's WAL hook, after each commit: wake the thread (started
   the first time the WAL is big enough), or checkpoint here without it. */
static int ckpt_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	sq_store *q = arg;
	if (frames < CKPT_FRAMES)
		return SQLITE_OK;
	if (!q->ckpt && !q->ckpt_failed) {
		/* the connection is opened here: without one, no thread, and
		   the commits checkpoint themselves */
		sq_ckpt *k = calloc(1, sizeof *k);
		if (k &&
		    sqlite3_open_v2(q->path, &k->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
		                    NULL) == SQLITE_OK) {
			pthread_mutex_init(&k->mu, NULL);
			pthread_cond_init(&k->cv, NULL);
			if (pthread_create(&k->tid, NULL, ckpt_main, k) == 0) {
				q->ckpt = k;
				sl_trace("sqlite: WAL checkpoints on their own thread (%d pages)",
				         frames);
			} else {
				pthread_mutex_destroy(&k->mu);
				pthread_cond_destroy(&k->cv);
			}
		}
		if (k && !q->ckpt) {
			sqlite3_close_v2(k->db);
			free(k);
		}
		q->ckpt_failed = !q->ckpt;
	}
	if (!q->ckpt || frames >= CKPT_CEILING) {
		sqlite3_wal_checkpoint(db, name);
		return SQLITE_OK;
	}
	pthread_mutex_lock(&q->ckpt->mu);
	q->ckpt->want = true;
	pthread_cond_signal(&q->ckpt->cv);
	pthread_mutex_unlock(&q->ckpt->mu);
	return SQLITE_OK;
}

void sl__sq_ckpt_enable(sq_store *q)
{
	/* replaces the connection's autocheckpoint (itself a WAL hook) */
	sqlite3_wal_hook(q->db, ckpt_hook, q);
}

void sl__sq_ckpt_stop(sq_store *q)
{
	sq_ckpt *k = q->ckpt;
	if (!k)
		return;
	pthread_mutex_lock(&k->mu);
	k->stop = true;
	pthread_cond_signal(&k->cv);
	pthread_mutex_unlock(&k->mu);
	pthread_join(k->tid, NULL);
	sqlite3_close_v2(k->db); /* not the last: the writer's close checkpoints the rest */
	pthread_mutex_destroy(&k->mu);
	pthread_cond_destroy(&k->cv);
	free(k);
	q->ckpt = NULL;
}
