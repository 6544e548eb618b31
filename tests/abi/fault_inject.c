// SPDX-License-Identifier: GPL-2.0
/*
 * Fault injection with the per-task fail-nth interface, as syzkaller does it:
 * writing n to /proc/thread-self/fail-nth makes the n-th fault-injection site
 * this task reaches (a slab or page allocation, a copy_{to,from}_user) fail;
 * reading it back gives 0 if the fault was injected, else what was left.
 *
 * Each scenario prepares its state without injection, runs ONE system call
 * with the fault armed at n = 1, 2, ... and cleans up without injection; it
 * ends naturally at the first n the call no longer reaches (or at the budget).
 * Every attempt checks that
 *   1. the call succeeded (in full or in part) or failed with an errno that
 *      table `allowed` lets that call fail with;
 *   2. nothing was lost: every iocb io_submit accepted yields exactly one
 *      event, events io_getevents did not return stay in the ring, and a
 *      context that survived still serves a read;
 *   3. /proc/sys/fs/aio-nr, the objects of the implementation's request
 *      cache (aio_rs_kiocb or aio_kiocb) and the [aio] ring mappings are
 *      back where they were when the scenario started.
 * At the end kmemleak must find nothing.  Error paths are where a rewrite
 * most easily leaks a request, a file, a charge or an event, and where a
 * C-compatible errno matters to callers; ordinary tests never reach them.
 *
 * argv[1]: "rust" or "c" (which request cache to count); argv[2]: the
 * largest n per scenario (default 200); argv[3]: run only the scenarios
 * whose name contains this string.
 */
#include "tap.h"
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>

#define FAULT_DIR	"/sys/kernel/debug"
#define KMEMLEAK	FAULT_DIR "/kmemleak"
#define AIO_NR		"/proc/sys/fs/aio-nr"
#define DATA_FILE	"/tmp/fault_inject.data"
#define DATA_SIZE	(64 << 10)
#define BUF_SIZE	4096
#define MAXCB		8
#define NR_EVENTS	128	/* io_setup's nr_events in every scenario */
#define RING_EVENTS	4	/* events in the ring for getevents/destroy */
#define STUCK_SECONDS	60	/* one attempt (call + cleanup) at most */
#define RUN_SECONDS	180	/* scenarios stop here: kmemleak scans follow */
#define MAX_DIAGS	40	/* violations printed per scenario */
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

enum call {
	CALL_SETUP,
	CALL_DESTROY,
	CALL_SUBMIT,
	CALL_CANCEL,
	CALL_GETEVENTS,
	CALL_PGETEVENTS,
};

/*
 * The errnos a call may fail with when one of its allocations or user copies
 * fails.  Success is always allowed, and so are the partial results: an
 * io_submit that accepted 1..nr-1 iocbs, an io_getevents that returned fewer
 * events than the ring held.  io_cancel's success is -1/EINPROGRESS.
 *
 * What fs/aio.c does under a fault (7.3):
 * - io_setup: ENOMEM from every allocation (kioctx, percpu refs, the ring
 *   file, its folios, do_mmap, the context table); EFAULT from the user copy
 *   of *ctxp (ours copies it; C's get_user/put_user are not fault sites);
 *   EAGAIN only from aio-max-nr.
 * - io_destroy: never fails; the ring's vm_munmap can fail and is ignored.
 * - io_submit: EFAULT from copying the iocb or an iovec array, EAGAIN when
 *   the request cannot be allocated (aio_get_req), ENOMEM from
 *   prepare_creds (fsync); a fault later in the first iocb's operation
 *   (read_iter, write_iter) shows in its event, not in the return value.
 * - io_cancel: no fault site at all (get_user, a list walk, schedule_work).
 * - io_getevents/io_pgetevents: EFAULT from copying the timeout, the
 *   signal set and its pointer, or the events (the ring head is then not
 *   moved).
 * ENOMEM for io_destroy/io_cancel/io_getevents is allowed for a
 * rewrite that allocates where C does not, as long as nothing is lost.
 * io_cancel's EINVAL means "not cancellable (any more)": the armed poll of
 * the cancel scenario cannot complete by itself, so EINVAL there would be
 * a wrong answer, but one check 2 sees as harmless if the poll still
 * completes once; drop it from the table to make it an error.
 */
static const struct {
	const char *name;
	int errs[4];	/* zero-terminated */
} allowed[] = {
	[CALL_SETUP]      = { "io_setup",      { ENOMEM, EAGAIN, EFAULT } },
	[CALL_DESTROY]    = { "io_destroy",    { ENOMEM } },
	[CALL_SUBMIT]     = { "io_submit",     { ENOMEM, EAGAIN, EFAULT } },
	[CALL_CANCEL]     = { "io_cancel",     { EFAULT, ENOMEM, EINVAL } },
	[CALL_GETEVENTS]  = { "io_getevents",  { EFAULT, ENOMEM } },
	[CALL_PGETEVENTS] = { "io_pgetevents", { EFAULT, ENOMEM } },
};

/* What one iocb of a scenario is. */
enum kind {
	K_PREAD,
	K_PWRITE,
	K_PREADV,
	K_PWRITEV,
	K_FSYNC,
	K_FDSYNC,
	K_POLL_READY,	/* on a pipe with a byte in it: completes at once */
	K_POLL_ARMED,	/* on an empty pipe: stays armed */
	K_PREAD_RESFD,	/* IOCB_FLAG_RESFD with an eventfd */
};

