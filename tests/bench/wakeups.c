// SPDX-License-Identifier: GPL-2.0
/*
 * Wake-ups per completion: one thread sleeps in io_getevents(min_nr, nr)
 * while another submits O_DIRECT 4k reads one at a time, pausing between
 * them, so that completions trickle in one by one.  The sleeper's voluntary
 * context switches (each one a sleep that a wake-up ended) divided by the
 * events it reaped is the figure: 1/min_nr is ideal, 1 is a wake-up per
 * completion.
 *
 *   wakeups DEVICE EVENTS MIN_NR NR GAP_US
 *
 * Prints one JSON object.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static aio_context_t ctx;
static long events_total, min_nr, nr;
static long reaped, getevents_calls;
static struct rusage waiter_usage;

static void *waiter(void *arg)
{
	struct io_event *ev = calloc(nr, sizeof(*ev));
	struct rusage start, end;

	(void)arg;
	getrusage(RUSAGE_THREAD, &start);
	while (reaped < events_total) {
		long want = events_total - reaped;
		long n = syscall(__NR_io_getevents, ctx, want < min_nr ? want : min_nr,
				 nr, ev, NULL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("io_getevents");
			exit(1);
		}
		getevents_calls++;
		for (long i = 0; i < n; i++)
			if (ev[i].res != 4096) {
				fprintf(stderr, "read failed: %lld\n", (long long)ev[i].res);
				exit(1);
			}
		reaped += n;
	}
	getrusage(RUSAGE_THREAD, &end);
	waiter_usage.ru_nvcsw = end.ru_nvcsw - start.ru_nvcsw;
	waiter_usage.ru_nivcsw = end.ru_nivcsw - start.ru_nivcsw;
	free(ev);
	return NULL;
}

int main(int argc, char **argv)
{
	struct timespec gap;
	pthread_t t;
	void *buf;
	int fd;

	if (argc != 6) {
		fprintf(stderr, "usage: %s DEVICE EVENTS MIN_NR NR GAP_US\n", argv[0]);
		return 2;
	}
	events_total = atol(argv[2]);
	min_nr = atol(argv[3]);
	nr = atol(argv[4]);
	gap.tv_sec = 0;
	gap.tv_nsec = atol(argv[5]) * 1000;
	fd = open(argv[1], O_RDONLY | O_DIRECT);
	if (fd < 0 || posix_memalign(&buf, 4096, 4096) ||
	    syscall(__NR_io_setup, nr * 2, &ctx)) {
		perror("setup");
		return 1;
	}
	pthread_create(&t, NULL, waiter, NULL);
	for (long i = 0; i < events_total; i++) {
		struct iocb cb = { 0 }, *cbp = &cb;

		cb.aio_lio_opcode = IOCB_CMD_PREAD;
		cb.aio_fildes = fd;
		cb.aio_buf = (uintptr_t)buf;	/* data is not looked at */
		cb.aio_nbytes = 4096;
		cb.aio_offset = (i % 1024) * 4096;
		while (syscall(__NR_io_submit, ctx, 1, &cbp) != 1) {
			if (errno != EAGAIN) {
				perror("io_submit");
				return 1;
			}
			nanosleep(&gap, NULL);
		}
		nanosleep(&gap, NULL);
	}
	pthread_join(t, NULL);
	printf("{\"events\": %ld, \"min_nr\": %ld, \"nr\": %ld, \"getevents_calls\": %ld, "
	       "\"voluntary_switches\": %ld, \"involuntary_switches\": %ld, "
	       "\"wakeups_per_event\": %.4f}\n",
	       reaped, min_nr, nr, getevents_calls, waiter_usage.ru_nvcsw,
	       waiter_usage.ru_nivcsw, (double)waiter_usage.ru_nvcsw / reaped);
	return 0;
}
