// SPDX-License-Identifier: GPL-2.0
/*
 * Buffered writes with synchronous semantics (O_DSYNC, O_SYNC, RWF_DSYNC,
 * RWF_SYNC) on ext4 over a slow device: res on both kernels, and
 * durability: when a write's event arrives, its data is on the block
 * device (the file's extents, from FIEMAP, read from the device with
 * O_DIRECT) and none of it is delayed allocation.  One point differs on
 * purpose: C writes and syncs inside io_submit, ours returns first
 * (README, "Deliberate differences").
 *
 * Usage: sync_write DIR DEV IMPL [BADBLOCKS]
 *   DIR: ext4 on the block device DEV, a null_blk whose configfs
 *   badblocks attribute is BADBLOCKS (for the write-error points)
 */
#include "tap.h"
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define BS 4096
#define NR 32

static aio_context_t ctx;
static const char *dir, *dev, *badblocks;
static int ours;

static unsigned char pattern(off_t off, unsigned seed)
{
	return (unsigned char)((off * 31) ^ (off >> 11) ^ (seed * 101));
}

static void fill(unsigned char *buf, size_t len, off_t off, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(off + i, seed);
}

/* A write on fd with RWF_* flags rw_flags. */
static void prep_write(struct iocb *cb, int fd, void *buf, size_t len, off_t off, int rw_flags)
{
	prep_rw(cb, IOCB_CMD_PWRITE, fd, buf, len, off);
	cb->aio_rw_flags = rw_flags;
}

/*
 * Whether [off, off + len) of the file holds pattern `seed` on the device
 * itself: every byte is in an extent that is neither delayed nor unknown,
 * and the device has the pattern there.
 */
static int on_device(int fd, off_t off, size_t len, unsigned seed)
{
	struct fiemap *fm = calloc(1, sizeof(*fm) + 64 * sizeof(struct fiemap_extent));
	int dfd = open(dev, O_RDONLY | O_DIRECT), ok = 1;
	size_t covered = 0;
	unsigned char *buf = NULL;

	fm->fm_start = off;
	fm->fm_length = len;
	fm->fm_flags = 0;
	fm->fm_extent_count = 64;
	if (dfd < 0 || ioctl(fd, FS_IOC_FIEMAP, fm) < 0) {
		printf("# fiemap or open %s failed: %s\n", dev, strerror(errno));
		ok = 0;
		goto out;
	}
	for (unsigned i = 0; ok && i < fm->fm_mapped_extents; i++) {
		struct fiemap_extent *e = &fm->fm_extents[i];
		off_t lo = e->fe_logical > (__u64)off ? (off_t)e->fe_logical : off;
		off_t hi = e->fe_logical + e->fe_length < off + len ?
			   (off_t)(e->fe_logical + e->fe_length) : off + (off_t)len;
		off_t phys = e->fe_physical + (lo - e->fe_logical);
		off_t a = phys & ~(off_t)(BS - 1);
		size_t n = ((phys + (hi - lo) + BS - 1) & ~(off_t)(BS - 1)) - a;

		if (hi <= lo)
			continue;
		if (e->fe_flags & (FIEMAP_EXTENT_DELALLOC | FIEMAP_EXTENT_UNKNOWN |
				   FIEMAP_EXTENT_UNWRITTEN)) {
			printf("# extent at %llu has flags %#x\n",
			       (unsigned long long)e->fe_logical, e->fe_flags);
			ok = 0;
			break;
		}
		free(buf);
		if (posix_memalign((void **)&buf, BS, n) || pread(dfd, buf, n, a) != (ssize_t)n) {
			ok = 0;
			break;
		}
		for (off_t k = 0; k < hi - lo; k++)
			if (buf[phys - a + k] != pattern(lo + k, seed)) {
				printf("# device differs at file offset %lld\n", (long long)(lo + k));
				ok = 0;
				break;
			}
		covered += hi - lo;
	}
	if (ok && covered != len) {
		printf("# extents cover %zu of %zu bytes\n", covered, len);
		ok = 0;
	}
out:
	free(buf);
	free(fm);
	if (dfd >= 0)
		close(dfd);
	return ok;
}

/*
 * NR 4k writes in one io_submit to a new file opened with open_flags, or
 * marked rw_flags; checks the order point, res, and, as each event
 * arrives, that its data is on the device.
 */
