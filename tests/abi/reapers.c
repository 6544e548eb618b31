// SPDX-License-Identifier: GPL-2.0
/*
 * Many reapers on one context.  Requests that complete at once (8-byte
 * buffered reads of a small tmpfs file, each with its own aio_data and
 * buffer) are reaped by several threads in io_getevents, by user space
 * moving head, and by sleepers that time out, take a signal, or see their
 * context destroyed or their process exit.  Every event must be returned
 * exactly once, with its obj, res and data, whoever reaps it; io_submit
 * must never see EAGAIN while slots are free; io_destroy and exit must
 * release every sleeper (MariaDB destroys a context to wake its reaper) and
 * give back aio-nr.  These are C's behaviour and are checked on both
 * kernels.
 *
 * Two checks are of a deliberate difference (ours only; on C their figures
 * are printed as diagnostics): C wakes every sleeper whose min_nr the
 * events in the ring satisfy, so with 8 sleepers each event wakes 8 threads
 * and 7 go back to sleep; ours wakes one per event.  And a sleeper that
 * wants 16 events next to one that takes them one by one never gets its 16
 * on C; on ours it makes progress.
 *
 * Ordering comes from counters, flags and the sleepers' state in /proc
 * (asleep in io_getevents), not from timing: no check depends on how fast
 * the machine is.
 *
 *   reapers IMPL   (IMPL rust or c)
 */
#include "tap.h"
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define RLEN		8	/* bytes per read */
#define FILE_SIZE	4096
#define MAX_WAIT_S	30	/* bound on any wait for another thread */

static int ours;
static int data_fd;
static unsigned char pattern[FILE_SIZE];
static const char *volatile stage = "start";

static void watchdog(int sig)
{
	static const char msg[] = "Bail out! watchdog: the test hung in ";

	(void)sig;
	if (write(1, msg, sizeof(msg) - 1) < 0 ||
	    write(1, stage, strlen(stage)) < 0 || write(1, "\n", 1) < 0)
		_exit(2);
	_exit(2);
}

static void on_signal(int sig)
{
	(void)sig;
}

static uint32_t rnd(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

static int past(double deadline)
{
	return now_ms() > deadline;
}

static struct timespec ns_to_ts(long ns)
{
	struct timespec ts = { ns / 1000000000L, ns % 1000000000L };

	return ts;
}

/*
 * A set of requests: n that count, then extra ones (sentinels that only
 * release sleepers).  Request i reads RLEN bytes of the data file into its
 * own buffer; aio_data is tag << 32 | i, so that an event of another set
 * or a made-up one is caught.
 */
struct req {
	struct iocb cb;
	unsigned char buf[RLEN];
};

struct reqs {
	uint32_t tag;
	int n, extra;
	struct req *r;
	struct iocb **ptrs;
	int *seen;		/* times request i was reaped */
	int bad;		/* events that are no request of ours, or wrong */
	int extras;		/* extra requests reaped */
};

static void reqs_init(struct reqs *q, uint32_t tag, int n, int extra)
{
	int total = n + extra;

	q->tag = tag;
	q->n = n;
	q->extra = extra;
	q->r = calloc(total, sizeof(*q->r));
	q->ptrs = calloc(total, sizeof(*q->ptrs));
	q->seen = calloc(total, sizeof(*q->seen));
	q->bad = q->extras = 0;
	if (!q->r || !q->ptrs || !q->seen) {
		printf("Bail out! out of memory\n");
		exit(1);
	}
	for (int i = 0; i < total; i++) {
		struct iocb *cb = &q->r[i].cb;

		prep_rw(cb, IOCB_CMD_PREAD, data_fd, q->r[i].buf, RLEN,
			(off_t)(i % (FILE_SIZE / RLEN)) * RLEN);
		cb->aio_data = (uint64_t)tag << 32 | (uint32_t)i;
		q->ptrs[i] = cb;
	}
}

static void reqs_free(struct reqs *q)
{
	free(q->r);
	free(q->ptrs);
	free(q->seen);
}

/*
 * Accounts for one event (from any thread): 1 if it is one of the n
 * requests that count, 0 if an extra one, -1 if it is wrong.
 */
static int reqs_take(struct reqs *q, const struct io_event *ev)
{
	uint64_t i = ev->data & 0xffffffffu;
	struct req *r;

	if (ev->data >> 32 != q->tag || i >= (uint64_t)(q->n + q->extra))
		goto bad;
	r = &q->r[i];
	if (ev->obj != (uintptr_t)&r->cb || ev->res != RLEN || ev->res2 != 0 ||
	    memcmp(r->buf, pattern + r->cb.aio_offset, RLEN))
		goto bad;
	if (i >= (uint64_t)q->n) {
		__atomic_add_fetch(&q->extras, 1, __ATOMIC_RELAXED);
		return 0;
	}
	__atomic_add_fetch(&q->seen[i], 1, __ATOMIC_RELAXED);
	return 1;
bad:
	__atomic_add_fetch(&q->bad, 1, __ATOMIC_RELAXED);
	return -1;
}

/* Checks that each of the n requests was reaped exactly once. */
static void reqs_check(struct reqs *q, const char *what)
{
	int missing = 0, twice = 0;

	for (int i = 0; i < q->n; i++) {
		int s = __atomic_load_n(&q->seen[i], __ATOMIC_RELAXED);

		missing += s == 0;
		twice += s > 1;
	}
	CHECK(!missing && !twice && !q->bad,
	      "%s: each of %d events once, res %d and data right (%d missing, %d more than once, %d wrong)",
	      what, q->n, RLEN, missing, twice, q->bad);
}

/* Submits requests [from, from + n) of q, whole, retrying on EAGAIN. */
static long submit_all(aio_context_t ctx, struct reqs *q, int from, int n, int *eagain)
{
	double deadline = now_ms() + MAX_WAIT_S * 1000.0;
	int done = 0;

	while (done < n) {
		long r = io_submit(ctx, n - done, q->ptrs + from + done);

		if (r > 0) {
			done += r;
		} else if (r == -EAGAIN && !past(deadline)) {
			if (eagain)
				(*eagain)++;
			sched_yield();
		} else {
			return r ? r : -EIO;
		}
	}
	return done;
}

/* Waits for all of n events of ctx (at most MAX_WAIT_S) and takes them. */
static long reap_take(aio_context_t ctx, struct reqs *q, int n)
{
	struct io_event ev[16];
	struct timespec ts = ns_to_ts(MAX_WAIT_S * 1000000000L);
	long got = 0;

	while (got < n) {
		long want = n - got > 16 ? 16 : n - got;
		long r = io_getevents(ctx, want, want, ev, &ts);

		if (r <= 0)
			return r < 0 ? r : got;
		for (long i = 0; i < r; i++)
			reqs_take(q, &ev[i]);
		got += r;
	}
	return got;
}

/* Takes what is in the ring now; returns how many. */
static long drain(aio_context_t ctx, struct reqs *q)
{
	struct io_event ev[16];
	struct timespec zero = { 0, 0 };
	long got = 0, r;

	while ((r = io_getevents(ctx, 0, 16, ev, &zero)) > 0) {
		for (long i = 0; i < r; i++)
			reqs_take(q, &ev[i]);
		got += r;
	}
	return r < 0 ? r : got;
}

/*
 * A thread other threads wait for: its id, and whether it is done.  It is
 * asleep in io_getevents when its state is S and /proc says it is in that
 * system call.  The waiter keeps the two /proc files open (re-reading them
 * from offset 0 gives fresh contents).
 */
struct who {
	pid_t tid;
	int done;
	int opened, stat_fd, sys_fd;
};

static void who_start(struct who *w)
{
	__atomic_store_n(&w->tid, gettid(), __ATOMIC_RELEASE);
}

static void who_done(struct who *w)
{
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
}

static void who_close(struct who *w, int n)
{
	for (int i = 0; i < n; i++) {
		if (!w[i].opened)
			continue;
		if (w[i].stat_fd >= 0)
			close(w[i].stat_fd);
		if (w[i].sys_fd >= 0)
			close(w[i].sys_fd);
		w[i].opened = 0;
	}
}

static int open_proc(const char *fmt, pid_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), fmt, tid);
	return open(path, O_RDONLY);
}

