// SPDX-License-Identifier: GPL-2.0
/*
 * aio_soak: all the AIO system calls at once for SECONDS, with exact
 * accounting.  The same binary runs on the C and the Rust kernel (a
 * differential test), under KASAN, lockdep and kmemleak.
 *
 *   aio_soak IMPL SECONDS DIR [SLOWDIR] [BLOCKDEV]
 *
 * IMPL rust or c picks the request slab cache to watch; DIR is ext4;
 * SLOWDIR ("-": none) is ext4 on a null_blk whose requests take 100 ms; BLOCKDEV is a
 * memory-backed null_blk (O_DIRECT).
 *
 * - Data: 4 KiB blocks of a file in DIR (O_DIRECT and buffered on the same
 *   blocks) and of BLOCKDEV, written with PWRITE(V) stamped with (target,
 *   block, generation, checksum), read with PREAD(V).  A block has one
 *   write or any reads in flight, never both, so a read must see exactly
 *   its last completed generation.  FSYNC/FDSYNC, RWF_DSYNC and
 *   IOCB_FLAG_RESFD (one eventfd count per completion) are mixed in.
 * - Polls on pipes that a thread makes readable now and then; a canceller
 *   io_cancel()s armed polls and in-flight reads.
 * - 4 shared contexts; a destroyer io_destroy()s one while others submit
 *   to and reap from it, then replaces it.  io_destroy waits for the
 *   requests, so their buffers are reused only after it returns, and are
 *   poisoned then: a late write to one, or a write that had not landed,
 *   shows.
 * - Every accepted iocb has a record (aio_data = index, generation) moved
 *   FREE -> SUBMITTED -> DONE -> FREE by compare-and-swap: a duplicate, an
 *   unaccepted or a foreign event fails the swap.  Exactly one event per
 *   accepted iocb, unless its context was destroyed first.
 * - io_getevents and io_pgetevents (SIGUSR1 through its mask: EINTR), with
 *   min_nr 0..8 and timeouts from none to 20 ms.
 * - A fork storm of short-lived AIO users, exiting or SIGKILLed; and
 *   processes that exit or are killed with 10,000 requests in flight (cold
 *   reads on SLOWDIR, polls nobody completes): aio-nr must come back.
 * At the end all is drained and destroyed; aio-nr, the slab cache, the
 * [aio] mappings and the taint flags must be as before.
 */
#include "tap.h"
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define BS		4096
#define DATA_BYTES	(8 << 20)
#define MAX_BLOCKS	(DATA_BYTES / BS)
#define NCTX		4		/* shared contexts */
#define NPIPES		16
#define WRITERS		2
#define READERS		2
#define REAPERS		2
#define STORM_LANES	2
#define NWORKERS	(WRITERS + READERS + 1)	/* the submitters */
#define NOTHERS		(3 + STORM_LANES)	/* canceller, pipe writer, destroyer */
#define RW_RECS		64		/* records per writer or reader */
#define POLL_RECS	128
#define NREC		((WRITERS + READERS) * RW_RECS + POLL_RECS)
#define CTX_NR		NREC		/* a context holds every record: no EAGAIN */
#define MAX_BATCH	8
#define STORM_MAX_NR	64
#define EXIT_NR		12000
#define EXIT_REQS	10000
#define EXIT_READ_BUDGET_MS 2000
#define SLOW_BYTES	(8 << 20)
/* What the churn and the storm alone can move aio-nr by. */
#define AIO_NR_SWING	(CTX_NR + STORM_LANES * STORM_MAX_NR)
#define STAMP_MAGIC	0x4b414f534f494141ULL	/* "AAIOSOAK" */
#define POISON		0x5a
#define UNFILLED	0xee
#define MAX_DIAGS	10		/* messages per class */

#define LOAD(p)		__atomic_load_n(p, __ATOMIC_ACQUIRE)
#define STORE(p, v)	__atomic_store_n(p, v, __ATOMIC_RELEASE)
#define ADD(p, v)	__atomic_add_fetch(p, v, __ATOMIC_SEQ_CST)
#define CAS(p, o, n) ({							\
	typeof(*(p)) __old = (o);					\
	__atomic_compare_exchange_n(p, &__old, n, 0, __ATOMIC_SEQ_CST,	\
				    __ATOMIC_SEQ_CST);			\
})

/* Violation classes: each is one TAP check at the end. */
enum vclass { V_ERRNO, V_EVENT, V_RESULT, V_DATA, V_ACCOUNT, V_EVENTFD, V_POLL,
	      V_STORM, V_EXIT, NV };
static const char *const vclass_name[NV] = {
	"errno", "event", "result", "data", "accounting", "eventfd", "poll/cancel",
	"storm", "exit",
};
static long viol[NV];
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void __attribute__((format(printf, 1, 2))) diag(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&out_lock);
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

static void __attribute__((format(printf, 2, 3)))
violation(enum vclass c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (ADD(&viol[c], 1) > MAX_DIAGS)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag("VIOLATION (%s): %s", vclass_name[c], msg);
}

static const char *err_name(long r)
{
	return r < 0 ? strerror(-r) : "ok";
}

/*
 * What each call may return, on a live context and on one being destroyed
 * (io_destroy called or about to be).  fs/aio.c 7.3 is the reference.  A
 * count (>= 0) is allowed where "count" is set; io_submit's count must also
 * be all it was given on a live context, and io_getevents' at most nr.
 */
enum call { A_SUBMIT, A_GETEVENTS, A_PGETEVENTS, A_CANCEL_POLL, A_CANCEL_READ,
	    A_CANCEL_READ_OURS, A_CANCEL_ARMED, A_DESTROY, A_STALE, NCALLS };
static const struct {
	const char *name;
	int count, live[2], dying[2];
	const char *why;
} allowed[NCALLS] = {
	[A_SUBMIT] = { "io_submit", 1, { 0 }, { EINVAL },
		"EINVAL once the id is gone (lookup_ioctx fails); never EAGAIN: a context has room for every record" },
	[A_GETEVENTS] = { "io_getevents", 1, { 0 }, { EINVAL },
		"EINVAL once the context is dead (aio_read_events sees ctx->dead, or lookup fails)" },
	[A_PGETEVENTS] = { "io_pgetevents", 1, { EINTR }, { EINTR, EINVAL },
		"EINTR: SIGUSR1 is blocked except inside its mask; EINVAL as io_getevents" },
	[A_CANCEL_POLL] = { "io_cancel of a poll", 0, { EINPROGRESS, EINVAL }, { EINPROGRESS, EINVAL },
		"EINPROGRESS: armed, cancelled; EINVAL: completed meanwhile (off active_reqs), or the context died" },
	[A_CANCEL_READ] = { "io_cancel of a read", 0, { EINVAL }, { EINVAL },
		"reads of ext4 and block devices have no ki_cancel (and C's buffered ones are over when io_submit returns)" },
	[A_CANCEL_READ_OURS] = { "io_cancel of a buffered read (rust)", 0, { EINVAL, EINPROGRESS },
		{ EINVAL, EINPROGRESS },
		"ours links a buffered read waiting for the page cache for cancel (cancel.rs); it ends short or ECANCELED" },
	[A_CANCEL_ARMED] = { "io_cancel of an armed poll at the drain", 0, { EINPROGRESS }, { 0 },
		"pipes empty, no writer, no work pending: the poll is on active_reqs" },
	[A_DESTROY] = { "io_destroy", 1, { 0 }, { 0 },
		"only the destroyer and the drain destroy, once per context" },
	[A_STALE] = { "a call on a destroyed id", 0, { EINVAL }, { EINVAL },
		"no live context has that address: no io_setup runs until the destroyer is done" },
};

/* Whether call c may return r; counted and reported if not. */
static int check_call(enum call c, long r, int dying, const char *what)
{
	const int *errs = dying ? allowed[c].dying : allowed[c].live;

	if (r >= 0 ? allowed[c].count : (-r == errs[0] || -r == errs[1]))
		return 1;
	violation(V_ERRNO, "%s%s on a %s context: %ld (%s); allowed: %s", allowed[c].name, what,
		  dying ? "dying" : "live", r, err_name(r), allowed[c].why);
	return 0;
}

static struct {
	long submitted, completed, cancelled, cancel_raced, destroyed_inflight;
	long verified, forks, exit_inflight, exit_rounds, destroys;
	long polls_ready, polls_res0, read_cancel_einval, read_cancel_inprogress;
	long eintr, einval_dying, partial_dying, resfd, fsyncs, dsync, vectored;
	long direct_ios, buffered_ios, storm_killed;
} st;

