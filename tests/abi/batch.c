// SPDX-License-Identifier: GPL-2.0
/*
 * Requests that complete inside io_submit (1-byte reads of /dev/zero, a
 * ready poll), alone, in batches smaller and larger than any internal
 * batch, mixed with requests that stay in flight, and cut short by a bad
 * iocb: when io_submit returns, every completed request's event is in the
 * ring (tail published), each exactly once with its data, obj and res, and
 * each IOCB_FLAG_RESFD eventfd counted exactly one per completion.  A
 * sleeper in io_getevents gets them; the ring's slots come back when user
 * space reaps by moving head itself.  An iocb that reads the eventfd an
 * earlier iocb of the same io_submit signals finds the count there (C's
 * order: each event and its signal before the next iocb starts), instead
 * of waiting for ever.  Same expectations on both kernels.
 */
#include "tap.h"
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>

#define MAX 96

static aio_context_t ctx;
static int zero_fd, efd[2];
static char bytes[MAX];
static struct iocb cbs[MAX];
static struct iocb *ptrs[MAX];

static struct aio_ring_hdr *ring(void)
{
	return (struct aio_ring_hdr *)ctx;
}

static unsigned in_ring(void)
{
	struct aio_ring_hdr *r = ring();
	unsigned head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	unsigned tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);

	return (tail + r->nr - head) % r->nr;
}

static uint64_t eventfd_take(int fd)
{
	uint64_t v = 0;

	return read(fd, &v, sizeof(v)) == sizeof(v) ? v : 0;
}

/* Request i: a 1-byte read of /dev/zero; RESFD on efd[0], efd[1] or none. */
static int prep_read(int i, int resfd_every)
{
	int which = resfd_every ? i % 3 : 2;

	prep_rw(&cbs[i], IOCB_CMD_PREAD, zero_fd, &bytes[i], 1, 0);
	bytes[i] = 0x5a;
	if (which < 2) {
		cbs[i].aio_flags = IOCB_FLAG_RESFD;
		cbs[i].aio_resfd = efd[which];
	}
	ptrs[i] = &cbs[i];
	return which;
}

/*
 * Reaps exactly n events and checks that they are the requests in want[]
 * (a mask over cbs), once each, with a result whose bits in mask are res;
 * then that none is left.
 */
static void reap_check(int n, const char *want, long res, long mask, const char *what)
{
	static struct io_event ev[MAX + 1];
	char seen[MAX] = { 0 };
	int bad = 0, dup = 0;
	long got = reap_n(ctx, n, ev);
	struct timespec zero = { 0, 0 };

	for (long i = 0; i < got; i++) {
		long k = (struct iocb *)(uintptr_t)ev[i].obj - cbs;

		if (k < 0 || k >= MAX || !want[k] || ev[i].data != (uintptr_t)&cbs[k] ||
		    (ev[i].res & mask) != res || ev[i].res2 != 0)
			bad++;
		else if (seen[k]++)
			dup++;
	}
	CHECK(got == n && !bad && !dup, "%s: %ld of %d events, %d wrong, %d twice", what, got, n,
	      bad, dup);
	CHECK_RET(io_getevents(ctx, 0, 1, ev, &zero), 0, "no event more");
}

/* n inline reads in one io_submit. */
static void test_inline(int n)
{
	char want[MAX] = { 0 };
	int count[3] = { 0 }, zeroed = 1;
	char name[64];

	for (int i = 0; i < n; i++) {
		count[prep_read(i, 1)]++;
		want[i] = 1;
	}
	snprintf(name, sizeof(name), "io_submit of %d inline reads", n);
	CHECK_RET(io_submit(ctx, n, ptrs), n, name);
	CHECK(in_ring() == (unsigned)n, "%d inline reads: %u events in the ring when io_submit returned",
	      n, in_ring());
	CHECK(eventfd_take(efd[0]) == (uint64_t)count[0] &&
	      eventfd_take(efd[1]) == (uint64_t)count[1],
	      "%d inline reads: each eventfd counted one per completion (%d, %d)", n, count[0],
	      count[1]);
	for (int i = 0; i < n; i++)
		zeroed &= bytes[i] == 0;
	CHECK(zeroed, "%d inline reads: data in the buffers", n);
	snprintf(name, sizeof(name), "%d inline reads", n);
	reap_check(n, want, 1, ~0L, name);
}