static const char *const kind_names[] = {
	"PREAD", "PWRITE", "PREADV", "PWRITEV", "FSYNC", "FDSYNC",
	"POLL(ready)", "POLL(armed)", "PREAD+RESFD",
};

struct attempt;

struct scenario {
	const char *name;
	enum call call;
	int (*prepare)(struct attempt *a);	/* 0, or -1 */
	long (*run)(struct attempt *a);		/* the one call; sets a->err */
	void (*settle)(struct attempt *a);	/* check 2, without injection */
	int nops;
	enum kind ops[MAXCB];			/* io_submit scenarios */
};

/*
 * One attempt.  Static, like everything the kernel touches while a fault
 * is armed, so that it is in memory locked before the first attempt: a
 * page fault in between would take the fault instead of the call.
 */
struct attempt {
	const struct scenario *sc;
	unsigned int n;
	aio_context_t ctx;
	int ctx_gone;		/* destroyed by the call itself */
	int ready[2], armed[2], efd;
	int nr;			/* iocbs in cbs[] */
	enum kind kinds[MAXCB];
	struct iocb cbs[MAXCB];
	struct iocb *ptrs[MAXCB];
	int expect[MAXCB];	/* events each iocb must yield */
	int seen[MAXCB];	/* events each iocb yielded */
	long long res[MAXCB];	/* the last event's res */
	struct io_event ev[16];	/* the faulted io_getevents' events */
	long r;
	int err;
	int viol[3];		/* per check: results, nothing lost, accounting */
};

static struct attempt A;
static unsigned char rbuf[MAXCB][BUF_SIZE] __attribute__((aligned(4096)));
static unsigned char wbuf[BUF_SIZE] __attribute__((aligned(4096)));
static unsigned char probe_buf[BUF_SIZE] __attribute__((aligned(4096)));
static struct iovec iovs[MAXCB][3];
static struct iocb probe_cb;
static struct timespec ts0;		/* timeout 0 for the faulted getevents */
static sigset_t sigmask;
static struct aio_sigset sigs;

static int fail_fd = -1, data_fd = -1;
static const char *cache;
static unsigned int budget = 200;
static const char *filter;
static unsigned long total_calls, total_injected;
static double t_start;
static int diags;			/* printed in this scenario */
static char stuck_msg[256];

static void __attribute__((format(printf, 1, 2))) diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* A violation of check `which` (0..2) by the current attempt. */
static void __attribute__((format(printf, 3, 4)))
violation(struct attempt *a, int which, const char *fmt, ...)
{
	va_list ap;

	a->viol[which]++;
	if (++diags > MAX_DIAGS) {
		if (diags == MAX_DIAGS + 1)
			diag("%s: more violations, not printed", a->sc->name);
		return;
	}
	printf("# %s n=%u: ", a->sc->name, a->n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static const char *errname(int e)
{
	static char buf[16];

	switch (e) {
	case ENOMEM: return "ENOMEM";
	case EAGAIN: return "EAGAIN";
	case EFAULT: return "EFAULT";
	case EINVAL: return "EINVAL";
	case EINTR: return "EINTR";
	case EINPROGRESS: return "EINPROGRESS";
	case EBADF: return "EBADF";
	case ENOSPC: return "ENOSPC";
	case ECANCELED: return "ECANCELED";
	}
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}

/* --- fail-nth ----------------------------------------------------------- */

static int fault_arm(unsigned int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", n);

	return pwrite(fail_fd, buf, len, 0) == len ? 0 : -1;
}

/*
 * After the call: 1 if the fault was injected, 0 if not, -1 on error; the
 * task is disarmed either way.  The read's own copy_to_user is a fault site:
 * with exactly one left it takes it and fails with EFAULT, which also means
 * "not injected".  Likewise the disarming write's copy_from_user.
 */
static int fault_injected(void)
{
	char buf[16];
	ssize_t r = pread(fail_fd, buf, sizeof(buf) - 1, 0);
	int injected, i;

	if (r > 0) {
		buf[r] = 0;
		injected = strtoul(buf, NULL, 10) == 0;
	} else if (r < 0 && errno == EFAULT) {
		injected = 0;
	} else {
		injected = -1;
	}
	for (i = 0; i < 4; i++)
		if (pwrite(fail_fd, "0", 1, 0) == 1)
			break;
	if (i == 4)
		return -1;
	return injected;
}

/* --- the system -------------------------------------------------------- */

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	return (close(fd) == 0 && ok) ? 0 : -1;
}

static int read_str(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t r;

	if (fd < 0)
		return -1;
	r = read(fd, buf, size - 1);
	close(fd);
	if (r < 0)
		return -1;
	buf[r] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/* syzkaller's setup_fault(); the old values are put back at the end. */
static struct knob {
	const char *path, *val;
	char old[32];
	int saved;
} knobs[] = {
	{ FAULT_DIR "/failslab/ignore-gfp-wait", "N" },
	{ FAULT_DIR "/fail_page_alloc/ignore-gfp-wait", "N" },
	{ FAULT_DIR "/fail_page_alloc/ignore-gfp-highmem", "N" },
	{ FAULT_DIR "/fail_page_alloc/min-order", "0" },
	/* A report per injected fault, with a stack, would flood the console. */
	{ FAULT_DIR "/failslab/verbose", "0" },
	{ FAULT_DIR "/fail_page_alloc/verbose", "0" },
	{ FAULT_DIR "/fail_usercopy/verbose", "0" },
};

static int setup_fault(void)
{
	struct stat st;
	int failed = 0;
	size_t i;

	if (stat(FAULT_DIR "/failslab", &st) &&
	    mount("debugfs", FAULT_DIR, "debugfs", 0, NULL) && errno != EBUSY)
		diag("mount debugfs: %s", strerror(errno));
	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		struct knob *k = &knobs[i];

		k->saved = !read_str(k->path, k->old, sizeof(k->old));
		if (write_str(k->path, k->val)) {
			diag("setup: cannot write %s to %s: %s", k->val, k->path,
			     strerror(errno));
			failed++;
		}
	}
	return failed;
}

static void restore_fault(void)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(knobs); i++)
		if (knobs[i].saved)
			write_str(knobs[i].path, knobs[i].old);
}

