// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark cells that fio cannot run: 4k O_DIRECT random reads of a block
 * device, with IOPS and CPU time per I/O (the process's user + system time,
 * getrusage) printed as JSON.
 *
 *   ctx_cells shared DEV SECONDS QD aio|uring
 *	2 threads, each keeping QD reads in flight.  aio: both submit to and
 *	reap from one shared context (io_getevents(min_nr=1)), so that
 *	context-level locking shows.  uring: one ring per thread, which is
 *	how io_uring is used (a ring has one submitter).
 *   ctx_cells coldstart DEV SECONDS aio|uring
 *	Repeated: set up a context (io_setup(64)) or ring (64 entries), submit
 *	64 reads in one call, reap them, destroy it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
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

#define BS 4096
#define COLD_BATCH 64
#define MAX_QD 256

static int fd, qd, use_uring;
static long long blocks;
static double seconds;
static volatile int stop;
static aio_context_t shared_ctx;
static long long done[2];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what, long err)
{
	fprintf(stderr, "ctx_cells: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static off_t random_offset(unsigned *seed)
{
	return (off_t)(rand_r(seed) % blocks) * BS;
}

static void *buffers(int n)
{
	void *p;

	if (posix_memalign(&p, BS, (size_t)n * BS))
		die("posix_memalign", ENOMEM);
	return p;
}

static void prep(struct iocb *cb, char *buf, unsigned *seed)
{
	memset(cb, 0, sizeof(*cb));
	cb->aio_lio_opcode = IOCB_CMD_PREAD;
	cb->aio_fildes = fd;
	cb->aio_buf = (uintptr_t)buf;
	cb->aio_nbytes = BS;
	cb->aio_offset = random_offset(seed);
	cb->aio_data = (uintptr_t)cb;
}

static void submit(aio_context_t ctx, long n, struct iocb **cbs)
{
	long r = n ? syscall(__NR_io_submit, ctx, n, cbs) : 0;

	if (r != n)
		die("io_submit", r < 0 ? errno : EAGAIN);
}

static long getevents(aio_context_t ctx, long min, long max, struct io_event *ev)
{
	long r = syscall(__NR_io_getevents, ctx, min, max, ev, NULL);

	if (r < 0)
		die("io_getevents", errno);
	for (long i = 0; i < r; i++)
		if (ev[i].res != BS)
			die("read", ev[i].res < 0 ? ev[i].res : EIO);
	return r;
}

/*
 * The shared cell's requests and buffers: either thread reaps events of
 * either thread's requests and resubmits them.
 */
static struct iocb shared_cbs[2 * MAX_QD];
static long shared_inflight;

/* One thread of the shared cell on the shared context. */
static void aio_worker(int id)
{
	struct iocb *ptrs[MAX_QD];
	struct io_event ev[MAX_QD];
	unsigned seed = 1 + id;

	for (;;) {
		long n = syscall(__NR_io_getevents, shared_ctx, 1, qd, ev, NULL), again = 0;

		/* io_destroy at the end wakes a thread left sleeping. */
		if (n < 0 && errno == EINVAL && stop)
			break;
		if (n < 0)
			die("io_getevents", errno);
		for (long i = 0; i < n; i++) {
			struct iocb *cb = (struct iocb *)(uintptr_t)ev[i].data;

			if (ev[i].res != BS)
				die("read", ev[i].res < 0 ? ev[i].res : EIO);
			cb->aio_offset = random_offset(&seed);
			ptrs[again++] = cb;
		}
		done[id] += n;
		if (!stop)
			submit(shared_ctx, again, ptrs);
		else if (__atomic_sub_fetch(&shared_inflight, n, __ATOMIC_RELAXED) == 0)
			break;
	}
}

static void uring_worker(int id)
{
	struct io_uring ring;
	char *buf = buffers(qd);
	unsigned seed = 1 + id;
	long inflight = 0;
	int r = io_uring_queue_init(qd, &ring, 0);

	if (r < 0)
		die("io_uring_queue_init", r);
	for (int i = 0; i < qd; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		io_uring_prep_read(sqe, fd, buf + (size_t)i * BS, BS, random_offset(&seed));
		sqe->user_data = i;
	}
	inflight = io_uring_submit(&ring);
	while (inflight) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		/* Once per round: what was prepared is submitted. */
		int stopping = stop;

		r = io_uring_wait_cqe(&ring, &cqe);
		if (r < 0)
			die("io_uring_wait_cqe", r);
		io_uring_for_each_cqe(&ring, head, cqe) {
			if (cqe->res != BS)
				die("read", cqe->res < 0 ? cqe->res : EIO);
			if (!stopping) {
				struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

				io_uring_prep_read(sqe, fd, buf + cqe->user_data * BS, BS,
						   random_offset(&seed));
				sqe->user_data = cqe->user_data;
			} else {
				inflight--;
			}
			n++;
		}
		io_uring_cq_advance(&ring, n);
		done[id] += n;
		if (!stopping)
			io_uring_submit(&ring);
	}
	io_uring_queue_exit(&ring);
	free(buf);
}

static void *worker(void *arg)
{
	int id = (int)(long)arg;

	if (use_uring)
		uring_worker(id);
	else
		aio_worker(id);
	return NULL;
}

static long long shared_cell(void)
{
	pthread_t t[2];
	char *buf = buffers(2 * qd);

	if (!use_uring) {
		struct iocb *ptrs[2 * MAX_QD];
		unsigned seed = 3;

		if (syscall(__NR_io_setup, 2 * qd, &shared_ctx))
			die("io_setup", errno);
		for (int i = 0; i < 2 * qd; i++) {
			prep(&shared_cbs[i], buf + (size_t)i * BS, &seed);
			ptrs[i] = &shared_cbs[i];
		}
		shared_inflight = 2 * qd;
		submit(shared_ctx, 2 * qd, ptrs);
	}
	for (long i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)i))
			die("pthread_create", errno);
	usleep((useconds_t)(seconds * 1e6));
	stop = 1;
	if (!use_uring) {
		/* Every request done: a thread still asleep wakes with EINVAL. */
		while (__atomic_load_n(&shared_inflight, __ATOMIC_RELAXED))
			usleep(1000);
		syscall(__NR_io_destroy, shared_ctx);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	free(buf);
	return done[0] + done[1];
}

