// SPDX-License-Identifier: GPL-2.0
/*
 * Many io_getevents() sleepers on one context.
 *
 * fs/aio.c wakes every sleeper of a context for every completion
 * (wake_up() on ctx->wait, none of the waits exclusive): with W threads
 * asleep in io_getevents(min_nr=1), each event wakes all W, one takes it
 * and W - 1 go back to sleep with nothing.  Our kernel promises each event
 * to one sleeper, in the order they went to sleep, and wakes only that
 * one.  The same rule decides whether a sleeper that wants many events
 * (min_nr=16) behind one that wants a single event ever gets any: the
 * min_nr=1 sleeper takes every event as it comes, and the other used to
 * starve, on both kernels.  These cells measure both, plus what the
 * wake-ups cost when the context is busy.  The same binary runs on both
 * kernels; tools/bench-report.py compares them.
 *
 *   reapers sleepers DEVICE W EVENTS GAP_US
 *	W threads sleep in io_getevents(min_nr=1, nr=1, no timeout) while
 *	EVENTS O_DIRECT 4k reads of DEVICE are submitted one at a time,
 *	GAP_US apart.  Wake-ups: each thread's voluntary context switches
 *	(getrusage(RUSAGE_THREAD): every sleep that a wake-up ended), summed;
 *	wasted wake-ups: those minus the io_getevents() calls that returned
 *	an event (a wake-up after which the thread slept again).  Both per
 *	event; events per second over the run, gaps included.
 *   reapers twowaiter DEVICE EVENTS GAP_US
 *	Thread A sleeps in io_getevents(min_nr=1, nr=1), then thread B in
 *	io_getevents(min_nr=16, nr=16), both without timeout, each in a loop;
 *	EVENTS reads are submitted one at a time, GAP_US apart, whether
 *	consumed or not.  Figures: the events each got; B's wait, the most
 *	events submitted between two returns of B that brought events (from
 *	the start for the first, and up to the end after the last: EVENTS if
 *	B never got any); B's mean time between such returns; A's latency
 *	from the submission of an event to A's return with it (mean, p99).
 *   reapers throughput DEVICE SECONDS
 *	2 submitter threads each keep 32 random 4k O_DIRECT reads in flight
 *	on the one context (batches of up to 8 as slots free up), 4 reaper
 *	threads in io_getevents(min_nr=1, nr=16, 10 ms timeout).  Figures:
 *	events per second (no gaps: what the wake-ups cost a busy context)
 *	and the reapers' voluntary context switches per event.
 *
 * The sleepers are released at the end by a stop flag and extra reads
 * (data tagged EXTRA), which are not counted: the sleepers cell reads each
 * thread's switch count from /proc once every event is reaped and the
 * threads are asleep again, and counts up to that point only.  If a
 * thread does not return after the extra reads (a lost wake-up), the
 * context is destroyed, which ends every sleep with EINVAL, and the
 * figure "stuck" says how many threads it took.
 *
 * Prints one JSON object.  Raw system calls, no libaio.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BS		4096
#define MAX_W		64
#define B_MIN_NR	16
#define TP_SUBMITTERS	2
#define TP_QD		32
#define TP_BATCH	8
#define TP_REAPERS	4
#define TP_NR		16
#define EXTRA		(1ULL << 63)	/* aio_data of the releasing reads */

static aio_context_t ctx;
static int fd;
static long long blocks;
static char *buf;		/* every read's target: data is not looked at */
static struct timespec gap;
static long gap_us;
static long events_total;
static int stop;

static void die(const char *what, long err)
{
	fprintf(stderr, "reapers: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static pid_t gettid_raw(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static long nvcsw_self(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_nvcsw;
}

/*
 * Another thread's state letter and voluntary switches (the same counter
 * as its getrusage(RUSAGE_THREAD).ru_nvcsw).
 */
static void task_status(pid_t tid, char *state, long *nvcsw)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	f = fopen(path, "r");
	if (!f)
		die(path, errno);
	*state = '?';
	*nvcsw = -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "State:", 6))
			sscanf(line + 6, " %c", state);
		else if (!strncmp(line, "voluntary_ctxt_switches:", 24))
			*nvcsw = atol(line + 24);
	}
	fclose(f);
}