static int ours;
static int stop_load;
static const char *volatile stage = "setup";
static __thread uint32_t seed;

static uint32_t rnd(void)
{
	uint32_t x = seed;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return seed = x;
}

static void sleep_ms(double ms)
{
	usleep((useconds_t)(ms * 1000));
}

static void watchdog(int sig)
{
	static const char a[] = "not ok - watchdog: stuck in ";
	static const char b[] = "\nBail out! watchdog fired\n";

	(void)sig;
	if (write(1, a, sizeof(a) - 1) < 0 || write(1, stage, strlen(stage)) < 0 ||
	    write(1, b, sizeof(b) - 1) < 0)
		_exit(2);
	_exit(2);
}

static void on_usr1(int sig)
{
	(void)sig;
}

static void bail(const char *what)
{
	printf("Bail out! %s: %s\n", what, strerror(errno));
	exit(1);
}

static void spawn(pthread_t *th, void *(*fn)(void *), void *arg)
{
	errno = pthread_create(th, NULL, fn, arg);
	if (errno)
		bail("pthread_create");
}

/* Blocks and their stamps. */

enum { T_FILE, T_BDEV, NTARGETS };
#define BLK_WRITER	0x80000000u
#define GEN_UNKNOWN	(1ULL << 32)	/* a failed write: any stamp goes */

struct target {
	int present, fd_buf, fd_direct, nblocks;
	int split;			/* first iovec's length for PREADV/PWRITEV */
	uint32_t lock[MAX_BLOCKS];	/* BLK_WRITER, or the number of readers */
	uint64_t gen[MAX_BLOCKS];	/* last completed generation | GEN_UNKNOWN */
};
static struct target targets[NTARGETS];

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t checksum(const uint64_t *w, int n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (int i = 0; i < n; i++)
		h = (h ^ w[i]) * 0x100000001b3ULL;
	return h;
}

/* The block's content at generation gen; generation 0 is all zeros. */
static void stamp(unsigned char *buf, int target, uint32_t block, uint32_t gen)
{
	uint64_t *w = (uint64_t *)buf, x;

	if (!gen) {
		memset(buf, 0, BS);
		return;
	}
	x = ((uint64_t)target << 56) ^ ((uint64_t)block << 32) ^ gen;
	w[0] = STAMP_MAGIC;
	w[1] = (uint64_t)target << 32 | block;
	w[2] = gen;
	for (int i = 4; i < BS / 8; i++)
		w[i] = splitmix(&x);
	w[3] = checksum(w + 4, BS / 8 - 4);
}

static int all_bytes(const unsigned char *buf, int len, unsigned char c)
{
	for (int i = 0; i < len; i++)
		if (buf[i] != c)
			return 0;
	return 1;
}

/* What a block that did not match holds, for the message. */
static void describe(const unsigned char *buf, char *out, size_t size)
{
	const uint64_t *w = (const uint64_t *)buf;

	if (w[0] == STAMP_MAGIC)
		snprintf(out, size, "a stamp of target %d block %u generation %u (checksum %s)",
			 (int)(w[1] >> 32), (uint32_t)w[1], (uint32_t)w[2],
			 w[3] == checksum(w + 4, BS / 8 - 4) ? "good" : "bad");
	else if (all_bytes(buf, BS, 0))
		snprintf(out, size, "zeros");
	else if (all_bytes(buf, BS, UNFILLED))
		snprintf(out, size, "the untouched buffer");
	else if (all_bytes(buf, BS, POISON))
		snprintf(out, size, "the poison of a destroyed context's buffer");
	else
		snprintf(out, size, "something else (first word %#llx)",
			 (unsigned long long)w[0]);
}

/*
 * Whether the first len bytes of buf are what block holds at expect (a
 * generation, or GEN_UNKNOWN: any stamp of this block); *found is the
 * generation seen.
 */
static int block_matches(const unsigned char *buf, int len, int target, uint32_t block,
			 uint64_t expect, unsigned char *scratch, uint32_t *found)
{
	const uint64_t *w = (const uint64_t *)buf;
	uint32_t gen = (uint32_t)expect;

	if (expect & GEN_UNKNOWN)
		gen = w[0] == STAMP_MAGIC && w[1] == ((uint64_t)target << 32 | block) ?
			(uint32_t)w[2] : 0;
	stamp(scratch, target, block, gen);
	*found = gen;
	return !memcmp(buf, scratch, len);
}

/* Contexts: each slot's current incarnation. */

struct ctx_inc {
	aio_context_t id;
	int efd;
	unsigned int serial;
	int users;		/* threads using the id now */
	int dying;		/* set before io_destroy */
	long accepted, reaped, resfd_accepted, resfd_reaped, abandoned;
	struct ctx_inc *older;	/* all incarnations, freed at the end */
};

static struct ctx_inc *slot_cur[NCTX];
static struct ctx_inc *all_incs;
static unsigned int inc_serial;

/* A new context; io_setup may not fail (aio-max-nr is far). */
static struct ctx_inc *ctx_new(void)
{
	struct ctx_inc *p = calloc(1, sizeof(*p));
	long r = p ? io_setup(CTX_NR, &p->id) : -ENOMEM;

	if (r) {
		printf("Bail out! io_setup(%d): %s\n", CTX_NR, err_name(r));
		exit(1);
	}
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0) {
		printf("Bail out! eventfd: %s\n", strerror(errno));
		exit(1);
	}
	p->serial = ++inc_serial;
	p->older = all_incs;
	all_incs = p;
	return p;
}

/*
 * Takes a use of the slot's context, or NULL if it is being destroyed.
 * users and dying are a Dekker pair with the destroyer (both sequentially
 * consistent): either the destroyer sees this use and waits for it, or
 * this sees dying and backs off.
 */
static struct ctx_inc *ctx_get(int slot)
{
	struct ctx_inc *p = LOAD(&slot_cur[slot]);

	if (!p)
		return NULL;
	ADD(&p->users, 1);
	if (__atomic_load_n(&p->dying, __ATOMIC_SEQ_CST)) {
		ADD(&p->users, -1);
		return NULL;
	}
	return p;
}

static struct ctx_inc *ctx_get_any(void)
{
	int first = rnd() % NCTX;

	for (int i = 0; i < NCTX; i++) {
		struct ctx_inc *p = ctx_get((first + i) % NCTX);

		if (p)
			return p;
	}
	return NULL;
}

static void ctx_put(struct ctx_inc *p)
{
	ADD(&p->users, -1);
}

/* Records: one per iocb in flight. */

enum kind { K_WRITE, K_READ, K_FSYNC, K_POLL };
enum rstate { R_FREE, R_PREP, R_SUBMITTED, R_DONE };
#define MK(gen, s)	((uint64_t)(gen) << 32 | (s))
#define GEN_OF(v)	((uint32_t)((v) >> 32))
#define STATE_OF(v)	((uint32_t)(v))

struct rec {
	struct iocb cb;		/* the event's obj is &cb */
	struct iovec iov[2];
	uint64_t state;		/* MK(generation, enum rstate) */
	int pins;		/* a canceller is looking at it: do not reuse */
	struct ctx_inc *inc;	/* the context it was submitted to */
	enum kind kind;
	int target, block, direct, resfd;
	uint64_t expect;	/* READ: block generation; WRITE: generation written */
	int cancel_tried, cancel_inprogress, drain_cancel;
	int ev_valid;
	long long ev_res;
	int poisoned;		/* a read buffer poisoned after io_destroy */
	double poison_until;
	unsigned char *buf;
};

static struct rec recs[NREC];
static int pipes[NPIPES][2];
static int storm_fd = -1, slow_fd = -1, slow_blocks;
static struct aio_sigset pget_sigs;
static sigset_t pget_mask;

static void rec_release_block(struct rec *r)
{
	struct target *t = &targets[r->target];

	if (r->kind == K_WRITE)
		STORE(&t->lock[r->block], 0u);
	else if (r->kind == K_READ)
		ADD(&t->lock[r->block], -1u);
}

/*
 * The checks of a record's last incarnation that need both its event and
 * its canceller's answer: done when it is reused or at the end, once no
 * canceller holds it.
 */