static int read_proc(int fd, char *buf, size_t size)
{
	ssize_t n = fd < 0 ? -1 : pread(fd, buf, size - 1, 0);

	if (n < 0)
		return -1;
	buf[n] = 0;
	return 0;
}

static int asleep_in_getevents(struct who *w)
{
	char buf[512], *p;

	if (!w->opened) {
		w->stat_fd = open_proc("/proc/self/task/%d/stat", w->tid);
		w->sys_fd = open_proc("/proc/self/task/%d/syscall", w->tid);
		w->opened = 1;
	}
	if (read_proc(w->stat_fd, buf, sizeof(buf)))
		return 0;
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || p[2] != 'S')
		return 0;
	/* Without /proc/PID/syscall, trust the state. */
	if (w->sys_fd < 0)
		return 1;
	return !read_proc(w->sys_fd, buf, sizeof(buf)) && atol(buf) == __NR_io_getevents;
}

/* Waits until each of the n threads is asleep in io_getevents or done. */
static int wait_asleep(struct who *w, int n)
{
	double deadline = now_ms() + MAX_WAIT_S * 1000.0;
	int i = 0;

	while (i < n) {
		pid_t tid = __atomic_load_n(&w[i].tid, __ATOMIC_ACQUIRE);

		if (__atomic_load_n(&w[i].done, __ATOMIC_ACQUIRE) ||
		    (tid && asleep_in_getevents(&w[i]))) {
			i++;
			continue;
		}
		if (past(deadline))
			return 0;
		usleep(100);
	}
	return 1;
}

/* Joins n threads, waiting at most MAX_WAIT_S in all; returns how many. */
static int join_all(pthread_t *t, int n, void **rets)
{
	struct timespec deadline;
	int joined = 0;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += MAX_WAIT_S;
	for (int i = 0; i < n; i++)
		joined += !pthread_timedjoin_np(t[i], rets ? &rets[i] : NULL, &deadline);
	return joined;
}

/* Waits for *counter to reach want (at most MAX_WAIT_S). */
static int wait_count(int *counter, int want)
{
	double deadline = now_ms() + MAX_WAIT_S * 1000.0;

	while (__atomic_load_n(counter, __ATOMIC_ACQUIRE) < want) {
		if (past(deadline))
			return 0;
		sched_yield();
	}
	return 1;
}

/*
 * One io_getevents call on a thread of its own, with min_nr, nr and a
 * timeout (NULL if negative); its result and events stay for the caller.
 */
struct sleeper {
	aio_context_t ctx;
	long min_nr, nr, timeout_ns;
	struct who *who;
	long ret;
	struct io_event ev[16];
};

static void *sleeper_main(void *arg)
{
	struct sleeper *s = arg;
	struct timespec ts = ns_to_ts(s->timeout_ns);

	who_start(s->who);
	s->ret = io_getevents(s->ctx, s->min_nr, s->nr, s->ev, s->timeout_ns < 0 ? NULL : &ts);
	who_done(s->who);
	return NULL;
}

