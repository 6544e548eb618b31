// SPDX-License-Identifier: GPL-2.0
/*
 * IOCB_CMD_POLL and io_cancel: readiness at submit and later, the argument
 * checks, cancellation (io_cancel, io_destroy, exit), eventfd completion,
 * POLLFREE (a signalfd whose sighand goes away), and a race of wake-ups
 * against cancels where every poll must complete exactly once.
 */
#include "tap.h"
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

static void poll_iocb(struct iocb *cb, int fd, unsigned events, uint64_t data)
{
	memset(cb, 0, sizeof(*cb));
	cb->aio_lio_opcode = IOCB_CMD_POLL;
	cb->aio_fildes = fd;
	cb->aio_buf = events;
	cb->aio_data = data;
}

static long submit1(aio_context_t ctx, struct iocb *cb)
{
	return io_submit(ctx, 1, &cb);
}

static long get(aio_context_t ctx, long min, long nr, struct io_event *ev,
		long timeout_ms)
{
	struct timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000 };

	return io_getevents(ctx, min, nr, ev, timeout_ms < 0 ? NULL : &ts);
}

static void test_readiness(void)
{
	aio_context_t ctx = 0;
	struct iocb cb, cb2;
	struct io_event ev;
	int p[2];

	CHECK(io_setup(8, &ctx) == 0 && pipe(p) == 0, "setup");
	poll_iocb(&cb, p[0], POLLIN, 1);
	CHECK_RET(submit1(ctx, &cb), 1, "poll on an empty pipe is queued");
	CHECK_RET(get(ctx, 1, 1, &ev, 50), 0, "no event while the pipe is empty");
	CHECK(write(p[1], "x", 1) == 1, "write a byte");
	CHECK_RET(get(ctx, 1, 1, &ev, 5000), 1, "the write completes the poll");
	/* fs/aio.c reports the wake-up's key as it is: POLLIN | POLLRDNORM. */
	CHECK(ev.obj == (uintptr_t)&cb && ev.data == 1 && ev.res == (POLLIN | POLLRDNORM) &&
	      ev.res2 == 0, "event: obj, data, res = the key (got res %#llx)",
	      (long long)ev.res);

	poll_iocb(&cb, p[0], POLLIN | POLLOUT, 2);
	CHECK_RET(submit1(ctx, &cb), 1, "poll on a readable pipe");
	CHECK_RET(get(ctx, 1, 1, &ev, 5000), 1, "completes at once");
	CHECK(ev.res == POLLIN, "only the requested, ready events (got %lld)", (long long)ev.res);

	poll_iocb(&cb, p[1], POLLOUT, 3);
	CHECK_RET(submit1(ctx, &cb), 1, "POLLOUT on the write end");
	CHECK_RET(get(ctx, 1, 1, &ev, 5000), 1, "completes at once");
	CHECK(ev.res == POLLOUT, "res = POLLOUT (got %lld)", (long long)ev.res);

	/* Closing the write end: POLLHUP is always reported. */
	char c;
	CHECK(read(p[0], &c, 1) == 1, "drain");
	poll_iocb(&cb, p[0], POLLIN, 4);
	CHECK_RET(submit1(ctx, &cb), 1, "poll before hang-up");
	close(p[1]);
	CHECK_RET(get(ctx, 1, 1, &ev, 5000), 1, "hang-up completes it");
	CHECK(ev.res & POLLHUP, "res has POLLHUP (got %#llx)", (long long)ev.res);

	/* Files without ->poll are always ready (DEFAULT_POLLMASK). */
	int f = open("/proc/self/status", O_RDONLY);
	poll_iocb(&cb, f, POLLIN, 5);
	CHECK_RET(submit1(ctx, &cb), 1, "poll on a regular file");
	CHECK_RET(get(ctx, 1, 1, &ev, 5000), 1, "completes at once");
	CHECK(ev.res == POLLIN, "res = POLLIN (got %lld)", (long long)ev.res);

	/* Argument checks. */
	poll_iocb(&cb2, p[0], 0x10000, 6);
	CHECK_RET(submit1(ctx, &cb2), -EINVAL, "events beyond 16 bits");
	poll_iocb(&cb2, p[0], POLLIN, 6);
	cb2.aio_nbytes = 1;
	CHECK_RET(submit1(ctx, &cb2), -EINVAL, "aio_nbytes set");
	poll_iocb(&cb2, p[0], POLLIN, 6);
	cb2.aio_offset = 1;
	CHECK_RET(submit1(ctx, &cb2), -EINVAL, "aio_offset set");
	poll_iocb(&cb2, p[0], POLLIN, 6);
	cb2.aio_rw_flags = 1;
	CHECK_RET(submit1(ctx, &cb2), -EINVAL, "aio_rw_flags set");
	poll_iocb(&cb2, 9999, POLLIN, 6);
	CHECK_RET(submit1(ctx, &cb2), -EBADF, "bad fd");
	CHECK_RET(get(ctx, 0, 1, &ev, 0), 0, "failed submissions post nothing");
	close(p[0]);
	close(f);
	CHECK_RET(io_destroy(ctx), 0, "destroy");
}