static void rec_check_previous(struct rec *r)
{
	int idx = r - recs;

	if (r->cancel_inprogress && r->ev_valid && r->kind == K_POLL && r->drain_cancel &&
	    r->ev_res != 0)
		violation(V_POLL, "record %d: poll cancelled at the drain (no wake-up possible) completed with res %lld, not 0",
			  idx, r->ev_res);
	if (r->ev_valid && r->kind == K_READ && r->ev_res != BS && r->cancel_tried &&
	    !r->cancel_inprogress)
		violation(V_RESULT, "record %d: read res %lld, but its io_cancel failed",
			  idx, r->ev_res);
	if (r->poisoned && !all_bytes(r->buf, BS, POISON))
		violation(V_DATA, "record %d: a read buffer changed after io_destroy returned (%s target %d block %d)",
			  idx, r->direct ? "O_DIRECT" : "buffered", r->target, r->block);
	r->cancel_tried = r->cancel_inprogress = r->drain_cancel = 0;
	r->ev_valid = r->poisoned = 0;
}

/* Claims a free record of the caller's range, or NULL. */
static struct rec *rec_claim(int first, int n, int *cursor)
{
	for (int i = 0; i < n; i++) {
		struct rec *r = &recs[first + (*cursor + i) % n];
		uint64_t v = LOAD(&r->state);

		if (STATE_OF(v) != R_FREE || (r->poisoned && now_ms() < r->poison_until))
			continue;
		if (!CAS(&r->state, v, MK(GEN_OF(v), R_PREP)))
			continue;
		/* The other half of the canceller's pin, also seq_cst. */
		if (__atomic_load_n(&r->pins, __ATOMIC_SEQ_CST)) {
			STORE(&r->state, v);
			continue;
		}
		*cursor = (*cursor + i + 1) % n;
		rec_check_previous(r);
		return r;
	}
	return NULL;
}

/* Fills in the parts every iocb has, and publishes it as SUBMITTED. */
static void rec_arm(struct rec *r, struct ctx_inc *p)
{
	uint32_t gen = GEN_OF(r->state);

	r->inc = p;
	r->cb.aio_data = (uint64_t)(r - recs) << 32 | gen;
	r->resfd = rnd() % 8 == 0;
	if (r->resfd) {
		r->cb.aio_flags |= IOCB_FLAG_RESFD;
		r->cb.aio_resfd = p->efd;
	}
	STORE(&r->state, MK(gen, R_SUBMITTED));
}

/* A read or write iocb for r's block, plain or vectored. */
static void rec_rw(struct rec *r, int write)
{
	struct target *t = &targets[r->target];
	int fd = r->direct ? t->fd_direct : t->fd_buf;
	off_t off = (off_t)r->block * BS;

	memset(&r->cb, 0, sizeof(r->cb));
	r->cb.aio_fildes = fd;
	r->cb.aio_offset = off;
	if (rnd() % 3 == 0) {
		int n = t->split ? 2 : 1;

		r->iov[0].iov_base = r->buf;
		r->iov[0].iov_len = t->split ? t->split : BS;
		r->iov[1].iov_base = r->buf + t->split;
		r->iov[1].iov_len = BS - t->split;
		r->cb.aio_lio_opcode = write ? IOCB_CMD_PWRITEV : IOCB_CMD_PREADV;
		r->cb.aio_buf = (uintptr_t)r->iov;
		r->cb.aio_nbytes = n;
		ADD(&st.vectored, 1);
	} else {
		r->cb.aio_lio_opcode = write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
		r->cb.aio_buf = (uintptr_t)r->buf;
		r->cb.aio_nbytes = BS;
	}
	ADD(r->direct ? &st.direct_ios : &st.buffered_ios, 1);
}

/*
 * Picks a target, O_DIRECT or not, and a block it can lock: for writing
 * (no I/O in flight on it) or reading (no write in flight).  0 if none.
 */
static int pick_block(struct rec *r, int write)
{
	int tg = targets[T_BDEV].present && rnd() % 2 ? T_BDEV : T_FILE;
	struct target *t = &targets[tg];

	r->target = tg;
	r->direct = t->fd_buf < 0 || (t->fd_direct >= 0 && rnd() % 2);
	for (int tries = 0; tries < 8; tries++) {
		uint32_t v;

		r->block = rnd() % t->nblocks;
		v = LOAD(&t->lock[r->block]);
		if (write ? CAS(&t->lock[r->block], 0u, BLK_WRITER) :
			    !(v & BLK_WRITER) && CAS(&t->lock[r->block], v, v + 1))
			return 1;
	}
	return 0;
}

static int prep_write(struct rec *r)
{
	if (rnd() % 16 == 0) {
		/* FSYNC or FDSYNC on one of the data fds. */
		int fds[3] = { targets[T_FILE].fd_buf, targets[T_FILE].fd_direct,
			       targets[T_BDEV].fd_direct };
		int fd = fds[rnd() % 3];

		memset(&r->cb, 0, sizeof(r->cb));
		r->kind = K_FSYNC;
		r->cb.aio_lio_opcode = rnd() % 2 ? IOCB_CMD_FSYNC : IOCB_CMD_FDSYNC;
		r->cb.aio_fildes = fd >= 0 ? fd : targets[T_FILE].fd_buf;
		ADD(&st.fsyncs, 1);
		return 1;
	}
	if (!pick_block(r, 1))
		return 0;
	r->kind = K_WRITE;
	r->expect = (uint32_t)LOAD(&targets[r->target].gen[r->block]) + 1;
	stamp(r->buf, r->target, r->block, (uint32_t)r->expect);
	rec_rw(r, 1);
	if (rnd() % 8 == 0) {
		r->cb.aio_rw_flags = RWF_DSYNC;
		ADD(&st.dsync, 1);
	}
	return 1;
}

static int prep_read(struct rec *r)
{
	if (!pick_block(r, 0))
		return 0;
	r->kind = K_READ;
	r->expect = LOAD(&targets[r->target].gen[r->block]);
	memset(r->buf, UNFILLED, BS);
	rec_rw(r, 0);
	return 1;
}

static int prep_poll(struct rec *r)
{
	memset(&r->cb, 0, sizeof(r->cb));
	r->kind = K_POLL;
	r->block = rnd() % NPIPES;
	r->cb.aio_lio_opcode = IOCB_CMD_POLL;
	r->cb.aio_fildes = pipes[r->block][0];
	r->cb.aio_buf = POLLIN;
	return 1;
}

/*
 * A poll of a readable pipe: the wake-up's key when aio_poll_wake completes
 * it inline (a pipe's is POLLIN | POLLRDNORM), the polled mask (POLLIN)
 * when the work item does.
 */
static int poll_ready(long long res)
{
	return (res & POLLIN) && !(res & ~(long long)(POLLIN | POLLRDNORM));
}

/*
 * One event of p, reaped by the caller: the record's state must go from
 * SUBMITTED to DONE at the event's generation, or the event is a second
 * one, or one for an iocb that was never accepted.
 */
