// SPDX-License-Identifier: GPL-2.0
/*
 * Buffered AIO on a file system without IOCB_NOWAIT: FUSE, served by a
 * thread of this program over /dev/fuse (no libfuse), so that the test
 * decides when the "device" answers.
 *
 * Both kernels: buffered reads (unaligned, across and past EOF, empty)
 * return what pread returns, byte for byte; O_DSYNC and RWF_DSYNC writes
 * reach the server, each followed by its FUSE_FSYNC, before their events.
 *
 * Ours only (a deliberate difference, see the README): such requests go to
 * the worker pool, so while the server holds every request, io_submit of
 * 32 cold reads returns with no event; at most the context's share of the
 * pool (4 per possible CPU) reaches the server; a second context's read
 * still does; a read still waiting for the share can be cancelled
 * (-EINPROGRESS, its event -ECANCELED) and never reaches the server; and
 * once the server answers, every other read completes with the right
 * data.  The same for O_DSYNC writes.  C does all of it inside io_submit,
 * which a holding server would block for ever.
 *
 * Usage: fuse_pool MOUNTPOINT IMPL   (IMPL rust or c)
 */
#include "tap.h"
#include <linux/fuse.h>
#include <pthread.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>

#define FILE_SIZE (16 << 20)
#define NR 32
#define NW 4
#define FUSE_BUF (1 << 20)
#define FILE_INO 2

static int ours, fuse_fd;
static unsigned char *content;

/* The server's state, under `lock`. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int hold;			/* hold READ and WRITE requests */
static struct held {
	uint64_t unique;
	uint32_t opcode;
	uint64_t off;
	uint32_t size;
} held[4 * NR];
static int nr_held;
static long reads_seen, writes_seen, fsyncs_seen;
static uint64_t seen_off[4096];		/* offsets of READs, in order */

static unsigned char pattern(uint64_t off)
{
	return (unsigned char)(off * 7 + (off >> 12) * 13 + 1);
}

static void reply(uint64_t unique, int error, const void *data, size_t len)
{
	struct fuse_out_header out = {
		.len = sizeof(out) + (error ? 0 : len),
		.error = error,
		.unique = unique,
	};
	struct iovec iov[2] = {
		{ &out, sizeof(out) },
		{ (void *)data, error ? 0 : len },
	};

	/* ENOENT: the request was interrupted or the connection is gone. */
	if (writev(fuse_fd, iov, 2) < 0 && errno != ENOENT && errno != ENODEV)
		perror("fuse reply");
}

static void attr_of(uint64_t ino, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->nlink = 1;
	a->blksize = 4096;
	if (ino == FILE_INO) {
		a->mode = S_IFREG | 0644;
		a->size = FILE_SIZE;
		a->blocks = FILE_SIZE / 512;
	} else {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
	}
}

/* Answers a READ or WRITE; with `lock` held. */
static void answer_io(uint64_t unique, uint32_t opcode, uint64_t off, uint32_t size)
{
	if (opcode == FUSE_READ) {
		uint32_t n = off >= FILE_SIZE ? 0 :
			     off + size > FILE_SIZE ? FILE_SIZE - off : size;

		reply(unique, 0, content + off, n);
	} else {
		struct fuse_write_out wo = { .size = size };

		reply(unique, 0, &wo, sizeof(wo));
	}
}

