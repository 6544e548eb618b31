// SPDX-License-Identifier: GPL-2.0
/*
 * Stress: several threads write then read back and verify N blocks each on
 * one target (a block device with O_DIRECT, or a file).  Each thread has
 * its own context and reaps either with io_getevents or by reading the
 * mapped ring itself (as QEMU, fio's userspace_reap, SPDK and Seastar do);
 * two more threads share one context and both reap with io_getevents.
 * Every iocb must complete exactly once, with the right result and data.
 *   stress TARGET [MODE]
 * MODE 0: buffered; 1: O_DIRECT; 2: O_DSYNC writes, then each thread drops
 * its blocks from the page cache and reads them back cold.
 */
#include "tap.h"
#include <pthread.h>

#define THREADS		4	/* own context each; odd ones reap in user space */
#define SHARED		2	/* share one context */
#define BLOCKS		256	/* per thread */
#define BS		4096
#define DEPTH		32

static const char *target;
static int mode;
static const char *const mode_name[] = { "", " O_DIRECT", " O_DSYNC, cold reads" };
static aio_context_t shared_ctx;

struct worker {
	int idx;
	aio_context_t ctx;
	int user_reap;
	long errors;
	long events;
	unsigned char seen[BLOCKS];
};

static long reap(struct worker *w, struct io_event *ev, long max)
{
	struct aio_ring_hdr *ring = (struct aio_ring_hdr *)w->ctx;
	struct io_event *events;
	unsigned head, tail;
	long n = 0;

	if (!w->user_reap)
		return io_getevents(w->ctx, 1, max, ev, NULL);
	events = (struct io_event *)((char *)ring + ring->header_length);
	for (;;) {
		head = ring->head;
		tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
		while (head != tail && n < max) {
			ev[n++] = events[head];
			head = (head + 1) % ring->nr;
		}
		if (n) {
			__atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
			return n;
		}
		sched_yield();
	}
}

static void fill(char *buf, int worker, int block, int gen)
{
	for (int i = 0; i < BS; i += 8)
		*(uint64_t *)(buf + i) = ((uint64_t)worker << 48) ^ ((uint64_t)block << 24) ^ i ^ gen;
}

/* One pass: every block written (rw=1) or read and checked (rw=0). */
static void pass(struct worker *w, int fd, char *bufs, int rw)
{
	struct iocb cbs[DEPTH], *list[1];
	struct io_event ev[DEPTH];
	int next = 0, inflight = 0, done = 0, slot[DEPTH], free_n = DEPTH;

	for (int i = 0; i < DEPTH; i++)
		slot[i] = i;
	memset(w->seen, 0, sizeof(w->seen));
	while (done < BLOCKS) {
		while (next < BLOCKS && free_n > 0) {
			int s = slot[--free_n];
			struct iocb *cb = &cbs[s];
			char *buf = bufs + (size_t)s * BS;
			off_t off = ((off_t)w->idx * BLOCKS + next) * BS;

			memset(cb, 0, sizeof(*cb));
			if (rw)
				fill(buf, w->idx, next, 1);
			cb->aio_lio_opcode = rw ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
			cb->aio_fildes = fd;
			cb->aio_buf = (uintptr_t)buf;
			cb->aio_nbytes = BS;
			cb->aio_offset = off;
			cb->aio_data = ((uint64_t)s << 32) | next;
			list[0] = cb;
			if (io_submit(w->ctx, 1, list) != 1) {
				w->errors++;
				return;
			}
			next++;
			inflight++;
		}
		long n = reap(w, ev, DEPTH);

		if (n <= 0) {
			w->errors++;
			return;
		}
		for (long i = 0; i < n; i++) {
			int s = ev[i].data >> 32, blk = (uint32_t)ev[i].data;

			if (blk >= BLOCKS || s >= DEPTH || ev[i].obj != (uintptr_t)&cbs[s] ||
			    ev[i].res != BS || ev[i].res2 != 0 || w->seen[blk]++) {
				w->errors++;
				continue;
			}
			if (!rw) {
				char expect[BS];

				fill(expect, w->idx, blk, 1);
				if (memcmp(expect, bufs + (size_t)s * BS, BS))
					w->errors++;
			}
			slot[free_n++] = s;
			inflight--;
			done++;
			w->events++;
		}
	}
}

/*
 * The shared context: each of its threads submits all its blocks at once
 * (a buffer per block), and both reap whatever completes, their own
 * events or the other's, until the group has all its events.
 */
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t shared_barrier;
static unsigned char shared_seen[SHARED][BLOCKS];
static long shared_done[2];

