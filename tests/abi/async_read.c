// SPDX-License-Identifier: GPL-2.0
/*
 * Buffered reads on a cold page cache over a slow device (ext4 on a
 * null_blk with a fixed completion latency): data and res exactly as a
 * synchronous pread of the same range, on both kernels.  One point differs
 * on purpose: C reads inside io_submit, ours returns before the device does
 * (README, "Deliberate differences"); the point says which it expects.
 *
 * Usage: async_read DIR IMPL   (DIR on the slow device, IMPL rust or c)
 */
#include "tap.h"
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define FILE_SIZE (32u << 20)
#define NR 32

static aio_context_t ctx;
static int fd;
static int ours;

static unsigned char pattern(off_t off)
{
	return (unsigned char)((off * 7) ^ (off >> 12) ^ (off >> 20));
}

/* Pages of the file in the page cache (mincore). */
static long resident(void)
{
	static unsigned char vec[FILE_SIZE / 4096];
	void *map = mmap(NULL, FILE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	long n = 0;

	if (map == MAP_FAILED)
		return -1;
	if (!mincore(map, FILE_SIZE, vec))
		for (unsigned i = 0; i < sizeof(vec); i++)
			n += vec[i] & 1;
	else
		n = -1;
	munmap(map, FILE_SIZE);
	return n;
}

/*
 * Drops the file's pages, so that the next reads go to the device.  Right
 * after a write, ext4 may still hold some (journal commit): retry until
 * none is left, and say so as a test point.
 */
static void cold(void)
{
	long n = -1;

	for (int i = 0; i < 100; i++) {
		fdatasync(fd);
		syncfs(fd);
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		n = resident();
		if (n == 0)
			break;
		usleep(50000);
	}
	CHECK(n == 0, "the file is out of the page cache (%ld pages left)", n);
}

static int same_as_pread(const unsigned char *buf, long res, size_t len, off_t off)
{
	unsigned char *want = malloc(len ? len : 1);
	long r = pread(fd, want, len, off);
	int ok = r == res && (r <= 0 || !memcmp(buf, want, r));

	free(want);
	return ok;
}

/* 32 cold 4k reads 1 MiB apart, all in one io_submit. */
static void test_submit_does_not_wait(void)
{
	static unsigned char bufs[NR][4096];
	struct iocb cbs[NR], *list[NR];
	struct io_event ev[NR];
	struct timespec zero = { 0, 0 };
	long early, r;
	int i, good = 0;

	cold();
	for (i = 0; i < NR; i++) {
		prep_rw(&cbs[i], IOCB_CMD_PREAD, fd, bufs[i], 4096, (off_t)i << 20);
		list[i] = &cbs[i];
	}
	CHECK_RET(io_submit(ctx, NR, list), NR, "io_submit of 32 cold reads");
	early = io_getevents(ctx, 0, NR, ev, &zero);
	if (ours)
		CHECK(early == 0, "ours: no read had completed when io_submit returned (got %ld)", early);
	else
		CHECK(early == NR, "C: every read completed inside io_submit (got %ld)", early);
	r = early < 0 ? early : early + reap_n(ctx, NR - early, ev + early);
	CHECK_RET(r, NR, "all 32 events arrive");
	for (i = 0; i < r && i < NR; i++) {
		struct iocb *cb = (struct iocb *)(uintptr_t)ev[i].data;

		good += ev[i].res == 4096 &&
			same_as_pread((void *)(uintptr_t)cb->aio_buf, 4096, 4096, cb->aio_offset);
	}
	CHECK(good == NR, "32 reads of 4096 bytes, data as pread (%d good)", good);
}

/* Random ranges: unaligned, across and past EOF, empty, multi-MiB. */
static void test_ranges(void)
{
	static const struct { off_t off; size_t len; } cases[] = {
		{ 0, 4096 }, { 1, 4095 }, { 4095, 2 }, { 12345, 67890 },
		{ FILE_SIZE - 100, 4096 }, { FILE_SIZE, 4096 }, { FILE_SIZE + 4096, 10 },
		{ 5 << 20, 0 }, { 3 << 20, 3 << 20 }, { (7 << 20) + 17, (5 << 20) + 3 },
	};
	unsigned i, n = sizeof(cases) / sizeof(cases[0]);
	unsigned char *bufs[16];
	struct iocb cbs[16], *list[16];
	struct io_event ev[16];
	long r;
	int good = 0;

	cold();
	for (i = 0; i < n; i++) {
		bufs[i] = malloc(cases[i].len + 1);
		prep_rw(&cbs[i], IOCB_CMD_PREAD, fd, bufs[i], cases[i].len, cases[i].off);
		list[i] = &cbs[i];
	}
	CHECK_RET(io_submit(ctx, n, list), n, "io_submit of 10 cold ranges");
	r = reap_n(ctx, n, ev);
	CHECK_RET(r, n, "every range gets its event");
	for (i = 0; i < r; i++) {
		struct iocb *cb = (struct iocb *)(uintptr_t)ev[i].data;
		unsigned k = cb - cbs;

		if (same_as_pread(bufs[k], ev[i].res, cases[k].len, cases[k].off))
			good++;
		else
			printf("# range %u (off %lld len %zu): res %lld\n", k,
			       (long long)cases[k].off, cases[k].len, (long long)ev[i].res);
	}
	CHECK(good == (int)n, "res and data as pread for every range (%d of %u)", good, n);
	for (i = 0; i < n; i++)
		free(bufs[i]);
}

/* PREADV with many segments of odd sizes. */
static void test_vectored(void)
{
	struct iovec iov[64];
	unsigned char *flat, *p;
	struct iocb cb, *list[1] = { &cb };
	struct io_event ev;
	size_t total = 0;
	int i, ok;

	for (i = 0; i < 64; i++)
		total += 1000 + i * 37;
	flat = malloc(total);
	for (i = 0, p = flat; i < 64; i++) {
		iov[i].iov_base = p;
		iov[i].iov_len = 1000 + i * 37;
		p += iov[i].iov_len;
	}
	cold();
	prep_rw(&cb, IOCB_CMD_PREADV, fd, iov, 64, (9 << 20) + 3);
	CHECK_RET(io_submit(ctx, 1, list), 1, "io_submit of a 64-segment PREADV");
	CHECK_RET(reap_n(ctx, 1, &ev), 1, "its event arrives");
	ok = same_as_pread(flat, ev.res, total, (9 << 20) + 3);
	CHECK(ok, "PREADV res %lld and data as pread of %zu bytes", (long long)ev.res, total);
	free(flat);
}

/* io_cancel of a read waiting for the device (ours; C has read it already). */
static void test_cancel(void)
{
	static unsigned char buf[4096];
	struct iocb cb, *list[1] = { &cb };
	struct io_event ev, res;
	long r;

	cold();
	prep_rw(&cb, IOCB_CMD_PREAD, fd, buf, 4096, (11 << 20) + 4096);
	CHECK_RET(io_submit(ctx, 1, list), 1, "io_submit of a cold read");
	r = sysret(syscall(__NR_io_cancel, ctx, &cb, &res));
	if (ours)
		CHECK(r == -EINPROGRESS, "ours: io_cancel of the waiting read: %ld, want -EINPROGRESS", r);
	else
		CHECK(r == -EINVAL, "C: io_cancel finds nothing to cancel: %ld, want -EINVAL", r);
	CHECK_RET(reap_n(ctx, 1, &ev), 1, "one event");
	if (ours)
		CHECK(ev.res == -ECANCELED, "ours: the event says ECANCELED (res %lld)", (long long)ev.res);
	else
		CHECK(ev.res == 4096, "C: the event has the data (res %lld)", (long long)ev.res);
	r = io_getevents(ctx, 0, 1, &ev, &(struct timespec){ 0, 20000000 });
	CHECK_RET(r, 0, "and no second event");
}

/* io_destroy and exit while reads wait for the device. */
static void test_destroy_and_exit(void)
{
	static unsigned char bufs[NR][4096];
	struct iocb cbs[NR], *list[NR];
	aio_context_t c2 = 0;
	pid_t pid;
	int i, st;

	cold();
	CHECK_RET(io_setup(NR, &c2), 0, "io_setup of a second context");
	for (i = 0; i < NR; i++) {
		prep_rw(&cbs[i], IOCB_CMD_PREAD, fd, bufs[i], 4096, ((off_t)i << 20) + 8192);
		list[i] = &cbs[i];
	}
	CHECK_RET(io_submit(c2, NR, list), NR, "io_submit of 32 cold reads");
	CHECK_RET(io_destroy(c2), 0, "io_destroy with the reads pending returns once they are done");

	cold();
	pid = fork();
	if (pid == 0) {
		c2 = 0;
		if (io_setup(NR, &c2))
			_exit(2);
		for (i = 0; i < NR; i++)
			prep_rw(&cbs[i], IOCB_CMD_PREAD, fd, bufs[i], 4096, ((off_t)i << 20) + 16384);
		_exit(io_submit(c2, NR, list) == NR ? 0 : 3);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "a process exits with 32 cold reads pending");
}

int main(int argc, char **argv)
{
	char path[512];
	unsigned char *buf;
	off_t off;

	if (argc < 3) {
		fprintf(stderr, "usage: %s DIR IMPL\n", argv[0]);
		return 2;
	}
	ours = !strcmp(argv[2], "rust");
	snprintf(path, sizeof(path), "%s/async_read.dat", argv[1]);
	fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	CHECK(fd >= 0, "create %s", path);
	if (fd < 0)
		return tap_done();
	buf = malloc(1 << 20);
	for (off = 0; off < FILE_SIZE; off += 1 << 20) {
		for (int i = 0; i < 1 << 20; i++)
			buf[i] = pattern(off + i);
		if (pwrite(fd, buf, 1 << 20, off) != 1 << 20)
			break;
	}
	CHECK(off == FILE_SIZE, "write a 32 MiB file");
	free(buf);
	CHECK_RET(io_setup(128, &ctx), 0, "io_setup");

	test_submit_does_not_wait();
	test_ranges();
	test_vectored();
	test_cancel();
	test_destroy_and_exit();

	io_destroy(ctx);
	close(fd);
	unlink(path);
	return tap_done();
}