static void take_event(struct ctx_inc *p, const struct io_event *ev, unsigned char *scratch)
{
	uint64_t idx = ev->data >> 32;
	uint32_t gen = (uint32_t)ev->data, found;
	struct rec *r;
	char what[128];
	int cut_short;	/* cancelled: may end short or ECANCELED */

	if (idx >= NREC || ev->obj != (uintptr_t)&recs[idx].cb) {
		violation(V_EVENT, "unknown event: data %#llx obj %#llx res %lld on context %u",
			  (unsigned long long)ev->data, (unsigned long long)ev->obj,
			  (long long)ev->res, p->serial);
		return;
	}
	r = &recs[idx];
	if (!CAS(&r->state, MK(gen, R_SUBMITTED), MK(gen, R_DONE))) {
		uint64_t v = LOAD(&r->state);

		violation(V_EVENT, "event for record %llu generation %u not in flight (state %u, generation %u): a duplicate or an unaccepted iocb",
			  (unsigned long long)idx, gen, STATE_OF(v), GEN_OF(v));
		return;
	}
	if (r->inc != p)
		violation(V_EVENT, "event of an iocb of context %u reaped from context %u",
			  r->inc->serial, p->serial);
	ADD(&st.completed, 1);
	ADD(&r->inc->reaped, 1);
	if (r->resfd)
		ADD(&r->inc->resfd_reaped, 1);
	r->ev_res = ev->res;
	r->ev_valid = 1;
	if (ev->res2)
		violation(V_RESULT, "record %llu: res2 %lld", (unsigned long long)idx,
			  (long long)ev->res2);
	switch (r->kind) {
	case K_WRITE:
		if (ev->res == BS) {
			STORE(&targets[r->target].gen[r->block], r->expect);
		} else {
			violation(V_RESULT, "%s write of target %d block %d: res %lld",
				  r->direct ? "O_DIRECT" : "buffered", r->target, r->block,
				  (long long)ev->res);
			STORE(&targets[r->target].gen[r->block], r->expect | GEN_UNKNOWN);
		}
		break;
	case K_READ:
		/*
		 * Ours can cancel a buffered read that waits for the page cache
		 * (io_cancel, or the context dying): it ends short or with
		 * ECANCELED.  C cannot: its buffered reads are over when
		 * io_submit returns.
		 */
		cut_short = LOAD(&r->cancel_tried) || (ours && !r->direct && LOAD(&p->dying));
		if (ev->res == BS || (ev->res > 0 && ev->res < BS && cut_short)) {
			if (block_matches(r->buf, ev->res, r->target, r->block, r->expect,
					  scratch, &found)) {
				ADD(&st.verified, 1);
				if (r->expect & GEN_UNKNOWN)
					CAS(&targets[r->target].gen[r->block], r->expect,
					    (uint64_t)found);
			} else {
				describe(r->buf, what, sizeof(what));
				violation(V_DATA, "%s read of target %d block %d: want generation %u, got %s",
					  r->direct ? "O_DIRECT" : "buffered", r->target, r->block,
					  (uint32_t)r->expect, what);
			}
		} else if (!(ev->res == -ECANCELED && cut_short)) {
			violation(V_RESULT, "%s read of target %d block %d: res %lld (%s)",
				  r->direct ? "O_DIRECT" : "buffered", r->target, r->block,
				  (long long)ev->res, ev->res < 0 ? strerror(-ev->res) : "short");
		}
		break;
	case K_FSYNC:
		if (ev->res)
			violation(V_RESULT, "fsync: res %lld", (long long)ev->res);
		break;
	case K_POLL:
		if (poll_ready(ev->res))
			ADD(&st.polls_ready, 1);
		else if (ev->res == 0 && (LOAD(&r->cancel_tried) || LOAD(&p->dying)))
			ADD(&st.polls_res0, 1);
		else
			violation(V_RESULT, "poll on a pipe: res %#llx (cancel %s)",
				  (long long)ev->res, r->cancel_tried ? "tried" : "not tried");
		break;
	}
	rec_release_block(r);
	STORE(&r->state, MK(gen + 1, R_FREE));
}

/*
 * Submits n prepared records to p.  Those not accepted go back to FREE;
 * their state must still be SUBMITTED (no event can exist for them).
 */
static void submit_recs(struct ctx_inc *p, struct rec **batch, int n)
{
	struct iocb *list[MAX_BATCH];
	long r, accepted;
	int dying;

	for (int i = 0; i < n; i++)
		list[i] = &batch[i]->cb;
	r = io_submit(p->id, n, list);
	accepted = r > 0 ? r : 0;
	dying = LOAD(&p->dying);
	if (check_call(A_SUBMIT, r, dying, "") && r < 0)
		ADD(&st.einval_dying, 1);
	if (r >= 0 && r < n && !dying)
		violation(V_ERRNO, "io_submit accepted %ld of %d on a live context with room", r, n);
	else if (r >= 0 && r < n)
		ADD(&st.partial_dying, 1);
	for (int i = 0; i < n; i++) {
		struct rec *rc = batch[i];
		uint32_t gen;

		if (i < accepted) {
			ADD(&st.submitted, 1);
			ADD(&p->accepted, 1);
			if (rc->resfd) {
				ADD(&p->resfd_accepted, 1);
				ADD(&st.resfd, 1);
			}
			continue;
		}
		/* Not accepted: no event can have changed it (else CAS fails). */
		gen = (uint32_t)rc->cb.aio_data;
		if (!CAS(&rc->state, MK(gen, R_SUBMITTED), MK(gen + 1, R_FREE))) {
			violation(V_EVENT, "an event came for an iocb io_submit did not accept (record %ld)",
				  (long)(rc - recs));
			continue;
		}
		rec_release_block(rc);
	}
}

/* Submitting threads: writers, readers and the poller. */

struct worker {
	int first, nrec, cursor;
	int (*prep)(struct rec *r);
	pthread_t th;
	uint32_t seed;
};

static void *submitter_main(void *arg)
{
	struct worker *w = arg;

	seed = w->seed;
	while (!LOAD(&stop_load)) {
		struct rec *batch[MAX_BATCH];
		int want = 1 + rnd() % MAX_BATCH, n = 0;
		struct ctx_inc *p = ctx_get_any();

		if (!p) {
			sleep_ms(1);
			continue;
		}
		while (n < want) {
			struct rec *r = rec_claim(w->first, w->nrec, &w->cursor);

			if (!r)
				break;
			if (!w->prep(r)) {
				STORE(&r->state, MK(GEN_OF(r->state), R_FREE));
				break;
			}
			rec_arm(r, p);
			batch[n++] = r;
		}
		if (n)
			submit_recs(p, batch, n);
		ctx_put(p);
		if (n < want)
			usleep(300 + rnd() % 700);
	}
	return NULL;
}

/* Reapers. */

static long reap_call(struct ctx_inc *p, int use_p, long min_nr, long nr,
		      struct io_event *ev, struct timespec *ts)
{
	return use_p ? io_pgetevents(p->id, min_nr, nr, ev, ts, &pget_sigs) :
		       io_getevents(p->id, min_nr, nr, ev, ts);
}

static void *reaper_main(void *arg)
{
	static const long mins[] = { 0, 1, 1, 1, 2, 4, 8 };
	static const long tmo_ns[] = { 0, 1000000, 5000000, 20000000 };
	unsigned char *scratch = malloc(BS);
	struct io_event ev[64];

	seed = (uintptr_t)arg * 7919 + 17;
	while (!LOAD(&stop_load)) {
		struct ctx_inc *p = ctx_get_any();
		int calls = 1 + rnd() % 8;

		if (!p) {
			sleep_ms(1);
			continue;
		}
		for (int c = 0; c < calls && !LOAD(&stop_load); c++) {
			long min_nr = mins[rnd() % 7], nr = (min_nr ? min_nr : 1) + rnd() % 32;
			int use_p = rnd() % 2, k = rnd() % 5;
			struct timespec ts = { 0, tmo_ns[k % 4] };
			/* No timeout only where SIGUSR1 can end the wait. */
			struct timespec *tsp = use_p && k == 4 ? NULL : &ts;
			long r = reap_call(p, use_p, min_nr, nr, ev, tsp);

			if (!check_call(use_p ? A_PGETEVENTS : A_GETEVENTS, r, LOAD(&p->dying), "") ||
			    r == -EINVAL) {
				ADD(&st.einval_dying, r == -EINVAL);
				break;
			}
			if (r == -EINTR) {
				ADD(&st.eintr, 1);
				continue;
			}
			if (r > nr) {
				violation(V_ERRNO, "io_getevents returned %ld of at most %ld", r, nr);
				break;
			}
			for (long i = 0; i < r; i++)
				take_event(p, &ev[i], scratch);
		}
		ctx_put(p);
	}
	free(scratch);
	return NULL;
}

/* The canceller: armed polls mostly, in-flight reads sometimes. */

static void cancel_one(struct ctx_inc *p)
{
	int polls = rnd() % 4 != 0;
	int first = polls ? NREC - POLL_RECS : WRITERS * RW_RECS;
	int n = polls ? POLL_RECS : READERS * RW_RECS, start = rnd() % n;
	struct io_event ev;

	for (int i = 0; i < n; i++) {
		struct rec *r = &recs[first + (start + i) % n];
		uint64_t v = LOAD(&r->state);
		enum call what;
		long ret;

		if (STATE_OF(v) != R_SUBMITTED)
			continue;
		/* Pin, then look again: the owner cannot reuse it meanwhile. */
		ADD(&r->pins, 1);
		if (__atomic_load_n(&r->state, __ATOMIC_SEQ_CST) != v || r->inc != p) {
			ADD(&r->pins, -1);
			continue;
		}
		STORE(&r->cancel_tried, 1);
		ret = io_cancel(p->id, &r->cb, &ev);
		what = r->kind == K_POLL ? A_CANCEL_POLL :
		       ours && !r->direct ? A_CANCEL_READ_OURS : A_CANCEL_READ;
		check_call(what, ret, LOAD(&p->dying), r->direct ? " (O_DIRECT)" : "");
		if (ret == -EINPROGRESS) {
			STORE(&r->cancel_inprogress, 1);
			ADD(r->kind == K_POLL ? &st.cancelled : &st.read_cancel_inprogress, 1);
		} else if (ret == -EINVAL) {
			ADD(r->kind == K_POLL ? &st.cancel_raced : &st.read_cancel_einval, 1);
		}
		ADD(&r->pins, -1);
		return;
	}
}