/* The [aio] ring mappings of this process. */
struct maps {
	int n;
	unsigned long start[64], end[64];
};

static void aio_maps(struct maps *m)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");

	m->n = 0;
	while (f && fgets(line, sizeof(line), f)) {
		if (!strstr(line, "[aio]") || m->n == 64)
			continue;
		if (sscanf(line, "%lx-%lx", &m->start[m->n], &m->end[m->n]) == 2)
			m->n++;
	}
	if (f)
		fclose(f);
}

static int maps_find(const struct maps *m, unsigned long addr)
{
	for (int i = 0; i < m->n; i++)
		if (m->start[i] <= addr && addr < m->end[i])
			return i;
	return -1;
}

/* --- building blocks ---------------------------------------------------- */

/* Events in ctx's ring, from the mapped header. */
static unsigned int ring_count(aio_context_t ctx)
{
	volatile struct aio_ring_hdr *h = (void *)ctx;
	unsigned int nr = h->nr;

	return nr ? (h->tail + nr - h->head % nr) % nr : 0;
}

/*
 * Fault in every page of the ring now: the kernel reads the header with
 * get_user() in every call, and the page fault that maps it on first use
 * could take the injected fault (a page-table allocation) otherwise.
 */
static void touch_ring(aio_context_t ctx)
{
	volatile unsigned char *p = (void *)ctx;
	size_t size = 32 + (size_t)((struct aio_ring_hdr *)p)->nr * 32;

	for (size_t off = 0; off < size; off += 4096)
		(void)p[off];
}

static int new_ctx(struct attempt *a)
{
	a->ctx = 0;
	if (io_setup(NR_EVENTS, &a->ctx))
		return -1;
	touch_ring(a->ctx);
	return 0;
}

static int wait_ring(aio_context_t ctx, unsigned int want)
{
	double t0 = now_ms();

	while (ring_count(ctx) < want && now_ms() - t0 < 2000)
		usleep(1000);
	return ring_count(ctx) == want ? 0 : -1;
}

/* Pipes (one with a byte in it, one empty) and an eventfd. */
static int open_fds(struct attempt *a)
{
	if (pipe(a->ready) || pipe(a->armed))
		return -1;
	a->efd = eventfd(0, EFD_NONBLOCK);
	if (a->efd < 0 || write(a->ready[1], "r", 1) != 1)
		return -1;
	return 0;
}

static void fill_iocb(struct attempt *a, int i, enum kind kind)
{
	struct iocb *cb = &a->cbs[i];
	int vec = kind == K_PREADV || kind == K_PWRITEV;
	unsigned char *buf = kind == K_PWRITE || kind == K_PWRITEV ? wbuf : rbuf[i];

	if (vec) {
		iovs[i][0] = (struct iovec){ buf, 1024 };
		iovs[i][1] = (struct iovec){ buf + 1024, 1024 };
		iovs[i][2] = (struct iovec){ buf + 2048, 2048 };
	}
	switch (kind) {
	case K_PREAD:
	case K_PREAD_RESFD:
		prep_rw(cb, IOCB_CMD_PREAD, data_fd, buf, BUF_SIZE, i * BUF_SIZE);
		break;
	case K_PREADV:
		prep_rw(cb, IOCB_CMD_PREADV, data_fd, iovs[i], 3, i * BUF_SIZE);
		break;
	case K_PWRITE:
		/* Inside the file, with the same bytes: reads stay valid. */
		prep_rw(cb, IOCB_CMD_PWRITE, data_fd, buf, BUF_SIZE, DATA_SIZE / 2);
		break;
	case K_PWRITEV:
		prep_rw(cb, IOCB_CMD_PWRITEV, data_fd, iovs[i], 3, DATA_SIZE / 2);
		break;
	case K_FSYNC:
	case K_FDSYNC:
		prep_rw(cb, kind == K_FSYNC ? IOCB_CMD_FSYNC : IOCB_CMD_FDSYNC,
			data_fd, NULL, 0, 0);
		break;
	case K_POLL_READY:
	case K_POLL_ARMED:
		prep_rw(cb, IOCB_CMD_POLL, kind == K_POLL_READY ? a->ready[0] :
			a->armed[0], NULL, 0, 0);
		cb->aio_buf = POLLIN;
		break;
	}
	if (kind == K_PREAD_RESFD) {
		cb->aio_flags = IOCB_FLAG_RESFD;
		cb->aio_resfd = a->efd;
	}
	a->kinds[i] = kind;
	a->ptrs[i] = cb;
}