static void test_cancel(void)
{
	aio_context_t ctx = 0;
	struct iocb cb, rd;
	struct io_event ev;
	char buf[8];
	int p[2];

	CHECK(io_setup(8, &ctx) == 0 && pipe(p) == 0, "setup");
	poll_iocb(&cb, p[0], POLLIN, 7);
	CHECK_RET(submit1(ctx, &cb), 1, "arm a poll");
	CHECK_RET(io_cancel(ctx, &cb, &ev), -EINPROGRESS, "io_cancel: -EINPROGRESS");
	CHECK_RET(get(ctx, 1, 1, &ev, 5000), 1, "the cancelled poll posts its event");
	CHECK(ev.obj == (uintptr_t)&cb && ev.data == 7 && ev.res == 0,
	      "event of a cancelled poll: res 0 (got %lld)", (long long)ev.res);
	CHECK_RET(io_cancel(ctx, &cb, &ev), -EINVAL, "a completed poll cannot be cancelled");
	CHECK_RET(get(ctx, 0, 1, &ev, 100), 0, "exactly one event");

	/* A pipe read is not cancellable: it is not even in flight for long. */
	memset(&rd, 0, sizeof(rd));
	rd.aio_lio_opcode = IOCB_CMD_PREAD;
	rd.aio_fildes = p[0];
	rd.aio_buf = (uintptr_t)buf;
	rd.aio_nbytes = 1;
	CHECK(write(p[1], "y", 1) == 1, "write");
	CHECK_RET(submit1(ctx, &rd), 1, "pipe read");
	CHECK_RET(io_cancel(ctx, &rd, &ev), -EINVAL, "reads are not cancellable");
	CHECK_RET(get(ctx, 1, 1, &ev, 5000), 1, "read event");
	CHECK(ev.res == 1, "read res 1");

	/* io_cancel of a different context's poll. */
	aio_context_t ctx2 = 0;
	CHECK(io_setup(8, &ctx2) == 0, "second context");
	poll_iocb(&cb, p[0], POLLIN, 8);
	CHECK_RET(submit1(ctx, &cb), 1, "arm a poll in the first");
	CHECK_RET(io_cancel(ctx2, &cb, &ev), -EINVAL, "not found in another context");
	/* io_destroy cancels armed polls instead of waiting for ever. */
	double t0 = now_ms();
	CHECK_RET(io_destroy(ctx), 0, "io_destroy with an armed poll");
	CHECK(now_ms() - t0 < 2000, "and returns at once (%.0f ms)", now_ms() - t0);
	CHECK_RET(io_destroy(ctx2), 0, "destroy the second");
	close(p[0]);
	close(p[1]);
}