static void *canceller_main(void *arg)
{
	seed = (uintptr_t)arg;
	while (!LOAD(&stop_load)) {
		struct ctx_inc *p = ctx_get(rnd() % NCTX);

		if (p) {
			cancel_one(p);
			ctx_put(p);
		}
		usleep(rnd() % 1000);
	}
	return NULL;
}

static void drain_pipe(int i)
{
	char buf[64];

	while (read(pipes[i][0], buf, sizeof(buf)) > 0)
		;
}

/* Makes pipes readable for a moment: the polls armed on them complete. */
static void *pipe_writer_main(void *arg)
{
	seed = (uintptr_t)arg;
	while (!LOAD(&stop_load)) {
		int i = rnd() % NPIPES;

		if (write(pipes[i][1], "x", 1) != 1 && errno != EAGAIN)
			violation(V_ERRNO, "write to a pipe: %s", strerror(errno));
		usleep(rnd() % 3000);
		drain_pipe(i);
		usleep(rnd() % 500);
	}
	for (int i = 0; i < NPIPES; i++)
		drain_pipe(i);
	return NULL;
}

/* The destroyer. */

static long read_eventfd(int efd)
{
	uint64_t v = 0;

	if (read(efd, &v, sizeof(v)) != sizeof(v))
		return errno == EAGAIN ? 0 : -errno;
	return (long)v;
}

/*
 * After io_destroy(p) returned and nobody uses p: what was in flight on it
 * is over (io_destroy waited for it), so its buffers are free; a write must
 * have landed, a read buffer must not change any more.
 */
static void abandon_inflight(struct ctx_inc *p)
{
	for (int i = 0; i < NREC; i++) {
		struct rec *r = &recs[i];
		uint64_t v = LOAD(&r->state);

		if (STATE_OF(v) != R_SUBMITTED || r->inc != p)
			continue;
		if (r->kind == K_WRITE)
			STORE(&targets[r->target].gen[r->block], r->expect);
		if (r->kind == K_WRITE || r->kind == K_READ)
			memset(r->buf, POISON, BS);
		if (r->kind == K_READ) {
			r->poisoned = 1;
			r->poison_until = now_ms() + 20;
		}
		rec_release_block(r);
		p->abandoned++;
		ADD(&st.destroyed_inflight, 1);
		if (!CAS(&r->state, v, MK(GEN_OF(v) + 1, R_FREE)))
			violation(V_ACCOUNT, "record %d changed state after its context died", i);
	}
}

/* Once a context is gone and nobody uses it: its events and eventfd. */
static void check_context(struct ctx_inc *p, const char *when)
{
	long v = read_eventfd(p->efd);

	if (p->accepted != p->reaped + p->abandoned)
		violation(V_ACCOUNT, "context %u %s: %ld iocbs accepted, %ld reaped, %ld in flight at io_destroy",
			  p->serial, when, p->accepted, p->reaped, p->abandoned);
	if (v != p->resfd_accepted)
		violation(V_EVENTFD, "context %u %s: eventfd counted %ld, %ld IOCB_FLAG_RESFD iocbs accepted (%ld reaped)",
			  p->serial, when, v, p->resfd_accepted, p->resfd_reaped);
	close(p->efd);
	p->efd = -1;
}

/* The calls on a destroyed id (no io_setup can reuse it meanwhile). */
static void check_stale_id(aio_context_t id)
{
	struct timespec zero = { 0, 0 };
	struct io_event ev;
	static const char *const calls[4] = {
		" (io_getevents)", " (io_submit)", " (io_cancel)", " (io_destroy)"
	};
	struct iocb cb, *cbp = &cb;
	long r[4];

	memset(&cb, 0, sizeof(cb));
	cb.aio_lio_opcode = IOCB_CMD_POLL;
	cb.aio_fildes = pipes[0][0];
	cb.aio_buf = POLLIN;
	r[0] = io_getevents(id, 0, 1, &ev, &zero);
	r[1] = io_submit(id, 1, &cbp);
	r[2] = io_cancel(id, &cb, &ev);
	r[3] = io_destroy(id);
	for (int i = 0; i < 4; i++)
		check_call(A_STALE, r[i], 1, calls[i]);
}

static void destroy_and_replace(int slot)
{
	struct ctx_inc *p = slot_cur[slot];
	double t0;
	int warned = 0;

	__atomic_store_n(&p->dying, 1, __ATOMIC_SEQ_CST);
	check_call(A_DESTROY, io_destroy(p->id), 1, "");
	check_stale_id(p->id);
	t0 = now_ms();
	while (__atomic_load_n(&p->users, __ATOMIC_SEQ_CST)) {
		if (now_ms() - t0 > 30000 && !warned++)
			violation(V_ACCOUNT, "threads still in calls on context %u 30 s after io_destroy",
				  p->serial);
		usleep(200);
	}
	abandon_inflight(p);
	check_context(p, "after io_destroy");
	STORE(&slot_cur[slot], ctx_new());
	ADD(&st.destroys, 1);
}

static void *destroyer_main(void *arg)
{
	seed = (uintptr_t)arg;
	while (!LOAD(&stop_load)) {
		double until = now_ms() + 100 + rnd() % 400;

		while (!LOAD(&stop_load) && now_ms() < until)
			sleep_ms(5);
		if (!LOAD(&stop_load))
			destroy_and_replace(rnd() % NCTX);
	}
	return NULL;
}

/* The fork storm. */

enum storm_exit { SC_OK, SC_SETUP = 40, SC_PIPE, SC_SUBMIT, SC_GETEVENTS, SC_RESULT,
		  SC_LOST, SC_CANCEL, SC_DESTROY, SC_STALE };
static const char *const storm_exit_name[] = {
	"io_setup failed", "pipe failed", "io_submit did not take all",
	"io_getevents failed", "a wrong res", "events missing after 5 s",
	"io_cancel of an armed poll not EINPROGRESS", "io_destroy failed",
	"io_getevents on the destroyed id not EINVAL",
};

static void __attribute__((noreturn)) storm_child(void)
{
	unsigned char bufs[4][BS];
	struct iocb cbs[8], *list[8];
	struct io_event ev[8];
	struct timespec zero = { 0, 0 }, ms100 = { 0, 100000000 };
	aio_context_t ctx = 0;
	int pp[2], npolls = 1 + rnd() % 4, nreads = 1 + rnd() % 4, n = npolls + nreads;
	int got = 0;
	double deadline;

	if (io_setup(8 + rnd() % (STORM_MAX_NR - 7), &ctx))
		_exit(SC_SETUP);
	if (pipe(pp))
		_exit(SC_PIPE);
	for (int i = 0; i < n; i++) {
		if (i < npolls) {
			memset(&cbs[i], 0, sizeof(cbs[i]));
			cbs[i].aio_lio_opcode = IOCB_CMD_POLL;
			cbs[i].aio_fildes = pp[0];
			cbs[i].aio_buf = POLLIN;
		} else {
			prep_rw(&cbs[i], IOCB_CMD_PREAD, storm_fd, bufs[i - npolls], BS,
				(off_t)(rnd() % 16) * BS);
		}
		cbs[i].aio_data = i;
		list[i] = &cbs[i];
	}
	if (io_submit(ctx, n, list) != n)
		_exit(SC_SUBMIT);
	switch (rnd() % 5) {
	case 0:		/* complete the polls, reap everything */
		if (write(pp[1], "x", 1) != 1)
			_exit(SC_PIPE);
		deadline = now_ms() + 5000;
		while (got < n && now_ms() < deadline) {
			long r = io_getevents(ctx, 1, n - got, ev, &ms100);

			if (r < 0)
				_exit(SC_GETEVENTS);
			for (long i = 0; i < r; i++)
				if (ev[i].data >= (uint64_t)n ||
				    (ev[i].data < (uint64_t)npolls ? !poll_ready(ev[i].res) :
								     ev[i].res != BS))
					_exit(SC_RESULT);
			got += r;
		}
		if (got < n)
			_exit(SC_LOST);
		break;
	case 1:		/* cancel an armed poll (nobody writes the pipe) */
		if (io_cancel(ctx, &cbs[0], &ev[0]) != -EINPROGRESS)
			_exit(SC_CANCEL);
		if (io_getevents(ctx, 1, n, ev, &ms100) < 0)
			_exit(SC_GETEVENTS);
		break;
	case 2:		/* destroy with polls armed */
		if (io_destroy(ctx))
			_exit(SC_DESTROY);
		if (io_getevents(ctx, 0, 1, ev, &zero) != -EINVAL)
			_exit(SC_STALE);
		break;
	case 3:		/* linger, maybe to be killed */
		usleep(rnd() % 5000);
		break;
	default:
		if (io_getevents(ctx, 0, n, ev, &zero) < 0)
			_exit(SC_GETEVENTS);
		break;
	}
	_exit(SC_OK);
}