/* Waits until the thread *tid (0 until it set it) is asleep. */
static void wait_asleep(const pid_t *tid)
{
	for (int i = 0; i < 10000; i++) {
		pid_t t = __atomic_load_n(tid, __ATOMIC_ACQUIRE);
		char state;
		long n;

		if (t) {
			task_status(t, &state, &n);
			if (state == 'S' || state == 'D')
				return;
		}
		usleep(1000);
	}
	die("a thread never went to sleep", ETIMEDOUT);
}

static void prep(struct iocb *cb, uint64_t data, off_t offset)
{
	memset(cb, 0, sizeof(*cb));
	cb->aio_lio_opcode = IOCB_CMD_PREAD;
	cb->aio_fildes = fd;
	cb->aio_buf = (uintptr_t)buf;
	cb->aio_nbytes = BS;
	cb->aio_offset = offset;
	cb->aio_data = data;
}

/* Submits one read; a full ring (EAGAIN) is retried after the gap. */
static void submit_one(uint64_t data, off_t offset)
{
	struct iocb cb, *cbp = &cb;

	prep(&cb, data, offset);
	while (syscall(__NR_io_submit, ctx, 1, &cbp) != 1) {
		if (errno != EAGAIN)
			die("io_submit", errno);
		nanosleep(&gap, NULL);
	}
}

static void check(const struct io_event *ev)
{
	if (ev->res != BS)
		die("read", ev->res < 0 ? ev->res : EIO);
}

/* Waits up to ms milliseconds for *count to reach want. */
static int wait_count(const long *count, long want, long ms)
{
	for (long i = 0; i < ms; i++) {
		if (__atomic_load_n(count, __ATOMIC_ACQUIRE) >= want)
			return 1;
		usleep(1000);
	}
	return __atomic_load_n(count, __ATOMIC_ACQUIRE) >= want;
}

/* Cell 1: W sleepers, min_nr=1. */

struct sleeper {
	pthread_t thread;
	pid_t tid;
	long start, end, cutoff;	/* voluntary switches */
	long returns;			/* calls that returned a counted event */
};

static long reaped, exited;
static long long t_done;

static void *sleeper(void *arg)
{
	struct sleeper *s = arg;
	struct io_event ev;

	s->start = nvcsw_self();
	__atomic_store_n(&s->tid, gettid_raw(), __ATOMIC_RELEASE);
	for (;;) {
		long n = syscall(__NR_io_getevents, ctx, 1, 1, &ev, NULL);

		if (n < 0 && errno == EINTR)
			continue;
		/* io_destroy, the way out of a lost wake-up. */
		if (n < 0 && errno == EINVAL && __atomic_load_n(&stop, __ATOMIC_ACQUIRE))
			break;
		if (n < 0)
			die("io_getevents", errno);
		if (n == 0)
			continue;
		if (ev.data & EXTRA)
			break;
		check(&ev);
		s->returns++;
		if (__atomic_add_fetch(&reaped, 1, __ATOMIC_ACQ_REL) == events_total)
			__atomic_store_n(&t_done, now_ns(), __ATOMIC_RELEASE);
	}
	s->end = nvcsw_self();
	__atomic_add_fetch(&exited, 1, __ATOMIC_ACQ_REL);
	return NULL;
}

/*
 * Once every event is reaped: waits until every sleeper is asleep again
 * and its count holds still, and takes that count as its cut-off.  A
 * sleep is counted when it begins, so the count of a sleeper asleep
 * includes the sleep that only the stop will end: not an event's.
 */