/* Polls that stay armed, between inline reads, in one io_submit. */
static void test_mixed(void)
{
	int p[2][2];
	char want[MAX] = { 0 }, c = 'x';
	int n = 0, reads = 0;

	CHECK(pipe(p[0]) == 0 && pipe(p[1]) == 0, "pipes");
	for (int i = 0; i < 2; i++) {
		memset(&cbs[n], 0, sizeof(cbs[n]));
		cbs[n].aio_lio_opcode = IOCB_CMD_POLL;
		cbs[n].aio_fildes = p[i][0];
		cbs[n].aio_buf = POLLIN;
		cbs[n].aio_data = (uintptr_t)&cbs[n];
		cbs[n].aio_flags = IOCB_FLAG_RESFD;
		cbs[n].aio_resfd = efd[0];
		ptrs[n] = &cbs[n];
		n++;
		for (int j = 0; j < 10; j++, n++, reads++) {
			prep_read(n, 0);
			want[n] = 1;
		}
	}
	CHECK_RET(io_submit(ctx, n, ptrs), n, "io_submit of 2 polls and 20 reads");
	CHECK(in_ring() == (unsigned)reads, "mixed: %u events (the reads) when io_submit returned",
	      in_ring());
	CHECK(eventfd_take(efd[0]) == 0, "mixed: no eventfd count for polls still armed");
	reap_check(reads, want, 1, ~0L, "mixed: the reads");
	memset(want, 0, sizeof(want));
	want[0] = want[11] = 1;
	CHECK(write(p[0][1], &c, 1) == 1 && write(p[1][1], &c, 1) == 1, "pipes written");
	reap_check(2, want, POLLIN, POLLIN, "mixed: the polls");
	CHECK(eventfd_take(efd[0]) == 2, "mixed: the polls counted once each");
	for (int i = 0; i < 2; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
}

/* A poll of a pipe that is ready already completes inside io_submit. */
static void test_ready_poll(void)
{
	char want[MAX] = { 0 }, c = 'x';
	int p[2], n = 0;

	CHECK(pipe(p) == 0 && write(p[1], &c, 1) == 1, "a pipe with data");
	for (int i = 0; i < 8; i++, n++) {
		prep_read(n, 0);
		want[n] = 1;
	}
	memset(&cbs[n], 0, sizeof(cbs[n]));
	cbs[n].aio_lio_opcode = IOCB_CMD_POLL;
	cbs[n].aio_fildes = p[0];
	cbs[n].aio_buf = POLLIN;
	cbs[n].aio_data = (uintptr_t)&cbs[n];
	cbs[n].aio_flags = IOCB_FLAG_RESFD;
	cbs[n].aio_resfd = efd[1];
	ptrs[n] = &cbs[n];
	want[n++] = 1;
	CHECK_RET(io_submit(ctx, n, ptrs), n, "io_submit of 8 reads and a ready poll");
	CHECK(in_ring() == (unsigned)n, "ready poll: %u events when io_submit returned", in_ring());
	CHECK(eventfd_take(efd[1]) == 1, "ready poll: its eventfd counted once");
	reap_check(n, want, 0, 0, "ready poll: the reads and the poll");
	close(p[0]);
	close(p[1]);
}

/*
 * A read of a blocking eventfd after a request that signals it, in one
 * io_submit: the count is there when the read runs, so it does not block.
 */
static void test_read_own_signal(void)
{
	char want[MAX] = { 0 };
	uint64_t value = 0;
	int blocking = eventfd(0, 0);

	prep_read(0, 0);
	cbs[0].aio_flags = IOCB_FLAG_RESFD;
	cbs[0].aio_resfd = blocking;
	prep_rw(&cbs[1], IOCB_CMD_PREAD, blocking, &value, sizeof(value), 0);
	ptrs[1] = &cbs[1];
	alarm(20);
	CHECK_RET(io_submit(ctx, 2, ptrs), 2, "io_submit of a read signalling an eventfd, then a read of it");
	alarm(0);
	want[0] = want[1] = 1;
	CHECK(value == 1, "the eventfd read found the earlier request's count (%llu)",
	      (unsigned long long)value);
	reap_check(2, want, 0, 0, "read then eventfd read: both events");
	close(blocking);
}

/* A bad iocb in the middle: those before it are queued and completed. */
static void test_partial(void)
{
	char want[MAX] = { 0 };
	int count[3] = { 0 }, n = 40, bad = 23;

	for (int i = 0; i < n; i++) {
		int which = prep_read(i, 1);

		if (i < bad) {
			count[which]++;
			want[i] = 1;
		}
	}
	cbs[bad].aio_fildes = -1;
	CHECK_RET(io_submit(ctx, n, ptrs), bad, "io_submit stops at the bad iocb");
	CHECK(in_ring() == (unsigned)bad, "partial: %u events when io_submit returned", in_ring());
	CHECK(eventfd_take(efd[0]) == (uint64_t)count[0] &&
	      eventfd_take(efd[1]) == (uint64_t)count[1], "partial: eventfds counted the queued only");
	reap_check(bad, want, 1, ~0L, "partial");
	CHECK_RET(io_submit(ctx, 1, &ptrs[bad]), -EBADF, "the bad iocb alone: EBADF");
}

/* Waits (at most 10 s) for n events at once: min_nr = nr = n. */
static void *sleeper(void *arg)
{
	static struct io_event ev[MAX];
	struct timespec limit = { 10, 0 };
	long n = (long)arg;

	return (void *)io_getevents(ctx, n, n, ev, &limit);
}

/* A sleeper that needs all n events gets them from one io_submit. */
static void test_sleeper(int n)
{
	pthread_t t;
	void *got = NULL;

	for (int i = 0; i < n; i++)
		prep_read(i, 0);
	CHECK(pthread_create(&t, NULL, sleeper, (void *)(long)n) == 0, "sleeper started");
	usleep(100 * 1000);
	CHECK_RET(io_submit(ctx, n, ptrs), n, "io_submit while a thread sleeps");
	pthread_join(t, &got);
	CHECK((long)got == n, "the sleeper got all %d events (%ld)", n, (long)got);
}

/*
 * Rounds of inline batches reaped by user space moving head: the slots
 * must come back, or io_submit would fail with EAGAIN.
 */
static void test_user_reap(void)
{
	struct aio_ring_hdr *r = ring();
	struct io_event *ev = (struct io_event *)(r + 1);
	int rounds = 300, ok = 1, n = 40, eagain = 0;
	uint64_t counted = 0, want = 0;

	for (int round = 0; round < rounds && ok; round++) {
		unsigned head, tail;
		long ret;

		for (int i = 0; i < n; i++)
			want += prep_read(i, 1) == 0;
		ret = io_submit(ctx, n, ptrs);
		if (ret != n) {
			eagain += ret == -EAGAIN;
			ok = 0;
			break;
		}
		head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
		tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
		if ((tail + r->nr - head) % r->nr != (unsigned)n)
			ok = 0;
		for (unsigned h = head; h != tail; h = (h + 1) % r->nr)
			if (ev[h].res != 1 || ev[h].data != ev[h].obj)
				ok = 0;
		__atomic_store_n(&r->head, tail, __ATOMIC_RELEASE);
		counted += eventfd_take(efd[0]);
		eventfd_take(efd[1]);
	}
	CHECK(ok && !eagain, "%d rounds of %d inline reads reaped by moving head (EAGAIN %d)",
	      rounds, n, eagain);
	CHECK(counted == want, "user reaping: eventfd counted %llu of %llu",
	      (unsigned long long)counted, (unsigned long long)want);
}

int main(void)
{
	static const int sizes[] = { 1, 2, 3, 15, 16, 17, 33, 64, MAX };

	zero_fd = open("/dev/zero", O_RDONLY);
	efd[0] = eventfd(0, EFD_NONBLOCK);
	efd[1] = eventfd(0, EFD_NONBLOCK);
	CHECK(zero_fd >= 0 && efd[0] >= 0 && efd[1] >= 0, "/dev/zero and eventfds");
	CHECK_RET(io_setup(128, &ctx), 0, "io_setup(128)");
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		test_inline(sizes[i]);
	test_mixed();
	test_ready_poll();
	test_read_own_signal();
	test_partial();
	test_sleeper(1);
	test_sleeper(40);
	test_user_reap();
	CHECK_RET(io_destroy(ctx), 0, "io_destroy");
	return tap_done();
}
