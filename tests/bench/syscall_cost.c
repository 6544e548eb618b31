// SPDX-License-Identifier: GPL-2.0
/*
 * What one AIO system call costs, path by path, to tell where time goes
 * when two implementations differ:
 *   getevents_empty   io_getevents(min_nr 0) on an empty ring: context
 *                     lookup and the reaping path, no event
 *   submit_einval     io_submit of an iocb with aio_reserved2 set: lookup,
 *                     in-flight reference, iocb copy-in, then the error
 *   read_roundtrip    io_submit of a 1-byte read of /dev/zero (completes
 *                     inside io_submit) plus the io_getevents that reaps it
 *   read_user_reap    the same read, reaped from the mapped ring by moving
 *                     head in user space: submission and completion only
 *   cached_read       io_submit of a 4k buffered read of FILE, every page
 *                     of which is in the page cache, plus its io_getevents:
 *                     the page-cache hit of the buffered-read path
 *   direct_read       io_submit of a 4k O_DIRECT read of DEV (null_blk,
 *                     completing inside the submission) plus io_getevents
 *   shared_read       read_roundtrip from 2 threads on one context, per
 *                     read: submitters and reapers meet on its locks
 *   cold_start        io_setup(64), 64 1-byte reads of /dev/zero in one
 *                     io_submit, io_getevents of the 64, io_destroy: per
 *                     cycle (ITERATIONS / 1000 cycles)
 *   null_syscall      getppid(), the floor
 * Prints one JSON object with nanoseconds per call: the fastest of 7 runs,
 * the least disturbed by a noisy host.  cached_read and direct_read need
 * their argument.
 *
 *   syscall_cost ITERATIONS [FILE [DEV]]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CACHED_PAGES 64

static aio_context_t ctx;
static int zero_fd, cached_fd = -1, direct_fd = -1;
static char byte;
static char page[4096] __attribute__((aligned(4096)));
static unsigned next_page;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void getevents_empty(void)
{
	struct io_event ev;
	struct timespec zero = { 0, 0 };

	if (syscall(__NR_io_getevents, ctx, 0, 1, &ev, &zero) != 0)
		abort();
}

static void submit_einval(void)
{
	struct iocb cb = { 0 }, *cbp = &cb;

	cb.aio_lio_opcode = IOCB_CMD_PREAD;
	cb.aio_reserved2 = 1;
	if (syscall(__NR_io_submit, ctx, 1, &cbp) != -1)
		abort();
}

static void read_roundtrip(void)
{
	struct iocb cb = { 0 }, *cbp = &cb;
	struct io_event ev;

	cb.aio_lio_opcode = IOCB_CMD_PREAD;
	cb.aio_fildes = zero_fd;
	cb.aio_buf = (uintptr_t)&byte;
	cb.aio_nbytes = 1;
	if (syscall(__NR_io_submit, ctx, 1, &cbp) != 1 ||
	    syscall(__NR_io_getevents, ctx, 1, 1, &ev, NULL) != 1 || ev.res != 1)
		abort();
}

/* A 4k read of fd at off, submitted and reaped; aborts unless it is whole. */
static void read_4k(int fd, off_t off)
{
	struct iocb cb = { 0 }, *cbp = &cb;
	struct io_event ev;

	cb.aio_lio_opcode = IOCB_CMD_PREAD;
	cb.aio_fildes = fd;
	cb.aio_buf = (uintptr_t)page;
	cb.aio_nbytes = sizeof(page);
	cb.aio_offset = off;
	if (syscall(__NR_io_submit, ctx, 1, &cbp) != 1 ||
	    syscall(__NR_io_getevents, ctx, 1, 1, &ev, NULL) != 1 || ev.res != sizeof(page))
		abort();
}

static void cached_read(void)
{
	read_4k(cached_fd, (off_t)(next_page++ % CACHED_PAGES) * 4096);
}

static void direct_read(void)
{
	read_4k(direct_fd, (off_t)(next_page++ % CACHED_PAGES) * 4096);
}

struct ring_hdr {
	unsigned id, nr, head, tail, magic, compat_features, incompat_features,
		 header_length;
};

