// SPDX-License-Identifier: GPL-2.0
/*
 * The 32-bit (compat) entry points: built with -m32, so every io_* call
 * goes through the ia32 system call table (compat_sys_io_setup,
 * sys_io_getevents_time32, compat_sys_io_pgetevents, ...).
 */
#include "tap.h"

struct old_timespec32 {
	int32_t tv_sec, tv_nsec;
};

struct compat_aio_sigset {
	uint32_t sigmask, sigsetsize;
};

int main(void)
{
	uint32_t ctx = 0;
	struct io_event ev[2];
	struct old_timespec32 zero = { 0, 0 }, t30 = { 0, 30 * 1000000 };
	struct compat_aio_sigset as = { 0, 0 };
	struct aio_ring_hdr *ring;
	uint32_t list[1] = { 0 };
	double t0, dt;

	CHECK(sizeof(void *) == 4, "built as a 32-bit program");
	CHECK_RET(sysret(syscall(__NR_io_setup, 0, &ctx)), -EINVAL, "compat io_setup(0)");
	CHECK_RET(sysret(syscall(__NR_io_setup, 8, &ctx)), 0, "compat io_setup(8)");
	ring = (struct aio_ring_hdr *)(uintptr_t)ctx;
	CHECK(ctx && ring->magic == 0xa10a10a1, "compat ring at %#x", ctx);
	CHECK_RET(sysret(syscall(__NR_io_getevents, ctx, 0, 2, ev, &zero)), 0,
		  "io_getevents_time32, zero timeout");
	CHECK_RET(sysret(syscall(__NR_io_getevents, ctx, 2, 1, ev, &zero)), -EINVAL,
		  "io_getevents_time32 min_nr > nr");
	t0 = now_ms();
	CHECK_RET(sysret(syscall(__NR_io_getevents, ctx, 1, 2, ev, &t30)), 0,
		  "io_getevents_time32, 30 ms");
	dt = now_ms() - t0;
	CHECK(dt >= 29 && dt < 2000, "30 ms took %.1f ms", dt);
	CHECK_RET(sysret(syscall(__NR_io_pgetevents, ctx, 0, 2, ev, &zero, &as)), 0,
		  "compat io_pgetevents (time32)");
	CHECK_RET(sysret(syscall(__NR_io_submit, ctx, 1, list)), -EFAULT,
		  "compat io_submit, NULL iocb");
	CHECK_RET(sysret(syscall(__NR_io_submit, ctx, -1, list)), -EINVAL,
		  "compat io_submit nr < 0");
	CHECK_RET(sysret(syscall(__NR_io_destroy, ctx)), 0, "io_destroy");
	return tap_done();
}
