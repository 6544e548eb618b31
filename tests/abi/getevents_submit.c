// SPDX-License-Identifier: GPL-2.0
/*
 * io_getevents / io_pgetevents on an empty ring (argument checks, timeouts,
 * signals, the signal mask, a concurrent io_destroy), and the argument
 * checks of io_submit and io_cancel that come before any I/O.
 */
#include "tap.h"
#include <pthread.h>
#include <sys/eventfd.h>

static aio_context_t ctx;

static void on_signal(int sig)
{
	(void)sig;
}

static void test_getevents_args(void)
{
	struct io_event ev[4];
	struct timespec zero = { 0 };

	CHECK_RET(io_getevents(ctx, 2, 1, ev, &zero), -EINVAL, "min_nr > nr");
	CHECK_RET(io_getevents(ctx, -1, 1, ev, &zero), -EINVAL, "min_nr < 0");
	CHECK_RET(io_getevents(ctx, 0, -1, ev, &zero), -EINVAL, "nr < 0");
	CHECK_RET(io_getevents(0, 0, 1, ev, &zero), -EINVAL, "ctx 0");
	CHECK_RET(io_getevents(ctx + 4096 * 64, 0, 1, ev, &zero), -EINVAL, "unknown ctx");
	CHECK_RET(io_getevents(ctx, 0, 1, ev, (void *)1), -EFAULT, "bad timeout pointer");
	CHECK_RET(io_getevents(ctx, 0, 0, ev, &zero), 0, "nr 0");
	CHECK_RET(io_getevents(ctx, 1, 4, NULL, &zero), 0, "empty ring, NULL events");
	CHECK_RET(io_getevents(ctx, 1, 4, ev, &zero), 0, "empty ring, zero timeout");
}

static void test_timeout(void)
{
	struct io_event ev[4];
	double t0 = now_ms(), dt;

	CHECK_RET(io_getevents(ctx, 1, 4, ev, &(struct timespec){ 0, 60 * 1000000 }), 0,
		  "60 ms timeout");
	dt = now_ms() - t0;
	CHECK(dt >= 59 && dt < 2000, "60 ms timeout took %.1f ms", dt);
	t0 = now_ms();
	CHECK_RET(io_pgetevents(ctx, 1, 4, ev, &(struct timespec){ 0, 30 * 1000000 }, NULL), 0,
		  "io_pgetevents 30 ms timeout, no sigset");
	dt = now_ms() - t0;
	CHECK(dt >= 29 && dt < 2000, "30 ms timeout took %.1f ms", dt);
}

/* Sends SIGUSR1 to the calling thread after ms milliseconds. */
static timer_t arm_signal(int ms)
{
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGUSR1 };
	struct itimerspec its = { .it_value = { ms / 1000, (ms % 1000) * 1000000L } };
	timer_t t;

	sev._sigev_un._tid = gettid();
	timer_create(CLOCK_MONOTONIC, &sev, &t);
	timer_settime(t, 0, &its, NULL);
	return t;
}

static void test_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct io_event ev[4];
	sigset_t block, none, old;
	struct aio_sigset as;
	timer_t t;
	double t0, dt;

	sigaction(SIGUSR1, &sa, NULL);	/* no SA_RESTART */

	t = arm_signal(30);
	CHECK_RET(io_getevents(ctx, 1, 4, ev, NULL), -EINTR, "signal interrupts io_getevents");
	timer_delete(t);

	t = arm_signal(30);
	CHECK_RET(io_getevents(ctx, 1, 4, ev, &(struct timespec){ 5, 0 }), -EINTR,
		  "signal interrupts io_getevents with a timeout");
	timer_delete(t);

	/* fs/aio.c turns a negative timeout into KTIME_MAX: no timeout. */
	t = arm_signal(30);
	t0 = now_ms();
	CHECK_RET(io_getevents(ctx, 1, 4, ev, &(struct timespec){ -1, 0 }), -EINTR,
		  "a negative timeout waits until the signal");
	CHECK(now_ms() - t0 >= 29, "... which came after %.1f ms", now_ms() - t0);
	timer_delete(t);

	/* The mask blocks SIGUSR1 during the call: the timeout ends it. */
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	as = (struct aio_sigset){ &block, 8 };
	t = arm_signal(20);
	t0 = now_ms();
	CHECK_RET(io_pgetevents(ctx, 1, 4, ev, &(struct timespec){ 0, 100 * 1000000 }, &as), 0,
		  "io_pgetevents: a blocked signal does not interrupt");
	dt = now_ms() - t0;
	CHECK(dt >= 99, "io_pgetevents slept the whole timeout (%.1f ms)", dt);
	timer_delete(t);

	/* Blocked normally, unblocked by the call's mask: like pselect. */
	sigprocmask(SIG_BLOCK, &block, &old);
	sigemptyset(&none);
	as = (struct aio_sigset){ &none, 8 };
	t = arm_signal(20);
	CHECK_RET(io_pgetevents(ctx, 1, 4, ev, NULL, &as), -EINTR,
		  "io_pgetevents: the call's mask lets the signal in");
	timer_delete(t);
	sigprocmask(SIG_SETMASK, &old, NULL);

	CHECK_RET(io_pgetevents(ctx, 0, 4, ev, &(struct timespec){ 0 }, (void *)1), -EFAULT,
		  "io_pgetevents: bad sigset pointer");
	as = (struct aio_sigset){ &none, 7 };
	CHECK_RET(io_pgetevents(ctx, 0, 4, ev, &(struct timespec){ 0 }, &as), -EINVAL,
		  "io_pgetevents: bad sigsetsize");
	as = (struct aio_sigset){ NULL, 0 };
	CHECK_RET(io_pgetevents(ctx, 0, 4, ev, &(struct timespec){ 0 }, &as), 0,
		  "io_pgetevents: NULL mask");
}