static void *serve(void *arg)
{
	unsigned char *buf = malloc(FUSE_BUF);

	(void)arg;
	for (;;) {
		ssize_t n = read(fuse_fd, buf, FUSE_BUF);
		struct fuse_in_header *in = (void *)buf;
		void *body = in + 1;

		if (n < 0 && (errno == EINTR || errno == ENOENT))
			continue;
		if (n < (ssize_t)sizeof(*in))
			break;		/* ENODEV: unmounted and aborted */
		switch (in->opcode) {
		case FUSE_INIT: {
			struct fuse_init_in *ii = body;
			struct fuse_init_out io = {
				.major = FUSE_KERNEL_VERSION,
				.minor = ii->minor < FUSE_KERNEL_MINOR_VERSION ?
					 ii->minor : FUSE_KERNEL_MINOR_VERSION,
				/* No readahead: one READ per page read. */
				.max_readahead = 0,
				.max_background = 64,
				.congestion_threshold = 48,
				.max_write = 65536,
				.time_gran = 1,
			};
			reply(in->unique, 0, &io, sizeof(io));
			break;
		}
		case FUSE_LOOKUP: {
			struct fuse_entry_out eo = {
				.nodeid = FILE_INO, .generation = 1,
				.entry_valid = 3600, .attr_valid = 3600,
			};

			if (in->nodeid != FUSE_ROOT_ID || strcmp(body, "file")) {
				reply(in->unique, -ENOENT, NULL, 0);
				break;
			}
			attr_of(FILE_INO, &eo.attr);
			reply(in->unique, 0, &eo, sizeof(eo));
			break;
		}
		case FUSE_GETATTR: {
			struct fuse_attr_out ao = { .attr_valid = 3600 };

			attr_of(in->nodeid, &ao.attr);
			reply(in->unique, 0, &ao, sizeof(ao));
			break;
		}
		case FUSE_OPEN: {
			struct fuse_open_out oo = { .fh = 1 };

			reply(in->unique, 0, &oo, sizeof(oo));
			break;
		}
		case FUSE_READ:
		case FUSE_WRITE: {
			uint64_t off;
			uint32_t size;

			if (in->opcode == FUSE_READ) {
				struct fuse_read_in *ri = body;

				off = ri->offset;
				size = ri->size;
			} else {
				struct fuse_write_in *wi = body;

				off = wi->offset;
				size = wi->size;
				if (off < FILE_SIZE && off + size <= FILE_SIZE)
					memcpy(content + off, wi + 1, size);
			}
			pthread_mutex_lock(&lock);
			if (in->opcode == FUSE_READ) {
				if (reads_seen < (long)(sizeof(seen_off) / sizeof(seen_off[0])))
					seen_off[reads_seen] = off;
				reads_seen++;
			} else {
				writes_seen++;
			}
			if (hold && nr_held < (int)(sizeof(held) / sizeof(held[0])))
				held[nr_held++] = (struct held){ in->unique, in->opcode, off, size };
			else
				answer_io(in->unique, in->opcode, off, size);
			pthread_cond_broadcast(&changed);
			pthread_mutex_unlock(&lock);
			break;
		}
		case FUSE_FSYNC:
			pthread_mutex_lock(&lock);
			fsyncs_seen++;
			pthread_cond_broadcast(&changed);
			pthread_mutex_unlock(&lock);
			reply(in->unique, 0, NULL, 0);
			break;
		case FUSE_FLUSH:
		case FUSE_RELEASE:
		case FUSE_RELEASEDIR:
			reply(in->unique, 0, NULL, 0);
			break;
		case FUSE_FORGET:
		case FUSE_BATCH_FORGET:
		case FUSE_INTERRUPT:
			break;		/* no reply */
		default:
			reply(in->unique, -ENOSYS, NULL, 0);
			break;
		}
	}
	free(buf);
	return NULL;
}

/* Answers everything held and stops holding. */
static void release(void)
{
	int i;

	pthread_mutex_lock(&lock);
	for (i = 0; i < nr_held; i++)
		answer_io(held[i].unique, held[i].opcode, held[i].off, held[i].size);
	nr_held = 0;
	hold = 0;
	pthread_mutex_unlock(&lock);
}

/* Waits up to 30 s until *counter reaches want; its value. */
static long wait_count(long *counter, long want)
{
	struct timespec until;
	long v;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 30;
	pthread_mutex_lock(&lock);
	while (*counter < want &&
	       pthread_cond_timedwait(&changed, &lock, &until) == 0)
		;
	v = *counter;
	pthread_mutex_unlock(&lock);
	return v;
}

static long get_count(long *counter)
{
	long v;

	pthread_mutex_lock(&lock);
	v = *counter;
	pthread_mutex_unlock(&lock);
	return v;
}

static int read_seen(uint64_t off)
{
	long i, n;
	int found = 0;

	pthread_mutex_lock(&lock);
	n = reads_seen < 4096 ? reads_seen : 4096;
	for (i = 0; i < n; i++)
		found |= seen_off[i] == off;
	pthread_mutex_unlock(&lock);
	return found;
}

