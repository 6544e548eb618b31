// SPDX-License-Identifier: GPL-2.0
/*
 * The data path: reads, writes, vectored I/O, fsync, eventfd, flags, limits,
 * events in the ring, user-space reaping and partial submission.  Files live
 * on tmpfs (/tmp) unless a path is given as argv[1] (a directory on another
 * file system, e.g. ext4 on virtio-blk).
 */
#include "tap.h"
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>

static aio_context_t ctx;
static char dir[256] = "/tmp";

/* tap.h's prep_rw(), with a tag in aio_data so that data and obj differ. */
static void prep(struct iocb *cb, int op, int fd, void *buf, size_t len, off_t off)
{
	prep_rw(cb, op, fd, buf, len, off);
	cb->aio_data |= 0x1234000000000000ULL;
}

/* Submits one iocb and waits for its event; returns the event's res. */
static long run1(struct iocb *cb, struct io_event *ev)
{
	struct iocb *list[1] = { cb };
	long r = io_submit(ctx, 1, list);

	if (r != 1)
		return r == 0 ? -9999 : r - 100000;	/* a submit error, distinguishable */
	r = io_getevents(ctx, 1, 1, ev, NULL);
	if (r != 1)
		return -9998;
	return ev->res;
}

static int tmpfile_fd(const char *name, int flags)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	return open(path, O_CREAT | O_RDWR | flags, 0600);
}

static void test_read_write(void)
{
	char wbuf[8192], rbuf[8192];
	struct io_event ev;
	struct iocb cb;
	int fd = tmpfile_fd("rw", 0), i;

	for (i = 0; i < (int)sizeof(wbuf); i++)
		wbuf[i] = i * 7 + 3;
	prep(&cb, IOCB_CMD_PWRITE, fd, wbuf, sizeof(wbuf), 0);
	CHECK_RET(run1(&cb, &ev), 8192, "pwrite 8k");
	CHECK(ev.obj == (uintptr_t)&cb && ev.data == cb.aio_data && ev.res2 == 0,
	      "event carries obj, data and res2 = 0");
	CHECK(cb.aio_key == 0, "aio_key is 0 after submission");
	prep(&cb, IOCB_CMD_PREAD, fd, rbuf, sizeof(rbuf), 0);
	CHECK_RET(run1(&cb, &ev), 8192, "pread 8k");
	CHECK(!memcmp(rbuf, wbuf, sizeof(wbuf)), "read back what was written");
	prep(&cb, IOCB_CMD_PREAD, fd, rbuf, 4096, 6000);
	CHECK_RET(run1(&cb, &ev), 2192, "short read at EOF");
	prep(&cb, IOCB_CMD_PREAD, fd, rbuf, 4096, 1 << 20);
	CHECK_RET(run1(&cb, &ev), 0, "read past EOF");
	prep(&cb, IOCB_CMD_PREAD, fd, (void *)8, 4096, 0);
	CHECK_RET(run1(&cb, &ev), -EFAULT, "read into a bad buffer: EFAULT in the event");
	close(fd);
}

static void test_vectored(void)
{
	char a[100], b[200], c[300], r[600];
	struct iovec iov[3] = { { a, 100 }, { b, 200 }, { c, 300 } };
	struct iovec riov[2] = { { r, 250 }, { r + 250, 350 } };
	struct io_event ev;
	struct iocb cb;
	int fd = tmpfile_fd("vec", 0);

	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	memset(c, 'c', sizeof(c));
	prep(&cb, IOCB_CMD_PWRITEV, fd, iov, 3, 10);
	CHECK_RET(run1(&cb, &ev), 600, "pwritev of 3 vectors");
	prep(&cb, IOCB_CMD_PREADV, fd, riov, 2, 10);
	CHECK_RET(run1(&cb, &ev), 600, "preadv into 2 vectors");
	CHECK(r[0] == 'a' && r[99] == 'a' && r[100] == 'b' && r[299] == 'b' &&
	      r[300] == 'c' && r[599] == 'c', "vectored data in order");
	prep(&cb, IOCB_CMD_PREADV, fd, riov, 2000, 0);
	CHECK_RET(run1(&cb, &ev), -100000 - EINVAL, "preadv with too many vectors: EINVAL at submit");
	prep(&cb, IOCB_CMD_PREADV, fd, (void *)8, 2, 0);
	CHECK_RET(run1(&cb, &ev), -100000 - EFAULT, "preadv with a bad vector array: EFAULT at submit");
	close(fd);
}