/* Marks events in seen[]: each must be one of the attempt's iocbs. */
static void account(struct attempt *a, const struct io_event *ev, long nr)
{
	for (long j = 0; j < nr; j++) {
		int i;

		for (i = 0; i < a->nr; i++)
			if (ev[j].obj == (uintptr_t)&a->cbs[i])
				break;
		if (i == a->nr) {
			violation(a, 1, "an event for no iocb of ours (obj %#llx, res %lld)",
				  (unsigned long long)ev[j].obj, (long long)ev[j].res);
			continue;
		}
		a->seen[i]++;
		a->res[i] = ev[j].res;
		if (ev[j].data != (uintptr_t)&a->cbs[i])
			violation(a, 1, "iocb %d: event data %#llx, want the iocb's",
				  i, (unsigned long long)ev[j].data);
	}
}

/*
 * Reaps until `want` more events arrived or 5 s passed, then gives strays
 * 10 ms to show up.
 */
static void reap(struct attempt *a, int want)
{
	struct io_event ev[16];
	struct timespec ts = { 0, 100 * 1000000 };
	double t0 = now_ms();
	int got = 0;
	long r;

	while (got < want && now_ms() - t0 < 5000) {
		r = io_getevents(a->ctx, 1, 16, ev, &ts);
		if (r < 0) {
			violation(a, 1, "reaping: io_getevents: %s", errname(-r));
			return;
		}
		account(a, ev, r);
		got += r;
	}
	ts.tv_nsec = 10 * 1000000;
	r = io_getevents(a->ctx, 1, 16, ev, &ts);
	if (r > 0)
		account(a, ev, r);
	else if (r < 0)
		violation(a, 1, "reaping: io_getevents: %s", errname(-r));
}

/* Every iocb yielded the events it must: exactly one if it was accepted. */
static void check_seen(struct attempt *a)
{
	for (int i = 0; i < a->nr; i++)
		if (a->seen[i] != a->expect[i])
			violation(a, 1, "iocb %d (%s): %d events, want %d", i,
				  kind_names[a->kinds[i]], a->seen[i], a->expect[i]);
}

/* The eventfd counts one per event of an accepted IOCB_FLAG_RESFD iocb. */
static void check_eventfd(struct attempt *a)
{
	uint64_t cnt = 0, v;
	int want = 0;
	double t0 = now_ms();

	for (int i = 0; i < a->nr; i++)
		if (a->kinds[i] == K_PREAD_RESFD)
			want += a->expect[i];
	/* The signal may come just after the event is visible. */
	do {
		if (read(a->efd, &v, 8) == 8)
			cnt += v;
		else if (cnt < (uint64_t)want)
			usleep(1000);
	} while (cnt < (uint64_t)want && now_ms() - t0 < 1000);
	if (read(a->efd, &v, 8) == 8)
		cnt += v;
	if (cnt != (uint64_t)want)
		violation(a, 1, "eventfd counted %llu, want %d",
			  (unsigned long long)cnt, want);
}

/* A context that survived the call still serves a read. */
static void check_works(struct attempt *a)
{
	struct iocb *p = &probe_cb;
	struct timespec ts = { 5, 0 };
	struct io_event ev;
	long r;

	prep_rw(&probe_cb, IOCB_CMD_PREAD, data_fd, probe_buf, BUF_SIZE, 0);
	r = io_submit(a->ctx, 1, &p);
	if (r != 1) {
		violation(a, 1, "context works: io_submit of a read gave %ld (%s)",
			  r, r < 0 ? errname(-r) : "");
		return;
	}
	r = io_getevents(a->ctx, 1, 1, &ev, &ts);
	if (r != 1 || ev.obj != (uintptr_t)&probe_cb || ev.res != BUF_SIZE)
		violation(a, 1, "context works: read's event: got %ld, obj %s, res %lld",
			  r, ev.obj == (uintptr_t)&probe_cb ? "ok" : "wrong",
			  r == 1 ? (long long)ev.res : 0LL);
}

/* Completes the attempt's polls on the empty pipe. */
static void wake_armed(struct attempt *a)
{
	if (write(a->armed[1], "a", 1) != 1)
		violation(a, 1, "write to the armed pipe: %s", strerror(errno));
}

/* --- scenarios ---------------------------------------------------------- */

static int prepare_setup(struct attempt *a)
{
	a->ctx = 0;
	return 0;
}

static long run_setup(struct attempt *a)
{
	long r = syscall(__NR_io_setup, NR_EVENTS, &a->ctx);

	a->err = r < 0 ? errno : 0;
	return r;
}

static void settle_setup(struct attempt *a)
{
	if (a->r != 0) {
		if (a->ctx)
			violation(a, 1, "failed io_setup wrote a context id %#lx",
				  (unsigned long)a->ctx);
		a->ctx = 0;
		return;
	}
	if (!a->ctx) {
		violation(a, 1, "io_setup returned 0 but no context id");
		return;
	}
	touch_ring(a->ctx);
	check_works(a);
}