static void shared_pass(struct worker *w, int fd, char *bufs, struct iocb *cbs, int rw)
{
	struct iocb *list[BLOCKS];
	struct io_event ev[DEPTH];

	for (int b = 0; b < BLOCKS; b++) {
		char *buf = bufs + (size_t)b * BS;

		memset(&cbs[b], 0, sizeof(cbs[b]));
		if (rw)
			fill(buf, w->idx, b, 1);
		else
			memset(buf, 0, BS);
		cbs[b].aio_lio_opcode = rw ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
		cbs[b].aio_fildes = fd;
		cbs[b].aio_buf = (uintptr_t)buf;
		cbs[b].aio_nbytes = BS;
		cbs[b].aio_offset = ((off_t)w->idx * BLOCKS + b) * BS;
		cbs[b].aio_data = ((uint64_t)w->idx << 32) | b;
		list[b] = &cbs[b];
	}
	for (int b = 0; b < BLOCKS;) {
		long r = io_submit(w->ctx, BLOCKS - b, list + b);

		if (r <= 0) {
			w->errors++;
			return;
		}
		b += r;
	}
	for (;;) {
		struct timespec ts = { 0, 20 * 1000000 };
		long n;

		pthread_mutex_lock(&shared_lock);
		n = shared_done[rw];
		pthread_mutex_unlock(&shared_lock);
		if (n >= (long)SHARED * BLOCKS)
			break;
		n = io_getevents(w->ctx, 1, DEPTH, ev, &ts);
		if (n < 0) {
			w->errors++;
			return;
		}
		pthread_mutex_lock(&shared_lock);
		for (long i = 0; i < n; i++) {
			int who = (ev[i].data >> 32) - THREADS, b = (uint32_t)ev[i].data;
			struct iocb *cb = (struct iocb *)(uintptr_t)ev[i].obj;

			if (who < 0 || who >= SHARED || b >= BLOCKS || cb->aio_data != ev[i].data ||
			    ev[i].res != BS || shared_seen[who][b] != !rw) {
				w->errors++;
				continue;
			}
			shared_seen[who][b] = rw;
			if (!rw) {
				char expect[BS];

				fill(expect, who + THREADS, b, 1);
				if (memcmp(expect, (char *)(uintptr_t)cb->aio_buf, BS))
					w->errors++;
			}
			shared_done[rw]++;
			w->events++;
		}
		pthread_mutex_unlock(&shared_lock);
	}
	pthread_barrier_wait(&shared_barrier);
}

/* Mode 2: the thread's blocks leave the page cache before the reads. */
static void cold(int fd, struct worker *w)
{
	off_t off = (off_t)w->idx * BLOCKS * BS;

	if (mode == 2 && posix_fadvise(fd, off, (off_t)BLOCKS * BS, POSIX_FADV_DONTNEED))
		w->errors++;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	int flags = mode == 1 ? O_DIRECT : mode == 2 ? O_DSYNC : 0;
	int fd = open(target, O_RDWR | O_CREAT | flags, 0600);
	char *bufs;

	if (fd < 0 || posix_memalign((void **)&bufs, BS, (size_t)DEPTH * BS)) {
		w->errors++;
		return NULL;
	}
	if (!w->ctx && io_setup(DEPTH, &w->ctx)) {
		w->errors++;
		return NULL;
	}
	if (w->ctx == shared_ctx) {
		struct iocb *cbs = calloc(BLOCKS, sizeof(*cbs));

		free(bufs);
		if (!cbs || posix_memalign((void **)&bufs, BS, (size_t)BLOCKS * BS)) {
			w->errors++;
			return NULL;
		}
		shared_pass(w, fd, bufs, cbs, 1);
		cold(fd, w);
		shared_pass(w, fd, bufs, cbs, 0);
		free(cbs);
	} else {
		pass(w, fd, bufs, 1);
		cold(fd, w);
		pass(w, fd, bufs, 0);
	}
	if (w->ctx != shared_ctx)
		io_destroy(w->ctx);
	free(bufs);
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	struct worker w[THREADS + SHARED];
	pthread_t th[THREADS + SHARED];
	long errors = 0, events = 0;

	target = argc > 1 ? argv[1] : "/tmp/stressfile";
	mode = argc > 2 ? atoi(argv[2]) : 0;
	if (mode < 0 || mode > 2)
		mode = 0;
	pthread_barrier_init(&shared_barrier, NULL, SHARED);
	if (io_setup(SHARED * BLOCKS, &shared_ctx)) {
		CHECK(0, "io_setup");
		return tap_done();
	}
	for (int i = 0; i < THREADS + SHARED; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].idx = i;
		w[i].user_reap = i < THREADS && (i & 1);
		w[i].ctx = i < THREADS ? 0 : shared_ctx;
		pthread_create(&th[i], NULL, run, &w[i]);
	}
	for (int i = 0; i < THREADS + SHARED; i++) {
		pthread_join(th[i], NULL);
		errors += w[i].errors;
		events += w[i].events;
	}
	CHECK(errors == 0, "%s%s: no lost, duplicated, wrong or corrupt completion (%ld errors)",
	      target, mode_name[mode], errors);
	CHECK(events == 2L * BLOCKS * (THREADS + SHARED), "%ld events, want %ld", events,
	      2L * BLOCKS * (THREADS + SHARED));
	CHECK_RET(io_destroy(shared_ctx), 0, "io_destroy of the shared context");
	return tap_done();
}