static void test_errors(void)
{
	char buf[64];
	struct io_event ev;
	struct iocb cb;
	int fd = tmpfile_fd("err", 0), ro, dfd;
	char path[512];

	snprintf(path, sizeof(path), "%s/err", dir);
	ro = open(path, O_RDONLY);
	prep(&cb, IOCB_CMD_PWRITE, ro, buf, 64, 0);
	CHECK_RET(run1(&cb, &ev), -100000 - EBADF, "write to a read-only fd: EBADF at submit");
	close(ro);
	ro = open(path, O_WRONLY);
	prep(&cb, IOCB_CMD_PREAD, ro, buf, 64, 0);
	CHECK_RET(run1(&cb, &ev), -100000 - EBADF, "read from a write-only fd: EBADF at submit");
	close(ro);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	prep(&cb, IOCB_CMD_PREAD, dfd, buf, 64, 0);
	CHECK_RET(run1(&cb, &ev), -100000 - EINVAL, "read from a directory: EINVAL at submit");
	close(dfd);
	prep(&cb, IOCB_CMD_PREAD, fd, buf, 64, -1);
	CHECK_RET(run1(&cb, &ev), -100000 - EINVAL, "negative offset: EINVAL at submit");
	prep(&cb, IOCB_CMD_PREAD, fd, buf, 64, 0);
	cb.aio_rw_flags = 0x40000000;
	CHECK_RET(run1(&cb, &ev), -100000 - EOPNOTSUPP, "unknown RWF flag: EOPNOTSUPP at submit");
	prep(&cb, IOCB_CMD_PREAD, fd, buf, 64, 0);
	cb.aio_flags = IOCB_FLAG_IOPRIO;
	cb.aio_reqprio = 7 << 13;	/* no such class */
	CHECK_RET(run1(&cb, &ev), -100000 - EINVAL, "invalid IOCB_FLAG_IOPRIO: EINVAL at submit");
	prep(&cb, IOCB_CMD_PREAD, fd, buf, 64, 0);
	cb.aio_flags = IOCB_FLAG_IOPRIO;
	cb.aio_reqprio = (2 << 13) | 4;	/* best effort, level 4 */
	CHECK_RET(run1(&cb, &ev), 0, "valid IOCB_FLAG_IOPRIO");
	prep(&cb, IOCB_CMD_FSYNC, fd, buf, 0, 0);
	CHECK_RET(run1(&cb, &ev), -100000 - EINVAL, "fsync with a buffer: EINVAL at submit");
	close(fd);
}

static void test_append_and_flags(void)
{
	char buf[100];
	struct io_event ev;
	struct iocb cb;
	struct stat st;
	int fd = tmpfile_fd("app", O_APPEND);

	memset(buf, 'x', sizeof(buf));
	prep(&cb, IOCB_CMD_PWRITE, fd, buf, 100, 0);
	run1(&cb, &ev);
	prep(&cb, IOCB_CMD_PWRITE, fd, buf, 100, 0);
	CHECK_RET(run1(&cb, &ev), 100, "O_APPEND write");
	fstat(fd, &st);
	CHECK(st.st_size == 200, "O_APPEND writes append (size %ld)", (long)st.st_size);
	close(fd);

	fd = tmpfile_fd("flags", 0);
	prep(&cb, IOCB_CMD_PWRITE, fd, buf, 100, 0);
	cb.aio_rw_flags = RWF_DSYNC;
	CHECK_RET(run1(&cb, &ev), 100, "RWF_DSYNC write");
	prep(&cb, IOCB_CMD_PWRITE, fd, buf, 100, 0);
	cb.aio_rw_flags = RWF_APPEND;
	CHECK_RET(run1(&cb, &ev), 100, "RWF_APPEND write");
	fstat(fd, &st);
	CHECK(st.st_size == 200, "RWF_APPEND appends (size %ld)", (long)st.st_size);
	prep(&cb, IOCB_CMD_PWRITE, fd, buf, 100, 0);
	cb.aio_rw_flags = RWF_HIPRI;
	CHECK_RET(run1(&cb, &ev), 100, "RWF_HIPRI is accepted and completes");
	close(fd);
}