/* Starts n sleepers on ctx; returns how many started. */
static int start_sleepers(pthread_t *t, struct sleeper *s, struct who *w, int n,
			  aio_context_t ctx, long min_nr, long nr, long timeout_ns)
{
	int started = 0;

	memset(w, 0, n * sizeof(*w));
	for (int i = 0; i < n; i++) {
		memset(&s[i], 0, sizeof(s[i]));
		s[i].ctx = ctx;
		s[i].min_nr = min_nr;
		s[i].nr = nr;
		s[i].timeout_ns = timeout_ns;
		s[i].who = &w[i];
		if (pthread_create(&t[i], NULL, sleeper_main, &s[i]))
			break;
		started++;
	}
	return started;
}

/* 1. Exactly once, with 8 reaper threads and a submitter on one context. */
#define HERD_N		5000
#define HERD_THREADS	8
#define HERD_EXTRA	4096

struct herd {
	aio_context_t ctx;
	struct reqs q;
	int reaped;		/* requests that count, reaped */
	int exited;
	int failed_calls;	/* io_getevents that failed */
	long last_error;
	int short_null;		/* NULL-timeout calls with fewer than min_nr */
	long calls;
	long submitted, submit_error;
	int eagain;
};

struct herd_thread {
	struct herd *h;
	int id;
};

static void *herd_submitter(void *arg)
{
	struct herd *h = arg;
	uint32_t seed = 12345;
	int done = 0;

	while (done < HERD_N) {
		int b = 1 + rnd(&seed) % 32;
		long r;

		if (b > HERD_N - done)
			b = HERD_N - done;
		r = submit_all(h->ctx, &h->q, done, b, &h->eagain);
		if (r < 0) {
			h->submit_error = r;
			break;
		}
		done += r;
	}
	h->submitted = done;
	return NULL;
}