/* The number of possible CPUs (nr_cpu_ids): the last in .../possible + 1. */
static unsigned possible_cpus(void)
{
	char s[64] = "";
	FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
	char *p;

	if (f) {
		if (!fgets(s, sizeof(s), f))
			s[0] = 0;
		fclose(f);
	}
	p = strrchr(s, '-');
	p = p ? p + 1 : strrchr(s, ',') ? strrchr(s, ',') + 1 : s;
	return (unsigned)atoi(p) + 1;
}

/* Both kernels: reads of many shapes, with the server answering at once. */
static void test_reads(const char *path)
{
	static const struct { off_t off; size_t len; } cases[] = {
		{ 0, 4096 }, { 1, 4095 }, { 4095, 2 }, { 12345, 67890 },
		{ FILE_SIZE - 100, 4096 }, { FILE_SIZE, 4096 },
		{ FILE_SIZE + 4096, 10 }, { 5 << 20, 0 }, { 3 << 20, 1 << 20 },
	};
	unsigned i, n = sizeof(cases) / sizeof(cases[0]);
	unsigned char *bufs[16];
	struct iocb cbs[16], *list[16];
	struct io_event ev[16];
	aio_context_t ctx = 0;
	int fd = open(path, O_RDONLY), good = 0;
	long r;

	CHECK(fd >= 0, "open the FUSE file");
	CHECK_RET(io_setup(64, &ctx), 0, "io_setup");
	for (i = 0; i < n; i++) {
		bufs[i] = malloc(cases[i].len + 1);
		prep_rw(&cbs[i], IOCB_CMD_PREAD, fd, bufs[i], cases[i].len, cases[i].off);
		list[i] = &cbs[i];
	}
	CHECK_RET(io_submit(ctx, n, list), n, "io_submit of 9 reads");
	r = reap_n(ctx, n, ev);
	CHECK_RET(r, n, "9 events");
	for (i = 0; i < r && i < n; i++) {
		struct iocb *cb = (struct iocb *)(uintptr_t)ev[i].data;

		good += same_as_pread(fd, (void *)(uintptr_t)cb->aio_buf, ev[i].res,
				      cb->aio_nbytes, cb->aio_offset);
	}
	CHECK(good == (int)n, "res and data as pread for every range (%d of %u)", good, n);
	CHECK_RET(io_destroy(ctx), 0, "io_destroy");
	for (i = 0; i < n; i++)
		free(bufs[i]);
	close(fd);
}

/* Both kernels: O_DSYNC writes, and one RWF_DSYNC write. */
static void test_dsync_writes(const char *path)
{
	static unsigned char bufs[NW + 1][4096];
	struct iocb cbs[NW + 1], *list[NW + 1];
	struct io_event ev[NW + 1];
	aio_context_t ctx = 0;
	int fd = open(path, O_RDWR | O_DSYNC), plain = open(path, O_RDWR);
	long fsyncs = get_count(&fsyncs_seen), r;
	int i, good = 0;

	CHECK(fd >= 0 && plain >= 0, "open the FUSE file for writing");
	CHECK_RET(io_setup(64, &ctx), 0, "io_setup");
	for (i = 0; i <= NW; i++) {
		memset(bufs[i], 0xa0 + i, 4096);
		prep_rw(&cbs[i], IOCB_CMD_PWRITE, i < NW ? fd : plain, bufs[i], 4096,
			(off_t)(6 << 20) + i * 8192);
		list[i] = &cbs[i];
	}
	cbs[NW].aio_rw_flags = RWF_DSYNC;
	CHECK_RET(io_submit(ctx, NW + 1, list), NW + 1, "io_submit of 4 O_DSYNC writes and 1 RWF_DSYNC");
	r = reap_n(ctx, NW + 1, ev);
	CHECK_RET(r, NW + 1, "5 events");
	for (i = 0; i < r; i++)
		good += ev[i].res == 4096;
	CHECK(good == NW + 1, "every write wrote 4096 bytes (%d)", good);
	for (i = 0, good = 0; i <= NW; i++)
		good += !memcmp(content + (6 << 20) + i * 8192, bufs[i], 4096);
	CHECK(good == NW + 1, "the server has the data of every write (%d)", good);
	CHECK(get_count(&fsyncs_seen) - fsyncs == NW + 1,
	      "one FUSE_FSYNC per write (%ld)", get_count(&fsyncs_seen) - fsyncs);
	CHECK_RET(io_destroy(ctx), 0, "io_destroy");
	close(fd);
	close(plain);
}