static void test_exit_with_armed_poll(void)
{
	int p[2], status = -1;
	pid_t pid;

	CHECK(pipe(p) == 0, "pipe");
	pid = fork();
	if (pid == 0) {
		aio_context_t ctx = 0;
		struct iocb cb, *cbp = &cb;

		if (io_setup(4, &ctx))
			_exit(2);
		poll_iocb(&cb, p[0], POLLIN, 9);
		_exit(io_submit(ctx, 1, &cbp) == 1 ? 0 : 3);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0, "a process exits with an armed poll");
	close(p[0]);
	close(p[1]);
}

/*
 * IOCB_FLAG_RESFD on a poll: the eventfd counts one, and the result is the
 * wake-up's events, mangled, as without an eventfd (fs/aio.c completes
 * inline from the wake function): 0x41 for a pipe write, 0xc3 for a
 * socketpair's (sock_def_readable wakes with IN|PRI|RDNORM|RDBAND).
 */
static void eventfd_case(const char *what, int rfd, int wfd, long long want)
{
	aio_context_t ctx = 0;
	struct iocb cb;
	struct io_event ev = { 0 };
	uint64_t cnt = 0;
	int efd = eventfd(0, EFD_NONBLOCK);

	CHECK(io_setup(8, &ctx) == 0 && efd >= 0, "%s: setup", what);
	poll_iocb(&cb, rfd, POLLIN, 10);
	cb.aio_flags = IOCB_FLAG_RESFD;
	cb.aio_resfd = efd;
	CHECK_RET(submit1(ctx, &cb), 1, "poll with RESFD");
	CHECK(read(efd, &cnt, 8) < 0 && errno == EAGAIN, "%s: eventfd quiet while armed", what);
	CHECK(write(wfd, "z", 1) == 1, "%s: write", what);
	CHECK_RET(get(ctx, 1, 1, &ev, 5000), 1, "event");
	CHECK(ev.res == want, "%s: res %#llx, want %#llx", what, (long long)ev.res, want);
	/* The signal may come just after the event is visible. */
	for (int i = 0; i < 100 && read(efd, &cnt, 8) < 0; i++)
		usleep(10000);
	CHECK(cnt == 1, "%s: eventfd signalled once (%llu)", what, (unsigned long long)cnt);
	CHECK_RET(io_destroy(ctx), 0, "destroy");
	close(efd);
}

static void test_eventfd(void)
{
	int p[2], s[2];

	CHECK(pipe(p) == 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0, "pipe, socketpair");
	eventfd_case("pipe", p[0], p[1], 0x41);
	eventfd_case("socketpair", s[0], s[1], 0xc3);
	close(p[0]);
	close(p[1]);
	close(s[0]);
	close(s[1]);
}

/*
 * POLLFREE: a child sharing our mm (so our AIO context) but not our sighand
 * polls its own signalfd, then exits.  Freeing its sighand tears the wait
 * queue down under the armed poll (POLLFREE), which must complete.
 */
static aio_context_t pollfree_ctx;
static struct iocb pollfree_cb;

static int pollfree_child(void *arg)
{
	struct iocb *cbp = &pollfree_cb;
	sigset_t mask;
	int sfd;

	(void)arg;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR2);
	sfd = signalfd(-1, &mask, 0);
	if (sfd < 0)
		return 2;
	poll_iocb(&pollfree_cb, sfd, POLLIN, 11);
	return io_submit(pollfree_ctx, 1, &cbp) == 1 ? 0 : 3;
}