static void *herd_reaper(void *arg)
{
	struct herd_thread *t = arg;
	struct herd *h = t->h;
	struct io_event ev[16];
	uint32_t seed = 0x9e3779b9u * (t->id + 1);

	while (__atomic_load_n(&h->reaped, __ATOMIC_ACQUIRE) < HERD_N) {
		long min_nr = 1 + rnd(&seed) % 4;
		long nr = min_nr + rnd(&seed) % (17 - min_nr);
		struct timespec ms = { 0, 1000000 };
		int timed = rnd(&seed) % 3 == 0;
		long r = io_getevents(h->ctx, min_nr, nr, ev, timed ? &ms : NULL);
		int real = 0;

		__atomic_add_fetch(&h->calls, 1, __ATOMIC_RELAXED);
		if (r < 0) {
			__atomic_add_fetch(&h->failed_calls, 1, __ATOMIC_RELAXED);
			h->last_error = r;
			break;
		}
		if (!timed && r < min_nr)
			__atomic_add_fetch(&h->short_null, 1, __ATOMIC_RELAXED);
		for (long i = 0; i < r; i++)
			real += reqs_take(&h->q, &ev[i]) == 1;
		__atomic_add_fetch(&h->reaped, real, __ATOMIC_RELEASE);
	}
	__atomic_add_fetch(&h->exited, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_herd(void)
{
	static struct herd h;
	struct herd_thread ht[HERD_THREADS];
	pthread_t sub, t[HERD_THREADS];
	double start = now_ms(), deadline;
	int extra = 0, started = 0, joined, destroyed = 0, sub_ok;

	stage = "1 (8 reapers)";
	memset(&h, 0, sizeof(h));
	reqs_init(&h.q, 1, HERD_N, HERD_EXTRA);
	CHECK_RET(io_setup(256, &h.ctx), 0, "herd: io_setup(256)");
	for (int i = 0; i < HERD_THREADS; i++) {
		ht[i].h = &h;
		ht[i].id = i;
		if (pthread_create(&t[i], NULL, herd_reaper, &ht[i]))
			break;
		started++;
	}
	sub_ok = !pthread_create(&sub, NULL, herd_submitter, &h);
	CHECK(started == HERD_THREADS && sub_ok, "herd: %d reapers and a submitter started",
	      started);
	if (sub_ok)
		pthread_join(sub, NULL);
	CHECK(h.submitted == HERD_N && !h.submit_error,
	      "herd: %ld of %d reads submitted in batches of 1 to 32 (error %ld, EAGAIN %d times)",
	      h.submitted, HERD_N, h.submit_error, h.eagain);
	/*
	 * The last events may sit in calls that still want more: extra reads
	 * release them, until every reaper has seen all events and left.
	 */
	deadline = now_ms() + MAX_WAIT_S * 1000.0;
	while (__atomic_load_n(&h.exited, __ATOMIC_ACQUIRE) < started && !past(deadline)) {
		if (extra < HERD_EXTRA && io_submit(h.ctx, 1, &h.q.ptrs[HERD_N + extra]) == 1)
			extra++;
		usleep(1000);
	}
	if (h.exited < started) {
		destroyed = 1;
		io_destroy(h.ctx);
	}
	joined = join_all(t, started, NULL);
	CHECK(!destroyed && joined == HERD_THREADS,
	      "herd: every reaper saw all %d events and left (%d joined, %d extra reads to release them)",
	      HERD_N, joined, extra);
	CHECK(!h.failed_calls, "herd: no io_getevents failed (%d failed, last %ld)",
	      h.failed_calls, h.last_error);
	CHECK(!h.short_null, "herd: no call without a timeout returned fewer than min_nr (%d did)",
	      h.short_null);
	reqs_check(&h.q, "herd");
	printf("# herd: %ld io_getevents calls, %.0f ms\n", h.calls, now_ms() - start);
	if (!destroyed)
		CHECK_RET(io_destroy(h.ctx), 0, "herd: io_destroy");
	reqs_free(&h.q);
}

/* 2. The kernel and user space reaping in turn, on one thread, small ring. */
#define TURNS_N		3000
#define TURNS_DEPTH	8

/* Takes n events from the mapped ring, as user space does; 0 or -1. */
static int user_reap(aio_context_t ctx, struct reqs *q, int n)
{
	struct aio_ring_hdr *ring = (struct aio_ring_hdr *)ctx;
	struct io_event *events = (struct io_event *)((char *)ring + ring->header_length);
	double deadline = now_ms() + MAX_WAIT_S * 1000.0;
	unsigned head = __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE), tail;

	for (;;) {
		tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
		if ((tail + ring->nr - head) % ring->nr >= (unsigned)n)
			break;
		if (past(deadline))
			return -1;
		sched_yield();
	}
	for (int i = 0; i < n; i++) {
		reqs_take(q, &events[head]);
		head = (head + 1) % ring->nr;
	}
	__atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
	return 0;
}

static void test_turns(void)
{
	struct reqs q;
	aio_context_t ctx = 0;
	struct aio_ring_hdr *ring;
	struct io_event ev[TURNS_DEPTH];
	struct timespec ts = ns_to_ts(MAX_WAIT_S * 1000000000L);
	uint32_t seed = 777;
	int submitted = 0, reaped = 0, outstanding = 0, eagain = 0, by_user = 0;
	long err = 0;
	double start = now_ms();

	stage = "2 (kernel and user space reaping in turn)";
	reqs_init(&q, 2, TURNS_N, 0);
	CHECK_RET(io_setup(TURNS_DEPTH, &ctx), 0, "turns: io_setup(8)");
	ring = (struct aio_ring_hdr *)ctx;
	while (reaped < TURNS_N && !err) {
		int n = 1 + rnd(&seed) % (TURNS_DEPTH - outstanding);
		int take, first, kernel_first;
		long r;

		if (n > TURNS_N - submitted)
			n = TURNS_N - submitted;
		if (n > 0) {
			r = io_submit(ctx, n, q.ptrs + submitted);
			if (r != n) {
				eagain += r == -EAGAIN;
				err = r < 0 ? r : -EIO;
				break;
			}
			submitted += n;
			outstanding += n;
		}
		/* Some or all of what is in flight: k one way, the rest the other. */
		take = submitted == TURNS_N || rnd(&seed) % 3 ? outstanding :
			1 + rnd(&seed) % outstanding;
		first = rnd(&seed) % (take + 1);
		kernel_first = rnd(&seed) & 1;
		for (int way = 0; way < 2 && !err; way++) {
			int k = way ? take - first : first;

			if (!k)
				continue;
			if (kernel_first == !way) {
				r = io_getevents(ctx, k, k, ev, &ts);
				if (r != k)
					err = r < 0 ? r : -EIO;
				for (long i = 0; i < r; i++)
					reqs_take(&q, &ev[i]);
			} else {
				if (user_reap(ctx, &q, k))
					err = -ETIMEDOUT;
				by_user += k;
			}
		}
		reaped += take;
		outstanding -= take;
	}
	CHECK(!err && !eagain && reaped == TURNS_N,
	      "turns: %d reads, at most %d in flight, reaped by io_getevents and by moving head (%d), ring of %u wrapped %u times (error %ld, EAGAIN %d)",
	      reaped, TURNS_DEPTH, by_user, ring->nr, reaped / ring->nr, err, eagain);
	reqs_check(&q, "turns");
	printf("# turns: %.0f ms\n", now_ms() - start);
	CHECK_RET(io_destroy(ctx), 0, "turns: io_destroy");
	reqs_free(&q);
}

/* Polls of a pipe that nobody writes: requests that never complete. */
static int arm_polls(aio_context_t ctx, int fd, int n, struct iocb *cbs)
{
	int armed = 0;

	for (int i = 0; i < n; i++) {
		struct iocb *cb = &cbs[i];

		memset(cb, 0, sizeof(*cb));
		cb->aio_lio_opcode = IOCB_CMD_POLL;
		cb->aio_fildes = fd;
		cb->aio_buf = POLLIN;
		cb->aio_data = 0xdead0000u + i;
		armed += io_submit(ctx, 1, &cb) == 1;
	}
	return armed;
}

/*
 * 3. io_destroy with 16 sleepers, without and with requests in flight (polls
 * that io_destroy cancels).  Each sleeper returns EINVAL; with polls, a
 * sleeper may instead return a cancelled poll's event, if that was in the
 * ring before it looked (C too: its cancellations run after the wake-up,
 * and a sleeper that reads the ring after them returns what it read).
 */
#define DESTROY_SLEEPERS	16
#define DESTROY_POLLS		4

static void test_destroy(int npolls)
{
	static struct sleeper s[DESTROY_SLEEPERS];
	static struct who w[DESTROY_SLEEPERS];
	pthread_t t[DESTROY_SLEEPERS];
	struct iocb polls[DESTROY_POLLS];
	aio_context_t ctx = 0;
	unsigned long before = read_ulong("/proc/sys/fs/aio-nr");
	int p[2], started, asleep, joined, einval = 0, poll_events = 0, other = 0;
	int poll_seen[DESTROY_POLLS] = { 0 };
	char name[32], what[64];

	snprintf(name, sizeof(name), "destroy, %d polls", npolls);
	stage = "3 (io_destroy with 16 sleepers)";
	CHECK(pipe(p) == 0, "%s: pipe", name);
	snprintf(what, sizeof(what), "%s: io_setup(64)", name);
	CHECK_RET(io_setup(64, &ctx), 0, what);
	CHECK(arm_polls(ctx, p[0], npolls, polls) == npolls, "%s: polls armed on an empty pipe",
	      name);
	started = start_sleepers(t, s, w, DESTROY_SLEEPERS, ctx, 1, 1, -1);
	asleep = wait_asleep(w, started);
	CHECK(started == DESTROY_SLEEPERS && asleep,
	      "%s: %d threads asleep in io_getevents(min_nr 1, no timeout)", name, started);
	snprintf(what, sizeof(what), "%s: io_destroy", name);
	CHECK_RET(io_destroy(ctx), 0, what);
	joined = join_all(t, started, NULL);
	who_close(w, started);
	for (int i = 0; i < started; i++) {
		long k = (struct iocb *)(uintptr_t)s[i].ev[0].obj - polls;

		if (!__atomic_load_n(&w[i].done, __ATOMIC_ACQUIRE))
			continue;
		if (s[i].ret == -EINVAL)
			einval++;
		else if (s[i].ret == 1 && k >= 0 && k < npolls && !poll_seen[k]++ &&
			 s[i].ev[0].data == polls[k].aio_data)
			poll_events++;
		else
			other++;
	}
	CHECK(joined == DESTROY_SLEEPERS && einval + poll_events == DESTROY_SLEEPERS,
	      "%s: every sleeper returned EINVAL%s (%d EINVAL, %d a poll's event, %d else, %d joined)",
	      name, npolls ? " or a cancelled poll's event" : "", einval, poll_events, other,
	      joined);
	CHECK(read_ulong("/proc/sys/fs/aio-nr") == before, "%s: aio-nr back to %lu (%lu)", name,
	      before, read_ulong("/proc/sys/fs/aio-nr"));
	close(p[0]);
	close(p[1]);
}

/* 4. A process exits (or is killed) with 100 polls and 16 sleepers. */
#define EXIT_POLLS	100
#define EXIT_SLEEPERS	16
#define EXIT_NR		128

static void exit_child(int status_fd, int go_fd, int killed)
{
	static struct sleeper s[EXIT_SLEEPERS];
	static struct iocb polls[EXIT_POLLS];
	struct who w[EXIT_SLEEPERS];
	pthread_t t[EXIT_SLEEPERS];
	aio_context_t ctx = 0;
	char c = 'F';
	int p[2];

	if (!pipe(p) && !io_setup(EXIT_NR, &ctx) &&
	    arm_polls(ctx, p[0], EXIT_POLLS, polls) == EXIT_POLLS &&
	    start_sleepers(t, s, w, EXIT_SLEEPERS, ctx, 1, 1, -1) == EXIT_SLEEPERS &&
	    wait_asleep(w, EXIT_SLEEPERS))
		c = 'R';
	if (write(status_fd, &c, 1) != 1 || c != 'R')
		_exit(1);
	/* Until the parent has seen aio-nr, then exit or wait for SIGKILL. */
	if (read(go_fd, &c, 1) != 1)
		_exit(1);
	if (killed)
		for (;;)
			pause();
	exit(0);
}

static void test_exit(int killed)
{
	const char *how = killed ? "SIGKILL" : "exit(0)";
	unsigned long before = read_ulong("/proc/sys/fs/aio-nr"), during, after;
	struct pollfd pfd;
	char c = 0;
	int sp[2], go[2], status = -1;
	pid_t pid;

	stage = killed ? "4 (SIGKILL with 16 sleepers)" : "4 (exit with 16 sleepers)";
	CHECK(pipe(sp) == 0 && pipe(go) == 0, "exit, %s: pipes", how);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(sp[0]);
		close(go[1]);
		exit_child(sp[1], go[0], killed);
	}
	close(sp[1]);
	close(go[0]);
	pfd.fd = sp[0];
	pfd.events = POLLIN;
	if (pid > 0 && poll(&pfd, 1, MAX_WAIT_S * 1000) == 1 && read(sp[0], &c, 1) != 1)
		c = 0;
	during = read_ulong("/proc/sys/fs/aio-nr");
	CHECK(pid > 0 && c == 'R',
	      "exit, %s: child has %d polls armed and %d threads asleep in io_getevents", how,
	      EXIT_POLLS, EXIT_SLEEPERS);
	CHECK(during == before + EXIT_NR, "exit, %s: aio-nr %lu with the child's context (%lu before)",
	      how, during, before);
	if (pid > 0 && killed)
		kill(pid, SIGKILL);
	else if (pid > 0 && write(go[1], &c, 1) != 1)
		kill(pid, SIGKILL);
	if (pid > 0)
		waitpid(pid, &status, 0);
	after = read_ulong("/proc/sys/fs/aio-nr");
	if (killed)
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		      "exit, %s: child killed (status %#x)", how, status);
	else
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "exit, %s: child exited 0 (status %#x)", how, status);
	CHECK(after == before, "exit, %s: aio-nr back to %lu when the child is reaped (%lu)", how,
	      before, after);
	if (after != before) {
		sleep(5);
		printf("# exit, %s: aio-nr %lu 5 s later\n", how, read_ulong("/proc/sys/fs/aio-nr"));
	}
	close(sp[0]);
	close(go[1]);
}