/*
 * Ours: with the server holding everything, io_submit returns, one context
 * gets its share of the pool and no more, another context still gets a
 * worker, and a read waiting for the share can be cancelled.
 */
static void test_held_reads(const char *path)
{
	static unsigned char bufs[NR + 1][4096];
	struct iocb cbs[NR + 1], *list[NR];
	struct io_event ev[NR + 1], cev;
	struct timespec zero = { 0, 0 };
	aio_context_t a = 0, b = 0;
	unsigned share = 4 * possible_cpus() < 64 ? 4 * possible_cpus() : 64;
	off_t base = 8 << 20;
	long seen0, r, early;
	int fd = open(path, O_RDONLY), i, victim = -1, good = 0, cancelled = 0;

	CHECK(fd >= 0, "open the FUSE file");
	CHECK_RET(io_setup(64, &a), 0, "io_setup A");
	CHECK_RET(io_setup(8, &b), 0, "io_setup B");
	for (i = 0; i < NR; i++) {
		prep_rw(&cbs[i], IOCB_CMD_PREAD, fd, bufs[i], 4096, base + (off_t)i * 65536);
		list[i] = &cbs[i];
	}
	pthread_mutex_lock(&lock);
	hold = 1;
	seen0 = reads_seen;
	pthread_mutex_unlock(&lock);

	CHECK_RET(io_submit(a, NR, list), NR, "ours: io_submit of 32 cold reads returns with the server holding");
	early = io_getevents(a, 0, NR, ev, &zero);
	CHECK(early == 0, "ours: no read had completed when io_submit returned (got %ld)", early);
	r = wait_count(&reads_seen, seen0 + share) - seen0;
	CHECK(r == share, "ours: context A's share of the pool (%u) reaches the server (%ld)", share, r);

	/* Another context is not held up by A's share. */
	prep_rw(&cbs[NR], IOCB_CMD_PREAD, fd, bufs[NR], 4096, 12 << 20);
	list[0] = &cbs[NR];
	CHECK_RET(io_submit(b, 1, list), 1, "ours: io_submit on context B");
	r = wait_count(&reads_seen, seen0 + share + 1) - seen0;
	CHECK(r == share + 1 && read_seen(12 << 20),
	      "ours: B's read reaches the server while A's share is held (%ld)", r);

	/* A read that never got a worker can be cancelled. */
	for (i = NR - 1; i >= 0 && victim < 0; i--)
		if (!read_seen(cbs[i].aio_offset))
			victim = i;
	CHECK(victim >= 0, "ours: some of A's reads are waiting for the share");
	if (victim >= 0)
		CHECK_RET(io_cancel(a, &cbs[victim], &cev), -EINPROGRESS,
			  "ours: io_cancel of a read waiting for the share");
	usleep(200000);
	r = get_count(&reads_seen) - seen0;
	CHECK(r == share + 1, "ours: still no more than the share at the server (%ld)", r);

	release();
	r = reap_n(a, NR, ev);
	CHECK_RET(r, NR, "ours: all 32 events of A arrive once the server answers");
	for (i = 0; i < r; i++) {
		struct iocb *cb = (struct iocb *)(uintptr_t)ev[i].data;

		if (cb == &cbs[victim])
			cancelled += ev[i].res == -ECANCELED;
		else
			good += ev[i].res == 4096 &&
				!memcmp((void *)(uintptr_t)cb->aio_buf, content + cb->aio_offset, 4096);
	}
	CHECK(good == NR - 1, "ours: 31 reads of 4096 bytes with the file's data (%d)", good);
	CHECK(cancelled == 1, "ours: the cancelled read's event says ECANCELED");
	CHECK(victim >= 0 && !read_seen(cbs[victim].aio_offset),
	      "ours: the cancelled read never reached the server");
	r = reap_n(b, 1, ev);
	CHECK(r == 1 && ev[0].res == 4096 && !memcmp(bufs[NR], content + (12 << 20), 4096),
	      "ours: B's read completes with the file's data");
	CHECK(io_getevents(a, 0, NR, ev, &zero) == 0, "ours: no event more on A");
	CHECK_RET(io_destroy(a), 0, "io_destroy A");
	CHECK_RET(io_destroy(b), 0, "io_destroy B");
	close(fd);
}