static void cutoff(struct sleeper *s, int w)
{
	long prev[MAX_W];
	char state[MAX_W];

	for (int i = 0; i < w; i++)
		task_status(s[i].tid, &state[i], &prev[i]);
	for (int tries = 0; tries < 200; tries++) {
		int still = 1;

		usleep(5000);
		for (int i = 0; i < w; i++) {
			long n;

			task_status(s[i].tid, &state[i], &n);
			if (n != prev[i] || state[i] == 'R')
				still = 0;
			prev[i] = n;
		}
		if (still)
			break;
	}
	for (int i = 0; i < w; i++)
		s[i].cutoff = prev[i] - (state[i] == 'S' || state[i] == 'D');
}

/* Stop flag; after the extra reads, io_destroy for whoever is left. */
static long release(const long *done, long want, long extras)
{
	long stuck;

	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (long k = 0; k < extras && !wait_count(done, want, 0); k++) {
		submit_one(EXTRA | k, (k % 1024) * BS);
		nanosleep(&gap, NULL);
	}
	if (wait_count(done, want, 10000))
		return 0;
	stuck = want - __atomic_load_n(done, __ATOMIC_ACQUIRE);
	syscall(__NR_io_destroy, ctx);
	return stuck;
}

static int sleepers_cell(int w)
{
	static struct sleeper s[MAX_W];
	long switches = 0, stop_switches = 0, returns = 0, stuck;
	long long t0;
	double secs;

	if (w < 1 || w > MAX_W)
		die("W", EINVAL);
	if (syscall(__NR_io_setup, 256, &ctx))
		die("io_setup", errno);
	for (int i = 0; i < w; i++) {
		if (pthread_create(&s[i].thread, NULL, sleeper, &s[i]))
			die("pthread_create", errno);
		wait_asleep(&s[i].tid);
	}
	t0 = now_ns();
	for (long i = 0; i < events_total; i++) {
		submit_one(i, (i % 1024) * BS);
		nanosleep(&gap, NULL);
	}
	if (!wait_count(&reaped, events_total, 30000))
		fprintf(stderr, "reapers: only %ld of %ld events reaped\n",
			__atomic_load_n(&reaped, __ATOMIC_ACQUIRE), events_total);
	if (!__atomic_load_n(&t_done, __ATOMIC_ACQUIRE))
		t_done = now_ns();
	cutoff(s, w);
	/*
	 * One extra read per sleeper: a sleeper that takes one leaves.  More
	 * only if one was lost.
	 */
	stuck = release(&exited, w, w);
	for (int i = 0; i < w; i++) {
		pthread_join(s[i].thread, NULL);
		switches += s[i].cutoff - s[i].start;
		stop_switches += s[i].end - s[i].cutoff;
		returns += s[i].returns;
	}
	secs = (t_done - t0) / 1e9;
	printf("{\"cell\": \"sleepers\", \"w\": %d, \"events\": %ld, \"gap_us\": %ld, "
	       "\"getevents_returns\": %ld, \"voluntary_switches\": %ld, "
	       "\"stop_switches\": %ld, \"wakeups_per_event\": %.4f, "
	       "\"wasted_per_event\": %.4f, \"seconds\": %.3f, \"events_per_sec\": %.1f, "
	       "\"stuck\": %ld}\n",
	       w, reaped, gap_us, returns, switches, stop_switches,
	       reaped ? (double)switches / reaped : 0.0,
	       reaped ? (double)(switches - returns) / reaped : 0.0,
	       secs, secs > 0 ? reaped / secs : 0.0, stuck);
	return 0;
}

/* Cell 2: A with min_nr=1, B with min_nr=16. */

static long long *submit_at;	/* ns, per aio_data */
static long long *a_lat;	/* ns, per event A got */
static long submitted;		/* counted reads submitted so far */
static long long tw_t0;
static pid_t a_tid, b_tid;
static long a_events, b_events, b_returns, b_max_wait, b_prev_submitted;
static long long b_last;