static void test_pollfree(void)
{
	static char stack[64 * 1024] __attribute__((aligned(16)));
	struct io_event ev;
	int status = -1;
	pid_t pid;

	CHECK(io_setup(4, &pollfree_ctx) == 0, "setup");
	pid = clone(pollfree_child, stack + sizeof(stack), CLONE_VM | SIGCHLD, NULL);
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0, "child armed a poll on its signalfd and exited");
	CHECK_RET(get(pollfree_ctx, 1, 1, &ev, 5000), 1, "POLLFREE completes the poll");
	/* fs/aio.c completes it inline with the hang-up, or cancels it. */
	CHECK(ev.data == 11 && (ev.res == POLLHUP || ev.res == 0),
	      "res POLLHUP, or 0 if cancelled (got %lld)", (long long)ev.res);
	CHECK_RET(io_destroy(pollfree_ctx), 0, "destroy");
}

/*
 * Wake-ups racing cancels: every round arms polls on pipes, then one thread
 * writes to the pipes while another cancels the polls.  Each poll completes
 * exactly once, with POLLIN or 0, whoever wins.
 */
#define RACE_PIPES 16
#define RACE_ROUNDS 300

struct race {
	aio_context_t ctx;
	int p[RACE_PIPES][2];
	struct iocb cb[RACE_PIPES];
	pthread_barrier_t go;
};

static void *race_writer(void *arg)
{
	struct race *r = arg;

	for (int round = 0; round < RACE_ROUNDS; round++) {
		pthread_barrier_wait(&r->go);
		for (int i = 0; i < RACE_PIPES; i++)
			if (write(r->p[i][1], "w", 1) != 1)
				abort();
		pthread_barrier_wait(&r->go);
	}
	return NULL;
}

static void test_race(void)
{
	static struct race r;
	struct io_event ev[RACE_PIPES];
	int bad = 0, cancelled = 0, woken = 0;
	pthread_t t;

	CHECK(io_setup(RACE_PIPES * 2, &r.ctx) == 0, "setup");
	for (int i = 0; i < RACE_PIPES; i++)
		if (pipe(r.p[i]))
			bad++;
	pthread_barrier_init(&r.go, NULL, 2);
	pthread_create(&t, NULL, race_writer, &r);
	for (int round = 0; round < RACE_ROUNDS; round++) {
		struct iocb *cbs[RACE_PIPES];
		int seen[RACE_PIPES] = { 0 };
		char c;

		for (int i = 0; i < RACE_PIPES; i++) {
			poll_iocb(&r.cb[i], r.p[i][0], POLLIN, i);
			cbs[i] = &r.cb[i];
		}
		if (io_submit(r.ctx, RACE_PIPES, cbs) != RACE_PIPES)
			bad++;
		pthread_barrier_wait(&r.go);
		for (int i = 0; i < RACE_PIPES; i++) {
			long ret = io_cancel(r.ctx, &r.cb[i], ev);

			if (ret != -EINPROGRESS && ret != -EINVAL)
				bad++;
		}
		for (int got = 0; got < RACE_PIPES;) {
			long n = get(r.ctx, 1, RACE_PIPES, ev, 5000);

			if (n <= 0) {
				bad++;
				break;
			}
			for (int j = 0; j < n; j++) {
				int i = ev[j].data;

				if (i < 0 || i >= RACE_PIPES || seen[i]++ ||
				    (ev[j].res != 0 && !(ev[j].res & POLLIN)))
					bad++;
				ev[j].res ? woken++ : cancelled++;
			}
			got += n;
		}
		pthread_barrier_wait(&r.go);
		for (int i = 0; i < RACE_PIPES; i++)
			if (read(r.p[i][0], &c, 1) != 1)
				bad++;
		if (get(r.ctx, 0, RACE_PIPES, ev, 0) != 0)
			bad++;
	}
	pthread_join(t, NULL);
	CHECK(bad == 0, "%d rounds x %d polls: each completed once (%d woken, %d cancelled)",
	      RACE_ROUNDS, RACE_PIPES, woken, cancelled);
	CHECK_RET(io_destroy(r.ctx), 0, "destroy");
}

int main(void)
{
	test_readiness();
	test_cancel();
	test_exit_with_armed_poll();
	test_eventfd();
	test_pollfree();
	test_race();
	return tap_done();
}