/* Ours: O_DSYNC writes do not wait for the server inside io_submit. */
static void test_held_writes(const char *path)
{
	static unsigned char bufs[NW][4096];
	struct iocb cbs[NW], *list[NW];
	struct io_event ev[NW];
	struct timespec zero = { 0, 0 };
	aio_context_t ctx = 0;
	int fd = open(path, O_RDWR | O_DSYNC), i, good = 0;
	long writes0, fsyncs0, early, r;

	CHECK(fd >= 0, "open the FUSE file O_DSYNC");
	CHECK_RET(io_setup(64, &ctx), 0, "io_setup");
	for (i = 0; i < NW; i++) {
		memset(bufs[i], 0x50 + i, 4096);
		prep_rw(&cbs[i], IOCB_CMD_PWRITE, fd, bufs[i], 4096, (off_t)(7 << 20) + i * 8192);
		list[i] = &cbs[i];
	}
	pthread_mutex_lock(&lock);
	hold = 1;
	writes0 = writes_seen;
	fsyncs0 = fsyncs_seen;
	pthread_mutex_unlock(&lock);
	CHECK_RET(io_submit(ctx, NW, list), NW, "ours: io_submit of 4 O_DSYNC writes returns with the server holding");
	early = io_getevents(ctx, 0, NW, ev, &zero);
	CHECK(early == 0, "ours: no write had completed when io_submit returned (got %ld)", early);
	/* FUSE writes one at a time under the inode lock. */
	r = wait_count(&writes_seen, writes0 + 1) - writes0;
	CHECK(r == 1, "ours: the first write reaches the server from the pool (%ld)", r);
	CHECK(get_count(&fsyncs_seen) == fsyncs0, "ours: no FUSE_FSYNC before the data is written");
	release();
	r = reap_n(ctx, NW, ev);
	CHECK_RET(r, NW, "ours: 4 events once the server answers");
	for (i = 0; i < r; i++)
		good += ev[i].res == 4096;
	CHECK(good == NW, "ours: every write wrote 4096 bytes (%d)", good);
	CHECK(get_count(&fsyncs_seen) - fsyncs0 == NW, "ours: one FUSE_FSYNC per write (%ld)",
	      get_count(&fsyncs_seen) - fsyncs0);
	CHECK_RET(io_destroy(ctx), 0, "io_destroy");
	close(fd);
}

int main(int argc, char **argv)
{
	char opts[128], path[256];
	unsigned long aio_nr0;
	pthread_t server;
	size_t i;

	if (argc < 3) {
		fprintf(stderr, "usage: %s MOUNTPOINT rust|c\n", argv[0]);
		return 2;
	}
	ours = !strcmp(argv[2], "rust");
	content = malloc(FILE_SIZE);
	for (i = 0; i < FILE_SIZE; i++)
		content[i] = pattern(i);
	aio_nr0 = read_ulong("/proc/sys/fs/aio-nr");

	fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	CHECK(fuse_fd >= 0, "open /dev/fuse (%s)", fuse_fd < 0 ? strerror(errno) : "ok");
	if (fuse_fd < 0)
		return tap_done();
	mkdir(argv[1], 0755);
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0", fuse_fd);
	CHECK_RET(sysret(mount("aio_fuse", argv[1], "fuse", MS_NOSUID | MS_NODEV, opts)), 0,
		  "mount the test's FUSE file system");
	pthread_create(&server, NULL, serve, NULL);
	snprintf(path, sizeof(path), "%s/file", argv[1]);

	test_reads(path);
	test_dsync_writes(path);
	if (ours) {
		test_held_reads(path);
		test_held_writes(path);
	}
	CHECK(read_ulong("/proc/sys/fs/aio-nr") == aio_nr0, "aio-nr is back where it started");

	/* The server thread ends with the process. */
	umount2(argv[1], MNT_DETACH);
	return tap_done();
}