static void test_fsync(void)
{
	struct io_event ev;
	struct iocb cb;
	int fd = tmpfile_fd("sync", 0);

	if (write(fd, "hello", 5) != 5)
		CHECK(0, "write");
	prep(&cb, IOCB_CMD_FSYNC, fd, NULL, 0, 0);
	CHECK_RET(run1(&cb, &ev), 0, "IOCB_CMD_FSYNC");
	CHECK(ev.obj == (uintptr_t)&cb, "fsync event obj");
	prep(&cb, IOCB_CMD_FDSYNC, fd, NULL, 0, 0);
	CHECK_RET(run1(&cb, &ev), 0, "IOCB_CMD_FDSYNC");
	close(fd);
}

static void test_eventfd(void)
{
	enum { N = 20 };
	struct iocb cbs[N], *list[N];
	struct io_event ev[N];
	char buf[N][16];
	uint64_t count = 0;
	int fd = tmpfile_fd("efd", 0), efd = eventfd(0, 0), i, got = 0;

	for (i = 0; i < N; i++) {
		prep(&cbs[i], IOCB_CMD_PWRITE, fd, buf[i], 16, i * 16);
		cbs[i].aio_flags = IOCB_FLAG_RESFD;
		cbs[i].aio_resfd = efd;
		list[i] = &cbs[i];
	}
	CHECK_RET(io_submit(ctx, N, list), N, "submit 20 writes with RESFD");
	while (got < N) {
		long r = io_getevents(ctx, 1, N, ev, NULL);

		if (r <= 0)
			break;
		got += r;
	}
	CHECK(got == N, "20 events");
	CHECK(read(efd, &count, 8) == 8 && count == N,
	      "eventfd counted exactly one per completion (%llu)", (unsigned long long)count);
	close(efd);
	close(fd);
}

static void test_partial_submit(void)
{
	struct iocb good, bad, *list[3] = { &good, &bad, &good };
	struct io_event ev[2];
	char buf[16];
	int fd = tmpfile_fd("part", 0);

	prep(&good, IOCB_CMD_PWRITE, fd, buf, 16, 0);
	prep(&bad, IOCB_CMD_PWRITE, 9999, buf, 16, 0);
	CHECK_RET(io_submit(ctx, 3, list), 1, "partial submission returns the count queued");
	CHECK_RET(io_getevents(ctx, 1, 2, ev, NULL), 1, "exactly one event for it");
	close(fd);
}

static void test_fault_keeps_events(void)
{
	struct iocb cb, *list[1] = { &cb };
	struct io_event ev[1];
	struct aio_ring_hdr *ring = (struct aio_ring_hdr *)ctx;
	char buf[16];
	unsigned head;
	int fd = tmpfile_fd("fault", 0);

	prep(&cb, IOCB_CMD_PWRITE, fd, buf, 16, 0);
	io_submit(ctx, 1, list);
	while (ring->head == ring->tail)
		usleep(1000);
	head = ring->head;
	CHECK_RET(io_getevents(ctx, 1, 1, (void *)8, NULL), -EFAULT,
		  "copy-out fault: EFAULT");
	CHECK(ring->head == head, "copy-out fault does not move head");
	CHECK_RET(io_getevents(ctx, 1, 1, ev, NULL), 1, "the event is still there");
	CHECK(ev[0].obj == (uintptr_t)&cb && ev[0].res == 16, "and intact");
	close(fd);
}

