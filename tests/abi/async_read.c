// SPDX-License-Identifier: GPL-2.0
/*
 * Buffered reads on a cold page cache over a slow device (ext4 on a
 * null_blk with a fixed completion latency): data and res exactly as a
 * synchronous pread of the same range, on both kernels.  One point differs
 * on purpose: C reads inside io_submit, ours returns before the device does
 * (README, "Deliberate differences"); the point says which it expects.
 *
 * Lifetime: hole punch, truncate, fork and memory pressure while the reads
 * wait leave every iocb exactly one event with the data a pread would give.
 *
 * Usage: async_read DIR IMPL   (DIR on the slow device, IMPL rust or c)
 */
#include "tap.h"
#include <linux/falloc.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
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
			same_as_pread(fd, (void *)(uintptr_t)cb->aio_buf, 4096, 4096, cb->aio_offset);
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

		if (same_as_pread(fd, bufs[k], ev[i].res, cases[k].len, cases[k].off))
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
	ok = same_as_pread(fd, flat, ev.res, total, (9 << 20) + 3);
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

/*
 * io_destroy while the thread that submitted the reads cannot run task
 * work: it waits in vfork for a child (a killable sleep, as a thread
 * stopped by a tracer or frozen would be).  Ours: the reads' next passes
 * may be queued on that thread; the context's death hands them to a worker
 * instead of waiting for the thread, and so does io_cancel for its event.
 * C: the reads were done in io_submit.
 * A watchdog lets the child go after 60 s, so that a kernel that waits
 * fails this point instead of hanging.  The device answers after 100 ms;
 * the 1 s sleep before io_destroy only makes it likely that the passes are
 * queued by then (the point passes either way on a correct kernel).
 */
struct stalled {
	aio_context_t ctx;
	int gate[2];		/* the vfork child exits on a byte or EOF here */
	int done[2];		/* io_destroy returned: the watchdog stands down */
	struct iocb cbs[NR];
	long submitted;
	volatile int tid;
	volatile int watchdog_fired;
};

static int vfork_child(void *arg)
{
	struct stalled *s = arg;
	char c;

	/* The parent's memory and stack are not ours to change: syscalls only. */
	syscall(SYS_read, s->gate[0], &c, 1);
	syscall(SYS_exit, 0);
	return 0;
}

static void *stalled_submitter(void *arg)
{
	static unsigned char bufs[NR][4096];
	static char stack[64 << 10];
	struct stalled *s = arg;
	struct iocb *list[NR];
	int st;

	for (int i = 0; i < NR; i++) {
		prep_rw(&s->cbs[i], IOCB_CMD_PREAD, fd, bufs[i], 4096, ((off_t)i << 20) + 24576);
		list[i] = &s->cbs[i];
	}
	s->submitted = io_submit(s->ctx, NR, list);
	s->tid = (int)syscall(SYS_gettid);
	pid_t pid = clone(vfork_child, stack + sizeof(stack), CLONE_VM | CLONE_VFORK | SIGCHLD, s);

	if (pid > 0)
		waitpid(pid, &st, 0);
	return NULL;
}

static void *watchdog(void *arg)
{
	struct stalled *s = arg;
	struct pollfd pfd = { .fd = s->done[0], .events = POLLIN };

	if (poll(&pfd, 1, 60000) == 0) {
		s->watchdog_fired = 1;
		/* Not a close: the child has its own copy of the write end. */
		if (write(s->gate[1], "x", 1) != 1)
			perror("watchdog: write");
	}
	return NULL;
}

/* The state letter of thread `tid` of this process ('D', 'S', ...), or 0. */
static char thread_state(int tid)
{
	char path[64], line[512], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
	fclose(f);
	return p && p[1] == ' ' ? p[2] : 0;
}