/*
 * 5a. Sleepers that want 16 events, with a 100 ms timeout, and only 5
 * events in all, one at a time, each once the one before was returned: the
 * sleepers call again after a timeout until the 5 have been returned, and
 * each event must come out of exactly one call (a short one).
 */
#define SPREAD_SLEEPERS	4
#define SPREAD_N	5

struct spread {
	aio_context_t ctx;
	struct reqs q;
	struct who who[SPREAD_SLEEPERS];
	int reaped, calls, partial, failed_calls;
	char got[128];		/* the calls that returned events */
};

struct spread_thread {
	struct spread *sp;
	int id;
};

static void *spread_sleeper(void *arg)
{
	struct spread_thread *t = arg;
	struct spread *sp = t->sp;
	struct io_event ev[16];

	who_start(&sp->who[t->id]);
	while (__atomic_load_n(&sp->reaped, __ATOMIC_ACQUIRE) < SPREAD_N) {
		struct timespec ts = ns_to_ts(100 * 1000000L);
		long r = io_getevents(sp->ctx, 16, 16, ev, &ts);

		__atomic_add_fetch(&sp->calls, 1, __ATOMIC_RELAXED);
		if (r < 0 || r > 16) {
			__atomic_add_fetch(&sp->failed_calls, 1, __ATOMIC_RELAXED);
			break;
		}
		if (!r)
			continue;
		for (long i = 0; i < r; i++)
			reqs_take(&sp->q, &ev[i]);
		__atomic_add_fetch(&sp->partial, 1, __ATOMIC_RELAXED);
		/* No race: the next event comes once reaped went up. */
		snprintf(sp->got + strlen(sp->got), sizeof(sp->got) - strlen(sp->got),
			 " %ld (thread %d)", r, t->id);
		__atomic_add_fetch(&sp->reaped, r, __ATOMIC_RELEASE);
	}
	who_done(&sp->who[t->id]);
	return NULL;
}