/* 4 polls armed on an empty pipe, 4 reads completed and not reaped. */
static int prepare_destroy(struct attempt *a)
{
	if (open_fds(a) || new_ctx(a))
		return -1;
	for (int i = 0; i < MAXCB; i++) {
		fill_iocb(a, i, i < 4 ? K_POLL_ARMED : K_PREAD);
		a->expect[i] = 1;
	}
	a->nr = MAXCB;
	if (io_submit(a->ctx, a->nr, a->ptrs) != a->nr)
		return -1;
	return wait_ring(a->ctx, RING_EVENTS);
}

static long run_destroy(struct attempt *a)
{
	long r = syscall(__NR_io_destroy, a->ctx);

	a->err = r < 0 ? errno : 0;
	return r;
}

static void settle_destroy(struct attempt *a)
{
	struct maps m;
	long r;
	int i;

	if (a->r == 0) {
		a->ctx_gone = 1;
		r = io_destroy(a->ctx);
		if (r != -EINVAL)
			violation(a, 1, "io_destroy again gave %ld, want EINVAL", r);
		/*
		 * Both implementations ignore vm_munmap()'s error, as fs/aio.c's
		 * kill_ioctx() does: a fault there leaves the ring mapped
		 * (harmless; gone at exit).  Noted, and unmapped here.
		 */
		aio_maps(&m);
		i = maps_find(&m, a->ctx);
		if (i >= 0) {
			diag("%s n=%u: note: ring still mapped after io_destroy (vm_munmap failed, error ignored as in fs/aio.c)",
			     a->sc->name, a->n);
			munmap((void *)m.start[i], m.end[i] - m.start[i]);
		}
		return;
	}
	/* The context lives on: its 4 events, then the 4 polls. */
	wake_armed(a);
	reap(a, a->nr);
	check_seen(a);
	check_works(a);
}

static int prepare_submit(struct attempt *a)
{
	if (open_fds(a) || new_ctx(a))
		return -1;
	a->nr = a->sc->nops;
	for (int i = 0; i < a->nr; i++)
		fill_iocb(a, i, a->sc->ops[i]);
	return 0;
}

static long run_submit(struct attempt *a)
{
	long r = syscall(__NR_io_submit, a->ctx, (long)a->nr, a->ptrs);

	a->err = r < 0 ? errno : 0;
	return r;
}

static void settle_submit(struct attempt *a)
{
	int accepted = a->r > 0 ? (int)a->r : 0, want = 0;

	for (int i = 0; i < a->nr; i++) {
		a->expect[i] = i < accepted;
		want += a->expect[i];
	}
	wake_armed(a);
	reap(a, want);
	check_seen(a);
	check_eventfd(a);
	check_works(a);
}

static int prepare_cancel(struct attempt *a)
{
	if (open_fds(a) || new_ctx(a))
		return -1;
	fill_iocb(a, 0, K_POLL_ARMED);
	a->nr = 1;
	a->expect[0] = 1;
	return io_submit(a->ctx, 1, a->ptrs) == 1 ? 0 : -1;
}

static long run_cancel(struct attempt *a)
{
	long r = syscall(__NR_io_cancel, a->ctx, &a->cbs[0], &a->ev[0]);

	a->err = r < 0 ? errno : 0;
	return r;
}

static void settle_cancel(struct attempt *a)
{
	int cancelled = a->r == -1 && a->err == EINPROGRESS;

	if (!cancelled)
		wake_armed(a);
	reap(a, 1);
	check_seen(a);
	if (cancelled && a->seen[0] == 1 && a->res[0] != 0)
		violation(a, 1, "cancelled poll's event: res %#llx, want 0",
			  a->res[0]);
	check_works(a);
}

/* 4 completed reads in the ring. */
static int prepare_getevents(struct attempt *a)
{
	if (open_fds(a) || new_ctx(a))
		return -1;
	for (int i = 0; i < RING_EVENTS; i++) {
		fill_iocb(a, i, K_PREAD);
		a->expect[i] = 1;
	}
	a->nr = RING_EVENTS;
	if (io_submit(a->ctx, a->nr, a->ptrs) != a->nr)
		return -1;
	return wait_ring(a->ctx, RING_EVENTS);
}

static long run_getevents(struct attempt *a)
{
	long r = syscall(__NR_io_getevents, a->ctx, 1L, 8L, a->ev, &ts0);

	a->err = r < 0 ? errno : 0;
	return r;
}

static long run_pgetevents(struct attempt *a)
{
	long r = syscall(__NR_io_pgetevents, a->ctx, 1L, 8L, a->ev, &ts0, &sigs);

	a->err = r < 0 ? errno : 0;
	return r;
}

static void settle_getevents(struct attempt *a)
{
	long in_call = a->r > 0 ? a->r : 0;

	if (in_call > RING_EVENTS) {
		violation(a, 1, "the call returned %ld events of %d", in_call,
			  RING_EVENTS);
		in_call = RING_EVENTS;
	}
	/* Those the call returned, then those it left in the ring. */
	account(a, a->ev, in_call);
	reap(a, RING_EVENTS - in_call);
	check_seen(a);
	check_works(a);
}

#define SUBMIT(nm, ...) {						\
	.name = nm, .call = CALL_SUBMIT, .prepare = prepare_submit,	\
	.run = run_submit, .settle = settle_submit,			\
	.nops = sizeof((enum kind[]){ __VA_ARGS__ }) / sizeof(enum kind), \
	.ops = { __VA_ARGS__ },						\
}