/* One cold start: a context or ring, 64 reads in one call, reaped, gone. */
static void cold_start(char *buf, unsigned *seed)
{
	if (use_uring) {
		struct io_uring ring;
		struct io_uring_cqe *cqe;
		int r = io_uring_queue_init(COLD_BATCH, &ring, 0);

		if (r < 0)
			die("io_uring_queue_init", r);
		for (int i = 0; i < COLD_BATCH; i++)
			io_uring_prep_read(io_uring_get_sqe(&ring), fd, buf + (size_t)i * BS, BS,
					   random_offset(seed));
		r = io_uring_submit_and_wait(&ring, COLD_BATCH);
		if (r != COLD_BATCH)
			die("io_uring_submit_and_wait", r < 0 ? r : EIO);
		for (int i = 0; i < COLD_BATCH; i++) {
			if (io_uring_wait_cqe(&ring, &cqe) || cqe->res != BS)
				die("read", EIO);
			io_uring_cqe_seen(&ring, cqe);
		}
		io_uring_queue_exit(&ring);
	} else {
		struct iocb cbs[COLD_BATCH], *ptrs[COLD_BATCH];
		struct io_event ev[COLD_BATCH];
		aio_context_t ctx = 0;
		long got = 0;

		if (syscall(__NR_io_setup, COLD_BATCH, &ctx))
			die("io_setup", errno);
		for (int i = 0; i < COLD_BATCH; i++) {
			prep(&cbs[i], buf + (size_t)i * BS, seed);
			ptrs[i] = &cbs[i];
		}
		submit(ctx, COLD_BATCH, ptrs);
		while (got < COLD_BATCH)
			got += getevents(ctx, COLD_BATCH - got, COLD_BATCH - got, ev);
		if (syscall(__NR_io_destroy, ctx))
			die("io_destroy", errno);
	}
}

static long long coldstart_cell(long long *cycles)
{
	char *buf = buffers(COLD_BATCH);
	unsigned seed = 1;
	double end = now() + seconds;

	for (*cycles = 0; now() < end; (*cycles)++)
		cold_start(buf, &seed);
	free(buf);
	return *cycles * COLD_BATCH;
}

int main(int argc, char **argv)
{
	int shared = argc == 6 && !strcmp(argv[1], "shared");
	int cold = argc == 5 && !strcmp(argv[1], "coldstart");
	const char *engine = argv[argc - 1];
	long long ios, cycles = 0;
	double t0, c0, t, c;

	if ((!shared && !cold) || (strcmp(engine, "aio") && strcmp(engine, "uring"))) {
		fprintf(stderr, "usage: ctx_cells shared DEV SECONDS QD aio|uring\n"
				"       ctx_cells coldstart DEV SECONDS aio|uring\n");
		return 2;
	}
	use_uring = !strcmp(engine, "uring");
	seconds = atof(argv[3]);
	qd = shared ? atoi(argv[4]) : COLD_BATCH;
	if (qd < 1 || qd > MAX_QD)
		die("queue depth", EINVAL);
	fd = open(argv[2], O_RDONLY | O_DIRECT);
	if (fd < 0)
		die(argv[2], errno);
	blocks = lseek(fd, 0, SEEK_END) / BS;
	if (blocks < 1)
		die("device size", EINVAL);
	t0 = now();
	c0 = cpu_seconds();
	ios = shared ? shared_cell() : coldstart_cell(&cycles);
	t = now() - t0;
	c = cpu_seconds() - c0;
	printf("{\"cell\": \"%s\", \"engine\": \"%s\", \"ios\": %lld, \"seconds\": %.3f, "
	       "\"iops\": %.0f, \"cpu_us_per_io\": %.3f, \"cycles\": %lld}\n",
	       argv[1], engine, ios, t, ios / t, c * 1e6 / (ios ? ios : 1), cycles);
	return 0;
}
