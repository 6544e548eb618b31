/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A tiny TAP producer for the ABI tests.  Each CHECK is one test point; the
 * program prints "ok N - name" or "not ok N - name", then a plan line, and
 * exits non-zero if any point failed.  The same binaries run on the C and
 * the Rust kernel, with the same expectations.
 */
#ifndef AIO_TAP_H
#define AIO_TAP_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define TAP_UNUSED __attribute__((unused))

static int tap_n, tap_failed;

static void __attribute__((format(printf, 2, 3)))
tap_check(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", ok ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		tap_failed++;
}

static int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

/* A system call result: the value, or -errno. */
static TAP_UNUSED long sysret(long r)
{
	return r < 0 ? -errno : r;
}

#define CHECK(cond, ...) tap_check(!!(cond), __VA_ARGS__)
/* Checks that a syscall returned exactly `expect` (a count, or -EXXX). */
#define CHECK_RET(expr, expect, name) do {				\
	long __r = (expr), __e = (expect);				\
	tap_check(__r == __e, "%s: got %ld (%s), want %ld (%s)", name,	\
		  __r, __r < 0 ? strerror(-__r) : "ok",			\
		  __e, __e < 0 ? strerror(-__e) : "ok");		\
} while (0)

/* An iocb for op on fd; aio_data is the iocb's address, for the reaper. */
static TAP_UNUSED void prep_rw(struct iocb *cb, int op, int fd, void *buf,
			       size_t len, off_t off)
{
	memset(cb, 0, sizeof(*cb));
	cb->aio_lio_opcode = op;
	cb->aio_fildes = fd;
	cb->aio_buf = (uintptr_t)buf;
	cb->aio_nbytes = len;
	cb->aio_offset = off;
	cb->aio_data = (uintptr_t)cb;
}

static TAP_UNUSED long io_setup(unsigned nr, aio_context_t *ctxp)
{
	return sysret(syscall(__NR_io_setup, nr, ctxp));
}

static TAP_UNUSED long io_destroy(aio_context_t ctx)
{
	return sysret(syscall(__NR_io_destroy, ctx));
}

static TAP_UNUSED long io_submit(aio_context_t ctx, long nr, struct iocb **iocbpp)
{
	return sysret(syscall(__NR_io_submit, ctx, nr, iocbpp));
}

static TAP_UNUSED long io_cancel(aio_context_t ctx, struct iocb *iocb, struct io_event *ev)
{
	return sysret(syscall(__NR_io_cancel, ctx, iocb, ev));
}

static TAP_UNUSED long io_getevents(aio_context_t ctx, long min_nr, long nr,
			 struct io_event *ev, struct timespec *ts)
{
	return sysret(syscall(__NR_io_getevents, ctx, min_nr, nr, ev, ts));
}

/* Waits for n events of ctx into ev: n, fewer if none came, or -errno. */
static TAP_UNUSED long reap_n(aio_context_t ctx, int n, struct io_event *ev)
{
	int got = 0;

	while (got < n) {
		long r = io_getevents(ctx, 1, n - got, ev + got, NULL);

		if (r <= 0)
			return r < 0 ? r : got;
		got += r;
	}
	return got;
}

struct aio_sigset {
	const sigset_t *sigmask;
	size_t sigsetsize;
};

static TAP_UNUSED long io_pgetevents(aio_context_t ctx, long min_nr, long nr,
			  struct io_event *ev, struct timespec *ts,
			  const struct aio_sigset *sig)
{
	return sysret(syscall(__NR_io_pgetevents, ctx, min_nr, nr, ev, ts, sig));
}

/* The mapped ring header, struct aio_ring in fs/aio.c. */
struct aio_ring_hdr {
	unsigned id, nr, head, tail, magic, compat_features,
		 incompat_features, header_length;
};

static TAP_UNUSED double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static TAP_UNUSED unsigned long read_ulong(const char *path)
{
	unsigned long v = 0;
	FILE *f = fopen(path, "r");

	if (f) {
		if (fscanf(f, "%lu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

static TAP_UNUSED int write_ulong(const char *path, unsigned long v)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -1;
	ok = fprintf(f, "%lu\n", v) > 0;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

/*
 * Objects allocated from slab cache `name` once its per-CPU caches (and
 * KASAN's quarantine) went back, or -1 without SLUB's sysfs.
 */
static TAP_UNUSED long slab_objects(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", name);
	write_ulong(path, 1);
	snprintf(path, sizeof(path), "/sys/kernel/slab/%s/objects", name);
	return access(path, R_OK) ? -1 : (long)read_ulong(path);
}

/*
 * Whether a read's result res and data buf are what pread(fd) of len bytes
 * at off gives now.
 */
static TAP_UNUSED int same_as_pread(int fd, const unsigned char *buf, long res,
				    size_t len, off_t off)
{
	unsigned char *want = malloc(len ? len : 1);
	long r = pread(fd, want, len, off);
	int ok = r == res && (r <= 0 || !memcmp(buf, want, r));

	free(want);
	return ok;
}

#endif