static void *waiter_a(void *arg)
{
	struct io_event ev;

	(void)arg;
	__atomic_store_n(&a_tid, gettid_raw(), __ATOMIC_RELEASE);
	for (;;) {
		long n = syscall(__NR_io_getevents, ctx, 1, 1, &ev, NULL);
		long long t = now_ns();

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EINVAL && __atomic_load_n(&stop, __ATOMIC_ACQUIRE))
			break;
		if (n < 0)
			die("io_getevents", errno);
		if (n == 1 && !(ev.data & EXTRA)) {
			check(&ev);
			a_lat[a_events++] = t - __atomic_load_n(&submit_at[ev.data],
								 __ATOMIC_ACQUIRE);
		}
		if (__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
			break;
	}
	__atomic_add_fetch(&exited, 1, __ATOMIC_ACQ_REL);
	return NULL;
}

static void *waiter_b(void *arg)
{
	struct io_event ev[B_MIN_NR];

	(void)arg;
	__atomic_store_n(&b_tid, gettid_raw(), __ATOMIC_RELEASE);
	for (;;) {
		long n = syscall(__NR_io_getevents, ctx, B_MIN_NR, B_MIN_NR, ev, NULL);
		long sub = __atomic_load_n(&submitted, __ATOMIC_ACQUIRE), real = 0;
		long long t = now_ns();

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EINVAL && __atomic_load_n(&stop, __ATOMIC_ACQUIRE))
			break;
		if (n < 0)
			die("io_getevents", errno);
		for (long i = 0; i < n; i++) {
			if (ev[i].data & EXTRA)
				continue;
			check(&ev[i]);
			real++;
		}
		if (real) {
			b_events += real;
			b_returns++;
			if (sub - b_prev_submitted > b_max_wait)
				b_max_wait = sub - b_prev_submitted;
			b_prev_submitted = sub;
			b_last = t;
		}
		if (__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
			break;
	}
	__atomic_add_fetch(&exited, 1, __ATOMIC_ACQ_REL);
	return NULL;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static int twowaiter_cell(void)
{
	pthread_t a, b;
	long long t_end;
	double lat_mean = 0, lat_p99 = 0, b_mean_wait;
	long stuck;

	submit_at = calloc(events_total, sizeof(*submit_at));
	a_lat = calloc(events_total, sizeof(*a_lat));
	if (!submit_at || !a_lat)
		die("calloc", ENOMEM);
	if (syscall(__NR_io_setup, 1024, &ctx))
		die("io_setup", errno);
	/* A asleep first, then B. */
	if (pthread_create(&a, NULL, waiter_a, NULL))
		die("pthread_create", errno);
	wait_asleep(&a_tid);
	if (pthread_create(&b, NULL, waiter_b, NULL))
		die("pthread_create", errno);
	wait_asleep(&b_tid);
	tw_t0 = now_ns();
	for (long i = 0; i < events_total; i++) {
		__atomic_store_n(&submit_at[i], now_ns(), __ATOMIC_RELEASE);
		submit_one(i, (i % 1024) * BS);
		__atomic_store_n(&submitted, i + 1, __ATOMIC_RELEASE);
		nanosleep(&gap, NULL);
	}
	t_end = now_ns();
	/* Enough for A's return and B's 16, and more if one is lost. */
	stuck = release(&exited, 2, 4 * (B_MIN_NR + 1));
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	/* The wait that was still open at the end counts too. */
	if (events_total - b_prev_submitted > b_max_wait)
		b_max_wait = events_total - b_prev_submitted;
	b_mean_wait = (b_returns ? (b_last - tw_t0) / b_returns : t_end - tw_t0) / 1e3;
	if (a_events) {
		qsort(a_lat, a_events, sizeof(*a_lat), cmp_ll);
		for (long i = 0; i < a_events; i++)
			lat_mean += a_lat[i];
		lat_mean /= a_events * 1e3;
		lat_p99 = a_lat[(a_events * 99 + 99) / 100 - 1] / 1e3;
	}
	printf("{\"cell\": \"twowaiter\", \"events\": %ld, \"gap_us\": %ld, \"b_min_nr\": %d, "
	       "\"a_events\": %ld, \"b_events\": %ld, \"b_returns\": %ld, "
	       "\"b_wait_events\": %ld, \"b_mean_wait_us\": %.1f, "
	       "\"a_lat_mean_us\": %.1f, \"a_lat_p99_us\": %.1f, \"seconds\": %.3f, "
	       "\"stuck\": %ld}\n",
	       events_total, gap_us, B_MIN_NR, a_events, b_events, b_returns,
	       b_max_wait, b_mean_wait, lat_mean, lat_p99, (t_end - tw_t0) / 1e9, stuck);
	return 0;
}

/* Cell 3: 2 submitters x 32 in flight, 4 reapers. */

static struct {
	int inflight;		/* futex word: the submitter sleeps on a full queue */
	char pad[60];
} tp[TP_SUBMITTERS];
static int submitters_done;
static long tp_events, tp_switches;

static void futex(int *word, int op, int val)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	syscall(SYS_futex, word, op, val, op == FUTEX_WAIT_PRIVATE ? &ts : NULL, NULL, 0);
}