static const struct scenario scenarios[] = {
	{ "setup", CALL_SETUP, prepare_setup, run_setup, settle_setup },
	{ "destroy", CALL_DESTROY, prepare_destroy, run_destroy, settle_destroy },
	SUBMIT("submit-pread", K_PREAD),
	SUBMIT("submit-pwrite", K_PWRITE),
	SUBMIT("submit-preadv", K_PREADV),
	SUBMIT("submit-pwritev", K_PWRITEV),
	SUBMIT("submit-fsync", K_FSYNC),
	SUBMIT("submit-fdsync", K_FDSYNC),
	SUBMIT("submit-poll-ready", K_POLL_READY),
	SUBMIT("submit-poll-armed", K_POLL_ARMED),
	SUBMIT("submit-pread-resfd", K_PREAD_RESFD),
	SUBMIT("submit-batch8", K_PREAD_RESFD, K_PWRITE, K_PREADV, K_PWRITEV,
	       K_FSYNC, K_FDSYNC, K_POLL_READY, K_POLL_ARMED),
	{ "cancel", CALL_CANCEL, prepare_cancel, run_cancel, settle_cancel },
	{ "getevents", CALL_GETEVENTS, prepare_getevents, run_getevents,
	  settle_getevents },
	{ "pgetevents", CALL_PGETEVENTS, prepare_getevents, run_pgetevents,
	  settle_getevents },
};

/* --- the loop ----------------------------------------------------------- */

enum { RES_FULL = -1, RES_PARTIAL = -2, RES_BAD = -3 };

/* The call's result: RES_FULL, RES_PARTIAL, RES_BAD or an errno. */
static int classify(const struct attempt *a)
{
	switch (a->sc->call) {
	case CALL_SETUP:
	case CALL_DESTROY:
		if (a->r == 0)
			return RES_FULL;
		break;
	case CALL_SUBMIT:
		if (a->r == a->nr)
			return RES_FULL;
		if (a->r >= 1 && a->r < a->nr)
			return RES_PARTIAL;
		break;
	case CALL_CANCEL:
		/* Success is -EINPROGRESS: the event comes through the ring. */
		if (a->r == -1 && a->err == EINPROGRESS)
			return RES_FULL;
		break;
	case CALL_GETEVENTS:
	case CALL_PGETEVENTS:
		if (a->r == RING_EVENTS)
			return RES_FULL;
		if (a->r >= 0 && a->r < RING_EVENTS)
			return RES_PARTIAL;
		break;
	}
	return a->r == -1 && a->err > 0 ? a->err : RES_BAD;
}

static int errno_allowed(enum call call, int e)
{
	for (const int *p = allowed[call].errs; *p; p++)
		if (*p == e)
			return 1;
	return 0;
}

static const char *res_name(int res)
{
	switch (res) {
	case RES_FULL: return "ok";
	case RES_PARTIAL: return "partial";
	case RES_BAD: return "bad";
	}
	return errname(res);
}

struct hist {
	int n;
	int res[16];
	unsigned int count[16];
};

static void hist_add(struct hist *h, int res)
{
	int i;

	for (i = 0; i < h->n; i++)
		if (h->res[i] == res)
			break;
	if (i == h->n) {
		if (h->n == 16)
			return;
		h->res[h->n++] = res;
	}
	h->count[i]++;
}

static void on_alarm(int sig)
{
	ssize_t w = write(1, stuck_msg, strlen(stuck_msg));

	(void)w;
	(void)sig;
	_exit(1);
}

/* Where a scenario started: aio-nr, request objects, ring mappings. */
struct base {
	unsigned long aio_nr;
	long objects;		/* -1: the cache is not counted */
	int slab_wait;		/* wait for the count after each attempt */
	unsigned int slab_off;	/* first n whose count stayed off, or 0 */
	struct maps maps;
};

/*
 * Check 3, after the attempt's cleanup: aio-nr back at the scenario's start,
 * no ring mapping left behind, and the request cache's objects back (within
 * 2 s: frees can lag behind the events, after an RCU grace period or a work
 * item).  aio-nr is exact: a difference is reported and taken as the new
 * start, so that a leak is reported at the n that made it.  The cache can
 * be merged with others (see its "aliases"), whose objects come and go, so
 * a count that stays off is noted here and judged at the scenario's end
 * (slab_settled()); attempts after it no longer wait.
 */
static void check_accounting(struct attempt *a, struct base *b)
{
	double t0 = now_ms();
	unsigned long nr;
	long objs = b->objects;
	struct maps m;

	for (;;) {
		nr = read_ulong(AIO_NR);
		if (b->slab_wait)
			objs = slab_objects(cache);
		if (nr == b->aio_nr && objs == b->objects)
			break;
		if (now_ms() - t0 > 2000)
			break;
		usleep(20000);
	}
	if (nr != b->aio_nr) {
		violation(a, 2, "aio-nr %lu, was %lu", nr, b->aio_nr);
		b->aio_nr = nr;
	}
	if (objs != b->objects) {
		diag("%s n=%u: %s: %ld objects in use, %ld at the start (judged at the end)",
		     a->sc->name, a->n, cache, objs, b->objects);
		b->slab_off = a->n;
		b->slab_wait = 0;
	}
	aio_maps(&m);
	for (int i = 0; i < m.n; i++) {
		int known = 0;

		for (int j = 0; j < b->maps.n; j++)
			known |= b->maps.start[j] == m.start[i];
		if (known)
			continue;
		violation(a, 2, "an [aio] ring left mapped at %#lx", m.start[i]);
		munmap((void *)m.start[i], m.end[i] - m.start[i]);
	}
}