static void test_destroy_stalled_submitter(void)
{
	static struct stalled s;
	struct io_event ev;
	pthread_t sub, dog;
	char state = 0;
	long r;

	memset(&s, 0, sizeof(s));
	cold();
	CHECK_RET(io_setup(NR, &s.ctx), 0, "io_setup for a submitter that will not run task work");
	if (pipe(s.gate) || pipe(s.done)) {
		CHECK(0, "pipes");
		return;
	}
	pthread_create(&sub, NULL, stalled_submitter, &s);
	for (int i = 0; i < 1000 && state != 'D'; i++) {
		usleep(10000);
		if (s.tid)
			state = thread_state(s.tid);
	}
	CHECK_RET(s.submitted, NR, "io_submit of 32 cold reads from the thread");
	CHECK(state == 'D', "the submitter waits in vfork for its child (state %c)", state ? state : '?');
	/*
	 * The device answers after 100 ms: by now the pages are in, and (ours)
	 * the reads' next passes wait for the submitter.
	 */
	usleep(1000000);
	pthread_create(&dog, NULL, watchdog, &s);
	/* io_cancel's event does not wait for the submitter either. */
	r = io_cancel(s.ctx, &s.cbs[0], &ev);
	if (ours) {
		CHECK_RET(r, -EINPROGRESS, "ours: io_cancel of one of the reads");
		/* A read that a worker did (readahead failed) may come first. */
		for (int i = 0; i < NR; i++) {
			r = io_getevents(s.ctx, 1, 1, &ev, &(struct timespec){ 10, 0 });
			if (r != 1 || ev.obj == (uintptr_t)&s.cbs[0])
				break;
		}
		CHECK(r == 1 && ev.obj == (uintptr_t)&s.cbs[0] && ev.res == -ECANCELED,
		      "ours: its event (ECANCELED) arrives while the submitter is in vfork (%ld, res %lld)",
		      r, r == 1 ? (long long)ev.res : 0LL);
	} else {
		CHECK_RET(r, -EINVAL, "C: io_cancel finds the read done");
	}
	r = io_destroy(s.ctx);
	CHECK(r == 0 && !s.watchdog_fired,
	      "io_destroy returns while the submitter is still in vfork (%ld%s)", r,
	      s.watchdog_fired ? ", only after the watchdog let it go" : "");
	CHECK(write(s.done[1], "x", 1) == 1, "stand the watchdog down");
	pthread_join(dog, NULL);
	if (!s.watchdog_fired)
		CHECK(write(s.gate[1], "x", 1) == 1, "let the vfork child exit");
	pthread_join(sub, NULL);
	close(s.gate[0]);
	close(s.gate[1]);
	close(s.done[0]);
	close(s.done[1]);
}

/* 32 cold reads, one per MiB at `skew` into it, in one io_submit on ctx. */
static void submit_cold(unsigned char (*bufs)[4096], struct iocb *cbs, off_t skew,
			const char *what)
{
	/* The mapped ring's header: id, nr, head, tail. */
	volatile unsigned *ring = (volatile unsigned *)(uintptr_t)ctx;
	struct iocb *list[NR];
	unsigned ready;
	char name[128];

	cold();
	for (int i = 0; i < NR; i++) {
		memset(bufs[i], 0xa5, 4096);
		prep_rw(&cbs[i], IOCB_CMD_PREAD, fd, bufs[i], 4096, ((off_t)i << 20) + skew);
		list[i] = &cbs[i];
	}
	snprintf(name, sizeof(name), "io_submit of 32 cold reads, then %s", what);
	CHECK_RET(io_submit(ctx, NR, list), NR, name);
	ready = (ring[3] - ring[2] + ring[1]) % ring[1];
	if (ours)
		CHECK(ready == 0, "ours: the reads are waiting (%u events in the ring)", ready);
	else
		CHECK(ready == NR, "C: the reads were done in io_submit (%u events)", ready);
}

static int all_zero(const unsigned char *p, size_t len)
{
	return len == 0 || (p[0] == 0 && !memcmp(p, p + 1, len - 1));
}

static int is_pattern(const unsigned char *p, size_t len, off_t off)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern(off + i))
			return 0;
	return 1;
}

/*
 * Reaps the 32 reads of submit_cold(): exactly one event each, none after.
 * `bad` says whether an event is wrong for its iocb; returns how many were.
 */