static void batch(const char *name, int open_flags, int rw_flags, int extend)
{
	unsigned char *bufs = malloc((size_t)NR * BS);
	struct iocb cbs[NR], *list[NR];
	struct io_event ev[NR];
	struct timespec zero = { 0, 0 };
	char path[512];
	int fd, i, good = 0, durable = 0;
	long early, r;

	snprintf(path, sizeof(path), "%s/sync_write-%s.dat", dir, name);
	fd = open(path, O_CREAT | O_TRUNC | O_RDWR | open_flags, 0600);
	CHECK(fd >= 0, "%s: create %s", name, path);
	if (fd < 0)
		return;
	if (!extend) {
		/* Overwrites of blocks already on the device. */
		fill(bufs, (size_t)NR * BS, 0, 0);
		for (i = 0; i < NR; i++)
			if (pwrite(fd, bufs + (size_t)i * BS, BS, (off_t)i * 2 * BS) != BS)
				break;
		fsync(fd);
	}
	for (i = 0; i < NR; i++) {
		fill(bufs + (size_t)i * BS, BS, (off_t)i * 2 * BS, 7);
		prep_write(&cbs[i], fd, bufs + (size_t)i * BS, BS, (off_t)i * 2 * BS, rw_flags);
		list[i] = &cbs[i];
	}
	r = io_submit(ctx, NR, list);
	early = io_getevents(ctx, 0, NR, ev, &zero);
	CHECK(r == NR, "%s: io_submit of %d writes: %ld", name, NR, r);
	if (ours)
		CHECK(early == 0, "%s: ours: no write had completed when io_submit returned (%ld had)",
		      name, early);
	else
		CHECK(early == NR, "%s: C: every write completed inside io_submit (%ld did)",
		      name, early);
	for (i = 0; i < (early > 0 ? early : 0); i++) {
		struct iocb *cb = (struct iocb *)(uintptr_t)ev[i].data;

		good += ev[i].res == BS;
		durable += on_device(fd, cb->aio_offset, BS, 7);
	}
	while (i < NR) {
		struct io_event one;

		if (reap_n(ctx, 1, &one) != 1)
			break;
		/* Checked at once: the event promises durability now. */
		good += one.res == BS;
		durable += on_device(fd, ((struct iocb *)(uintptr_t)one.data)->aio_offset, BS, 7);
		i++;
	}
	CHECK(i == NR && good == NR, "%s: %d events of %d bytes (%d good)", name, NR, BS, good);
	CHECK(durable == NR, "%s: each event's data was on the device when it arrived (%d were)",
	      name, durable);
	close(fd);
	unlink(path);
	free(bufs);
}

/* io_destroy and exit while sync writes are under way. */
static void test_destroy_and_exit(void)
{
	unsigned char *bufs = malloc((size_t)NR * BS);
	struct iocb cbs[NR], *list[NR];
	char path[512];
	aio_context_t c2 = 0;
	int fd, i, st, durable = 0;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/sync_write-destroy.dat", dir);
	fd = open(path, O_CREAT | O_TRUNC | O_RDWR | O_DSYNC, 0600);
	CHECK(fd >= 0, "create %s", path);
	if (fd < 0)
		return;
	CHECK_RET(io_setup(NR, &c2), 0, "io_setup of a second context");
	for (i = 0; i < NR; i++) {
		fill(bufs + (size_t)i * BS, BS, (off_t)i * 2 * BS, 9);
		prep_write(&cbs[i], fd, bufs + (size_t)i * BS, BS, (off_t)i * 2 * BS, 0);
		list[i] = &cbs[i];
	}
	CHECK_RET(io_submit(c2, NR, list), NR, "io_submit of 32 O_DSYNC writes");
	CHECK_RET(io_destroy(c2), 0, "io_destroy with the writes pending returns once they are done");
	for (i = 0; i < NR; i++)
		durable += on_device(fd, (off_t)i * 2 * BS, BS, 9);
	CHECK(durable == NR, "and their data is on the device (%d of %d)", durable, NR);

	pid = fork();
	if (pid == 0) {
		c2 = 0;
		if (io_setup(NR, &c2))
			_exit(2);
		_exit(io_submit(c2, NR, list) == NR ? 0 : 3);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "a process exits with 32 O_DSYNC writes pending");
	close(fd);
	unlink(path);
	free(bufs);
}

/* The device offset of the file's block at off (FIEMAP), or -1. */
static off_t physical(int fd, off_t off)
{
	struct {
		struct fiemap fm;
		struct fiemap_extent e[1];
	} m;

	memset(&m, 0, sizeof(m));
	m.fm.fm_start = off;
	m.fm.fm_length = BS;
	m.fm.fm_extent_count = 1;
	if (ioctl(fd, FS_IOC_FIEMAP, &m) || m.fm.fm_mapped_extents != 1)
		return -1;
	return m.e[0].fe_physical + (off - m.e[0].fe_logical);
}

static int set_badblocks(char sign, off_t phys)
{
	FILE *f = fopen(badblocks, "w");
	int ok;

	if (!f)
		return 0;
	ok = fprintf(f, "%c%lld-%lld\n", sign, (long long)(phys / 512),
		     (long long)((phys + BS) / 512 - 1)) > 0;
	return !fclose(f) && ok;
}