static void *tp_submitter(void *arg)
{
	long id = (long)arg;
	unsigned int seed = 1 + id;
	uint64_t seq = 0;

	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		struct iocb cbs[TP_BATCH], *ptrs[TP_BATCH];
		int cur = __atomic_load_n(&tp[id].inflight, __ATOMIC_ACQUIRE);
		int n = TP_QD - cur;
		long r;

		if (n <= 0) {
			futex(&tp[id].inflight, FUTEX_WAIT_PRIVATE, cur);
			continue;
		}
		if (n > TP_BATCH)
			n = TP_BATCH;
		for (int i = 0; i < n; i++) {
			prep(&cbs[i], (uint64_t)id << 32 | (uint32_t)seq++,
			     (off_t)(rand_r(&seed) % blocks) * BS);
			ptrs[i] = &cbs[i];
		}
		/* Counted before they can complete. */
		__atomic_add_fetch(&tp[id].inflight, n, __ATOMIC_ACQ_REL);
		r = syscall(__NR_io_submit, ctx, n, ptrs);
		if (r < 0 && errno != EAGAIN)
			die("io_submit", errno);
		if (r < n) {
			__atomic_sub_fetch(&tp[id].inflight, n - (r < 0 ? 0 : r),
					   __ATOMIC_ACQ_REL);
			sched_yield();
		}
	}
	return NULL;
}

static void *tp_reaper(void *arg)
{
	struct io_event ev[TP_NR];
	long start = nvcsw_self(), events = 0, switches = -1;

	(void)arg;
	for (;;) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		long n = syscall(__NR_io_getevents, ctx, 1, TP_NR, ev, &ts);
		int done[TP_SUBMITTERS] = { 0 };
		int stopping = __atomic_load_n(&stop, __ATOMIC_ACQUIRE);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("io_getevents", errno);
		for (long i = 0; i < n; i++) {
			check(&ev[i]);
			done[ev[i].data >> 32]++;
		}
		for (int id = 0; id < TP_SUBMITTERS; id++)
			if (done[id] && __atomic_fetch_sub(&tp[id].inflight, done[id],
							   __ATOMIC_ACQ_REL) == TP_QD)
				futex(&tp[id].inflight, FUTEX_WAKE_PRIVATE, 1);
		/* Counted up to the stop; the drain that follows is not. */
		if (!stopping) {
			events += n;
		} else {
			if (switches < 0)
				switches = nvcsw_self() - start;
			if (__atomic_load_n(&submitters_done, __ATOMIC_ACQUIRE) &&
			    !__atomic_load_n(&tp[0].inflight, __ATOMIC_ACQUIRE) &&
			    !__atomic_load_n(&tp[1].inflight, __ATOMIC_ACQUIRE))
				break;
		}
	}
	__atomic_add_fetch(&tp_events, events, __ATOMIC_ACQ_REL);
	__atomic_add_fetch(&tp_switches, switches, __ATOMIC_ACQ_REL);
	return NULL;
}

static double cpu_seconds(const struct rusage *ru)
{
	return ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 + ru->ru_stime.tv_sec +
	       ru->ru_stime.tv_usec / 1e6;
}