static void *destroy_later(void *arg)
{
	usleep(50 * 1000);
	return (void *)io_destroy(*(aio_context_t *)arg);
}

static void test_destroy_wakes(void)
{
	aio_context_t c = 0;
	struct io_event ev[4];
	pthread_t th;
	void *ret;
	double t0;

	io_setup(8, &c);
	pthread_create(&th, NULL, destroy_later, &c);
	t0 = now_ms();
	CHECK_RET(io_getevents(c, 1, 4, ev, &(struct timespec){ 5, 0 }), -EINVAL,
		  "io_destroy from another thread ends io_getevents");
	CHECK(now_ms() - t0 < 4000, "... promptly (%.0f ms)", now_ms() - t0);
	pthread_join(th, &ret);
	CHECK((long)ret == 0, "the concurrent io_destroy succeeded");
}

static void test_submit_args(void)
{
	struct iocb cb, *list[2] = { &cb, &cb };
	int efd = eventfd(0, 0), pfd[2];

	if (pipe(pfd))
		pfd[0] = pfd[1] = -1;
	memset(&cb, 0, sizeof(cb));
	cb.aio_fildes = pfd[0];
	cb.aio_lio_opcode = 99;

	CHECK_RET(io_submit(ctx, -1, list), -EINVAL, "io_submit nr < 0");
	CHECK_RET(io_submit(0, 1, list), -EINVAL, "io_submit bad ctx");
	CHECK_RET(io_submit(ctx, 0, list), 0, "io_submit nr 0");
	CHECK_RET(io_submit(ctx, 1, NULL), -EFAULT, "io_submit NULL array");
	CHECK_RET(io_submit(ctx, 1, (void *)-1), -EFAULT, "io_submit bad array");
	CHECK_RET(io_submit(ctx, 1, (struct iocb *[]){ NULL }), -EFAULT, "io_submit NULL iocb");

	cb.aio_reserved2 = 1;
	CHECK_RET(io_submit(ctx, 1, list), -EINVAL, "reserved2 set");
	cb.aio_reserved2 = 0;
	cb.aio_nbytes = (uint64_t)-1;
	CHECK_RET(io_submit(ctx, 1, list), -EINVAL, "negative nbytes");
	cb.aio_nbytes = 0;
	cb.aio_fildes = 9999;
	CHECK_RET(io_submit(ctx, 1, list), -EBADF, "bad fd");
	cb.aio_fildes = pfd[0];
	cb.aio_flags = IOCB_FLAG_RESFD;
	cb.aio_resfd = 9999;
	CHECK_RET(io_submit(ctx, 1, list), -EBADF, "RESFD with a bad fd");
	cb.aio_resfd = pfd[1];
	CHECK_RET(io_submit(ctx, 1, list), -EINVAL, "RESFD with a non-eventfd");
	cb.aio_resfd = efd;
	cb.aio_key = 77;
	CHECK_RET(io_submit(ctx, 1, list), -EINVAL, "unknown opcode");
	CHECK(cb.aio_key == 0, "aio_key was reset to 0 before the opcode check (%u)", cb.aio_key);
	cb.aio_flags = 0;
	CHECK_RET(io_submit(ctx, 2, list), -EINVAL, "a failing first iocb fails the call");
	close(efd);
	close(pfd[0]);
	close(pfd[1]);
}

static void test_cancel_args(void)
{
	struct iocb cb;
	struct io_event ev;

	memset(&cb, 0, sizeof(cb));
	CHECK_RET(io_cancel(0, NULL, NULL), -EFAULT, "io_cancel(0, NULL, NULL) reads the key first");
	CHECK_RET(io_cancel(ctx, NULL, &ev), -EFAULT, "io_cancel NULL iocb");
	cb.aio_key = 1;
	CHECK_RET(io_cancel(ctx, &cb, &ev), -EINVAL, "io_cancel bad key");
	cb.aio_key = 0;
	CHECK_RET(io_cancel(0, &cb, &ev), -EINVAL, "io_cancel bad ctx");
	CHECK_RET(io_cancel(ctx, &cb, &ev), -EINVAL, "io_cancel of an iocb never submitted");
}

int main(void)
{
	if (io_setup(16, &ctx)) {
		CHECK(0, "io_setup");
		return tap_done();
	}
	test_getevents_args();
	test_timeout();
	test_signals();
	test_destroy_wakes();
	test_submit_args();
	test_cancel_args();
	CHECK_RET(io_destroy(ctx), 0, "io_destroy");
	return tap_done();
}
