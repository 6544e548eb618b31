// SPDX-License-Identifier: GPL-2.0
/*
 * O_DIRECT on a full device queue: a null_blk with 2 tags and a fixed
 * completion latency, and a file on ext4 over one with 4 tags.
 * Data and res are checked on both kernels.  One point differs on purpose:
 * C's io_submit sleeps for request tags, so by the time it returns all but
 * the last requests have completed; ours hands the requests that found no
 * tag to its worker pool and returns before any completes (README,
 * "Deliberate differences").  A request marked RWF_NOWAIT gets -EAGAIN in
 * its event on both.
 *
 * Usage: direct_full DEV DIR IMPL
 *   DEV   a block device with 2 tags (hw_queue_depth) and a long latency
 *   DIR   a directory on ext4 over a device with 4 tags
 *   IMPL  rust or c
 */
#include "tap.h"
#include <sys/wait.h>

#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif

#define BS 4096
#define NR 32
#define TAGS 2
#define FILE_NR 16
#define FILE_TAGS 4

static aio_context_t ctx;
static int ours;

static unsigned char pattern(off_t off, unsigned seed)
{
	return (unsigned char)((off * 13) ^ (off >> 12) ^ seed);
}

static void fill(unsigned char *buf, size_t len, off_t off, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(off + i, seed);
}

static int check(const unsigned char *buf, size_t len, off_t off, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern(off + i, seed))
			return 0;
	return 1;
}

static unsigned char *aligned(size_t len)
{
	void *p = NULL;

	return posix_memalign(&p, BS, len) ? NULL : p;
}

/*
 * Submits n O_DIRECT requests of op at offsets i * stride in one io_submit
 * (with a gap between them, so that the block plug merges none) and reaps
 * them; says how many had completed when io_submit returned and, if
 * `order`, checks that against a queue of `tags` tags.  Returns the number
 * of events with res == BS.
 */
static int batch(int fd, int op, unsigned char *bufs, int n, off_t stride,
		 int tags, int order, const char *what)
{
	struct iocb *cbs = calloc(n, sizeof(*cbs)), **list = calloc(n, sizeof(*list));
	struct io_event *ev = calloc(n, sizeof(*ev));
	struct timespec zero = { 0, 0 };
	long early, r;
	int i, good = 0;

	for (i = 0; i < n; i++) {
		prep_rw(&cbs[i], op, fd, bufs + (size_t)i * BS, BS, (off_t)i * stride);
		list[i] = &cbs[i];
	}
	r = io_submit(ctx, n, list);
	early = io_getevents(ctx, 0, n, ev, &zero);
	CHECK(r == n, "io_submit of %d %s: %ld", n, what, r);
	if (!order)
		printf("# %ld of the %d %s had completed when io_submit returned\n", early, n, what);
	else if (ours)
		CHECK(early == 0, "ours: none of the %d %s had completed when io_submit returned (%ld had)",
		      n, what, early);
	else
		CHECK(early >= n - tags,
		      "C: io_submit waited for tags: at least %d of the %d %s had completed (%ld had)",
		      n - tags, n, what, early);
	r = early < 0 ? early : early + reap_n(ctx, n - early, ev + early);
	CHECK(r == n, "all %d events of the %s arrive (%ld)", n, what, r);
	for (i = 0; i < r && i < n; i++)
		good += ev[i].res == BS;
	free(cbs);
	free(list);
	free(ev);
	return good;
}

/* Reads and writes on the block device, whose queue has 2 tags. */
static void test_block_device(const char *dev)
{
	unsigned char *bufs = aligned((size_t)NR * BS);
	int fd = open(dev, O_RDWR | O_DIRECT);
	int i, good, same;

	CHECK(fd >= 0 && bufs, "open %s with O_DIRECT", dev);
	if (fd < 0 || !bufs)
		return;
	for (i = 0; i < NR; i++)
		fill(bufs + (size_t)i * BS, BS, (off_t)i * BS * 3, 1);
	good = batch(fd, IOCB_CMD_PWRITE, bufs, NR, BS * 3, TAGS, 1, "O_DIRECT writes");
	CHECK(good == NR, "every write wrote %d bytes (%d did)", BS, good);

	memset(bufs, 0, (size_t)NR * BS);
	good = batch(fd, IOCB_CMD_PREAD, bufs, NR, BS * 3, TAGS, 1, "O_DIRECT reads");
	for (i = 0, same = 0; i < NR; i++)
		same += check(bufs + (size_t)i * BS, BS, (off_t)i * BS * 3, 1);
	CHECK(good == NR && same == NR, "every read read %d bytes of what was written (%d, %d)",
	      BS, good, same);
	close(fd);
	free(bufs);
}

/*
 * RWF_NOWAIT on a full queue: 8 reads take the 2 tags (and, on C, wait for
 * them), then one marked RWF_NOWAIT finds none and fails in its event.
 */