static int throughput_cell(double seconds)
{
	pthread_t sub[TP_SUBMITTERS], reap[TP_REAPERS];
	struct rusage ru0, ru1;
	struct timespec run = { (time_t)seconds,
				(long)((seconds - (time_t)seconds) * 1e9) };
	long long t0, t_stop;
	double secs;

	if (posix_memalign((void **)&buf, BS, BS))
		die("posix_memalign", ENOMEM);
	if (syscall(__NR_io_setup, 4 * TP_SUBMITTERS * TP_QD, &ctx))
		die("io_setup", errno);
	getrusage(RUSAGE_SELF, &ru0);
	t0 = now_ns();
	for (long i = 0; i < TP_REAPERS; i++)
		if (pthread_create(&reap[i], NULL, tp_reaper, NULL))
			die("pthread_create", errno);
	for (long i = 0; i < TP_SUBMITTERS; i++)
		if (pthread_create(&sub[i], NULL, tp_submitter, (void *)i))
			die("pthread_create", errno);
	nanosleep(&run, NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	t_stop = now_ns();
	getrusage(RUSAGE_SELF, &ru1);
	for (int i = 0; i < TP_SUBMITTERS; i++) {
		futex(&tp[i].inflight, FUTEX_WAKE_PRIVATE, 1);
		pthread_join(sub[i], NULL);
	}
	__atomic_store_n(&submitters_done, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < TP_REAPERS; i++)
		pthread_join(reap[i], NULL);
	secs = (t_stop - t0) / 1e9;
	printf("{\"cell\": \"throughput\", \"submitters\": %d, \"qd\": %d, \"reapers\": %d, "
	       "\"events\": %ld, \"seconds\": %.3f, \"events_per_sec\": %.1f, "
	       "\"voluntary_switches\": %ld, \"switches_per_event\": %.4f, "
	       "\"process_switches_per_event\": %.4f, \"cpu_us_per_event\": %.3f}\n",
	       TP_SUBMITTERS, TP_QD, TP_REAPERS, tp_events, secs, tp_events / secs,
	       tp_switches, tp_events ? (double)tp_switches / tp_events : 0.0,
	       tp_events ? (double)(ru1.ru_nvcsw - ru0.ru_nvcsw) / tp_events : 0.0,
	       tp_events ? (cpu_seconds(&ru1) - cpu_seconds(&ru0)) * 1e6 / tp_events : 0.0);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: reapers sleepers DEVICE W EVENTS GAP_US\n"
			"       reapers twowaiter DEVICE EVENTS GAP_US\n"
			"       reapers throughput DEVICE SECONDS\n");
	exit(2);
}

static void open_device(const char *path)
{
	fd = open(path, O_RDONLY | O_DIRECT);
	if (fd < 0)
		die(path, errno);
	blocks = lseek(fd, 0, SEEK_END) / BS;
	if (blocks < 1024)
		die("device size", EINVAL);
}

static void set_gap(const char *us)
{
	gap_us = atol(us);
	gap.tv_sec = gap_us / 1000000;
	gap.tv_nsec = gap_us % 1000000 * 1000;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		usage();
	open_device(argv[2]);
	if (!strcmp(argv[1], "throughput") && argc == 4) {
		set_gap("100");		/* only for EAGAIN retries */
		if (atof(argv[3]) <= 0)
			usage();
		return throughput_cell(atof(argv[3]));
	}
	if (posix_memalign((void **)&buf, BS, BS))
		die("posix_memalign", ENOMEM);
	if (!strcmp(argv[1], "sleepers") && argc == 6) {
		events_total = atol(argv[4]);
		set_gap(argv[5]);
		if (events_total < 1)
			usage();
		return sleepers_cell(atoi(argv[3]));
	}
	if (!strcmp(argv[1], "twowaiter") && argc == 5) {
		events_total = atol(argv[3]);
		set_gap(argv[4]);
		if (events_total < 1)
			usage();
		return twowaiter_cell();
	}
	usage();
	return 2;
}