static int reap_each_once(struct iocb *cbs, int (*bad)(const struct io_event *, off_t),
			  const char *what)
{
	struct io_event ev[NR + 1];
	int seen[NR] = { 0 }, once = 0, wrong = 0;
	long r = reap_n(ctx, NR, ev);

	CHECK_RET(r, NR, what);
	for (int i = 0; i < r; i++) {
		struct iocb *cb = (struct iocb *)(uintptr_t)ev[i].data;
		long k = cb - cbs;

		if (k < 0 || k >= NR || seen[k]++)
			continue;
		once++;
		if (bad(&ev[i], cb->aio_offset)) {
			wrong++;
			printf("# read at %lld: res %lld\n", (long long)cb->aio_offset,
			       (long long)ev[i].res);
		}
	}
	CHECK(once == NR, "one event for each of the 32 iocbs (%d)", once);
	r = io_getevents(ctx, 0, 1, ev, &(struct timespec){ 0, 20000000 });
	CHECK_RET(r, 0, "and no event more");
	return wrong;
}

static void restore(off_t from, off_t to)
{
	static unsigned char buf[1 << 20];
	off_t off;

	for (off = from; off < to; off += sizeof(buf)) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = pattern(off + i);
		if (pwrite(fd, buf, sizeof(buf), off) != sizeof(buf))
			break;
	}
	CHECK(off >= to, "rewrite bytes %lld..%lld of the file", (long long)from, (long long)to);
}

static unsigned char lbufs[NR][4096];
static struct iocb lcbs[NR];

/* A punched page reads as zeros, or as before if the read came first. */
static int bad_after_punch(const struct io_event *ev, off_t off)
{
	const unsigned char *p = lbufs[(off >> 20) & (NR - 1)];

	if (ev->res != 4096)
		return 1;
	if (off < (FILE_SIZE / 2) && all_zero(p, 4096))
		return 0;
	return !is_pattern(p, 4096, off);
}

/* Hole punch over half of the reads while they wait for the device. */
static void test_punch_hole(void)
{
	int r;

	submit_cold(lbufs, lcbs, 24576, "punch a hole over the first 16");
	r = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, FILE_SIZE / 2);
	CHECK(r == 0, "fallocate(PUNCH_HOLE) of the first 16 MiB: %s", r ? strerror(errno) : "ok");
	r = reap_each_once(lcbs, bad_after_punch, "32 events after the hole punch");
	CHECK(r == 0, "each read has 4096 bytes, the file's or (punched) zeros (%d wrong)", r);
	restore(0, FILE_SIZE / 2);
}

/* Past the new EOF a read returns 0, or the old data if it came first. */
static int bad_after_truncate(const struct io_event *ev, off_t off)
{
	const unsigned char *p = lbufs[(off >> 20) & (NR - 1)];

	if (off >= (FILE_SIZE / 2) && ev->res == 0)
		return 0;
	return ev->res != 4096 || !is_pattern(p, 4096, off);
}

/* Truncate to half while the reads wait for the device. */
static void test_truncate(void)
{
	int r;

	submit_cold(lbufs, lcbs, 32768, "truncate the file to 16 MiB");
	r = ftruncate(fd, FILE_SIZE / 2);
	CHECK(r == 0, "ftruncate to 16 MiB: %s", r ? strerror(errno) : "ok");
	r = reap_each_once(lcbs, bad_after_truncate, "32 events after the truncate");
	CHECK(r == 0, "below EOF 4096 bytes of the file, past it 0 or the old data (%d wrong)", r);
	CHECK(ftruncate(fd, FILE_SIZE) == 0, "ftruncate back to 32 MiB");
	restore(FILE_SIZE / 2, FILE_SIZE);
}

static int bad_read(const struct io_event *ev, off_t off)
{
	return ev->res != 4096 || !is_pattern(lbufs[(off >> 20) & (NR - 1)], 4096, off);
}

/*
 * fork() while the reads wait: the child does not inherit the context (C
 * never copies the ring mapping, and looks contexts up by mm), and the
 * data lands in the parent's buffers, which fork made copy-on-write.
 */