/*
 * A write whose writeback fails gets EIO in its event, also when another
 * write to the same open file is in flight (whose sync may be the one that
 * fsync reports the error to): the bad block's write in one io_submit with
 * a good one.
 */
static void test_write_error(void)
{
	static unsigned char buf[2][BS];
	struct iocb cbs[2], *list[2] = { &cbs[0], &cbs[1] };
	struct io_event ev[2];
	char path[512];
	long bad_res = 0, good_res = 0;
	off_t phys;
	int fd;

	snprintf(path, sizeof(path), "%s/sync_write-eio.dat", dir);
	fd = open(path, O_CREAT | O_TRUNC | O_RDWR | O_DSYNC, 0600);
	memset(buf, 0x5a, sizeof(buf));
	CHECK(fd >= 0 && pwrite(fd, buf[0], BS, 0) == BS && pwrite(fd, buf[1], BS, 64 * BS) == BS,
	      "create %s with two blocks on the device", path);
	phys = fd >= 0 ? physical(fd, 0) : -1;
	CHECK(phys >= 0 && set_badblocks('+', phys), "the first block's sectors made bad (at %lld)",
	      (long long)phys);
	prep_write(&cbs[0], fd, buf[0], BS, 0, 0);
	prep_write(&cbs[1], fd, buf[1], BS, 64 * BS, 0);
	CHECK_RET(io_submit(ctx, 2, list), 2, "io_submit of a write to the bad block and a good one");
	CHECK_RET(reap_n(ctx, 2, ev), 2, "two events");
	for (int i = 0; i < 2; i++) {
		if ((struct iocb *)(uintptr_t)ev[i].data == &cbs[0])
			bad_res = ev[i].res;
		else
			good_res = ev[i].res;
	}
	CHECK(bad_res == -EIO, "the write to the bad block gets EIO (res %ld)", bad_res);
	CHECK(good_res == BS || (ours && good_res == -EIO),
	      "the other write: %d bytes%s (res %ld)", BS,
	      ours ? ", or EIO (an error since its submission)" : "", good_res);
	if (phys >= 0)
		set_badblocks('-', phys);
	close(fd);
	unlink(path);
}

/*
 * Under a finite RLIMIT_FSIZE (in a child), O_DSYNC writes keep C's path on
 * both kernels (a worker's limits are not the submitter's): both complete
 * inside io_submit, the one below the limit writes, the one past it gets
 * EFBIG.
 */
static void test_rlimit(void)
{
	static unsigned char buf[BS];
	struct iocb cbs[2], *list[2] = { &cbs[0], &cbs[1] };
	char path[512];
	int st = -1;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/sync_write-rlimit.dat", dir);
	pid = fork();
	if (pid == 0) {
		struct rlimit rl = { 256 << 10, 256 << 10 };
		struct io_event ev[2];
		struct timespec zero = { 0, 0 };
		aio_context_t c2 = 0;
		long early, good = 0, efbig = 0;
		int fd;

		signal(SIGXFSZ, SIG_IGN);
		fd = open(path, O_CREAT | O_TRUNC | O_RDWR | O_DSYNC, 0600);
		if (fd < 0 || setrlimit(RLIMIT_FSIZE, &rl) || io_setup(4, &c2))
			_exit(10);
		prep_write(&cbs[0], fd, buf, BS, 0, 0);
		prep_write(&cbs[1], fd, buf, BS, 512 << 10, 0);
		if (io_submit(c2, 2, list) != 2)
			_exit(11);
		early = io_getevents(c2, 0, 2, ev, &zero);
		if (early != 2)
			_exit(12);
		for (int i = 0; i < 2; i++) {
			good += ev[i].res == BS;
			efbig += ev[i].res == -EFBIG;
		}
		_exit(good == 1 && efbig == 1 ? 0 : 13);
	}
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "finite RLIMIT_FSIZE: both writes complete inside io_submit, one EFBIG (status %d)",
	      WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	unlink(path);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s DIR DEV IMPL\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	dev = argv[2];
	ours = !strcmp(argv[3], "rust");
	badblocks = argc > 4 ? argv[4] : NULL;
	CHECK_RET(io_setup(256, &ctx), 0, "io_setup");
	batch("O_DSYNC", O_DSYNC, 0, 0);
	batch("O_DSYNC-extend", O_DSYNC, 0, 1);
	batch("O_SYNC", O_SYNC, 0, 1);
	batch("RWF_DSYNC", 0, RWF_DSYNC, 0);
	batch("RWF_SYNC", 0, RWF_SYNC, 1);
	test_destroy_and_exit();
	test_rlimit();
	if (badblocks)
		test_write_error();
	io_destroy(ctx);
	return tap_done();
}