static void test_timeouts(void)
{
	static struct spread sp;
	struct spread_thread st[SPREAD_SLEEPERS];
	pthread_t t[SPREAD_SLEEPERS];
	int started = 0, asleep, joined, submitted = 0;
	long rest;

	stage = "5a (timeouts with events spread over sleepers)";
	memset(&sp, 0, sizeof(sp));
	reqs_init(&sp.q, 5, SPREAD_N, 0);
	CHECK_RET(io_setup(64, &sp.ctx), 0, "timeouts: io_setup(64)");
	for (int i = 0; i < SPREAD_SLEEPERS; i++) {
		st[i].sp = &sp;
		st[i].id = i;
		if (pthread_create(&t[i], NULL, spread_sleeper, &st[i]))
			break;
		started++;
	}
	asleep = wait_asleep(sp.who, started);
	for (int i = 0; i < SPREAD_N; i++) {
		if (submit_all(sp.ctx, &sp.q, i, 1, NULL) != 1)
			break;
		submitted++;
		if (!wait_count(&sp.reaped, i + 1))
			break;
	}
	joined = join_all(t, started, NULL);
	who_close(sp.who, started);
	CHECK(started == SPREAD_SLEEPERS && asleep && submitted == SPREAD_N &&
	      joined == SPREAD_SLEEPERS,
	      "timeouts: %d sleepers (min_nr 16, 100 ms), %d reads one at a time; all reaped, all returned",
	      started, submitted);
	CHECK(!sp.failed_calls, "timeouts: every call returned 0 to 16 events (%d did not)",
	      sp.failed_calls);
	rest = drain(sp.ctx, &sp.q);
	printf("# timeouts: %d calls, events returned by%s\n", sp.calls, sp.got);
	CHECK(rest == 0, "timeouts: nothing left in the ring (%ld)", rest);
	reqs_check(&sp.q, "timeouts: over the sleepers");
	CHECK_RET(io_destroy(sp.ctx), 0, "timeouts: io_destroy");
	reqs_free(&sp.q);
}

/* 5b. A sleeper interrupted by a signal. */
static void test_signal(void)
{
	static struct sleeper s;
	static struct who w;
	pthread_t t;
	struct reqs q;
	aio_context_t ctx = 0;
	int started, asleep, joined;
	long r;

	stage = "5b (a sleeper takes a signal)";
	reqs_init(&q, 6, 4, 0);
	CHECK_RET(io_setup(64, &ctx), 0, "signal: io_setup(64)");

	/* On an empty ring: EINTR, and the events that come later are there. */
	started = start_sleepers(&t, &s, &w, 1, ctx, 1, 1, -1);
	asleep = wait_asleep(&w, started);
	CHECK(started && asleep, "signal: a thread asleep in io_getevents(min_nr 1, no timeout)");
	if (started)
		pthread_kill(t, SIGUSR1);
	joined = join_all(&t, started, NULL);
	who_close(&w, started);
	CHECK(joined && s.ret == -EINTR, "signal: it returned EINTR (%ld)", s.ret);
	CHECK_RET(submit_all(ctx, &q, 0, 2, NULL), 2, "signal: 2 reads submitted");
	r = reap_take(ctx, &q, 2);
	CHECK(r == 2, "signal: a later io_getevents got both (%ld)", r);

	/*
	 * With 2 of the 4 events it waits for in the ring: the interrupted
	 * call returns the 2 (C reads the ring before it returns EINTR).
	 */
	started = start_sleepers(&t, &s, &w, 1, ctx, 4, 4, -1);
	asleep = wait_asleep(&w, started);
	CHECK_RET(submit_all(ctx, &q, 2, 2, NULL), 2, "signal: 2 reads for a sleeper wanting 4");
	asleep = asleep && wait_asleep(&w, started);
	CHECK(started && asleep, "signal: the thread still asleep in io_getevents(min_nr 4)");
	if (started)
		pthread_kill(t, SIGUSR1);
	joined = join_all(&t, started, NULL);
	who_close(&w, started);
	for (long j = 0; joined && j < s.ret && j < 4; j++)
		reqs_take(&q, &s.ev[j]);
	CHECK(joined && s.ret == 2, "signal: the interrupted call returned the 2 events it had (%ld)",
	      s.ret);
	r = drain(ctx, &q);
	printf("# signal: %ld left in the ring after the interrupted call\n", r);
	reqs_check(&q, "signal: over the calls");
	CHECK_RET(io_destroy(ctx), 0, "signal: io_destroy");
	reqs_free(&q);
}