/*
 * The request cache's objects after the whole scenario: back at the start
 * within 6 s (kfree_rcu() batches can wait that long).  Returns 0 if so.
 */
static int slab_settled(const struct scenario *sc, const struct base *b)
{
	double t0 = now_ms();
	long objs;

	if (b->objects < 0)
		return 0;
	while ((objs = slab_objects(cache)) != b->objects && now_ms() - t0 < 6000)
		usleep(50000);
	if (objs == b->objects)
		return 0;
	diag("%s: %s: %ld objects in use after the scenario, %ld at its start (first off at n=%u)",
	     sc->name, cache, objs, b->objects, b->slab_off);
	return 1;
}

/* Cleanup of an attempt: its context (unless the call destroyed it), files. */
static void teardown(struct attempt *a)
{
	long r;

	if (a->ctx && !a->ctx_gone) {
		r = io_destroy(a->ctx);
		if (r)
			violation(a, 1, "cleanup: io_destroy: %s", errname(-r));
	}
	for (int i = 0; i < 2; i++) {
		if (a->ready[i] >= 0)
			close(a->ready[i]);
		if (a->armed[i] >= 0)
			close(a->armed[i]);
	}
	if (a->efd >= 0)
		close(a->efd);
}

static void run_scenario(const struct scenario *sc)
{
	struct attempt *a = &A;
	struct hist h = { 0 };
	struct base b;
	unsigned int n, k = 0;
	int ended = 0, v[3] = { 0 }, res, inj;
	const char *why = "budget reached";
	char summary[512];
	size_t len;

	diags = 0;
	b.aio_nr = read_ulong(AIO_NR);
	b.objects = slab_objects(cache);
	b.slab_wait = b.objects >= 0;
	b.slab_off = 0;
	aio_maps(&b.maps);

	for (n = 1; n <= budget; n++) {
		if (now_ms() - t_start > RUN_SECONDS * 1000.0) {
			why = "out of time";
			break;
		}
		memset(a, 0, sizeof(*a));
		a->sc = sc;
		a->n = n;
		a->ready[0] = a->ready[1] = a->armed[0] = a->armed[1] = -1;
		a->efd = -1;
		snprintf(stuck_msg, sizeof(stuck_msg),
			 "Bail out! %s n=%u: call and cleanup did not finish in %d s\n",
			 sc->name, n, STUCK_SECONDS);
		alarm(STUCK_SECONDS);
		if (sc->prepare(a)) {
			violation(a, 1, "prepare (no fault armed) failed: %s",
				  strerror(errno));
			teardown(a);
			alarm(0);
			v[1] += a->viol[1];
			why = "stopped";
			break;
		}
		if (fault_arm(n)) {
			printf("Bail out! cannot arm fail-nth: %s\n", strerror(errno));
			exit(1);
		}
		a->r = sc->run(a);
		inj = fault_injected();
		if (inj < 0) {
			printf("Bail out! cannot read back fail-nth: %s\n",
			       strerror(errno));
			exit(1);
		}
		total_calls++;
		total_injected += inj;

		res = classify(a);
		hist_add(&h, res);
		if (res == RES_BAD || (res > 0 && !errno_allowed(sc->call, res)))
			violation(a, 0, "%s returned %ld (%s): not allowed",
				  allowed[sc->call].name, a->r,
				  a->r < 0 ? errname(a->err) : "a count");
		if (!inj && res != RES_FULL)
			violation(a, 0, "with no fault left %s must succeed in full: %ld (%s)",
				  allowed[sc->call].name, a->r,
				  a->r < 0 ? errname(a->err) : "a count");

		sc->settle(a);
		teardown(a);
		check_accounting(a, &b);
		alarm(0);
		for (int i = 0; i < 3; i++)
			v[i] += a->viol[i];
		if (!inj) {
			ended = 1;
			break;
		}
		k = n;
	}

	v[2] += slab_settled(sc, &b);
	len = snprintf(summary, sizeof(summary), "%s: results:", sc->name);
	for (int i = 0; i < h.n && len < sizeof(summary); i++)
		len += snprintf(summary + len, sizeof(summary) - len, " %s x%u",
				res_name(h.res[i]), h.count[i]);
	diag("%s", summary);
	if (!ended)
		diag("%s: %s after n=%u, before the natural end", sc->name, why, k);
	CHECK(!v[0], "%s: faults at 1..%u injected%s, every result allowed",
	      sc->name, k, !ended ? " (not to the end)" :
	      k ? "" : " (no fault site reached)");
	CHECK(!v[1], "%s: nothing lost, context works", sc->name);
	CHECK(!v[2], "%s: aio-nr and slab objects back, no ring left mapped",
	      sc->name);
}

/* --- kmemleak ----------------------------------------------------------- */