static void *storm_main(void *arg)
{
	seed = (uintptr_t)arg;
	while (!LOAD(&stop_load)) {
		double t0 = now_ms();
		int status = 0, killed = 0, code;
		pid_t pid = fork();

		if (pid == 0) {
			seed ^= getpid() * 2654435761u;
			storm_child();
		}
		if (pid < 0) {
			violation(V_STORM, "fork: %s", strerror(errno));
			sleep_ms(100);
			continue;
		}
		ADD(&st.forks, 1);
		if (rnd() % 3 == 0) {
			usleep(rnd() % 10000);
			kill(pid, SIGKILL);
			killed = 1;
		}
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (killed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
			ADD(&st.storm_killed, 1);
		else if (code != SC_OK)
			violation(V_STORM, "storm child %d: %s", pid,
				  code >= SC_SETUP && code <= SC_STALE ?
				  storm_exit_name[code - SC_SETUP] :
				  WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "bad exit code");
		/* At most 25 children a second per lane. */
		while (!LOAD(&stop_load) && now_ms() - t0 < 40)
			sleep_ms(2);
	}
	return NULL;
}

/* Exit with 10,000 requests in flight. */

struct exit_report {
	int reads, polls, done, err;
};

static void __attribute__((noreturn)) exit_child(int report_fd, int go_fd, int wait_for_kill)
{
	char go;
	struct exit_report rep = { 0, 0, 0, 0 };
	aio_context_t ctx = 0;
	struct iocb *cbs, **list;
	struct aio_ring_hdr *ring;
	unsigned char *bufs = NULL;
	int pp[2], total = 0, polls, reads;
	double t0;

	cbs = mmap(NULL, EXIT_NR * sizeof(*cbs), PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	list = mmap(NULL, EXIT_NR * sizeof(*list), PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (slow_fd >= 0)
		bufs = mmap(NULL, (size_t)slow_blocks * BS, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (cbs == MAP_FAILED || list == MAP_FAILED || bufs == MAP_FAILED || pipe(pp))
		rep.err = 1;
	else if (io_setup(EXIT_NR, &ctx))
		rep.err = 2;
	/*
	 * Polls first, then the cold reads, so that the reads are the ones
	 * still waiting for the device when the child goes.
	 */
	polls = EXIT_REQS;
	/* Room in the context for the reads on top of the polls. */
	reads = slow_fd < 0 ? 0 : slow_blocks < EXIT_NR - EXIT_REQS - 64 ?
		slow_blocks : EXIT_NR - EXIT_REQS - 64;
	while (!rep.err && total < polls) {
		int n = polls - total < 256 ? polls - total : 256;
		long r;

		for (int i = 0; i < n; i++) {
			struct iocb *cb = &cbs[total + i];

			memset(cb, 0, sizeof(*cb));
			cb->aio_lio_opcode = IOCB_CMD_POLL;
			cb->aio_fildes = pp[0];
			cb->aio_buf = POLLIN;
			list[total + i] = cb;
		}
		r = io_submit(ctx, n, list + total);
		if (r <= 0)
			rep.err = 4;
		else
			total += r;
	}
	rep.polls = total;
	/* Cold buffered reads, one block each, in a scattered order. */
	if (!rep.err && slow_fd >= 0)
		posix_fadvise(slow_fd, 0, 0, POSIX_FADV_DONTNEED);
	/* The budget is for the reads: the steps above can take seconds under load. */
	t0 = now_ms();
	while (!rep.err && rep.reads < reads &&
	       now_ms() - t0 < EXIT_READ_BUDGET_MS) {
		int n = reads - rep.reads < 8 ? reads - rep.reads : 8;
		long r;

		for (int i = 0; i < n; i++) {
			int b = (int)(((long)(rep.reads + i) * 1021) % slow_blocks);

			prep_rw(&cbs[total + i], IOCB_CMD_PREAD, slow_fd, bufs + (size_t)b * BS,
				BS, (off_t)b * BS);
			list[total + i] = &cbs[total + i];
		}
		r = io_submit(ctx, n, list + total);
		if (r <= 0) {
			rep.err = 3;
		} else {
			total += r;
			rep.reads += r;
		}
	}
	if (!rep.err) {
		ring = (struct aio_ring_hdr *)ctx;
		rep.done = (LOAD(&ring->tail) + ring->nr - LOAD(&ring->head)) % ring->nr;
	}
	if (write(report_fd, &rep, sizeof(rep)) != sizeof(rep))
		_exit(5);
	/* Until the parent has seen aio-nr: then exit, or wait for SIGKILL. */
	if (wait_for_kill && !rep.err)
		for (;;)
			pause();
	if (read(go_fd, &go, 1) != 1)
		_exit(6);
	_exit(rep.err ? 10 + rep.err : 0);
}

static void exit_round(int round)
{
	int killing = round & 1, sp[2], go[2], status = 0;
	const char *how = killing ? "SIGKILL" : "exit";
	unsigned long before = read_ulong("/proc/sys/fs/aio-nr"), during, after;
	struct exit_report rep = { 0, 0, 0, -1 };
	struct pollfd pfd;
	double t0, gone_ms;
	pid_t pid;

	stage = "an exit round";
	if (pipe(sp) || pipe(go)) {
		violation(V_EXIT, "pipe: %s", strerror(errno));
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(sp[0]);
		close(go[1]);
		exit_child(sp[1], go[0], killing);
	}
	close(sp[1]);
	close(go[0]);
	if (pid < 0) {
		violation(V_EXIT, "fork: %s", strerror(errno));
		close(sp[0]);
		return;
	}
	pfd.fd = sp[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 120000) != 1 || read(sp[0], &rep, sizeof(rep)) != sizeof(rep))
		rep.err = -1;
	close(sp[0]);
	during = read_ulong("/proc/sys/fs/aio-nr");
	if (rep.err)
		violation(V_EXIT, "round %d: the child could not submit (step %d)", round, rep.err);
	else if (during + AIO_NR_SWING < before + EXIT_NR)
		violation(V_EXIT, "round %d: aio-nr %lu with the child's context of %d (%lu before)",
			  round, during, EXIT_NR, before);
	if (killing || rep.err || write(go[1], "g", 1) != 1)
		kill(pid, SIGKILL);
	close(go[1]);
	t0 = now_ms();
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_ms() - t0 > 120000) {
			violation(V_EXIT, "round %d: the child did not go within 120 s", round);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		sleep_ms(5);
	}
	gone_ms = now_ms() - t0;
	if (killing ? !(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) :
		      !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		violation(V_EXIT, "round %d (%s): child status %#x", round, how, status);
	/* Within 30 s of the exit or kill (C gives it back before waiting). */
	while ((after = read_ulong("/proc/sys/fs/aio-nr")) > before + AIO_NR_SWING &&
	       now_ms() - t0 < 30000)
		sleep_ms(10);
	if (after > before + AIO_NR_SWING)
		violation(V_EXIT, "round %d: aio-nr %lu 30 s after the child's %s (%lu before)",
			  round, after, how, before);
	ADD(&st.exit_rounds, 1);
	ADD(&st.exit_inflight, (long)rep.reads + rep.polls - rep.done);
	diag("exit round %d (%s): %d cold reads + %d polls submitted, %d complete at exit; child gone in %.0f ms; aio-nr %lu -> %lu -> %lu",
	     round, how, rep.reads, rep.polls, rep.done, gone_ms, before, during, after);
	stage = "the load";
}

/* Setup. */

/* The first iovec's length that O_DIRECT takes on fd (0: one iovec). */
static int probe_split(int fd, unsigned char *buf)
{
	static const int splits[] = { 1024, 2048 };

	for (int i = 0; i < 2; i++) {
		struct iovec iov[2] = { { buf, splits[i] },
					{ buf + splits[i], BS - splits[i] } };

		if (preadv(fd, iov, 2, 0) == BS)
			return splits[i];
	}
	return 0;
}


static void fill_file(int fd, long bytes, int sync)
{
	unsigned char *chunk = malloc(1 << 20);

	if (!chunk)
		bail("malloc");
	for (long off = 0; off < bytes; off += 1 << 20) {
		for (int i = 0; i < 1 << 20; i++)
			chunk[i] = (unsigned char)((off >> 20) * 31 + i * 7);
		if (pwrite(fd, chunk, 1 << 20, off) != 1 << 20)
			bail("filling a file");
	}
	if (sync && fsync(fd))
		bail("fsync");
	free(chunk);
}

static void setup_targets(const char *dir, const char *bdev, unsigned char *probe)
{
	char path[4096];
	struct target *t = &targets[T_FILE];

	snprintf(path, sizeof(path), "%s/aio_soak.data", dir);
	t->fd_buf = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (t->fd_buf < 0 || ftruncate(t->fd_buf, DATA_BYTES))
		bail(path);
	t->fd_direct = open(path, O_RDWR | O_DIRECT);
	if (t->fd_direct < 0)
		diag("no O_DIRECT on %s (%s): buffered only", path, strerror(errno));
	unlink(path);
	t->nblocks = MAX_BLOCKS;
	t->split = t->fd_direct >= 0 ? probe_split(t->fd_direct, probe) : 1024;
	t->present = 1;

	snprintf(path, sizeof(path), "%s/aio_soak.storm", dir);
	storm_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (storm_fd < 0)
		bail(path);
	fill_file(storm_fd, 1 << 20, 0);
	unlink(path);

	t = &targets[T_BDEV];
	t->fd_buf = t->fd_direct = -1;
	if (bdev) {
		uint64_t size = 0;

		t->fd_direct = open(bdev, O_RDWR | O_DIRECT);
		if (t->fd_direct < 0 || ioctl(t->fd_direct, BLKGETSIZE64, &size))
			bail(bdev);
		t->nblocks = size / BS < MAX_BLOCKS ? size / BS : MAX_BLOCKS;
		memset(probe, 0, BS);
		for (int b = 0; b < t->nblocks; b++)
			if (pwrite(t->fd_direct, probe, BS, (off_t)b * BS) != BS)
				bail("zeroing the block device");
		t->split = probe_split(t->fd_direct, probe);
		t->present = t->nblocks > 0;
	}
}

static void setup_slow(const char *slowdir)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/aio_soak.slow", slowdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		bail(path);
	fill_file(fd, SLOW_BYTES, 1);
	/* Clean pages, so that POSIX_FADV_DONTNEED drops them at once. */
	if (fsync(fd))
		bail(path);
	close(fd);
	slow_fd = open(path, O_RDONLY);
	if (slow_fd < 0)
		bail(path);
	unlink(path);
	/* One page per read: no readahead warming the next blocks. */
	posix_fadvise(slow_fd, 0, 0, POSIX_FADV_RANDOM);
	slow_blocks = SLOW_BYTES / BS;
}

/* The drain. */

static int outstanding(struct ctx_inc *p)
{
	int n = 0;

	for (int i = 0; i < NREC; i++)
		n += STATE_OF(LOAD(&recs[i].state)) == R_SUBMITTED && recs[i].inc == p;
	return n;
}

static long reap_now(struct ctx_inc *p, long min_nr, long tmo_ns, unsigned char *scratch)
{
	struct io_event ev[64];
	struct timespec ts = { tmo_ns / 1000000000L, tmo_ns % 1000000000L };
	long r = io_getevents(p->id, min_nr, 64, ev, &ts);

	check_call(A_GETEVENTS, r, 0, " (drain)");
	for (long i = 0; i < r; i++)
		take_event(p, &ev[i], scratch);
	return r;
}

/*
 * No thread but this one is left and the pipes are empty: every poll still
 * in flight is armed and must cancel with EINPROGRESS, then every accepted
 * iocb must have its event.
 */
static void drain_context(struct ctx_inc *p, unsigned char *scratch)
{
	struct io_event ev;
	double deadline;
	int left;

	while (reap_now(p, 0, 0, scratch) > 0)
		;
	for (int i = 0; i < NREC; i++) {
		struct rec *r = &recs[i];
		long ret;

		if (STATE_OF(r->state) != R_SUBMITTED || r->inc != p || r->kind != K_POLL)
			continue;
		r->cancel_tried = r->drain_cancel = 1;
		ret = io_cancel(p->id, &r->cb, &ev);
		if (check_call(A_CANCEL_ARMED, ret, 0, "")) {
			r->cancel_inprogress = 1;
			st.cancelled++;
		}
	}
	/* Lost events: give up after 15 s without one (4 contexts < 120 s). */
	deadline = now_ms() + 15000;
	while ((left = outstanding(p)) && now_ms() < deadline) {
		long r = reap_now(p, 1, 200000000, scratch);

		if (r < 0)
			break;
		if (r > 0)
			deadline = now_ms() + 15000;
	}
	if (left)
		violation(V_ACCOUNT, "context %u: %d accepted iocbs never got an event", p->serial,
			  left);
	if (reap_now(p, 0, 0, scratch))
		violation(V_EVENT, "context %u: events after every iocb had one", p->serial);
}

static int aio_mappings(void)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0;

	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, "[aio]") != NULL;
	if (f)
		fclose(f);
	return n;
}