/* QEMU/fio/SPDK-style reaping: user space moves head itself. */
static void test_user_reaping(void)
{
	aio_context_t c = 0;
	struct aio_ring_hdr *ring;
	struct io_event *events;
	struct iocb *cbs, **list;
	char buf[16];
	int fd = tmpfile_fd("reap", 0), round, i, ok = 1, total = 0;
	unsigned n;

	io_setup(32, &c);
	ring = (struct aio_ring_hdr *)c;
	events = (struct io_event *)((char *)ring + ring->header_length);
	n = 32;	/* what io_setup was asked for: always available */
	cbs = calloc(n, sizeof(*cbs));
	list = calloc(n, sizeof(*list));
	for (round = 0; round < 8 && ok; round++) {
		long r;

		for (i = 0; i < (int)n; i++) {
			prep(&cbs[i], IOCB_CMD_PWRITE, fd, buf, 16, 0);
			list[i] = &cbs[i];
		}
		r = io_submit(c, n, list);
		if (r != (long)n) {
			CHECK(0, "round %d: submitted %ld of %u (slots not refilled?)", round, r, n);
			ok = 0;
			break;
		}
		for (i = 0; i < (int)n;) {
			unsigned head = ring->head, tail;

			tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
			while (head != tail) {
				if (events[head].res != 16)
					ok = 0;
				head = (head + 1) % ring->nr;
				i++;
				total++;
			}
			__atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
		}
	}
	CHECK(ok && total == 8 * (int)n && total > (int)ring->nr,
	      "user-space reaping frees slots: %d events through a ring of %u", total, ring->nr);
	CHECK_RET(io_getevents(c, 0, 1, events, &(struct timespec){ 0 }), 0,
		  "nothing left for io_getevents");
	io_destroy(c);
	free(cbs);
	free(list);
	close(fd);
}

static void test_ring_full(void)
{
	aio_context_t c = 0;
	struct aio_ring_hdr *ring;
	struct iocb *cbs, **list;
	struct io_event *ev;
	char buf[16];
	int fd = tmpfile_fd("full", 0), i;
	unsigned n;
	long r, got = 0;

	io_setup(1, &c);
	ring = (struct aio_ring_hdr *)c;
	n = ring->nr;
	cbs = calloc(n + 1, sizeof(*cbs));
	list = calloc(n + 1, sizeof(*list));
	ev = calloc(n + 1, sizeof(*ev));
	for (i = 0; i <= (int)n; i++) {
		prep(&cbs[i], IOCB_CMD_PWRITE, fd, buf, 16, 0);
		list[i] = &cbs[i];
	}
	r = io_submit(c, n + 1, list);
	/*
	 * At least what io_setup was asked for, at most all slots but one;
	 * fs/aio.c's per-CPU slot batches may keep some of them unused.
	 */
	CHECK(r >= 1 && r <= (long)n - 1, "a ring of %u slots takes 1..%u requests (got %ld)",
	      n, n - 1, r);
	CHECK_RET(io_submit(c, 1, list), -EAGAIN, "a full ring: EAGAIN");
	while (got < r) {
		long k = io_getevents(c, 1, n, ev, NULL);

		if (k <= 0)
			break;
		got += k;
	}
	CHECK(got == r, "every request completed once (%ld)", got);
	CHECK_RET(io_submit(c, 1, list), 1, "room again after reaping");
	io_destroy(c);
	free(cbs);
	free(list);
	free(ev);
	close(fd);
}

