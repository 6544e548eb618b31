// SPDX-License-Identifier: GPL-2.0
/*
 * Time spent inside io_submit for buffered (page cache) 4k random reads
 * that miss the cache: QD requests are kept in flight, one iocb per
 * io_submit call, each call timed.  Drop the page cache before running.
 * Every block is read at most once (a random permutation), so every read
 * misses.  Prints one JSON object: p50/p99/max per call in microseconds,
 * and the IOPS reached.
 *
 *   submit_latency FILE READS QD
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long reads, qd, blocks, submitted = 0, done = 0;
	struct io_event ev[64];
	aio_context_t ctx = 0;
	double *lat, t0, t1;
	long *order;
	char *bufs;
	struct stat st;
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: %s FILE READS QD\n", argv[0]);
		return 2;
	}
	reads = atol(argv[2]);
	qd = atol(argv[3]);
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &st) || qd < 1 || qd > 64 ||
	    syscall(__NR_io_setup, qd, &ctx)) {
		perror("setup");
		return 1;
	}
	blocks = st.st_size / 4096;
	if (reads > blocks)
		reads = blocks;
	lat = calloc(reads, sizeof(*lat));
	order = calloc(blocks, sizeof(*order));
	bufs = aligned_alloc(4096, qd * 4096);
	srandom(42);
	for (long i = 0; i < blocks; i++)
		order[i] = i;
	for (long i = blocks - 1; i > 0; i--) {
		long j = random() % (i + 1), x = order[i];

		order[i] = order[j];
		order[j] = x;
	}

	t0 = now_us();
	while (done < reads) {
		while (submitted < reads && submitted - done < qd) {
			struct iocb cb = { 0 }, *cbp = &cb;
			double s;

			cb.aio_lio_opcode = IOCB_CMD_PREAD;
			cb.aio_fildes = fd;
			cb.aio_buf = (uintptr_t)(bufs + (submitted % qd) * 4096);
			cb.aio_nbytes = 4096;
			cb.aio_offset = order[submitted] * 4096;
			s = now_us();
			if (syscall(__NR_io_submit, ctx, 1, &cbp) != 1) {
				perror("io_submit");
				return 1;
			}
			lat[submitted++] = now_us() - s;
		}
		long n = syscall(__NR_io_getevents, ctx, 1, 64, ev, NULL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("io_getevents");
			return 1;
		}
		for (long i = 0; i < n; i++)
			if (ev[i].res != 4096) {
				fprintf(stderr, "read failed: %lld\n", (long long)ev[i].res);
				return 1;
			}
		done += n;
	}
	t1 = now_us();
	qsort(lat, reads, sizeof(*lat), cmp_double);
	printf("{\"reads\": %ld, \"qd\": %ld, \"submit_p50_us\": %.1f, "
	       "\"submit_p99_us\": %.1f, \"submit_max_us\": %.1f, \"iops\": %.0f}\n",
	       reads, qd, lat[reads / 2], lat[(long)(reads * 0.99)], lat[reads - 1],
	       reads / ((t1 - t0) / 1e6));
	return 0;
}