/*
 * 6. Wake-ups without waste: 8 sleepers, events one at a time.  A thread's
 * voluntary context switches count its sleeps that a wake-up ended; those
 * beyond its returned calls were wake-ups in vain.
 */
#define FRUGAL_N	200
#define FRUGAL_THREADS	8

struct frugal {
	aio_context_t ctx;
	struct reqs q;
	int reaped, stop, exited;
	int failed_calls;
	struct who who[FRUGAL_THREADS];
	long calls[FRUGAL_THREADS], csw[FRUGAL_THREADS];
};

struct frugal_thread {
	struct frugal *f;
	int id;
};

static long voluntary_switches(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_THREAD, &ru) ? 0 : ru.ru_nvcsw;
}

static void *frugal_reaper(void *arg)
{
	struct frugal_thread *t = arg;
	struct frugal *f = t->f;
	struct io_event ev;
	long base = voluntary_switches(), calls = 0;

	who_start(&f->who[t->id]);
	for (;;) {
		long r = io_getevents(f->ctx, 1, 1, &ev, NULL);

		calls++;
		if (r < 0) {
			__atomic_add_fetch(&f->failed_calls, 1, __ATOMIC_RELAXED);
			break;
		}
		if (r == 1 && reqs_take(&f->q, &ev) == 1)
			__atomic_add_fetch(&f->reaped, 1, __ATOMIC_RELEASE);
		if (__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE))
			break;
	}
	f->csw[t->id] = voluntary_switches() - base;
	f->calls[t->id] = calls;
	who_done(&f->who[t->id]);
	__atomic_add_fetch(&f->exited, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_frugal(void)
{
	static struct frugal f;
	struct frugal_thread ft[FRUGAL_THREADS];
	pthread_t t[FRUGAL_THREADS];
	int started = 0, ok = 1, joined;
	long calls = 0, csw = 0, wasted;
	double start = now_ms();

	stage = "6 (wake-ups without waste)";
	memset(&f, 0, sizeof(f));
	reqs_init(&f.q, 7, FRUGAL_N, FRUGAL_THREADS);
	CHECK_RET(io_setup(64, &f.ctx), 0, "frugal: io_setup(64)");
	for (int i = 0; i < FRUGAL_THREADS; i++) {
		ft[i].f = &f;
		ft[i].id = i;
		if (pthread_create(&t[i], NULL, frugal_reaper, &ft[i]))
			break;
		started++;
	}
	ok = started == FRUGAL_THREADS && wait_asleep(f.who, started);
	CHECK(ok, "frugal: %d threads asleep in io_getevents(min_nr 1, nr 1, no timeout)", started);
	/* One event at a time, each once every thread is asleep again. */
	for (int i = 0; ok && i < FRUGAL_N; i++) {
		ok = submit_all(f.ctx, &f.q, i, 1, NULL) == 1 && wait_count(&f.reaped, i + 1) &&
			wait_asleep(f.who, started);
		usleep(2000);
	}
	CHECK(ok, "frugal: %d reads, each reaped before the next (%d reaped)", FRUGAL_N, f.reaped);
	/* Then one extra read per thread, to let each go. */
	__atomic_store_n(&f.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; ok && i < started; i++) {
		ok = submit_all(f.ctx, &f.q, FRUGAL_N + i, 1, NULL) == 1 &&
			wait_count(&f.exited, i + 1) && wait_asleep(f.who, started);
	}
	if (!ok)
		io_destroy(f.ctx);
	joined = join_all(t, started, NULL);
	who_close(f.who, started);
	CHECK(ok && joined == FRUGAL_THREADS && !f.failed_calls,
	      "frugal: each thread let go by one extra read (%d joined, %d failed calls)", joined,
	      f.failed_calls);
	reqs_check(&f.q, "frugal");
	for (int i = 0; i < joined; i++) {
		calls += f.calls[i];
		csw += f.csw[i];
	}
	wasted = csw - calls;
	printf("# frugal: %ld sleeps, %ld io_getevents calls returned, %.0f ms\n", csw, calls,
	       now_ms() - start);
	if (ours)
		CHECK(ok && wasted <= FRUGAL_N / 20 + FRUGAL_THREADS,
		      "ours: %ld wasted wake-ups for %d events (at most %d)", wasted, FRUGAL_N,
		      FRUGAL_N / 20 + FRUGAL_THREADS);
	else
		printf("# C: %ld wasted wake-ups for %d events\n", wasted, FRUGAL_N);
	if (ok)
		CHECK_RET(io_destroy(f.ctx), 0, "frugal: io_destroy");
	reqs_free(&f.q);
}

/*
 * 7. Starvation: A takes events one by one, B wants 16 at a time, and
 * events come one at a time.  On C, B never has its 16.
 */
#define STARVE_N	1500
#define STARVE_EXTRA	2000

struct starve {
	aio_context_t ctx;
	struct reqs q;
	int stop;
	int a_events, b_events, b_calls, b_batches, b_short;
	int failed_calls;
	int a_done, b_done;
};

static void *starve_a(void *arg)
{
	struct starve *s = arg;
	struct io_event ev;

	for (;;) {
		long r = io_getevents(s->ctx, 1, 1, &ev, NULL);

		if (r < 0) {
			__atomic_add_fetch(&s->failed_calls, 1, __ATOMIC_RELAXED);
			break;
		}
		if (r == 1 && reqs_take(&s->q, &ev) == 1)
			s->a_events++;
		if (__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE))
			break;
	}
	__atomic_store_n(&s->a_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *starve_b(void *arg)
{
	struct starve *s = arg;
	struct io_event ev[16];

	for (;;) {
		long r = io_getevents(s->ctx, 16, 16, ev, NULL);

		if (r < 0) {
			__atomic_add_fetch(&s->failed_calls, 1, __ATOMIC_RELAXED);
			break;
		}
		s->b_calls++;
		s->b_short += r != 16;
		for (long i = 0; i < r; i++)
			s->b_events += reqs_take(&s->q, &ev[i]) == 1;
		if (__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE))
			break;
		s->b_batches++;
	}
	__atomic_store_n(&s->b_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_starve(void)
{
	static struct starve s;
	pthread_t a, b;
	int ok, submitted = 0, extra = 0, joined, destroyed = 0;
	long rest;
	double deadline, start = now_ms();

	stage = "7 (a sleeper wanting 16 next to one taking 1)";
	memset(&s, 0, sizeof(s));
	reqs_init(&s.q, 8, STARVE_N, STARVE_EXTRA);
	CHECK_RET(io_setup(256, &s.ctx), 0, "starve: io_setup(256)");
	ok = !pthread_create(&a, NULL, starve_a, &s);
	ok = ok && !pthread_create(&b, NULL, starve_b, &s);
	CHECK(ok, "starve: A (min_nr 1) and B (min_nr 16) started");
	if (!ok)
		return;
	for (int i = 0; i < STARVE_N; i++) {
		if (submit_all(s.ctx, &s.q, i, 1, NULL) != 1)
			break;
		submitted++;
		usleep(300);
	}
	CHECK(submitted == STARVE_N, "starve: %d of %d reads submitted one by one, 300 us apart",
	      submitted, STARVE_N);
	/* Extra reads until both have seen the stop flag. */
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
	deadline = now_ms() + MAX_WAIT_S * 1000.0;
	while (!(__atomic_load_n(&s.a_done, __ATOMIC_ACQUIRE) &&
		 __atomic_load_n(&s.b_done, __ATOMIC_ACQUIRE)) && !past(deadline)) {
		if (extra < STARVE_EXTRA &&
		    io_submit(s.ctx, 1, &s.q.ptrs[STARVE_N + extra]) == 1)
			extra++;
		usleep(1000);
	}
	if (!(s.a_done && s.b_done)) {
		destroyed = 1;
		io_destroy(s.ctx);
	}
	joined = !pthread_join(a, NULL) + !pthread_join(b, NULL);
	CHECK(!destroyed && joined == 2 && !s.failed_calls,
	      "starve: A and B let go by %d extra reads (%d failed calls)", extra, s.failed_calls);
	rest = destroyed ? 0 : drain(s.ctx, &s.q);
	printf("# starve: A got %d events, B %d in %d calls (%d before the stop), %ld left, %.0f ms\n",
	       s.a_events, s.b_events, s.b_calls, s.b_batches, rest, now_ms() - start);
	reqs_check(&s.q, "starve: over A, B and the ring");
	CHECK(!s.b_short, "starve: every call of B returned 16 events (%d of %d did not)",
	      s.b_short, s.b_calls);
	if (ours)
		CHECK(s.b_batches >= STARVE_N / 16 / 4,
		      "ours: B got %d batches of 16 while the %d events came (at least %d)",
		      s.b_batches, STARVE_N, STARVE_N / 16 / 4);
	else
		printf("# C: B got %d batches of 16 of %d events\n", s.b_batches, STARVE_N);
	if (!destroyed)
		CHECK_RET(io_destroy(s.ctx), 0, "starve: io_destroy");
	reqs_free(&s.q);
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	char path[] = "/tmp/reapers.XXXXXX";
	double start = now_ms();

	if (argc < 2 || (strcmp(argv[1], "rust") && strcmp(argv[1], "c"))) {
		fprintf(stderr, "usage: %s rust|c\n", argv[0]);
		return 2;
	}
	ours = !strcmp(argv[1], "rust");
	signal(SIGALRM, watchdog);
	alarm(240);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART */
	sigaction(SIGUSR1, &sa, NULL);

	for (int i = 0; i < FILE_SIZE; i++)
		pattern[i] = (i * 7 + i / 251) & 0xff;
	data_fd = mkstemp(path);
	CHECK(data_fd >= 0 && write(data_fd, pattern, FILE_SIZE) == FILE_SIZE,
	      "a %d-byte file in /tmp", FILE_SIZE);
	unlink(path);

	test_herd();
	test_turns();
	test_destroy(0);
	test_destroy(DESTROY_POLLS);
	test_exit(0);
	test_exit(1);
	test_timeouts();
	test_signal();
	test_frugal();
	test_starve();
	alarm(0);
	printf("# %.0f ms in all\n", now_ms() - start);
	return tap_done();
}