static void test_user_nowait(const char *dev)
{
	unsigned char *bufs = aligned(9 * BS);
	struct iocb cbs[9], *list[9];
	struct io_event ev[9];
	int fd = open(dev, O_RDWR | O_DIRECT);
	int i, nowait_res = 1, others = 0;
	long r;

	CHECK(fd >= 0 && bufs, "open %s with O_DIRECT", dev);
	if (fd < 0 || !bufs)
		return;
	for (i = 0; i < 9; i++) {
		prep_rw(&cbs[i], IOCB_CMD_PREAD, fd, bufs + (size_t)i * BS, BS, (off_t)i * 2 * BS);
		list[i] = &cbs[i];
	}
	cbs[8].aio_rw_flags = RWF_NOWAIT;
	CHECK_RET(io_submit(ctx, 9, list), 9, "io_submit of 8 reads and one RWF_NOWAIT read");
	r = reap_n(ctx, 9, ev);
	CHECK_RET(r, 9, "9 events");
	for (i = 0; i < r; i++) {
		if ((struct iocb *)(uintptr_t)ev[i].data == &cbs[8])
			nowait_res = ev[i].res;
		else
			others += ev[i].res == BS;
	}
	CHECK(nowait_res == -EAGAIN, "the RWF_NOWAIT read's event says EAGAIN (res %d)", nowait_res);
	CHECK(others == 8, "the other 8 read %d bytes (%d did)", BS, others);
	close(fd);
	free(bufs);
}

/* io_destroy and exit while requests wait for tags in our pool. */
static void test_destroy_and_exit(const char *dev)
{
	unsigned char *bufs = aligned((size_t)NR * BS);
	struct iocb cbs[NR], *list[NR];
	aio_context_t c2 = 0;
	int fd = open(dev, O_RDWR | O_DIRECT);
	int i, st;
	pid_t pid;

	CHECK(fd >= 0 && bufs, "open %s with O_DIRECT", dev);
	if (fd < 0 || !bufs)
		return;
	CHECK_RET(io_setup(NR, &c2), 0, "io_setup of a second context");
	for (i = 0; i < NR; i++) {
		prep_rw(&cbs[i], IOCB_CMD_PREAD, fd, bufs + (size_t)i * BS, BS, (off_t)i * 2 * BS);
		list[i] = &cbs[i];
	}
	CHECK_RET(io_submit(c2, NR, list), NR, "io_submit of 32 reads");
	CHECK_RET(io_destroy(c2), 0, "io_destroy with the reads pending returns once they are done");

	pid = fork();
	if (pid == 0) {
		c2 = 0;
		if (io_setup(NR, &c2))
			_exit(2);
		_exit(io_submit(c2, NR, list) == NR ? 0 : 3);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "a process exits with 32 reads pending");
	close(fd);
	free(bufs);
}

/* A file on ext4 (iomap), over a device with 4 tags. */
static void test_file(const char *dir)
{
	size_t len = (size_t)FILE_NR * 2 * BS;
	unsigned char *bufs = aligned(len);
	char path[512];
	int fd, i, good, same;

	snprintf(path, sizeof(path), "%s/direct_full.dat", dir);
	fd = open(path, O_CREAT | O_TRUNC | O_RDWR | O_DIRECT, 0600);
	CHECK(fd >= 0 && bufs, "create %s with O_DIRECT", path);
	if (fd < 0 || !bufs)
		return;
	fill(bufs, len, 0, 2);
	CHECK(pwrite(fd, bufs, len, 0) == (ssize_t)len && !fsync(fd),
	      "write and sync %zu bytes", len);

	/*
	 * Overwrites of allocated blocks need no allocation.  No order point
	 * for them: iomap sets REQ_NOWAIT only on single-block reads, so an
	 * ext4 write that ext4 lets through under IOCB_NOWAIT (no timestamp to
	 * update) may still sleep for a tag inside io_submit, as on io_uring.
	 */
	for (i = 0; i < FILE_NR; i++)
		fill(bufs + (size_t)i * BS, BS, (off_t)i * 2 * BS, 3);
	good = batch(fd, IOCB_CMD_PWRITE, bufs, FILE_NR, 2 * BS, FILE_TAGS, 0, "O_DIRECT file writes");
	CHECK(good == FILE_NR, "every file write wrote %d bytes (%d did)", BS, good);

	memset(bufs, 0, len);
	good = batch(fd, IOCB_CMD_PREAD, bufs, FILE_NR, 2 * BS, FILE_TAGS, 1, "O_DIRECT file reads");
	for (i = 0, same = 0; i < FILE_NR; i++)
		same += check(bufs + (size_t)i * BS, BS, (off_t)i * 2 * BS, 3);
	CHECK(good == FILE_NR && same == FILE_NR,
	      "every file read read %d bytes of what was written (%d, %d)", BS, good, same);
	close(fd);
	unlink(path);
	free(bufs);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s DEV DIR IMPL\n", argv[0]);
		return 2;
	}
	ours = !strcmp(argv[3], "rust");
	CHECK_RET(io_setup(256, &ctx), 0, "io_setup");
	test_block_device(argv[1]);
	test_user_nowait(argv[1]);
	test_destroy_and_exit(argv[1]);
	test_file(argv[2]);
	io_destroy(ctx);
	return tap_done();
}