static void read_user_reap(void)
{
	volatile struct ring_hdr *ring = (void *)ctx;
	struct iocb cb = { 0 }, *cbp = &cb;
	struct io_event *ev;
	unsigned head;

	cb.aio_lio_opcode = IOCB_CMD_PREAD;
	cb.aio_fildes = zero_fd;
	cb.aio_buf = (uintptr_t)&byte;
	cb.aio_nbytes = 1;
	if (syscall(__NR_io_submit, ctx, 1, &cbp) != 1)
		abort();
	head = ring->head;
	if (head == __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE))
		abort();
	ev = (struct io_event *)((char *)ring + ring->header_length) + head;
	if (ev->res != 1)
		abort();
	__atomic_store_n(&ring->head, (head + 1) % ring->nr, __ATOMIC_RELEASE);
}

static long shared_iterations;

static void *shared_reader(void *arg)
{
	(void)arg;
	for (long i = 0; i < shared_iterations; i++)
		read_roundtrip();
	return NULL;
}

/* 2 x shared_iterations reads from 2 threads: called once per run. */
static void shared_reads(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, shared_reader, NULL))
		abort();
	shared_reader(NULL);
	pthread_join(t, NULL);
}

#define COLD_BATCH 64

static void cold_start(void)
{
	static struct iocb cbs[COLD_BATCH];
	static char bytes[COLD_BATCH];
	struct iocb *list[COLD_BATCH];
	struct io_event ev[COLD_BATCH];
	aio_context_t c = 0;
	long got = 0, r;

	if (syscall(__NR_io_setup, COLD_BATCH, &c))
		abort();
	for (int i = 0; i < COLD_BATCH; i++) {
		memset(&cbs[i], 0, sizeof(cbs[i]));
		cbs[i].aio_lio_opcode = IOCB_CMD_PREAD;
		cbs[i].aio_fildes = zero_fd;
		cbs[i].aio_buf = (uintptr_t)&bytes[i];
		cbs[i].aio_nbytes = 1;
		list[i] = &cbs[i];
	}
	if (syscall(__NR_io_submit, c, COLD_BATCH, list) != COLD_BATCH)
		abort();
	while (got < COLD_BATCH) {
		r = syscall(__NR_io_getevents, c, 1, COLD_BATCH - got, ev, NULL);
		if (r <= 0)
			abort();
		got += r;
	}
	if (syscall(__NR_io_destroy, c))
		abort();
}

static void null_syscall(void)
{
	syscall(__NR_getppid);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double cost(void (*fn)(void), long iterations)
{
	double runs[7];

	for (int r = 0; r < 7; r++) {
		double t0 = now_ns();

		for (long i = 0; i < iterations; i++)
			fn();
		runs[r] = (now_ns() - t0) / iterations;
	}
	qsort(runs, 7, sizeof(runs[0]), cmp_double);
	return runs[0];
}

/* Opens FILE and reads it whole, so that its pages are in the page cache. */
static int open_cached(const char *path)
{
	int fd = open(path, O_RDONLY);

	for (int i = 0; fd >= 0 && i < CACHED_PAGES; i++)
		if (pread(fd, page, sizeof(page), (off_t)i * 4096) != sizeof(page)) {
			close(fd);
			return -1;
		}
	return fd;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10000;

	zero_fd = open("/dev/zero", O_RDONLY);
	if (zero_fd < 0 || syscall(__NR_io_setup, 128, &ctx)) {
		perror("setup");
		return 1;
	}
	if (argc > 2 && (cached_fd = open_cached(argv[2])) < 0)
		perror(argv[2]);
	if (argc > 3 && (direct_fd = open(argv[3], O_RDONLY | O_DIRECT)) < 0)
		perror(argv[3]);
	printf("{\"iterations\": %ld, \"null_syscall_ns\": %.0f, \"getevents_empty_ns\": %.0f, "
	       "\"submit_einval_ns\": %.0f, \"read_roundtrip_ns\": %.0f, "
	       "\"read_user_reap_ns\": %.0f",
	       n, cost(null_syscall, n), cost(getevents_empty, n), cost(submit_einval, n),
	       cost(read_roundtrip, n), cost(read_user_reap, n));
	shared_iterations = n / 2 > 1 ? n / 2 : 1;
	printf(", \"shared_read_ns\": %.0f", cost(shared_reads, 1) / (2 * shared_iterations));
	printf(", \"cold_start_ns\": %.0f", cost(cold_start, n / 1000 > 1 ? n / 1000 : 1));
	if (cached_fd >= 0)
		printf(", \"cached_read_ns\": %.0f", cost(cached_read, n));
	if (direct_fd >= 0)
		printf(", \"direct_read_ns\": %.0f", cost(direct_read, n));
	printf("}\n");
	return 0;
}