static void check_kmemleak(int available)
{
	char line[512];
	FILE *f;
	int lines = 0, objects = 0, aio = 0;

	if (!available) {
		CHECK(1, "kmemleak: no leak # SKIP kmemleak not available");
		return;
	}
	/* Objects younger than 5 s are never reported: let the last ones age. */
	sleep(6);
	if (write_str(KMEMLEAK, "scan") || write_str(KMEMLEAK, "scan")) {
		CHECK(1, "kmemleak: no leak # SKIP scan failed: %s", strerror(errno));
		return;
	}
	f = fopen(KMEMLEAK, "r");
	if (!f)
		diag("cannot read %s: %s", KMEMLEAK, strerror(errno));
	while (f && fgets(line, sizeof(line), f)) {
		if (strstr(line, "unreferenced object"))
			objects++;
		if (strstr(line, "aio"))
			aio++;
		if (lines++ < 40)
			printf("# kmemleak: %s", line);
	}
	if (f)
		fclose(f);
	if (lines)
		diag("kmemleak: %d unreferenced objects, %d lines mention aio",
		     objects, aio);
	CHECK(f && lines == 0, "kmemleak: no leak after the scenarios");
}

/* --- main --------------------------------------------------------------- */

/* Faults the stack in before mlockall() locks it. */
static void __attribute__((noinline)) touch_stack(void)
{
	volatile char buf[256 << 10];

	for (size_t i = 0; i < sizeof(buf); i += 4096)
		buf[i] = 0;
}

int main(int argc, char **argv)
{
	char path[64];
	int kmemleak, setup_failed;
	long objs;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "rust") && strcmp(argv[1], "c")) {
		fprintf(stderr, "usage: %s rust|c [budget [filter]]\n", argv[0]);
		return 2;
	}
	if (argc > 1)
		cache = strcmp(argv[1], "rust") ? "aio_kiocb" : "aio_rs_kiocb";
	else
		cache = access("/sys/kernel/slab/aio_rs_kiocb", F_OK) ?
			"aio_kiocb" : "aio_rs_kiocb";
	if (argc > 2)
		budget = strtoul(argv[2], NULL, 0);
	if (argc > 3)
		filter = argv[3];

	snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth",
		 (long)syscall(SYS_gettid));
	if (access(path, F_OK)) {
		printf("1..0 # SKIP no fail-nth\n");
		return 0;
	}
	fail_fd = open("/proc/thread-self/fail-nth", O_RDWR);
	if (fail_fd < 0) {
		printf("1..0 # SKIP cannot open fail-nth: %s\n", strerror(errno));
		return 0;
	}
	t_start = now_ms();

	setup_failed = setup_fault();
	CHECK(!setup_failed, "setup: fault-injection knobs in debugfs");
	kmemleak = !access(KMEMLEAK, W_OK) && !write_str(KMEMLEAK, "clear");
	if (!kmemleak)
		diag("kmemleak not available");

	/* The file the reads and writes use: tmpfs (/tmp), 64 KiB. */
	unlink(DATA_FILE);
	data_fd = open(DATA_FILE, O_CREAT | O_RDWR, 0600);
	for (int i = 0; i < BUF_SIZE; i++)
		wbuf[i] = i * 7 + 1;
	for (int off = 0; data_fd >= 0 && off < DATA_SIZE; off += BUF_SIZE)
		if (pwrite(data_fd, wbuf, BUF_SIZE, off) != BUF_SIZE)
			break;
	CHECK(data_fd >= 0, "data file %s", DATA_FILE);

	ts0 = (struct timespec){ 0, 0 };
	sigemptyset(&sigmask);
	sigaddset(&sigmask, SIGUSR1);
	sigs = (struct aio_sigset){ &sigmask, 8 };
	signal(SIGALRM, on_alarm);

	objs = slab_objects(cache);
	snprintf(path, sizeof(path), "/sys/kernel/slab/%s/aliases", cache);
	if (objs < 0)
		diag("request cache %s not found: its objects are not counted", cache);
	else
		diag("request cache %s: %ld objects, %lu aliases (a merged cache counts others' objects too)",
		     cache, objs, read_ulong(path));
	diag("budget %u per scenario%s%s", budget, filter ? ", filter " : "",
	     filter ? filter : "");

	/*
	 * Everything the kernel touches while a fault is armed is static or
	 * on this stack: lock it all in, so that no page fault (which
	 * allocates) happens between arming and reading back.
	 */
	touch_stack();
	if (mlockall(MCL_CURRENT))
		diag("mlockall: %s (page faults may take injected faults)",
		     strerror(errno));
	/* Resolve pread/pwrite/syscall before the first attempt, and disarm. */
	if (fault_injected() < 0) {
		printf("Bail out! cannot use fail-nth: %s\n", strerror(errno));
		return 1;
	}

	for (size_t i = 0; i < ARRAY_SIZE(scenarios); i++) {
		const struct scenario *sc = &scenarios[i];

		if (filter && !strstr(sc->name, filter))
			continue;
		if (now_ms() - t_start > RUN_SECONDS * 1000.0) {
			CHECK(1, "%s # SKIP out of time", sc->name);
			continue;
		}
		run_scenario(sc);
	}

	check_kmemleak(kmemleak);
	munlockall();
	restore_fault();
	if (data_fd >= 0)
		close(data_fd);
	unlink(DATA_FILE);
	diag("fault: %lu calls, %lu faults injected", total_calls, total_injected);
	return tap_done();
}