static void test_rlimit(void)
{
	struct rlimit rl = { 8192, 8192 }, old;
	char buf[4096];
	struct io_event ev;
	struct iocb cb;
	int fd = tmpfile_fd("rlim", 0);

	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	setrlimit(RLIMIT_FSIZE, &rl);
	prep(&cb, IOCB_CMD_PWRITE, fd, buf, 4096, 6144);
	CHECK_RET(run1(&cb, &ev), 2048, "write across RLIMIT_FSIZE is short");
	prep(&cb, IOCB_CMD_PWRITE, fd, buf, 4096, 8192);
	CHECK_RET(run1(&cb, &ev), -EFBIG, "write at RLIMIT_FSIZE: EFBIG");
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	close(fd);
}

/* Reaps n events; true if there were exactly n, each with result res. */
static int reap_all(int n, struct io_event *ev, long res)
{
	int got = 0, bad = 0;

	while (got < n) {
		long r = io_getevents(ctx, 1, n - got, ev, NULL);

		if (r <= 0)
			return 0;
		for (int i = 0; i < r; i++)
			bad |= ev[i].res != res;
		got += r;
	}
	return !bad;
}

/*
 * O_DIRECT on a block device: a batch of aligned writes, then reads back
 * (data compared unless the device does not keep data, like null_blk).
 */
static void test_direct(const char *dev, int keeps_data)
{
	enum { N = 64, BS = 4096 };
	struct iocb cbs[N], *list[N];
	struct io_event ev[N];
	char *buf;
	int fd = open(dev, O_RDWR | O_DIRECT), i, bad = 0;

	if (fd < 0) {
		CHECK(0, "open %s O_DIRECT", dev);
		return;
	}
	if (posix_memalign((void **)&buf, BS, N * BS))
		return;
	for (i = 0; i < N * BS; i++)
		buf[i] = (i / BS) ^ (i & 0xff);
	for (i = 0; i < N; i++) {
		prep(&cbs[i], IOCB_CMD_PWRITE, fd, buf + i * BS, BS, (off_t)i * BS);
		list[i] = &cbs[i];
	}
	CHECK_RET(io_submit(ctx, N, list), N, "O_DIRECT: 64 writes submitted");
	CHECK(reap_all(N, ev, BS), "O_DIRECT: 64 write events of 4k on %s", dev);
	memset(buf, 0, N * BS);
	for (i = 0; i < N; i++)
		prep(&cbs[i], IOCB_CMD_PREAD, fd, buf + i * BS, BS, (off_t)i * BS);
	CHECK_RET(io_submit(ctx, N, list), N, "O_DIRECT: 64 reads submitted");
	CHECK(reap_all(N, ev, BS), "O_DIRECT: 64 read events of 4k on %s", dev);
	if (keeps_data) {
		for (i = 0; i < N * BS; i++)
			if (buf[i] != (char)((i / BS) ^ (i & 0xff)))
				bad = 1;
		CHECK(!bad, "O_DIRECT: data read back intact");
	}
	prep(&cbs[0], IOCB_CMD_PREAD, fd, buf + 1, BS, 0);
	CHECK_RET(run1(&cbs[0], ev), -EINVAL, "O_DIRECT: misaligned buffer: EINVAL in the event");
	free(buf);
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		snprintf(dir, sizeof(dir), "%s", argv[1]);
	if (io_setup(128, &ctx)) {
		CHECK(0, "io_setup");
		return tap_done();
	}
	test_read_write();
	test_vectored();
	test_errors();
	test_append_and_flags();
	test_fsync();
	test_eventfd();
	test_partial_submit();
	test_fault_keeps_events();
	test_user_reaping();
	test_ring_full();
	test_rlimit();
	/* argv[2..]: block devices for O_DIRECT; a "-" suffix: data not kept. */
	for (int i = 2; i < argc; i++) {
		char dev[256];
		size_t l = strlen(argv[i]);
		int keeps = !(l && argv[i][l - 1] == '-');

		snprintf(dev, sizeof(dev), "%.*s", (int)(keeps ? l : l - 1), argv[i]);
		test_direct(dev, keeps);
	}
	CHECK_RET(io_destroy(ctx), 0, "io_destroy");
	return tap_done();
}