static void test_fork(void)
{
	pid_t pid;
	int st = -1, r;

	submit_cold(lbufs, lcbs, 40960, "fork");
	pid = fork();
	if (pid == 0) {
		struct io_event ev;

		if (io_getevents(ctx, 0, 1, &ev, &(struct timespec){ 0, 0 }) != -EINVAL)
			_exit(2);
		_exit(io_destroy(ctx) == -EINVAL ? 0 : 3);
	}
	r = waitpid(pid, &st, 0);
	CHECK(r == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "the child finds no context (io_getevents and io_destroy: EINVAL; status %#x)", st);
	r = reap_each_once(lcbs, bad_read, "the parent's 32 events after fork");
	CHECK(r == 0, "each read has 4096 bytes of the file in the parent's buffer (%d wrong)", r);
}

static long meminfo(const char *key)
{
	char line[128];
	long kb = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			kb = atol(line + strlen(key));
	if (f)
		fclose(f);
	return kb;
}

/* tap.h's write_ulong(), as a truth value. */
static int write_long(const char *path, long val)
{
	return write_ulong(path, (unsigned long)val) == 0;
}

/* Pages scanned by reclaim so far, kswapd's and direct (/proc/vmstat). */
static long reclaim_scans(void)
{
	char key[64];
	long val, n = 0;
	FILE *f = fopen("/proc/vmstat", "r");

	while (f && fscanf(f, "%63s %ld", key, &val) == 2)
		if (!strcmp(key, "pgscan_kswapd") || !strcmp(key, "pgscan_direct"))
			n += val;
	if (f)
		fclose(f);
	return n;
}

#define MIN_FREE "/proc/sys/vm/min_free_kbytes"

/* min_free_kbytes as it was, put back however the test ends. */
static long min_free_orig = -1;

static void restore_min_free(void)
{
	if (min_free_orig > 0)
		write_long(MIN_FREE, min_free_orig);
}

static void restore_min_free_and_die(int sig)
{
	restore_min_free();
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Memory pressure without filling memory (which takes minutes on a TCG
 * debug guest): min_free_kbytes raised to 64 MiB below what is free, so
 * that kswapd reclaims the page cache while the reads wait, and allocations
 * still succeed above the min watermark.  The caches are dropped too.
 */
static void test_memory_pressure(void)
{
	long free_kb = meminfo("MemFree:"), orig = (long)read_ulong(MIN_FREE);
	long scans = reclaim_scans(), r;

	CHECK(free_kb > (128 << 10) && orig > 0, "MemFree %ld kB, min_free_kbytes %ld",
	      free_kb, orig);
	if (free_kb <= (128 << 10) || orig <= 0)
		return;
	min_free_orig = orig;
	atexit(restore_min_free);
	signal(SIGTERM, restore_min_free_and_die);
	signal(SIGALRM, restore_min_free_and_die);
	/* A lost event must not hold the raised watermarks until the suite's timeout. */
	alarm(120);
	CHECK(write_long(MIN_FREE, free_kb - (64 << 10)), "min_free_kbytes set to %ld",
	      free_kb - (64 << 10));
	submit_cold(lbufs, lcbs, 49152, "drop the caches under raised watermarks");
	r = write_long("/proc/sys/vm/drop_caches", 3);
	CHECK(r, "drop_caches while the reads wait");
	r = reap_each_once(lcbs, bad_read, "32 events under memory pressure");
	CHECK(r == 0, "each read has 4096 bytes of the file (%ld wrong)", r);
	r = reclaim_scans() - scans;
	CHECK(r > 0, "reclaim scanned %ld pages meanwhile", r);
	alarm(0);
	CHECK(write_long(MIN_FREE, orig), "min_free_kbytes back to %ld", orig);
	min_free_orig = -1;
}

static long aio_nr(void)
{
	return (long)read_ulong("/proc/sys/fs/aio-nr");
}

int main(int argc, char **argv)
{
	char path[512];
	unsigned char *buf;
	long nr_before;
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
	nr_before = aio_nr();
	test_destroy_and_exit();
	test_destroy_stalled_submitter();
	test_punch_hole();
	test_truncate();
	test_fork();
	test_memory_pressure();
	for (int i = 0; i < 50 && aio_nr() != nr_before; i++)
		usleep(20000);
	CHECK(aio_nr() == nr_before, "aio-nr as before destroy, exit and the lifetime tests (%ld, was %ld)",
	      aio_nr(), nr_before);

	io_destroy(ctx);
	close(fd);
	unlink(path);
	return tap_done();
}