int main(int argc, char **argv)
{
	const char *cache, *dir, *slowdir = NULL, *bdev = NULL;
	struct worker workers[NWORKERS] = { 0 };
	pthread_t reapers[REAPERS], others[NOTHERS];
	unsigned long aio_nr0, tainted0, aio_nr;
	long slab0, slab = -1, seconds;
	unsigned char *bufs, *scratch;
	struct sigaction sa;
	sigset_t block;
	double start, end, next_round, t0;
	int rounds, round = 0, maps;

	seconds = argc > 2 ? atol(argv[2]) : 0;
	if (argc < 4 || (strcmp(argv[1], "rust") && strcmp(argv[1], "c")) || seconds <= 0) {
		fprintf(stderr, "usage: %s rust|c SECONDS DIR [SLOWDIR] [BLOCKDEV]\n", argv[0]);
		return 2;
	}
	ours = !strcmp(argv[1], "rust");
	cache = ours ? "aio_rs_kiocb" : "aio_kiocb";
	dir = argv[3];
	if (argc > 4 && argv[4][0] && strcmp(argv[4], "-"))
		slowdir = argv[4];
	if (argc > 5 && argv[5][0])
		bdev = argv[5];
	seed = 0x2545f491u ^ (uint32_t)getpid();

	signal(SIGALRM, watchdog);
	alarm(seconds + 900);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;	/* no SA_RESTART: io_pgetevents gets EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	/* SIGUSR1 only gets through io_pgetevents' mask. */
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, &pget_mask);
	sigdelset(&pget_mask, SIGUSR1);
	pget_sigs.sigmask = &pget_mask;
	pget_sigs.sigsetsize = 8;	/* the kernel's sigset_t */

	aio_nr0 = read_ulong("/proc/sys/fs/aio-nr");
	tainted0 = read_ulong("/proc/sys/kernel/tainted");
	slab0 = slab_objects(cache);

	if (posix_memalign((void **)&bufs, BS, (size_t)(NREC + 1) * BS))
		bail("posix_memalign");
	scratch = bufs + (size_t)NREC * BS;
	for (int i = 0; i < NREC; i++)
		recs[i].buf = bufs + (size_t)i * BS;
	setup_targets(dir, bdev, scratch);
	if (slowdir)
		setup_slow(slowdir);
	for (int i = 0; i < NPIPES; i++)
		if (pipe2(pipes[i], O_NONBLOCK | O_CLOEXEC))
			bail("pipe2");
	for (int i = 0; i < NCTX; i++)
		slot_cur[i] = ctx_new();
	diag("aio_soak %s: %ld s, %s%s%s, %s%s, %d contexts of %d, %d records",
	     argv[1], seconds, dir, targets[T_FILE].fd_direct >= 0 ? " (O_DIRECT and buffered)" : "",
	     slowdir ? ", slow reads" : ", no SLOWDIR (exit rounds: polls only)",
	     bdev ? bdev : "no block device", bdev ? " (O_DIRECT)" : "", NCTX, CTX_NR, NREC);

	stage = "the load";
	for (int i = 0; i < NWORKERS; i++) {
		struct worker *w = &workers[i];

		w->prep = i < WRITERS ? prep_write : i < WRITERS + READERS ? prep_read : prep_poll;
		w->first = i * RW_RECS;
		w->nrec = i < WRITERS + READERS ? RW_RECS : POLL_RECS;
		w->seed = 0x1234567u * (i + 1);
		spawn(&w->th, submitter_main, w);
	}
	for (int i = 0; i < REAPERS; i++)
		spawn(&reapers[i], reaper_main, (void *)(uintptr_t)(i + 1));
	spawn(&others[0], canceller_main, (void *)101);
	spawn(&others[1], pipe_writer_main, (void *)202);
	spawn(&others[2], destroyer_main, (void *)303);
	for (int i = 3; i < NOTHERS; i++)
		spawn(&others[i], storm_main, (void *)(uintptr_t)(404 + i));

	/* The main thread: exit rounds, and SIGUSR1 for the reapers. */
	start = now_ms();
	end = start + seconds * 1000.0;
	rounds = seconds / 20 < 2 ? 2 : seconds / 20 > 60 ? 60 : seconds / 20;
	next_round = start + (end - start) / (rounds + 1);
	/* Both kinds of exit round (exit, SIGKILL), however short the run. */
	while (now_ms() < end || round < 2) {
		if (round < rounds && now_ms() >= next_round) {
			exit_round(round++);
			next_round = start + (end - start) * (round + 1) / (rounds + 1);
			continue;
		}
		pthread_kill(reapers[rnd() % REAPERS], SIGUSR1);
		sleep_ms(50);
	}

	/* Stop the load: every thread but the reapers ends by itself. */
	stage = "stopping the load";
	STORE(&stop_load, 1);
	for (int i = 0; i < NWORKERS; i++)
		pthread_join(workers[i].th, NULL);
	for (int i = 0; i < NOTHERS; i++)
		pthread_join(others[i], NULL);
	/* A reaper in io_pgetevents without a timeout: SIGUSR1 ends it. */
	for (int i = 0; i < REAPERS; i++)
		while (pthread_tryjoin_np(reapers[i], NULL)) {
			pthread_kill(reapers[i], SIGUSR1);
			sleep_ms(5);
		}

	/*
	 * The drain.  Let poll work queued by the last pipe writes run (it
	 * finds the pipes empty and re-arms), so that the cancels below race
	 * with no wake-up.
	 */
	stage = "the drain (more than 120 s)";
	alarm(120);
	for (int i = 0; i < NPIPES; i++)
		drain_pipe(i);
	sleep_ms(300);
	for (int i = 0; i < NCTX; i++)
		drain_context(slot_cur[i], scratch);
	for (int i = 0; i < NCTX; i++) {
		struct ctx_inc *p = slot_cur[i];

		p->dying = 1;
		check_call(A_DESTROY, io_destroy(p->id), 1, " (at the end)");
		if (p->resfd_reaped != p->resfd_accepted)
			violation(V_EVENTFD, "context %u: %ld IOCB_FLAG_RESFD events reaped of %ld accepted",
				  p->serial, p->resfd_reaped, p->resfd_accepted);
		check_context(p, "at the end");
	}
	alarm(0);
	stage = "the checks";
	for (int i = 0; i < NREC; i++) {
		if (STATE_OF(recs[i].state) != R_FREE)
			violation(V_ACCOUNT, "record %d left in state %u", i,
				  STATE_OF(recs[i].state));
		rec_check_previous(&recs[i]);
	}

	t0 = now_ms();
	while ((aio_nr = read_ulong("/proc/sys/fs/aio-nr")) != aio_nr0 && now_ms() - t0 < 2000)
		sleep_ms(10);
	if (slab0 >= 0) {
		t0 = now_ms();
		while ((slab = slab_objects(cache)) != slab0 && now_ms() - t0 < 6000)
			sleep_ms(100);
	}
	maps = aio_mappings();

	diag("aio_soak seconds=%ld submitted=%ld completed=%ld cancelled=%ld destroyed_inflight=%ld verified_blocks=%ld forks=%ld exit_inflight=%ld",
	     seconds, st.submitted, st.completed, st.cancelled, st.destroyed_inflight,
	     st.verified, st.forks, st.exit_inflight);
	diag("mix: %ld O_DIRECT + %ld buffered reads/writes (%ld vectored, %ld RWF_DSYNC), %ld fsyncs, %ld RESFD; polls %ld ready, %ld res 0; cancels of polls %ld raced; of reads %ld EINVAL, %ld EINPROGRESS; %ld destroys, %ld EINVAL on dying contexts, %ld partial submits there, %ld EINTR; storm %ld killed",
	     st.direct_ios, st.buffered_ios, st.vectored, st.dsync, st.fsyncs, st.resfd,
	     st.polls_ready, st.polls_res0, st.cancel_raced, st.read_cancel_einval,
	     st.read_cancel_inprogress, st.destroys, st.einval_dying, st.partial_dying, st.eintr,
	     st.storm_killed);

	CHECK(!viol[V_ERRNO], "every call returned a result allowed for it (%ld not)", viol[V_ERRNO]);
	CHECK(!viol[V_EVENT],
	      "every event was for an accepted iocb of its context, none twice (%ld not)",
	      viol[V_EVENT]);
	CHECK(!viol[V_RESULT], "every event's res right for its operation (%ld not)",
	      viol[V_RESULT]);
	CHECK(!viol[V_ACCOUNT] && st.submitted == st.completed + st.destroyed_inflight &&
	      st.submitted > 0,
	      "exactly one event per accepted iocb: %ld accepted = %ld reaped + %ld on destroyed contexts (%ld lost)",
	      st.submitted, st.completed, st.destroyed_inflight, viol[V_ACCOUNT]);
	CHECK(!viol[V_DATA] && st.verified > 0,
	      "every read returned its block's last generation: %ld verified (%ld not)",
	      st.verified, viol[V_DATA]);
	CHECK(!viol[V_EVENTFD] && st.resfd > 0,
	      "eventfd counted one per IOCB_FLAG_RESFD completion, on every context (%ld RESFD iocbs, %ld contexts wrong)",
	      st.resfd, viol[V_EVENTFD]);
	CHECK(!viol[V_POLL] && st.cancelled > 0 && st.polls_ready > 0,
	      "polls: %ld completed POLLIN, %ld cancelled (EINPROGRESS, then one event), armed ones cancellable at the drain, reads cancelled only as allowed (%ld wrong)",
	      st.polls_ready, st.cancelled, viol[V_POLL]);
	CHECK(!viol[V_STORM] && st.forks > 0,
	      "fork storm: %ld children exited 0 or were SIGKILLed (%ld not)", st.forks,
	      viol[V_STORM]);
	CHECK(!viol[V_EXIT] && st.exit_rounds > 0,
	      "exit with requests in flight: %ld rounds, %ld requests in flight, aio-nr back each time (%ld wrong)",
	      st.exit_rounds, st.exit_inflight, viol[V_EXIT]);
	CHECK(aio_nr == aio_nr0, "aio-nr back to %lu (%lu)", aio_nr0, aio_nr);
	if (slab0 < 0)
		printf("ok %d - # SKIP no /sys/kernel/slab/%s\n", ++tap_n, cache);
	else
		CHECK(slab == slab0, "slab cache %s back to %ld objects (%ld)", cache, slab0, slab);
	CHECK(maps == 0, "no [aio] mapping left (%d)", maps);
	CHECK(read_ulong("/proc/sys/kernel/tainted") == tainted0, "kernel taint unchanged (%lu, was %lu)",
	      read_ulong("/proc/sys/kernel/tainted"), tainted0);

	for (struct ctx_inc *p = all_incs, *next; p; p = next) {
		next = p->older;
		free(p);
	}
	free(bufs);
	return tap_done();
}
