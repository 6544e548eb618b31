// SPDX-License-Identifier: GPL-2.0
/*
 * aio_fuzz: a bounded, seeded fuzzer of the native AIO system calls
 * (io_setup, io_destroy, io_submit, io_getevents, io_pgetevents, io_cancel),
 * run as a differential test: the same binary and seed on the C kernel and
 * on the Rust rewrite, with the same properties checked.
 *
 * syzkaller's descriptions of these calls build iocbs but keep no record of
 * them, so they cannot tell a lost or doubled completion from a good one,
 * and they do not combine the calls with what surrounds the ring in real
 * programs.  This fuzzer keeps a model of every context and in-flight iocb
 * (each with a unique aio_data) and drives, with choices drawn from
 * xorshift64* streams seeded by (SEED, step):
 *  - the calls with valid and invalid arguments: bad pointers, iocb arrays
 *    that fault half-way (partial submits), opcodes, RWF_* flags, priorities,
 *    IOCB_FLAG_RESFD, bad iovecs, offsets and lengths;
 *  - ring games: mremap (the id must follow the ring), munmap, scribbling
 *    the header under I/O, mprotect, MADV_DOFORK;
 *  - fork with rings inherited through MADV_DOFORK and mremapped in the
 *    child (CVE-2023-52646: mremap after fork used the child's table);
 *  - a poll on a signalfd whose sighand dies under it (POLLFREE,
 *    CVE-2021-47505) and polls whose files are closed while armed (file
 *    lifetime, CVE-2019-10125);
 *  - io_destroy racing io_getevents and io_submit in other threads, and
 *    process exit with hundreds of requests in flight.
 * It checks that every result is allowed (and exact where fs/aio.c decides
 * it before any resource matters), that every event belongs to an iocb in
 * flight on that context and completes it exactly once with a result that
 * fits its opcode, that read data matches the file, that io_destroy waited
 * for its requests, that the RESFD eventfd counted each completion once,
 * that aio-nr, the request slab cache and the [aio] mappings come back, that
 * the kernel was not tainted and that no step hung.  The kernel's own
 * reports (KASAN, lockdep, WARN) are caught by the harness on the console.
 *
 * usage: aio_fuzz rust|c SEED OPS DIR [BLOCKDEV]
 * DIR must be writable (ext4: O_DIRECT); BLOCKDEV (e.g. /dev/nullb0) is
 * written to.  A worker process runs the steps; this process watches it
 * and measures what only its exit can give back.
 */
#include "tap.h"
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>

#ifndef IOCB_FLAG_IOPRIO
#define IOCB_FLAG_IOPRIO	(1 << 1)
#endif

/* RWF_* of include/uapi/linux/fs.h (7.3): RWF_SUPPORTED is 0x1ff. */
#define F_HIPRI		0x01
#define F_DSYNC		0x02
#define F_SYNC		0x04
#define F_NOWAIT	0x08
#define F_APPEND	0x10
#define F_NOAPPEND	0x20
#define F_ATOMIC	0x40
#define F_DONTCACHE	0x80
#define F_SUPPORTED	0x1ff

#define AIO_NR		"/proc/sys/fs/aio-nr"
#define TAINTED		"/proc/sys/kernel/tainted"
#define MAX_CTX		4
#define MAX_REQ		2048		/* records; data keeps the index in 16 bits */
#define IOV_N		8
#define NSLOTS		256
#define SLOT_SIZE	(64 << 10)
#define SLOT_STRIDE	(SLOT_SIZE + 4096)	/* a PROT_NONE page after each */
#define EV_MAX		2048
#define FILE_SIZE	(1LL << 20)
#define HALF		(FILE_SIZE / 2)	/* reads of [0, HALF) are verified */
#define STEP_SECONDS	60
#define MAX_DIAGS	20
#define MAX_STALE	64
#define MAX_ZOMBIES	64		/* lost contexts remembered */
#define MAX_UNMAP	8		/* rings munmapped per run */
#define CLOSED_FD	999
#define BAD_KERNEL	0xffff888000000000ULL
#define RING_MAGIC	0xa10a10a1
#define KSIGSET		8		/* the kernel's sigset_t, not libc's */
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* --- checks, shared counters ------------------------------------------- */

enum check {
	C_ERRNO, C_EVENTS, C_RESULTS, C_ONCE, C_DATA, C_DESTROY, C_PROCS,
	C_RESFD, C_AIONR, C_SLAB, C_MAPS, C_TAINT, C_HANG, NR_CHECKS
};

static const char *const check_tag[NR_CHECKS] = {
	"errno", "event", "result", "once", "data", "destroy", "procs",
	"resfd", "aio-nr", "slab", "maps", "taint", "hang",
};

enum action {
	A_SETUP, A_SUBMIT, A_GETEVENTS, A_CANCEL, A_RING, A_FORK, A_RACE,
	A_POLLFREE, A_REOPEN, A_EXIT, A_DESTROY, A_WAKE, A_FINAL, NR_ACTIONS
};

static const struct {
	const char *name;
	unsigned int weight;
} actions[NR_ACTIONS] = {
	[A_SETUP] = { "setup", 8 },	[A_SUBMIT] = { "submit", 30 },
	[A_GETEVENTS] = { "getevents", 20 }, [A_CANCEL] = { "cancel", 8 },
	[A_RING] = { "ring", 5 },	[A_FORK] = { "fork", 3 },
	[A_RACE] = { "destroy-race", 3 }, [A_POLLFREE] = { "pollfree", 3 },
	[A_REOPEN] = { "close-reopen", 3 }, [A_EXIT] = { "exit-inflight", 2 },
	[A_DESTROY] = { "destroy", 5 },	[A_WAKE] = { "wake", 5 },
	[A_FINAL] = { "final", 0 },
};

/* In MAP_SHARED memory: children, clones and threads count here too. */
struct shared {
	unsigned long calls, accepted, events, cancelled, destroyed_inflight;
	unsigned long forks, verified_bytes, verified_reads, zombies;
	unsigned long viol[NR_CHECKS];
	unsigned long acts[NR_ACTIONS];
	unsigned long diags;
	long step, step_start_ms;
	int action, hung, finished;
};

#define STAT(f, n)	__atomic_fetch_add(&sh->f, (n), __ATOMIC_RELAXED)

static struct shared *sh;
static long step = -1;
static int cur_action = A_FINAL;
static int in_child;
static char alarm_msg[160];

static void __attribute__((format(printf, 2, 3)))
violation(int check, const char *fmt, ...)
{
	unsigned long n;
	va_list ap;

	STAT(viol[check], 1);
	n = __atomic_add_fetch(&sh->diags, 1, __ATOMIC_RELAXED);
	if (n > MAX_DIAGS) {
		if (n == MAX_DIAGS + 1)
			printf("# more violations, not printed\n");
		return;
	}
	if (step >= 0)
		printf("# step %ld %s%s [%s]: ", step, in_child ? "child " : "",
		       actions[cur_action].name, check_tag[check]);
	else
		printf("# end [%s]: ", check_tag[check]);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static const char *ename(int e)
{
#define E(x)	{ x, #x }
	static const struct {
		int e;
		const char *name;
	} names[] = {
		E(EPERM), E(EINTR), E(EIO), E(ENXIO), E(EBADF), E(EAGAIN),
		E(ENOMEM), E(EFAULT), E(EINVAL), E(EFBIG), E(ENOSPC), E(ESPIPE),
		E(EROFS), E(EPIPE), E(EOVERFLOW), E(EOPNOTSUPP), E(ENOTCONN),
		E(EINPROGRESS), E(ECANCELED), E(EMSGSIZE), E(ENOBUFS), E(EDQUOT),
		E(ETXTBSY), E(ENOSYS),
	};
#undef E
	static char buf[16];

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i].e == e)
			return names[i].name;
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}

/* A result: the count, or the errno's name. */
static const char *rstr(long r)
{
	static char buf[4][24];
	static int k;
	char *b = buf[k++ & 3];

	if (r < 0)
		return ename(-r);
	snprintf(b, sizeof(buf[0]), "%ld", r);
	return b;
}

/*
 * The errnos each call may fail with, from fs/aio.c (7.3):
 *  io_setup: EFAULT (get_user/put_user of *ctxp), EINVAL (*ctxp != 0,
 *    nr_events 0, max(nr_events, 4 * cpus) * 2 above 0x10000000 / 32),
 *    EAGAIN (aio-max-nr, or a doubled nr_events that wrapped to 0), ENOMEM
 *    (kioctx, percpu refs, ring file and folios, do_mmap, the table),
 *    EINTR (mmap_write_lock_killable).
 *  io_destroy: EINVAL only (lookup_ioctx failed, or lost kill_ioctx's race).
 *  io_submit: EINVAL (nr < 0, lookup, aio_reserved2, aio_nbytes overflow,
 *    opcode, poll/fsync fields, ioprio, RWF_APPEND|RWF_NOAPPEND, iovec
 *    count or length, rw_verify_area), EFAULT (iocbpp, iocb, aio_key,
 *    iovec), EBADF (fget, RESFD fd, file mode), EAGAIN (ring full:
 *    aio_get_req), ENOMEM (iovec, creds), EOPNOTSUPP (RWF_* unknown or not
 *    supported by the file), EPERM (RT ioprio, NOAPPEND on an append-only
 *    inode); ESPIPE, EOVERFLOW, EFBIG and EINTR are let through for paths
 *    a file's ->read_iter may take synchronously.  A partial submit
 *    returns the count; an error only if the first iocb failed.
 *  io_getevents/io_pgetevents: EFAULT (timeout, sigset, events: then the
 *    ring head stays), EINVAL (lookup, min_nr/nr, sigsetsize, a context
 *    destroyed while waiting), EINTR (a signal).
 *  io_cancel: EFAULT (reading aio_key), EINVAL (key, lookup, not on
 *    active_reqs: completed or not cancellable); success is EINPROGRESS.
 *    EAGAIN is documented and let through.
 * Event results (res): reads and writes carry the ->read_iter/->write_iter
 * result (sockets: ESPIPE at an offset); fsync carries vfs_fsync's; poll a
 * mask, 0 when cancelled.
 */
static const int ok_setup[] = { EFAULT, EINVAL, EAGAIN, ENOMEM, EINTR, 0 };
static const int ok_destroy[] = { EINVAL, 0 };
static const int ok_submit[] = {
	EINVAL, EFAULT, EBADF, EAGAIN, ENOMEM, EOPNOTSUPP, ESPIPE, EPERM,
	EOVERFLOW, EFBIG, EINTR, 0
};
static const int ok_getevents[] = { EINVAL, EFAULT, EINTR, 0 };
static const int ok_cancel[] = { EINPROGRESS, EINVAL, EFAULT, EAGAIN, 0 };
static const int ok_ev_rw[] = {
	EAGAIN, EFAULT, EINVAL, EBADF, EOPNOTSUPP, EFBIG, ENOSPC, EIO, EINTR,
	ECANCELED, EOVERFLOW, EPIPE, ENOTCONN, ENXIO, EPERM, EMSGSIZE,
	ENOBUFS, ENOMEM, EDQUOT, ETXTBSY, ESPIPE, 0
};
static const int ok_ev_fsync[] = {
	EIO, EINVAL, ENOSPC, EDQUOT, EROFS, EINTR, ECANCELED, 0
};

static int in_set(const int *set, int e)
{
	for (; *set; set++)
		if (*set == e)
			return 1;
	return 0;
}

/*
 * Judges result r (a count, or -errno): it must be -exact if exact is set,
 * else a count (the caller checks its range) or an errno from set.
 */
static int judge(const char *what, long r, const int *set, int exact)
{
	if (exact) {
		if (r == -exact)
			return 1;
		violation(C_ERRNO, "%s: %s, want %s", what, rstr(r), ename(exact));
		return 0;
	}
	if (r >= 0 || in_set(set, -r))
		return 1;
	violation(C_ERRNO, "%s: %s is not allowed", what, rstr(r));
	return 0;
}

static void count_call(void)
{
	STAT(calls, 1);
}

/* A tap.h system call wrapper, counted in the summary's calls. */
#define X(call)		(count_call(), (call))

/* --- the choice sequence ------------------------------------------------- */

static uint64_t rng, seed;

static void seed_rng(uint64_t s)
{
	uint64_t z = s + 0x9e3779b97f4a7c15ULL;	/* splitmix64: no zero state */

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	rng = (z ^ (z >> 31)) | 1;
}

static uint64_t rnd(void)		/* xorshift64* */
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static unsigned int rn(unsigned int n)
{
	return n ? (unsigned int)(rnd() % n) : 0;
}

static int pct(unsigned int p)
{
	return rn(100) < p;
}

/* --- the model ----------------------------------------------------------- */

struct ctxrec {
	int live;		/* set up, not destroyed, not lost */
	aio_context_t id;
	unsigned int nr;	/* nr_events asked for: what aio-nr is charged */
	uint32_t uid;		/* unique per io_setup */
	int scribbled;		/* header written by us: no exactness */
	int readonly, dofork, split;
	int inflight;
};

enum { R_FREE, R_RESERVED, R_INFLIGHT, R_ZOMBIE };

struct req {
	struct iocb cb;		/* event.obj is its address */
	struct iovec iov[IOV_N];
	int state;
	int ctx;		/* index in ctxs[] while in flight */
	uint64_t data;		/* serial << 16 | index: unique per iocb */
	int op, fk;
	int slot;		/* its buffer slot, or -1 */
	unsigned char *vbuf;	/* read data to verify against the file, or NULL */
	long long voff;		/* file offset of vbuf[0] */
	long long maxres;	/* the largest result that fits the request */
	unsigned int pevents;	/* POLL: the events asked for */
	int cancelled;		/* io_cancel said EINPROGRESS, or destroyed */
	int pollfree;		/* armed by the POLLFREE clone */
	int resfd;		/* signals the counted eventfd */
	long step;		/* submitted at */
};

static struct ctxrec ctxs[MAX_CTX];
static uint32_t next_uid = 1;
static struct req reqs[MAX_REQ];
static int nreq_free = MAX_REQ, req_hint;
static uint64_t next_serial = 1;
static uint32_t *owner;			/* serial -> uid of the context it went to */
static size_t owner_cap;

/* 0 free, 1 in use, 2 quarantined (filled after io_destroy), 3 lost. */
static unsigned char slot_state[NSLOTS];
static unsigned char *slots;
static int slot_hint;
static struct {
	int slot;
	long step;
} quar[NSLOTS];
static int nquar;

static unsigned char *ro_page, *none_page, *ro_iocb_page, *arr_page, *canary;
static struct io_event *evbuf;

static aio_context_t stale[MAX_STALE];	/* ids of destroyed or moved rings */
static int nstale;
static aio_context_t zombie_addr[MAX_ZOMBIES];	/* munmapped, not destroyed */
static int nzombies, nunmapped;
static unsigned long zombie_charge, resfd_expected, zombie_resfd;
static int no_resfd;			/* children: leave the counted eventfd */

enum fdk {
	FK_FILE, FK_DIRECT, FK_BLK, FK_PA_R, FK_PA_W, FK_PB_R, FK_PB_W,
	FK_EVENTFD, FK_SIGNALFD, FK_SOCK0, FK_SOCK1, FK_CLOSED, FK_NEG, NR_FK
};

static const char *const fk_name[NR_FK] = {
	"file", "file-direct", "blockdev", "pipeA-r", "pipeA-w", "pipeB-r",
	"pipeB-w", "eventfd", "signalfd", "sock0", "sock1", "closed-fd", "fd-1",
};

static int fds[NR_FK];
static int resfd = -1;		/* counts completions; never an I/O target */
static int ctl_fd = -1;		/* the data file, for truncation */
static int retired[128];	/* pipe write ends kept open past a reopen */
static int nretired;
static int pa_byte;		/* a byte may sit in pipe A (polls complete) */
static char data_path[600];
static const char *blkdev;
static long long blk_span, blk_size;	/* where we write; the device's end */
static const char *cache;
static unsigned long aio_nr0, taint0;

static unsigned char pattern(long long o)
{
	return (o * 131 + o / 4096) & 0xff;
}

static void owner_set(uint64_t serial, uint32_t uid)
{
	if (serial >= owner_cap) {
		size_t cap = owner_cap ? owner_cap : 4096;

		while (cap <= serial)
			cap *= 2;
		owner = realloc(owner, cap * sizeof(*owner));
		if (!owner)
			abort();
		memset(owner + owner_cap, 0, (cap - owner_cap) * sizeof(*owner));
		owner_cap = cap;
	}
	owner[serial] = uid;
}

static uint32_t owner_get(uint64_t serial)
{
	return serial < owner_cap ? owner[serial] : 0;
}

static unsigned char *slot_addr(int s)
{
	return slots + (size_t)s * SLOT_STRIDE;
}

static int slot_get(void)
{
	for (int n = 0; n < NSLOTS; n++) {
		int s = (slot_hint + n) % NSLOTS;

		if (!slot_state[s]) {
			slot_state[s] = 1;
			slot_hint = s + 1;
			return s;
		}
	}
	return -1;
}

static int slots_free(void)
{
	int n = 0;

	for (int s = 0; s < NSLOTS; s++)
		n += !slot_state[s];
	return n;
}

/*
 * A slot whose request was in flight when io_destroy returned: the kernel
 * must be done with it, so it is filled now and checked a few steps later.
 */
static void quarantine(int s)
{
	memset(slot_addr(s), 0xa5, SLOT_SIZE);
	slot_state[s] = 2;
	quar[nquar].slot = s;
	quar[nquar].step = step;
	nquar++;
}

static void quarantine_check(int all)
{
	int k = 0;

	for (int i = 0; i < nquar; i++) {
		unsigned char *p = slot_addr(quar[i].slot);

		if (!all && step - quar[i].step < 3) {
			quar[k++] = quar[i];
			continue;
		}
		if (memcmp(p, canary, SLOT_SIZE)) {
			int j = 0;

			while (p[j] == 0xa5)
				j++;
			violation(C_DESTROY, "buffer written after io_destroy returned (step %ld): byte %d is %#x",
				  quar[i].step, j, p[j]);
		}
		slot_state[quar[i].slot] = 0;
	}
	nquar = k;
}

static struct req *req_get(void)
{
	for (int n = 0; n < MAX_REQ; n++) {
		int i = (req_hint + n) % MAX_REQ;
		struct req *r = &reqs[i];

		if (r->state != R_FREE)
			continue;
		memset(r, 0, sizeof(*r));
		r->state = R_RESERVED;
		r->slot = -1;
		r->ctx = -1;
		r->data = next_serial++ << 16 | i;
		r->step = step;
		req_hint = i + 1;
		nreq_free--;
		return r;
	}
	return NULL;
}

/* Gives back a record that was never accepted, or whose iocb is done. */
static void req_release(struct req *r)
{
	if (r->slot >= 0 && slot_state[r->slot] == 1)
		slot_state[r->slot] = 0;
	if (r->state == R_INFLIGHT)
		ctxs[r->ctx].inflight--;
	r->state = R_FREE;
	nreq_free++;
}

static void req_accept(struct req *r, int ci)
{
	r->state = R_INFLIGHT;
	r->ctx = ci;
	ctxs[ci].inflight++;
	owner_set(r->data >> 16, ctxs[ci].uid);
	if (r->resfd)
		resfd_expected++;
	STAT(accepted, 1);
}

static int pick_live(int clean)
{
	int idx[MAX_CTX], n = 0;

	for (int i = 0; i < MAX_CTX; i++)
		if (ctxs[i].live && !(clean && ctxs[i].scribbled))
			idx[n++] = i;
	return n ? idx[rn(n)] : -1;
}

/* A random request in flight on ci; polls first if want_poll. */
static struct req *pick_inflight(int ci, int want_poll)
{
	static int idx[MAX_REQ];
	int n = 0, npoll = 0;

	for (int i = 0; i < MAX_REQ; i++) {
		if (reqs[i].state != R_INFLIGHT || reqs[i].ctx != ci)
			continue;
		if (reqs[i].op == IOCB_CMD_POLL) {
			idx[n++] = idx[npoll];
			idx[npoll++] = i;
		} else {
			idx[n++] = i;
		}
	}
	if (!n)
		return NULL;
	if (want_poll && npoll)
		return &reqs[idx[rn(npoll)]];
	return &reqs[idx[rn(n)]];
}

/* Requests on ci that complete on their own: NULL timeouts may wait for them. */
static int self_completing(int ci)
{
	int n = 0;

	for (int i = 0; i < MAX_REQ; i++)
		n += reqs[i].state == R_INFLIGHT && reqs[i].ctx == ci &&
		     reqs[i].op != IOCB_CMD_POLL;
	return n;
}

static int is_live_id(aio_context_t id)
{
	for (int i = 0; i < MAX_CTX; i++)
		if (ctxs[i].live && ctxs[i].id == id)
			return 1;
	for (int i = 0; i < nzombies; i++)
		if (zombie_addr[i] == id)
			return 1;
	return 0;
}

static void stale_add(aio_context_t id)
{
	if (nstale < MAX_STALE)
		stale[nstale++] = id;
	else
		stale[rn(MAX_STALE)] = id;
}

/* An id no context has: lookup_ioctx fails on it (EINVAL). */
static aio_context_t bad_id(void)
{
	aio_context_t id;
	int ci;

	switch (rn(5)) {
	case 0:
		id = 0;
		break;
	case 1:
		id = rnd() & ~0xfffULL;
		break;
	case 2:
		id = nstale ? stale[rn(nstale)] : 0;
		break;
	case 3:
		id = (uintptr_t)none_page;
		break;
	default:
		/* Inside a live ring: what is read as its id is not one. */
		ci = pick_live(0);
		id = ci >= 0 ? ctxs[ci].id + 32 * (1 + rn(64)) : 12345;
		break;
	}
	return is_live_id(id) ? 0 : id;
}

/* Whether id still answers as a context: io_getevents(0, 0) gives 0. */
static long probe(aio_context_t id)
{
	struct timespec ts = { 0, 0 };

	return X(io_getevents(id, 0, 0, evbuf, &ts));
}

/*
 * The size of the [aio] ring mapping starting at id (the VMAs of one ring
 * file, contiguous), or 0.
 */
static size_t ring_size(aio_context_t id)
{
	unsigned long start, end, ino, want_ino = 0, next = id;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	size_t size = 0;

	while (f && fgets(line, sizeof(line), f)) {
		if (!strstr(line, "[aio]") ||
		    sscanf(line, "%lx-%lx %*s %*x %*s %lu", &start, &end, &ino) != 3)
			continue;
		if (start != next || (size && ino != want_ino))
			continue;
		want_ino = ino;
		size += end - start;
		next = end;
	}
	if (f)
		fclose(f);
	return size;
}

static int count_aio_maps(void)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0;

	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "[aio]")) {
			if (n < 3)
				printf("# left: %s", line);
			n++;
		}
	if (f)
		fclose(f);
	return n;
}

/*
 * ci was destroyed (io_destroy returned 0): C has waited for all of its
 * requests, so their buffers must stay as we leave them from now on.
 */
static void ctx_destroyed(int ci)
{
	for (int i = 0; i < MAX_REQ; i++) {
		struct req *r = &reqs[i];

		if (r->state != R_INFLIGHT || r->ctx != ci)
			continue;
		STAT(destroyed_inflight, 1);
		if (r->slot >= 0)
			quarantine(r->slot);
		req_release(r);
	}
	stale_add(ctxs[ci].id);
	ctxs[ci].live = 0;
}

/*
 * ci can no longer be destroyed (its ring is unmapped, so lookup_ioctx
 * faults): its requests and buffers are left alone until the process
 * exits, and aio-nr stays charged for it until then.
 */
static void ctx_lost(int ci)
{
	for (int i = 0; i < MAX_REQ; i++) {
		struct req *r = &reqs[i];

		if (r->state != R_INFLIGHT || r->ctx != ci)
			continue;
		if (r->slot >= 0)
			slot_state[r->slot] = 3;
		if (r->resfd)
			zombie_resfd++;
		r->state = R_ZOMBIE;
	}
	if (nzombies < MAX_ZOMBIES)
		zombie_addr[nzombies++] = ctxs[ci].id;
	zombie_charge += ctxs[ci].nr;
	STAT(zombies, 1);
	ctxs[ci].inflight = 0;
	ctxs[ci].live = 0;
}

/* --- file descriptors ---------------------------------------------------- */

static int fd_valid(int fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) != -1;
}

static int fk_readable(int k)
{
	return k != FK_PA_W && k != FK_PB_W;
}

static int fk_writable(int k)
{
	return k != FK_PA_R && k != FK_PB_R;
}

static int fk_file(int k)
{
	return k == FK_FILE || k == FK_DIRECT;
}

static int open_direct(const char *path)
{
	static int warned;
	int fd = open(path, O_RDWR | O_DIRECT);

	if (fd < 0 && errno == EINVAL) {
		if (!warned++)
			printf("# %s: no O_DIRECT here, opened buffered\n", path);
		fd = open(path, O_RDWR);
	}
	return fd;
}

static void open_pair(int k0, int sock)
{
	int p[2] = { -1, -1 };

	if (sock ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p) :
		   pipe2(p, O_NONBLOCK))
		printf("# %s: %s\n", sock ? "socketpair" : "pipe", strerror(errno));
	fds[k0] = p[0];
	fds[k0 + 1] = p[1];
}

/*
 * Opens fd kind k afresh.  Everything that could block a read or write is
 * non-blocking: C runs ->read_iter inside io_submit.
 */
static void open_kind(int k)
{
	sigset_t mask;

	switch (k) {
	case FK_FILE:
		fds[k] = open(data_path, O_RDWR);
		break;
	case FK_DIRECT:
		fds[k] = open_direct(data_path);
		break;
	case FK_BLK:
		fds[k] = blkdev ? open(blkdev, O_RDWR | O_DIRECT) : -1;
		break;
	case FK_PA_R:
		open_pair(FK_PA_R, 0);
		pa_byte = 0;
		break;
	case FK_PB_R:
		open_pair(FK_PB_R, 0);
		break;
	case FK_SOCK0:
		open_pair(FK_SOCK0, 1);
		break;
	case FK_EVENTFD:
		fds[k] = eventfd(0, EFD_NONBLOCK);
		break;
	case FK_SIGNALFD:
		sigemptyset(&mask);
		sigaddset(&mask, SIGUSR2);
		fds[k] = signalfd(-1, &mask, SFD_NONBLOCK);
		break;
	}
}

/* Action 9: close a pool entry that may have I/O in flight, and reopen. */
static void act_reopen(void)
{
	static const int kinds[] = {
		FK_FILE, FK_DIRECT, FK_BLK, FK_PA_R, FK_PA_R, FK_PB_R,
		FK_EVENTFD, FK_SIGNALFD, FK_SOCK0,
	};
	int k = kinds[rn(ARRAY_SIZE(kinds))];

	switch (k) {
	case FK_PA_R:
		/*
		 * Armed polls keep the read end's file; keeping the write end
		 * keeps them armed (closed at the end), closing it hangs up.
		 */
		if (pct(50) && nretired < (int)ARRAY_SIZE(retired))
			retired[nretired++] = fds[FK_PA_W];
		else
			close(fds[FK_PA_W]);
		close(fds[FK_PA_R]);
		break;
	case FK_PB_R:
	case FK_SOCK0: {
		int first = pct(50);	/* which end goes first: hang-ups */

		close(fds[k + first]);
		close(fds[k + !first]);
		break;
	}
	default:
		if (k == FK_BLK && !blkdev)
			return;
		close(fds[k]);
	}
	open_kind(k);
}

/* --- results of events --------------------------------------------------- */

static const char *op_name(int op)
{
	static const char *const names[] = {
		"PREAD", "PWRITE", "FSYNC", "FDSYNC", "PREADX", "POLL", "NOOP",
		"PREADV", "PWRITEV",
	};

	return op >= 0 && op < (int)ARRAY_SIZE(names) && op != 4 ? names[op] : "invalid";
}

static int is_rw(int op)
{
	return op == IOCB_CMD_PREAD || op == IOCB_CMD_PWRITE ||
	       op == IOCB_CMD_PREADV || op == IOCB_CMD_PWRITEV;
}

static void verify(struct req *r, long long res)
{
	long long n = res < HALF - r->voff ? res : HALF - r->voff;

	for (long long i = 0; i < n; i++) {
		if (r->vbuf[i] == pattern(r->voff + i))
			continue;
		violation(C_DATA, "%s of %s at %lld: %lld bytes, byte %lld is %#x, the file has %#x",
			  op_name(r->op), fk_name[r->fk], r->voff, res, i,
			  r->vbuf[i], pattern(r->voff + i));
		return;
	}
	STAT(verified_bytes, n);
	STAT(verified_reads, 1);
}

/* An event's res must fit its request's opcode (fs/aio.c sets res2 = 0). */
static void check_res(struct req *r, const struct io_event *e)
{
	long long res = e->res;
	int bad = 0;

	if (e->res2)
		bad = 1;
	else if (is_rw(r->op))
		bad = res > r->maxres || (res < 0 && !in_set(ok_ev_rw, -res));
	else if (r->op == IOCB_CMD_FSYNC || r->op == IOCB_CMD_FDSYNC)
		bad = res > 0 || (res < 0 && !in_set(ok_ev_fsync, -res));
	else if (r->op == IOCB_CMD_POLL)
		/*
		 * A mask of the wake-up (so RDNORM may come with IN) that
		 * meets what was asked or ERR/HUP; 0 only when cancelled.
		 */
		bad = res < 0 || res > 0xffff ||
		      (res == 0 && !r->cancelled && !r->pollfree) ||
		      (res && !(res & (r->pevents | POLLERR | POLLHUP)));
	else
		bad = 1;
	if (bad)
		violation(C_RESULTS, "%s on %s (step %ld, rw_flags %#x, len %llu): res %lld res2 %lld",
			  op_name(r->op), fk_name[r->fk], r->step,
			  r->cb.aio_rw_flags, (unsigned long long)r->cb.aio_nbytes,
			  res, (long long)e->res2);
	else if (res > 0 && r->vbuf)
		verify(r, res);
}

/*
 * Events io_getevents returned for ctx ci.  Each must complete an iocb in
 * flight there, once.  A scribbled ring may hand out stale slots: those
 * must still hold events that context got (or zeroes).
 */
static void take_events(int ci, const struct io_event *ev, long n)
{
	struct ctxrec *c = &ctxs[ci];

	STAT(events, n);
	for (long j = 0; j < n; j++) {
		uint64_t data = ev[j].data, serial = data >> 16;
		unsigned int idx = data & 0xffff;
		struct req *r = idx < MAX_REQ ? &reqs[idx] : NULL;

		if (r && r->state == R_INFLIGHT && r->data == data && r->ctx == ci) {
			if (ev[j].obj != (uintptr_t)&r->cb)
				violation(C_EVENTS, "event data %#llx: obj %#llx, want its iocb %p",
					  (unsigned long long)data,
					  (unsigned long long)ev[j].obj, (void *)&r->cb);
			check_res(r, &ev[j]);
			req_release(r);
			continue;
		}
		if (c->scribbled && ((!data && !ev[j].obj) ||
		    (serial && serial < next_serial && owner_get(serial) == c->uid)))
			continue;
		if (serial && serial < next_serial && owner_get(serial))
			violation(C_EVENTS, "event for serial %llu (went to context #%u) on context #%u: delivered twice or to the wrong context (res %lld)",
				  (unsigned long long)serial, owner_get(serial), c->uid,
				  (long long)ev[j].res);
		else
			violation(C_EVENTS, "event on context #%u with unknown data %#llx obj %#llx res %lld",
				  c->uid, (unsigned long long)data,
				  (unsigned long long)ev[j].obj, (long long)ev[j].res);
	}
}

/* Reaps ci until nothing of it is in flight, or ms passed. */
static void drain(int ci, double ms)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	double t0 = now_ms();

	while (ctxs[ci].live && ctxs[ci].inflight > 0 && now_ms() - t0 < ms) {
		long r = X(io_getevents(ctxs[ci].id, 1, EV_MAX, evbuf, &ts));

		if (r < 0) {
			violation(C_ERRNO, "io_getevents draining context #%u: %s",
				  ctxs[ci].uid, rstr(r));
			return;
		}
		take_events(ci, evbuf, r);
	}
}

/* Waits up to 2 s for the request r (whose data is data) to complete. */
static int wait_req(int ci, struct req *r, uint64_t data)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	double t0 = now_ms();

	while (r->state == R_INFLIGHT && r->data == data && now_ms() - t0 < 2000) {
		long n = X(io_getevents(ctxs[ci].id, 1, EV_MAX, evbuf, &ts));

		if (n < 0) {
			violation(C_ERRNO, "io_getevents: %s", rstr(n));
			break;
		}
		take_events(ci, evbuf, n);
	}
	return !(r->state == R_INFLIGHT && r->data == data);
}

static void cancel_one(int ci, struct req *r, struct io_event *result)
{
	long ret = X(io_cancel(ctxs[ci].id, &r->cb, result));

	judge("io_cancel", ret, ok_cancel, 0);
	if (ret >= 0)
		violation(C_ERRNO, "io_cancel returned %ld (success is EINPROGRESS)", ret);
	if (ret == -EINPROGRESS) {
		r->cancelled = 1;
		STAT(cancelled, 1);
	}
}

static void cancel_polls(int ci)
{
	for (int i = 0; i < MAX_REQ; i++)
		if (reqs[i].state == R_INFLIGHT && reqs[i].ctx == ci &&
		    reqs[i].op == IOCB_CMD_POLL && !reqs[i].cancelled)
			cancel_one(ci, &reqs[i], evbuf);
}

/* --- action 1: io_setup -------------------------------------------------- */

static void act_setup(void)
{
	static const unsigned int nrs[] = {
		0, 1, 2, 127, 128, 1024, 65536, 0xffffffffu,
	};
	aio_context_t val = 0, before, *ctxp = &val;
	unsigned int nr, p = rn(100);
	int slot = -1, exact = 0, nlive = 0;
	char what[64];
	long r;

	for (int i = 0; i < MAX_CTX; i++) {
		if (!ctxs[i].live)
			slot = i;
		nlive += ctxs[i].live;
	}
	nr = pct(80) ? nrs[rn(ARRAY_SIZE(nrs))] : 1 + rn(pct(50) ? 300 : 5000);
	if (slot < 0 && p < 80)
		p = 80 + rn(20);
	if (slot >= 0 && nlive < 2 && pct(80)) {
		nr = 1 + rn(pct(50) ? 256 : 2048);	/* keep contexts around */
		p = 0;
	}
	if (p >= 80 && p < 87) {
		val = 1 + rn(0xffff);		/* *ctxp must be 0 */
		exact = EINVAL;
	} else if (p >= 87 && p < 94) {
		ctxp = NULL;
		exact = EFAULT;			/* get_user comes first */
	} else if (p >= 94) {
		ctxp = (aio_context_t *)none_page;
		exact = EFAULT;
	} else if (nr == 0 || (nr > 0x400000 && nr < 0x80000000u) ||
		   nr == 0xffffffffu) {
		exact = EINVAL;			/* zero, or the doubled size overflows */
	}
	before = val;
	r = X(io_setup(nr, ctxp));
	snprintf(what, sizeof(what), "io_setup(%u)", nr);
	judge(what, r, ok_setup, exact);
	if (r && ctxp == &val && val != before)
		violation(C_RESULTS, "%s failed but wrote *ctxp", what);
	if (r || ctxp != &val || exact || slot < 0)
		return;

	volatile struct aio_ring_hdr *h = (void *)val;

	if (h->magic != RING_MAGIC || h->compat_features != 1 ||
	    h->incompat_features || h->header_length != 32 || h->head ||
	    h->tail || h->nr < nr)
		violation(C_RESULTS, "%s: ring header magic %#x compat %u incompat %u length %u head %u tail %u nr %u",
			  what, h->magic, h->compat_features, h->incompat_features,
			  h->header_length, h->head, h->tail, h->nr);
	if (!ring_size(val))
		violation(C_MAPS, "%s: id %#lx is not the start of an [aio] mapping",
			  what, (unsigned long)val);
	ctxs[slot] = (struct ctxrec){ .live = 1, .id = val, .nr = nr,
				      .uid = next_uid++ };
}

/* --- action 2: io_submit ------------------------------------------------- */

/* Errno masks for what an iocb must fail with. */
enum {
	M_EFAULT = 1, M_EINVAL = 2, M_EBADF = 4, M_EOPNOTSUPP = 8,
	M_EPERM = 16, M_EAGAIN = 32, M_ENOMEM = 64, M_OTHER = 128,
};
#define M_RW	(M_EFAULT | M_EINVAL | M_EBADF | M_EOPNOTSUPP | M_EPERM)

static unsigned int emask(int e)
{
	switch (e) {
	case EFAULT: return M_EFAULT;
	case EINVAL: return M_EINVAL;
	case EBADF: return M_EBADF;
	case EOPNOTSUPP: return M_EOPNOTSUPP;
	case EPERM: return M_EPERM;
	case EAGAIN: return M_EAGAIN;
	case ENOMEM: return M_ENOMEM;
	}
	return M_OTHER;
}

/*
 * io_submit_one's stages in fs/aio.c, in order: copy the iocb (1),
 * aio_reserved2 (2), the nbytes overflow check (3), aio_get_req (EAGAIN),
 * fget (4), the RESFD eventfd (5), put_user of aio_key (6), the opcode (7).
 */
struct built {
	struct iocb *ptr;	/* what goes into iocbpp */
	struct req *r;		/* the record, or NULL for a bad pointer */
	unsigned int must;	/* errnos it must fail with; 0: may be accepted */
	int stage;		/* where it fails (with must) */
	int ro;			/* copied into a read-only page */
};

/*
 * About half of the iocbs are built sane (arguments that may succeed), so
 * that requests get in flight; the others get errors injected anywhere.
 */
static int sane;

static int pick_op(void)
{
	static const int invalid[] = { 4, 9, 100, 0xffff };
	unsigned int p = rn(sane ? 90 : 100);

	if (p < 20)
		return IOCB_CMD_PREAD;
	if (p < 34)
		return IOCB_CMD_PWRITE;
	if (p < 44)
		return IOCB_CMD_PREADV;
	if (p < 52)
		return IOCB_CMD_PWRITEV;
	if (p < 57)
		return IOCB_CMD_FSYNC;
	if (p < 62)
		return IOCB_CMD_FDSYNC;
	if (p < 90)
		return IOCB_CMD_POLL;
	if (p < 94)
		return IOCB_CMD_NOOP;
	return invalid[rn(ARRAY_SIZE(invalid))];
}

static int pick_fk(int op)
{
	unsigned int p = rn(100);
	int k;

	if (op == IOCB_CMD_POLL && p < 60)
		return FK_PA_R;
	if (op != IOCB_CMD_POLL) {
		if (p < 35)
			return FK_FILE;
		if (p < 55)
			return FK_DIRECT;
		if (p < 65 && blkdev)
			return FK_BLK;
	}
	if (sane && op != IOCB_CMD_POLL)
		return FK_FILE;
	k = rn(sane ? FK_CLOSED : NR_FK);
	/* Nothing but the wake action writes to pipe A: its polls stay armed. */
	if (k == FK_PA_W && op != IOCB_CMD_POLL)
		k = FK_PB_W;
	return k;
}

/* Writes go to the second half of the file only: reads of the first verify. */
static long long pick_off(int fk, int wr)
{
	long long base = wr ? HALF : 0;
	unsigned int p = rn(sane ? 76 : 100);

	if (fk_file(fk)) {
		if (p < 40)
			return base + 4096LL * rn(HALF / 4096);
		if (p < 55)
			return base + 512LL * rn(HALF / 512);
		if (p < 68)
			return base + rn(HALF);
		if (p < 76)
			return base + HALF - 1 - rn(8192);	/* crosses the middle */
		if (p < 83)
			return -1 - (long long)rn(4096);
		if (p < 90)
			return 2 * FILE_SIZE + 4096LL * rn(256) + (pct(50) ? 0 : rn(4096));
		if (p < 95)
			return 1LL << 62;
		return LLONG_MAX - rn(4096);
	}
	if (fk == FK_BLK) {
		if (p < 50)
			return 4096LL * rn(blk_span / 4096);
		if (p < 70)
			return 512LL * rn(blk_span / 512);
		if (p < 80 || sane)
			return rn(blk_span);
		if (p < 90)
			return blk_size + 512LL * rn(1024);	/* beyond the end */
		return -512;
	}
	if (p < 85 || sane)
		return 0;
	return p < 92 ? -1 - (long long)rn(100) : rn(1 << 20);
}

static unsigned long long pick_len(void)
{
	static const unsigned long long t[] = { 0, 1, 512, 4096, 4096, 8192, 65536 };
	unsigned int p = sane ? 10 + rn(90) : rn(100);

	if (p < 2)
		return ~0ULL;			/* negative as ssize_t: EINVAL */
	if (p < 4)
		return 1ULL << 63;
	if (p < 10)
		return 1ULL << 40;		/* clamped; stops at the guard page */
	if (p < 25)
		return 1 + rn(65536);
	return t[rn(ARRAY_SIZE(t))];
}

static unsigned char *pick_buf(unsigned char *slot, int *in_slot)
{
	unsigned int p = sane && slot ? rn(72) : rn(100);

	*in_slot = slot && p < 75;
	if (slot && p < 55)
		return slot;
	if (slot && p < 65)
		return slot + 1 + rn(511);
	if (slot && p < 72)
		return slot + 4096 * (1 + rn(15));
	if (slot && p < 75)
		return slot + SLOT_SIZE - 1 - rn(512);	/* runs into the guard */
	if (p < 82)
		return NULL;
	if (p < 88)
		return none_page;
	if (p < 95)
		return ro_page;
	return (unsigned char *)(uintptr_t)BAD_KERNEL;
}

static unsigned int pick_rwf(void)
{
	unsigned int f = 0;

	if (pct(65))
		return 0;
	if (sane)
		return (F_HIPRI | F_DSYNC | F_SYNC | F_NOWAIT | F_DONTCACHE) & rnd();
	for (int i = 0; i < 9; i++)
		if (pct(15))
			f |= 1u << i;
	if (pct(12))
		f |= 1u << (9 + rn(23));
	return f;
}

static int ioprio_ok(unsigned short prio)
{
	unsigned int class = prio >> 13, level = prio & 7;

	return (class >= 1 && class <= 3) || (class == 0 && level == 0);
}

/* A read or write; returns the errnos it must fail with at submit. */
static unsigned int build_rw(struct req *r, int fk)
{
	struct iocb *cb = &r->cb;
	int wr = r->op == IOCB_CMD_PWRITE || r->op == IOCB_CMD_PWRITEV;
	int vec = r->op == IOCB_CMD_PREADV || r->op == IOCB_CMD_PWRITEV;
	unsigned char *slot = NULL, *base;
	unsigned int must = 0, rwf, p;
	size_t room = 0, span = 0;
	int in_slot, iov_ok = 1;
	long long off;

	r->slot = slot_get();
	if (r->slot >= 0)
		slot = slot_addr(r->slot);
	base = pick_buf(slot, &in_slot);
	if (in_slot)
		room = slot + SLOT_SIZE - base;
	off = pick_off(fk, wr);
	cb->aio_offset = off;
	if (vec) {
		unsigned int nseg = 1 + rn(IOV_N), k;
		static const size_t seg[] = { 0, 1, 512, 4096, 4096, 16384 };

		r->maxres = 0;
		for (k = 0; k < nseg; k++) {
			size_t len = pct(20) ? rn(8192) : seg[rn(ARRAY_SIZE(seg))];

			if (in_slot && span + len > room)
				len = room - span;
			r->iov[k].iov_base = base + span;
			r->iov[k].iov_len = len;
			span += len;
			r->maxres += len;
		}
		cb->aio_buf = (uintptr_t)r->iov;
		cb->aio_nbytes = nseg;
		p = sane ? 99 : rn(100);
		if (p < 5) {
			cb->aio_buf = 0;
			must = M_RW;
		} else if (p < 10) {
			cb->aio_buf = (uintptr_t)none_page;
			must = M_RW;
		} else if (p < 13) {
			cb->aio_nbytes = 1025;		/* > UIO_MAXIOV */
			must = M_RW;
		} else if (p < 15) {
			cb->aio_nbytes = 0;
			r->maxres = 0;
		} else if (p < 16) {
			cb->aio_nbytes = ~0ULL;
		} else if (p < 24) {
			struct iovec *v = &r->iov[rn(nseg)];

			switch (rn(5)) {
			case 0:
				v->iov_base = (void *)(uintptr_t)BAD_KERNEL;
				break;
			case 1:
				v->iov_len = (size_t)-1;	/* negative */
				break;
			case 2:
				v->iov_base = none_page;
				break;
			case 3:
				v->iov_base = NULL;
				break;
			default:
				v->iov_base = ro_page;
			}
			iov_ok = 0;
			r->maxres = LLONG_MAX;
		}
		/*
		 * __import_iovec: a negative length is EINVAL, a kernel
		 * address fails access_ok (EFAULT), in every segment.
		 */
		for (k = 0; cb->aio_buf == (uintptr_t)r->iov &&
		     k < cb->aio_nbytes && k < nseg; k++)
			if ((uintptr_t)r->iov[k].iov_base >= BAD_KERNEL ||
			    (ssize_t)r->iov[k].iov_len < 0)
				must = M_RW;
	} else {
		unsigned long long len = pick_len();

		cb->aio_buf = (uintptr_t)base;
		cb->aio_nbytes = len;
		span = in_slot ? (len < room ? len : room) : 0;
		r->maxres = len > LLONG_MAX ? LLONG_MAX : (long long)len;
		if ((uintptr_t)base == BAD_KERNEL)
			must = M_RW;			/* import_ubuf: access_ok */
		if (len >= 4096 && (long long)len > 0 && off > LLONG_MAX - 4096)
			must = M_RW;			/* pos + count overflows */
	}
	if (off < 0)
		must = M_RW;				/* rw_verify_area */
	if (wr ? !fk_writable(fk) : !fk_readable(fk))
		must = M_RW;				/* file mode: EBADF */
	if (wr && (fk == FK_EVENTFD || fk == FK_SIGNALFD))
		must = M_RW;				/* no ->write_iter */
	rwf = pick_rwf();
	cb->aio_rw_flags = rwf;
	/* aio_prep_rw: the priority first, then kiocb_set_rw_flags. */
	if ((cb->aio_flags & IOCB_FLAG_IOPRIO) && !ioprio_ok(cb->aio_reqprio))
		must = M_EINVAL;
	else if (rwf & ~F_SUPPORTED)
		must = M_EOPNOTSUPP;
	else if ((rwf & F_APPEND) && (rwf & F_NOAPPEND))
		must = M_EINVAL;
	else if (!wr && (rwf & F_ATOMIC))
		must = M_EOPNOTSUPP;
	else if (must && (rwf & (F_NOWAIT | F_ATOMIC | F_DONTCACHE)))
		must |= M_EOPNOTSUPP;
	if (!wr && in_slot && iov_ok && fk_file(fk) && off >= 0 && off < HALF) {
		r->vbuf = base;
		r->voff = off;
	}
	if (!wr && in_slot)
		memset(base, 0x5a, span);	/* stale data must not pass */
	return must;
}

static unsigned int build_poll(struct req *r, int fk)
{
	struct iocb *cb = &r->cb;
	unsigned int p = rn(sane ? 73 : 100), ev, must = 0;

	if (p < 45)
		ev = POLLIN;
	else if (p < 55)
		ev = POLLIN | POLLOUT;
	else if (p < 63)
		ev = POLLOUT;
	else if (p < 68)
		ev = POLLPRI;
	else if (p < 73)
		ev = 0;
	else if (p < 88)
		ev = rn(0x10000);
	else if (p < 94)
		ev = POLLIN | POLLRDHUP;
	else
		ev = 0x10000 + rn(1 << 20);	/* beyond 16 bits */
	cb->aio_buf = ev;
	r->pevents = ev & 0xffff;
	if (ev > 0xffff)
		must = M_EINVAL;
	if (!sane && pct(6)) {
		switch (rn(3)) {
		case 0:
			cb->aio_offset = 1 + rn(4096);
			break;
		case 1:
			cb->aio_nbytes = 1 + rn(4096);
			break;
		default:
			cb->aio_rw_flags = 1 + rn(0xff);
		}
		must = M_EINVAL;
	}
	/* No ->poll: DEFAULT_POLLMASK, and nothing of it asked is EINVAL. */
	if (fk_file(fk) && !(ev & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM)))
		must = M_EINVAL;
	return must;
}

static unsigned int build_fsync(struct req *r, int fk)
{
	struct iocb *cb = &r->cb;

	if (!sane && pct(6)) {
		switch (rn(4)) {
		case 0:
			cb->aio_buf = (uintptr_t)ro_page;
			break;
		case 1:
			cb->aio_offset = 4096;
			break;
		case 2:
			cb->aio_nbytes = 1;
			break;
		default:
			cb->aio_rw_flags = F_DSYNC;
		}
		return M_EINVAL;
	}
	return fk_file(fk) || fk == FK_BLK ? 0 : M_EINVAL;	/* ->fsync */
}

static void build_iocb(struct built *b, struct req *r)
{
	struct iocb *cb = &r->cb;
	int op, fk, fd, resfd_bad = 0;
	unsigned int must_op;

	sane = pct(55);
	op = pick_op();
	fk = pick_fk(op);
	fd = fds[fk];
	memset(cb, 0, sizeof(*cb));
	r->op = op;
	r->fk = fk;
	cb->aio_data = r->data;
	cb->aio_lio_opcode = op;
	cb->aio_fildes = fd;
	if (pct(12)) {
		unsigned int p = rn(100);

		cb->aio_flags |= IOCB_FLAG_RESFD;
		if ((p < 70 || sane) && !no_resfd) {
			cb->aio_resfd = resfd;
			r->resfd = 1;
		} else if (p < 85 || no_resfd || sane) {
			cb->aio_resfd = CLOSED_FD;
			resfd_bad = M_EBADF;
		} else {
			cb->aio_resfd = fds[FK_PB_R];
			resfd_bad = fd_valid(fds[FK_PB_R]) ? M_EINVAL : M_EBADF;
		}
	}
	if (pct(10)) {
		cb->aio_flags |= IOCB_FLAG_IOPRIO;
		switch (rn(sane ? 2 : 5)) {
		case 0:
		case 1:
			cb->aio_reqprio = (1 + rn(3)) << 13 | rn(8);
			break;
		case 2:
			cb->aio_reqprio = (short)((4 + rn(4)) << 13 | rn(8));
			break;
		case 3:
			cb->aio_reqprio = 1 + rn(7);	/* class NONE, a level */
			break;
		default:
			cb->aio_reqprio = 2 << 13 | (8 + rn(0x1ff8)); /* hint bits */
		}
	}
	if (!sane && pct(3))
		cb->aio_flags |= 1u << (2 + rn(30));	/* ignored by C */
	if (op == IOCB_CMD_POLL)
		must_op = build_poll(r, fk);
	else if (op == IOCB_CMD_FSYNC || op == IOCB_CMD_FDSYNC)
		must_op = build_fsync(r, fk);
	else if (is_rw(op))
		must_op = build_rw(r, fk);
	else
		must_op = M_EINVAL;
	if (!sane && pct(3))
		cb->aio_reserved2 = 1 + rn(1000);

	b->r = r;
	b->ptr = cb;
	b->ro = 0;
	b->must = 0;
	b->stage = 0;
	if (cb->aio_reserved2) {
		b->must = M_EINVAL;
		b->stage = 2;
	} else if ((long long)cb->aio_nbytes < 0) {
		b->must = M_EINVAL;
		b->stage = 3;
	} else if (!fd_valid(fd)) {
		b->must = M_EBADF;
		b->stage = 4;
	} else if (resfd_bad) {
		b->must = resfd_bad;
		b->stage = 5;
	} else if (must_op) {
		b->must = must_op;
		b->stage = 7;
	}
}

static void build_one(struct built *b, int *ro_used)
{
	struct req *r = req_get();
	unsigned int p = rn(100);
	void *bad = NULL;

	build_iocb(b, r);
	if (sane)
		return;
	if (p < 9 && p >= 7 && !*ro_used) {
		/* put_user(aio_key) faults: EFAULT unless an earlier stage fails. */
		mprotect(ro_iocb_page, 4096, PROT_READ | PROT_WRITE);
		memcpy(ro_iocb_page, &r->cb, sizeof(r->cb));
		mprotect(ro_iocb_page, 4096, PROT_READ);
		b->ptr = (struct iocb *)ro_iocb_page;
		b->ro = 1;
		*ro_used = 1;
		if (!b->must || b->stage > 6) {
			b->must = M_EFAULT;
			b->stage = 6;
		}
		return;
	}
	if (p >= 7)
		return;
	if (p < 5)
		bad = p < 3 ? NULL : none_page;
	else
		bad = (void *)(uintptr_t)BAD_KERNEL;
	req_release(r);
	b->r = NULL;
	b->ptr = bad;
	b->must = M_EFAULT;
	b->stage = 1;
}

static void act_submit(void)
{
	struct built b[8];
	struct iocb *arr[8], **pp = arr;
	int ci = pick_live(0), ctx_ok = ci >= 0 && !pct(6), n, i, ro_used = 0;
	int first = -1, pp_bad = 0;
	aio_context_t id = ctx_ok ? ctxs[ci].id : bad_id();
	unsigned int p = rn(100);
	long nr, r, accepted = 0;
	char what[96];

	if (p < 3)
		nr = 0;
	else if (p < 5)
		nr = -1 - (long)rn(8);
	else if (p < 6)
		nr = LONG_MIN;
	else
		nr = 1 + rn(8);
	n = nr > 0 ? (int)nr : 0;
	if (n > nreq_free)
		n = nr = nreq_free;
	for (i = 0; i < n; i++) {
		build_one(&b[i], &ro_used);
		arr[i] = b[i].ptr;
		if (first < 0 && b[i].must)
			first = i;
	}
	p = rn(100);
	if (n > 0 && p < 4) {
		/* The array runs into a PROT_NONE page at index k. */
		int k = rn(n);

		pp = (struct iocb **)(arr_page + 4096) - k;
		memcpy(pp, arr, k * sizeof(*pp));
		if (first < 0 || first >= k) {
			first = k;
			if (k == 0)
				pp_bad = 1;
		}
	} else if (n > 0 && p < 7) {
		pp = p < 6 ? NULL : (struct iocb **)none_page;
		pp_bad = 1;
		first = 0;
	}
	r = X(io_submit(id, nr, pp));
	snprintf(what, sizeof(what), "io_submit(nr %ld%s)", nr,
		 ctx_ok ? "" : ", bad id");
	if (!ctx_ok || nr < 0) {
		judge(what, r, ok_submit, EINVAL);
	} else if (nr == 0) {
		if (r != 0)
			violation(C_ERRNO, "%s: %s, want 0", what, rstr(r));
	} else if (pp_bad) {
		judge(what, r, ok_submit, EFAULT);
	} else if (r >= 0) {
		if (r == 0 || r > nr)
			violation(C_ERRNO, "%s returned %ld", what, r);
		else if (first >= 0 && r > first)
			violation(C_ERRNO, "%s accepted %ld, but iocb %d (%s, stage %d) must fail",
				  what, r, first, op_name(b[first].r ? b[first].r->op : -1),
				  b[first].stage);
		accepted = r > nr ? nr : r;
	} else if (first == 0) {
		unsigned int ok = b[0].must | M_ENOMEM | (b[0].stage > 3 ? M_EAGAIN : 0);

		if (!(emask(-r) & ok))
			violation(C_ERRNO, "%s: first iocb (%s on %s, stage %d) failed with %s, want mask %#x",
				  what, b[0].r ? op_name(b[0].r->op) : "bad pointer",
				  b[0].r ? fk_name[b[0].r->fk] : "-", b[0].stage,
				  rstr(r), b[0].must);
	} else {
		judge(what, r, ok_submit, 0);
	}
	for (i = 0; i < n; i++) {
		if (!b[i].r)
			continue;
		if (i < accepted && !b[i].ro && ctx_ok)
			req_accept(b[i].r, ci);
		else
			req_release(b[i].r);
	}
}

/* --- action 3: io_getevents / io_pgetevents ------------------------------ */

static void act_getevents(void)
{
	static const long nrs[] = { 0, 1, 2, 8, 64, 64, 128, EV_MAX, 1 << 20 };
	int ci = pick_live(0), valid = ci >= 0 && !pct(8), pget = pct(50);
	aio_context_t id = valid ? ctxs[ci].id : bad_id();
	struct timespec ts = { 0, 0 }, *tsp = &ts;
	struct io_event *ev = evbuf;
	struct aio_sigset sig, *sigp = NULL;
	long nr, min, r, room = EV_MAX;
	int exact = 0, guaranteed = 0;
	unsigned int p;
	sigset_t mask;
	char what[96];

	if (valid && !ctxs[ci].scribbled)
		guaranteed = self_completing(ci);
	nr = pct(25) && valid ? ctxs[ci].inflight + 1 : nrs[rn(ARRAY_SIZE(nrs))];
	if (pct(2))
		nr = -1 - rn(3);
	p = rn(100);
	if (p < 30)
		min = 0;
	else if (p < 55)
		min = nr < 1 ? nr : 1;
	else if (p < 65)
		min = nr;
	else if (p < 68)
		min = nr + 1;			/* > nr: EINVAL */
	else if (p < 70)
		min = -1;
	else
		min = nr > 0 ? rn(nr < 64 ? nr + 1 : 64) : nr;
	p = rn(100);
	if (min >= 0 && min <= nr && min <= guaranteed && p < 25)
		tsp = NULL;			/* an event is bound to come */
	else if (p < 60)
		ts.tv_nsec = rn(2000000);
	else if (p < 63)
		tsp = (struct timespec *)none_page;
	p = rn(100);
	if (p < 4) {
		ev = NULL;
		room = 0;
	} else if (p < 8) {
		ev = (struct io_event *)none_page;
		room = 0;
	} else if (p < 12) {
		room = 1 + rn(8);		/* the copy runs into a guard page */
		ev = evbuf + EV_MAX - room;
	}
	if (pget && !pct(40)) {
		sigemptyset(&mask);
		sigaddset(&mask, SIGUSR1);
		sig.sigmask = &mask;
		sig.sigsetsize = KSIGSET;
		sigp = &sig;
		p = rn(100);
		if (p < 10)
			sig.sigsetsize = pct(50) ? 4 : 16;	/* EINVAL */
		else if (p < 15)
			sig.sigmask = (sigset_t *)none_page;	/* EFAULT */
		else if (p < 20)
			sig.sigmask = NULL;			/* no mask: fine */
		else if (p < 25)
			sigp = (struct aio_sigset *)none_page;
	}
	/* What do_io_getevents and its callers decide before any event. */
	if (tsp == (struct timespec *)none_page)
		exact = EFAULT;
	else if (pget && sigp == (struct aio_sigset *)none_page)
		exact = EFAULT;
	else if (pget && sigp && sig.sigmask && sig.sigsetsize != KSIGSET)
		exact = EINVAL;
	else if (pget && sigp && sig.sigmask == (sigset_t *)none_page)
		exact = EFAULT;
	else if (!valid || min < 0 || min > nr)
		exact = EINVAL;
	r = pget ? X(io_pgetevents(id, min, nr, ev, tsp, sigp)) :
		   X(io_getevents(id, min, nr, ev, tsp));
	snprintf(what, sizeof(what), "io_%sgetevents(min %ld, nr %ld%s%s)",
		 pget ? "p" : "", min, nr, tsp ? "" : ", no timeout",
		 valid ? "" : ", bad id");
	if (exact) {
		judge(what, r, ok_getevents, exact);
		return;
	}
	if (r < 0) {
		if (r == -EINTR || (r == -EFAULT && nr > room))
			return;
		violation(C_ERRNO, "%s: %s is not allowed", what, rstr(r));
		return;
	}
	if (r > nr || r > room) {
		violation(C_ERRNO, "%s returned %ld events (room %ld)", what, r, room);
		return;
	}
	if (!tsp && r < min)
		violation(C_ERRNO, "%s returned %ld < min_nr", what, r);
	take_events(ci, ev, r);
}

/* --- action 4: io_cancel ------------------------------------------------- */

static void act_cancel(void)
{
	int ci = pick_live(0), other = -1;
	unsigned int p = rn(100);
	struct io_event result;
	struct req *r;

	if (ci < 0)
		return;
	r = pick_inflight(ci, pct(70));
	if (p < 55 && r) {
		unsigned int q = rn(10);

		cancel_one(ci, r, q < 5 ? &result : q < 8 ? NULL :
			   (struct io_event *)none_page);
	} else if (p < 63) {
		cancel_polls(ci);
	} else if (p < 70) {
		for (int i = 0; i < MAX_CTX; i++)
			if (ctxs[i].live && i != ci)
				other = i;
		if (other >= 0 && r)
			judge("io_cancel on another context", X(io_cancel(ctxs[other].id,
			      &r->cb, &result)), ok_cancel, EINVAL);
	} else if (p < 77) {
		/* A record not in flight: the key is 0, nothing to find. */
		for (int i = rn(MAX_REQ), n = 0; n < MAX_REQ; n++, i = (i + 1) % MAX_REQ)
			if (reqs[i].state == R_FREE) {
				reqs[i].cb.aio_key = 0;
				judge("io_cancel of a completed iocb",
				      X(io_cancel(ctxs[ci].id, &reqs[i].cb, &result)),
				      ok_cancel, EINVAL);
				break;
			}
	} else if (p < 84 && r) {
		uint32_t key = r->cb.aio_key;

		r->cb.aio_key = 1 + rn(1000);
		judge("io_cancel with a wrong key", X(io_cancel(ctxs[ci].id, &r->cb,
		      &result)), ok_cancel, EINVAL);
		r->cb.aio_key = key;
	} else if (p < 90) {
		judge("io_cancel(NULL iocb)", X(io_cancel(ctxs[ci].id, NULL, &result)),
		      ok_cancel, EFAULT);
	} else if (p < 95) {
		judge("io_cancel(unmapped iocb)", X(io_cancel(ctxs[ci].id,
		      (struct iocb *)none_page, &result)), ok_cancel, EFAULT);
	} else if (r) {
		judge("io_cancel(bad id)", X(io_cancel(bad_id(), &r->cb, &result)),
		      ok_cancel, EINVAL);
	}
}

/* --- action 5: ring games ------------------------------------------------ */

static void ring_mremap(int ci, size_t size)
{
	struct ctxrec *c = &ctxs[ci];
	aio_context_t old = c->id;
	unsigned int kind = rn(10);
	size_t len = size;
	void *target, *p;
	long r;

	/*
	 * A whole move of a ring whose VMA was split moves each piece and
	 * fails in 7.3 (the hook wants the whole size); older kernels moved
	 * the id with the first piece, so it is not tried.
	 */
	if (c->split && kind < 8)
		kind = 8 + rn(2);
	if (kind >= 6 && kind < 8 && size > 4096)
		len = 4096;			/* a part of the ring */
	else if (kind >= 6 && kind < 8)
		kind = 0;
	target = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (target == MAP_FAILED)
		return;
	if (kind == 8)
		p = mremap((void *)old, size, size, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
	else if (kind == 9)
		p = mremap((void *)old, size, size + 4096, 0);	/* VM_DONTEXPAND */
	else
		p = mremap((void *)old, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, target);
	if (kind < 6) {
		/* aio_ring_mremap: the whole ring moves, the id follows it. */
		if (p == MAP_FAILED) {
			violation(C_MAPS, "mremap of a whole ring failed: %s",
				  strerror(errno));
			munmap(target, len);
		} else {
			c->id = (uintptr_t)p;
			stale_add(old);
			r = probe(old);
			if (r != -EINVAL)
				violation(C_MAPS, "the old id after mremap: %s, want EINVAL",
					  rstr(r));
		}
	} else {
		/* Part of a ring, DONTUNMAP, expansion: refused, ring intact. */
		if (p != MAP_FAILED) {
			violation(C_MAPS, "mremap variant %u of a ring succeeded", kind);
			if (kind < 8)
				mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)old);
		}
		if (kind < 8)
			c->split = 1;		/* the VMA may stay split */
		munmap(target, len);
	}
	r = probe(c->id);
	if (r)
		violation(C_MAPS, "context lost after mremap variant %u: %s", kind, rstr(r));
}

static void act_ring(void)
{
	int ci = pick_live(0);
	struct ctxrec *c;
	size_t size;
	long r;

	if (ci < 0)
		return;
	c = &ctxs[ci];
	size = ring_size(c->id);
	if (!size) {
		violation(C_MAPS, "id %#lx is not the start of an [aio] mapping",
			  (unsigned long)c->id);
		return;
	}
	switch (rn(8)) {
	case 0:
	case 1:
	case 2:
		ring_mremap(ci, size);
		break;
	case 3:
		/*
		 * munmap: lookup_ioctx reads the id from the ring, so C cannot
		 * find (or destroy) the context any more; it lives on until
		 * exit.  A rewrite may still destroy it.
		 */
		if (c->inflight > 16 || c->nr > 4096 || nunmapped >= MAX_UNMAP)
			break;
		nunmapped++;
		munmap((void *)c->id, size);
		r = X(io_destroy(c->id));
		judge("io_destroy after munmap", r, ok_destroy, 0);
		if (r == 0)
			ctx_destroyed(ci);
		else
			ctx_lost(ci);
		break;
	case 4:
		if (!c->readonly) {
			volatile struct aio_ring_hdr *h = (void *)c->id;
			unsigned int what = 1 + rn(31);

			if (what & 1)
				h->head = rn(4) ? rn(h->nr + 2) : (unsigned int)rnd();
			if (what & 2)
				h->tail = rn(4) ? rn(h->nr + 2) : (unsigned int)rnd();
			if (what & 4)
				h->nr = rnd();
			if (what & 8)
				h->magic = rnd();
			if (what & 16)
				h->incompat_features = rnd();
			c->scribbled = 1;
		}
		break;
	case 5:
		if (!mprotect((void *)c->id, size, PROT_READ))
			c->readonly = 1;
		break;
	default:
		/* Makes the child of the next fork inherit the ring. */
		if (!madvise((void *)c->id, size, MADV_DOFORK))
			c->dofork = 1;
	}
}

/* --- action 10 (destroy) and the shared steps ---------------------------- */

static void act_destroy(void)
{
	int ci = pick_live(0);
	aio_context_t id;
	long r;

	if (ci < 0 || pct(10)) {
		judge("io_destroy(bad id)", X(io_destroy(bad_id())), ok_destroy, EINVAL);
		return;
	}
	id = ctxs[ci].id;
	r = X(io_destroy(id));
	if (r) {
		violation(C_ERRNO, "io_destroy of a live context: %s", rstr(r));
		ctx_lost(ci);
		return;
	}
	ctx_destroyed(ci);
	if (pct(30))
		judge("io_destroy twice", X(io_destroy(id)), ok_destroy, EINVAL);
}

static void act_wake(void)
{
	char c;

	if (pct(20) && write(fds[FK_SOCK1], "s", 1) < 0)
		return;
	if (pa_byte || pct(30)) {
		if (read(fds[FK_PA_R], &c, 1) != 1)
			c = 0;
		pa_byte = 0;
		return;
	}
	/* A wake-up; read back at once, the poll work finds nothing (re-arms). */
	if (write(fds[FK_PA_W], "w", 1) == 1)
		pa_byte = 1;
	if (pct(50) && read(fds[FK_PA_R], &c, 1) == 1)
		pa_byte = 0;
}

/* --- action 6: fork ------------------------------------------------------ */

static void set_alarm(void)
{
	snprintf(alarm_msg, sizeof(alarm_msg),
		 "# watchdog: step %ld%s (%s) did not finish in %d s\n", step,
		 in_child ? " child" : "", actions[cur_action].name, STEP_SECONDS);
	alarm(STEP_SECONDS);
}

static int reap_child(pid_t pid, const char *what)
{
	int status = 0;

	if (waitpid(pid, &status, 0) != pid) {
		violation(C_PROCS, "%s: waitpid: %s", what, strerror(errno));
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		violation(C_PROCS, "%s: status %#x (signal %d)", what, status,
			  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		return -1;
	}
	return 0;
}

/*
 * The child: the parent's contexts are not its own (EINVAL, also with a
 * ring inherited through MADV_DOFORK), then a few actions of its own, then
 * an mremap of the inherited rings, and an exit maybe with I/O in flight.
 */
static void fork_child(void)
{
	aio_context_t pid_of[MAX_CTX], dofork[MAX_CTX];
	size_t dsize[MAX_CTX];
	int np = 0, nd = 0, k;
	struct io_event ev;
	struct req *any = NULL;
	long r;

	in_child = 1;
	seed_rng(seed ^ (uint64_t)step * 0x9e3779b97f4a7c15ULL);
	set_alarm();
	no_resfd = 1;
	for (int i = 0; i < MAX_CTX; i++) {
		if (!ctxs[i].live)
			continue;
		pid_of[np++] = ctxs[i].id;
		dsize[nd] = ctxs[i].dofork ? ring_size(ctxs[i].id) : 0;
		if (dsize[nd])
			dofork[nd++] = ctxs[i].id;
		if (!any)
			any = pick_inflight(i, 0);
	}
	/* Checked before any io_setup here could map a ring at those ids. */
	for (int i = 0; i < np; i++) {
		struct timespec ts = { 0, 0 };
		struct iocb cb, *cbp = &cb;

		memset(&cb, 0, sizeof(cb));
		cb.aio_lio_opcode = IOCB_CMD_POLL;
		cb.aio_fildes = fds[FK_PA_R];
		cb.aio_buf = POLLIN;
		switch (rn(4)) {
		case 0:
			r = X(io_submit(pid_of[i], 1, &cbp));
			break;
		case 1:
			r = X(io_getevents(pid_of[i], 0, 1, &ev, &ts));
			break;
		case 2:
			r = any ? X(io_cancel(pid_of[i], &any->cb, &ev)) : -EINVAL;
			break;
		default:
			r = X(io_destroy(pid_of[i]));
		}
		if (r != -EINVAL)
			violation(C_PROCS, "a call on the parent's context %#lx: %s, want EINVAL",
				  (unsigned long)pid_of[i], rstr(r));
	}
	/* The copies of the parent's records mean nothing here. */
	memset(ctxs, 0, sizeof(ctxs));
	for (int i = 0; i < MAX_REQ; i++)
		reqs[i].state = R_FREE;
	nreq_free = MAX_REQ;
	memset(slot_state, 0, sizeof(slot_state));
	nquar = 0;
	nzombies = 0;
	for (int i = 0; i < np; i++)
		stale_add(pid_of[i]);
	k = 2 + rn(8);
	while (k--) {
		unsigned int p = rn(100);

		if (p < 25)
			act_setup();
		else if (p < 65)
			act_submit();
		else if (p < 90)
			act_getevents();
		else
			act_cancel();
	}
	/*
	 * CVE-2023-52646: a move (so the ->mremap hook runs) of a ring whose
	 * context this mm does not have.  Any result but a crash will do.
	 */
	for (int i = 0; i < nd; i++) {
		void *t = mmap(NULL, dsize[i], PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0), *p;

		if (t == MAP_FAILED)
			break;
		p = mremap((void *)dofork[i], dsize[i], dsize[i],
			   MREMAP_MAYMOVE | MREMAP_FIXED, t);
		if (p != MAP_FAILED && pct(50))
			munmap(p, dsize[i]);
	}
	if (pct(50))
		for (int i = 0; i < MAX_CTX; i++)
			if (ctxs[i].live)
				judge("child io_destroy", X(io_destroy(ctxs[i].id)),
				      ok_destroy, 0);
	fflush(stdout);
	_exit(0);
}

static void act_fork(void)
{
	pid_t pid;
	long r;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return;
	if (pid == 0)
		fork_child();
	STAT(forks, 1);
	reap_child(pid, "forked child");
	for (int i = 0; i < MAX_CTX; i++) {
		r = ctxs[i].live ? probe(ctxs[i].id) : 0;
		if (r)
			violation(C_PROCS, "context #%u after the child exited: %s",
				  ctxs[i].uid, rstr(r));
	}
}

/* --- action 10: exit with I/O in flight ---------------------------------- */

static void exit_child(void)
{
	aio_context_t id = 0;
	unsigned int nr = 256u << rn(2), n = 64 + rn(193), done = 0;
	struct iocb *cbs = calloc(n, sizeof(*cbs)), **pp = calloc(n, sizeof(*pp));
	long r;

	in_child = 1;
	set_alarm();
	r = X(io_setup(nr, &id));
	judge("exit child: io_setup", r, ok_setup, 0);
	if (r || !cbs || !pp)
		_exit(0);
	for (unsigned int i = 0; i < n; i++) {
		struct iocb *cb = &cbs[i];

		if (pct(60)) {
			cb->aio_lio_opcode = IOCB_CMD_POLL;
			cb->aio_fildes = fds[FK_PA_R];
			cb->aio_buf = POLLIN;
		} else {
			cb->aio_lio_opcode = pct(90) ? IOCB_CMD_PREAD : IOCB_CMD_FSYNC;
			cb->aio_fildes = fds[pct(50) ? FK_FILE : FK_DIRECT];
			if (cb->aio_lio_opcode == IOCB_CMD_PREAD) {
				cb->aio_buf = (uintptr_t)slot_addr(i % NSLOTS);
				cb->aio_nbytes = 4096;
				cb->aio_offset = 4096LL * rn(HALF / 4096);
			}
		}
		cb->aio_data = i + 1;
		pp[i] = cb;
	}
	while (done < n) {
		long batch = n - done < 32 ? n - done : 32;

		r = X(io_submit(id, batch, pp + done));
		judge("exit child: io_submit", r, ok_submit, 0);
		if (r <= 0)
			break;
		done += r;
	}
	STAT(accepted, done);
	fflush(stdout);
	_exit(0);
}

static void act_exit(void)
{
	unsigned long before = read_ulong(AIO_NR), now = before;
	double t0;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return;
	if (pid == 0)
		exit_child();
	STAT(forks, 1);
	reap_child(pid, "child exiting with I/O in flight");
	t0 = now_ms();
	while ((now = read_ulong(AIO_NR)) != before && now_ms() - t0 < 2000)
		usleep(5000);
	if (now != before)
		violation(C_PROCS, "aio-nr %lu 2 s after a child exited with I/O in flight, %lu before",
			  now, before);
}

/* --- action 7: io_destroy racing io_getevents and io_submit -------------- */

struct race {
	aio_context_t id;
	long min, got, destroyed;
	int helper_destroys, nsub, nres;
	struct io_event *ev;
	struct req *sub[32];
	int accepted[32];
	long bad_submit;	/* a submit result not allowed, or 0 */
};

static void *race_sleeper(void *arg)
{
	struct race *x = arg;
	struct timespec ts = { 0, 100 * 1000 * 1000 };

	x->got = X(io_getevents(x->id, x->min, x->min, x->ev, &ts));
	if (x->helper_destroys)
		x->destroyed = X(io_destroy(x->id));
	return NULL;
}

static void *race_submitter(void *arg)
{
	struct race *x = arg;

	for (int k = 0; k < x->nsub; k++) {
		struct iocb *cbp = &x->sub[k]->cb;
		long r = X(io_submit(x->id, 1, &cbp));

		if (r == 1)
			x->accepted[k] = 1;
		else if (r != -EAGAIN && r != -EINVAL && !x->bad_submit)
			x->bad_submit = r ? r : -1000;
		if (r == -EINVAL)
			break;
	}
	return NULL;
}

static void act_race(void)
{
	static struct io_event *tev;
	int ci = pick_live(0), mode = rn(3), zero = 0;
	struct race x = { 0 };
	pthread_t ts, tu;
	long d;

	if (ci < 0)
		return;
	if (!tev) {
		tev = mmap(NULL, EV_MAX * sizeof(*tev), PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (tev == MAP_FAILED) {
			tev = NULL;
			return;
		}
	}
	x.id = ctxs[ci].id;
	x.ev = tev;
	x.min = ctxs[ci].inflight + 8 < EV_MAX ? ctxs[ci].inflight + 8 : EV_MAX;
	x.helper_destroys = mode != 1 && pct(25);
	if (mode != 0) {
		x.nsub = 8 + rn(25);
		for (int k = 0; k < x.nsub; k++) {
			struct req *r = req_get();

			if (!r) {
				x.nsub = k;
				break;
			}
			memset(&r->cb, 0, sizeof(r->cb));
			r->cb.aio_data = r->data;
			r->slot = pct(30) ? slot_get() : -1;
			if (r->slot >= 0) {
				r->op = IOCB_CMD_PREAD;
				r->fk = FK_FILE;
				r->cb.aio_lio_opcode = IOCB_CMD_PREAD;
				r->cb.aio_fildes = fds[FK_FILE];
				r->cb.aio_buf = (uintptr_t)slot_addr(r->slot);
				r->cb.aio_nbytes = 4096;
				r->voff = 4096LL * rn(HALF / 4096);
				r->cb.aio_offset = r->voff;
				r->vbuf = slot_addr(r->slot);
				r->maxres = 4096;
			} else {
				r->op = IOCB_CMD_POLL;
				r->fk = FK_PA_R;
				r->pevents = POLLIN;
				r->cb.aio_lio_opcode = IOCB_CMD_POLL;
				r->cb.aio_fildes = fds[FK_PA_R];
				r->cb.aio_buf = POLLIN;
			}
			x.sub[k] = r;
		}
		x.nres = x.nsub;
	}
	if (mode != 1 && pthread_create(&ts, NULL, race_sleeper, &x))
		mode = 1;
	if (mode != 0 && pthread_create(&tu, NULL, race_submitter, &x))
		x.nsub = 0;
	usleep(rn(2000));
	d = X(io_destroy(x.id));
	if (mode != 1)
		pthread_join(ts, NULL);
	if (mode != 0 && x.nsub)
		pthread_join(tu, NULL);

	judge("racing io_destroy", d, ok_destroy, 0);
	zero = (d == 0) + (x.helper_destroys && x.destroyed == 0);
	if (x.helper_destroys)
		judge("the sleeper's io_destroy", x.destroyed, ok_destroy, 0);
	if (zero != 1)
		violation(C_DESTROY, "io_destroy from two threads: %s and %s, want one success",
			  rstr(d), x.helper_destroys ? rstr(x.destroyed) : "none");
	if (x.bad_submit)
		violation(C_ERRNO, "io_submit racing io_destroy: %s", rstr(x.bad_submit));
	for (int k = 0; k < x.nres; k++) {
		if (x.accepted[k])
			req_accept(x.sub[k], ci);
		else
			req_release(x.sub[k]);
	}
	/* io_destroy cancels armed polls: a sleeper may reap them with res 0. */
	for (int i = 0; i < MAX_REQ; i++)
		if (reqs[i].state == R_INFLIGHT && reqs[i].ctx == ci)
			reqs[i].cancelled = 1;
	if (mode != 1) {
		if (x.got > x.min || (x.got < 0 && x.got != -EINVAL))
			violation(C_ERRNO, "io_getevents racing io_destroy: %s", rstr(x.got));
		else if (x.got > 0)
			take_events(ci, tev, x.got);
	}
	if (zero)
		ctx_destroyed(ci);
	else
		ctx_lost(ci);
}

/* --- action 8: POLLFREE, and a pipe closed under an armed poll ----------- */

struct pollfree_arg {
	aio_context_t id;
	struct req *r;
	int sfd;
	long ret;
};

static char clone_stack[64 << 10] __attribute__((aligned(16)));

/*
 * Shares our mm and files, not our sighand: its signalfd's wait queue is
 * its own sighand's, freed when it is reaped (wake_up_pollfree).
 */
static int pollfree_child(void *p)
{
	struct pollfree_arg *a = p;
	struct iocb *cbp = &a->r->cb;
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR2);
	a->sfd = signalfd(-1, &mask, SFD_NONBLOCK);
	if (a->sfd < 0)
		return 2;
	a->r->cb.aio_fildes = a->sfd;
	count_call();
	a->ret = io_submit(a->id, 1, &cbp);
	return 0;
}

/* What becomes of an armed poll r on ci whose queue died: reap, cancel, destroy. */
static void armed_fate(int ci, struct req *r, const char *what)
{
	uint64_t data = r->data;
	unsigned int p = rn(100);

	if (p < 45 && !ctxs[ci].scribbled) {
		if (!wait_req(ci, r, data))
			violation(C_EVENTS, "%s: the armed poll did not complete within 2 s",
				  what);
	} else if (p < 70) {
		cancel_one(ci, r, NULL);
	} else if (p < 85) {
		long d = X(io_destroy(ctxs[ci].id));

		if (d) {
			violation(C_ERRNO, "io_destroy after %s: %s", what, rstr(d));
			ctx_lost(ci);
		} else {
			ctx_destroyed(ci);
		}
	}
}

static void act_pollfree(void)
{
	struct pollfree_arg a = { .sfd = -1, .ret = -1 };
	int ci = pick_live(0), p[2], first;
	long ret;
	struct iocb *cbp;
	struct req *r;
	pid_t pid;

	r = ci >= 0 ? req_get() : NULL;
	if (!r)
		return;
	memset(&r->cb, 0, sizeof(r->cb));
	r->cb.aio_data = r->data;
	r->cb.aio_lio_opcode = IOCB_CMD_POLL;
	r->cb.aio_buf = POLLIN;
	r->op = IOCB_CMD_POLL;
	r->pevents = POLLIN;
	if (pct(50)) {
		r->fk = FK_SIGNALFD;
		r->pollfree = 1;
		a.id = ctxs[ci].id;
		a.r = r;
		fflush(stdout);
		pid = clone(pollfree_child, clone_stack + sizeof(clone_stack),
			    CLONE_VM | CLONE_FILES | SIGCHLD, &a);
		if (pid < 0) {
			req_release(r);
			return;
		}
		STAT(forks, 1);
		reap_child(pid, "POLLFREE clone");	/* frees its sighand */
		judge("io_submit from the POLLFREE clone", a.ret, ok_submit, 0);
		if (a.ret == 1) {
			req_accept(r, ci);
			armed_fate(ci, r, "POLLFREE");
		} else {
			req_release(r);
		}
		if (a.sfd >= 0)
			close(a.sfd);
		return;
	}
	/* The poll holds the read end's file; closing both ends hangs it up. */
	if (pipe2(p, O_NONBLOCK)) {
		req_release(r);
		return;
	}
	r->fk = FK_PA_R;
	r->cb.aio_fildes = p[0];
	cbp = &r->cb;
	ret = X(io_submit(ctxs[ci].id, 1, &cbp));
	judge("io_submit of a pipe poll", ret, ok_submit, 0);
	if (ret == 1)
		req_accept(r, ci);
	else
		req_release(r);
	first = pct(50);
	close(p[first]);
	close(p[!first]);
	if (r->state == R_INFLIGHT)
		armed_fate(ci, r, "pipe closed under a poll");
}

/* --- the worker ---------------------------------------------------------- */

static void on_alarm(int sig)
{
	ssize_t w;

	(void)sig;
	sh->hung = 1;
	w = write(1, alarm_msg, strlen(alarm_msg));
	(void)w;
	_exit(3);
}

static int pick_action(void)
{
	unsigned int total = 0, x;
	int a;

	/* Out of records or buffers: give some back first. */
	if (nreq_free < 64 || slots_free() < 16) {
		x = rn(3);
		return x == 0 ? A_DESTROY : x == 1 ? A_WAKE : A_CANCEL;
	}
	for (a = 0; a < NR_ACTIONS; a++)
		total += actions[a].weight;
	x = rn(total);
	for (a = 0; x >= actions[a].weight; a++)
		x -= actions[a].weight;
	return a;
}

static unsigned char *map_guarded(size_t size)
{
	unsigned char *p = mmap(NULL, size + 4096, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	mprotect(p + size, 4096, PROT_NONE);
	return p;
}

static int worker_setup(void)
{
	static unsigned char chunk[65536];
	long long size;

	slots = mmap(NULL, (size_t)NSLOTS * SLOT_STRIDE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro_page = map_guarded(4096);
	ro_iocb_page = map_guarded(4096);
	arr_page = map_guarded(4096);
	evbuf = (struct io_event *)map_guarded(EV_MAX * sizeof(struct io_event));
	none_page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	canary = malloc(SLOT_SIZE);
	if (slots == MAP_FAILED || !ro_page || !ro_iocb_page || !arr_page ||
	    !evbuf || none_page == MAP_FAILED || !canary)
		return -1;
	for (int s = 0; s < NSLOTS; s++)
		mprotect(slot_addr(s) + SLOT_SIZE, 4096, PROT_NONE);
	memset(ro_page, 0x33, 4096);
	mprotect(ro_page, 4096, PROT_READ);
	memset(canary, 0xa5, SLOT_SIZE);

	ctl_fd = open(data_path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	if (ctl_fd < 0) {
		printf("# %s: %s\n", data_path, strerror(errno));
		return -1;
	}
	for (long long off = 0; off < FILE_SIZE; off += sizeof(chunk)) {
		for (size_t i = 0; i < sizeof(chunk); i++)
			chunk[i] = pattern(off + i);
		if (pwrite(ctl_fd, chunk, sizeof(chunk), off) != sizeof(chunk))
			return -1;
	}
	fsync(ctl_fd);
	for (int k = 0; k < NR_FK; k++)
		fds[k] = -1;
	for (int k = FK_FILE; k <= FK_SOCK0; k++)
		if (k != FK_PA_W && k != FK_PB_W)
			open_kind(k);
	fds[FK_CLOSED] = CLOSED_FD;
	if (fd_valid(CLOSED_FD))
		close(CLOSED_FD);
	if (blkdev && fds[FK_BLK] < 0) {
		printf("# %s: %s; going on without it\n", blkdev, strerror(errno));
		blkdev = NULL;
	}
	if (blkdev) {
		size = lseek(fds[FK_BLK], 0, SEEK_END);
		blk_size = size;
		blk_span = size > (64 << 20) ? (64 << 20) : size;
		if (blk_span < 65536) {
			printf("# %s: %lld bytes; not used\n", blkdev, size);
			close(fds[FK_BLK]);
			fds[FK_BLK] = -1;
			blkdev = NULL;
		}
	}
	resfd = eventfd(0, EFD_NONBLOCK);
	return resfd < 0 ? -1 : 0;
}

/* Destroys everything; checks exactly-once, eventfd, mappings, aio-nr. */
static void final_phase(void)
{
	unsigned long nr = 0, want, got = 0;
	double t0;
	int maps;

	cur_action = A_FINAL;
	set_alarm();
	for (int i = 0; i < nretired; i++)
		close(retired[i]);	/* armed polls on those pipes hang up */
	nretired = 0;
	for (int ci = 0; ci < MAX_CTX; ci++) {
		long r;

		if (!ctxs[ci].live)
			continue;
		if (!ctxs[ci].scribbled) {
			cancel_polls(ci);
			drain(ci, 10000);
			for (int i = 0; i < MAX_REQ; i++) {
				struct req *q = &reqs[i];

				if (q->state == R_INFLIGHT && q->ctx == ci)
					violation(C_ONCE, "%s on %s (step %ld, context #%u) never completed",
						  op_name(q->op), fk_name[q->fk], q->step,
						  ctxs[ci].uid);
			}
		}
		r = X(io_destroy(ctxs[ci].id));
		if (r) {
			violation(C_ERRNO, "final io_destroy: %s", rstr(r));
			ctx_lost(ci);
		} else {
			ctx_destroyed(ci);
		}
	}
	quarantine_check(1);

	/* Each completion signals the eventfd once; lost contexts may not yet. */
	if (read(resfd, &got, sizeof(got)) != sizeof(got))
		got = 0;
	if (got > resfd_expected || got < resfd_expected - zombie_resfd)
		violation(C_RESFD, "eventfd counted %lu completions, want %lu..%lu",
			  got, resfd_expected - zombie_resfd, resfd_expected);
	printf("# eventfd: %lu completions counted\n", got);

	maps = count_aio_maps();
	if (maps)
		violation(C_MAPS, "%d [aio] mappings left after destroying every context",
			  maps);

	/* Lost (munmapped) contexts stay charged until this process exits. */
	want = aio_nr0 + zombie_charge;
	t0 = now_ms();
	while ((nr = read_ulong(AIO_NR)) != want && now_ms() - t0 < 2000)
		usleep(10000);
	if (nr != want)
		violation(C_AIONR, "aio-nr %lu after destroying everything, want %lu (start %lu + %lu of lost contexts)",
			  nr, want, aio_nr0, zombie_charge);
}

static void (*const act_fn[A_FINAL])(void) = {
	[A_SETUP] = act_setup,		[A_SUBMIT] = act_submit,
	[A_GETEVENTS] = act_getevents,	[A_CANCEL] = act_cancel,
	[A_RING] = act_ring,		[A_FORK] = act_fork,
	[A_RACE] = act_race,		[A_POLLFREE] = act_pollfree,
	[A_REOPEN] = act_reopen,	[A_EXIT] = act_exit,
	[A_DESTROY] = act_destroy,	[A_WAKE] = act_wake,
};

static void worker(long ops)
{
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGALRM, on_alarm);
	if (worker_setup()) {
		printf("# worker setup failed: %s\n", strerror(errno));
		sh->hung = 2;
		fflush(stdout);
		_exit(2);
	}
	for (step = 0; step < ops; step++) {
		int a;

		/*
		 * Each step draws from its own stream: an outcome that timing
		 * changed shifts no later step's choices.
		 */
		seed_rng(seed ^ (uint64_t)step * 0xd1342543de82ef95ULL);
		a = pick_action();

		cur_action = a;
		sh->acts[a]++;
		__atomic_store_n(&sh->action, a, __ATOMIC_RELAXED);
		__atomic_store_n(&sh->step_start_ms, (long)now_ms(), __ATOMIC_RELAXED);
		__atomic_store_n(&sh->step, step, __ATOMIC_RELAXED);
		set_alarm();
		quarantine_check(0);
		if (lseek(ctl_fd, 0, SEEK_END) > 16 * FILE_SIZE &&
		    ftruncate(ctl_fd, FILE_SIZE))
			printf("# ftruncate: %s\n", strerror(errno));
		act_fn[a]();
	}
	__atomic_store_n(&sh->step_start_ms, (long)now_ms(), __ATOMIC_RELAXED);
	__atomic_store_n(&sh->step, ops, __ATOMIC_RELAXED);
	final_phase();
	alarm(0);
	close(ctl_fd);
	sh->finished = 1;
	fflush(stdout);
	_exit(0);
}

/* --- the reporter -------------------------------------------------------- */

/* Waits for the worker; a step stuck in the kernel cannot take SIGALRM. */
static int watch(pid_t pid)
{
	int status = 0;

	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		long started = __atomic_load_n(&sh->step_start_ms, __ATOMIC_RELAXED);

		if (w == pid)
			return status;
		if (w < 0)
			return -1;
		if (started && now_ms() - started > (STEP_SECONDS + 30) * 1000.0) {
			printf("# watchdog: step %ld (%s) stuck for %d s; killing the worker\n",
			       __atomic_load_n(&sh->step, __ATOMIC_RELAXED),
			       actions[__atomic_load_n(&sh->action, __ATOMIC_RELAXED)].name,
			       STEP_SECONDS + 30);
			sh->hung = 1;
			kill(pid, SIGKILL);	/* a task in D state stays, reported */
			for (int i = 0; i < 250 && waitpid(pid, &status, WNOHANG) != pid; i++)
				usleep(20000);
			return -1;
		}
		usleep(20000);
	}
}

int main(int argc, char **argv)
{
	unsigned long nr, taint;
	long ops, objs0, objs = 0;
	int status, hung;
	double t0;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 5 || (strcmp(argv[1], "rust") && strcmp(argv[1], "c"))) {
		fprintf(stderr, "usage: %s rust|c SEED OPS DIR [BLOCKDEV]\n", argv[0]);
		return 2;
	}
	cache = strcmp(argv[1], "rust") ? "aio_kiocb" : "aio_rs_kiocb";
	seed = strtoull(argv[2], NULL, 0);
	ops = strtol(argv[3], NULL, 0);
	blkdev = argc > 5 ? argv[5] : NULL;
	snprintf(data_path, sizeof(data_path), "%s/aio_fuzz.%d.data", argv[4],
		 (int)getpid());
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		printf("Bail out! mmap: %s\n", strerror(errno));
		return 1;
	}
	aio_nr0 = read_ulong(AIO_NR);
	taint0 = read_ulong(TAINTED);
	objs0 = slab_objects(cache);
	printf("# aio_fuzz %s seed=%llu ops=%ld dir=%s blockdev=%s; aio-nr %lu, %s %ld objects\n",
	       argv[1], (unsigned long long)seed, ops, argv[4],
	       blkdev ? blkdev : "none", aio_nr0, cache, objs0);

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		printf("Bail out! fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0)
		worker(ops);
	status = watch(pid);
	step = -1;
	hung = sh->hung || status < 0;
	if (!hung && (!WIFEXITED(status) || WEXITSTATUS(status) || !sh->finished)) {
		violation(C_HANG, "worker ended with status %#x (signal %d)", status,
			  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		hung = 1;
	}
	unlink(data_path);

	/* After the worker's exit, lost contexts and their requests are gone too. */
	t0 = now_ms();
	while ((nr = read_ulong(AIO_NR)) != aio_nr0 && now_ms() - t0 < 2000)
		usleep(10000);
	if (!hung && nr != aio_nr0)
		violation(C_AIONR, "aio-nr %lu after the worker exited, %lu at the start",
			  nr, aio_nr0);
	t0 = now_ms();
	while (objs0 >= 0 && !hung && (objs = slab_objects(cache)) != objs0 &&
	       now_ms() - t0 < 6000)
		usleep(50000);
	if (objs0 >= 0 && !hung && objs != objs0)
		violation(C_SLAB, "%s: %ld objects, %ld at the start", cache, objs, objs0);
	taint = read_ulong(TAINTED);
	if (taint != taint0)
		violation(C_TAINT, "tainted %lu, was %lu", taint, taint0);

	CHECK(!sh->viol[C_ERRNO], "every call returned a result or errno it is allowed (%lu violations)",
	      sh->viol[C_ERRNO]);
	CHECK(!sh->viol[C_EVENTS], "every event completed an iocb in flight on its context, once (%lu violations)",
	      sh->viol[C_EVENTS]);
	CHECK(!sh->viol[C_RESULTS], "event results and ring headers fit their requests (%lu violations)",
	      sh->viol[C_RESULTS]);
	CHECK(!sh->viol[C_ONCE], "every iocb accepted on a clean context completed by the final drain (%lu lost)",
	      sh->viol[C_ONCE]);
	CHECK(!sh->viol[C_DATA] && sh->verified_reads > 0,
	      "read data matched the file (%lu reads, %lu bytes verified)",
	      sh->verified_reads, sh->verified_bytes);
	CHECK(!sh->viol[C_DESTROY], "io_destroy waited for its requests and succeeded once (%lu violations)",
	      sh->viol[C_DESTROY]);
	CHECK(!sh->viol[C_PROCS], "children, clones and exits: parent contexts invisible and intact, aio-nr freed (%lu violations)",
	      sh->viol[C_PROCS]);
	CHECK(!sh->viol[C_RESFD], "IOCB_FLAG_RESFD counted each completion once");
	if (hung)
		CHECK(1, "aio-nr back at its start value # SKIP the worker did not finish");
	else
		CHECK(!sh->viol[C_AIONR], "aio-nr back at its start value %lu", aio_nr0);
	if (objs0 < 0 || hung)
		CHECK(1, "%s objects back at the start # SKIP %s", cache,
		      hung ? "the worker did not finish" : "no such slab cache");
	else
		CHECK(!sh->viol[C_SLAB], "%s objects back at the start (%ld)", cache, objs0);
	CHECK(!sh->viol[C_MAPS], "[aio] mappings: ids follow mremap, none left at the end (%lu violations)",
	      sh->viol[C_MAPS]);
	CHECK(!sh->viol[C_TAINT], "kernel not tainted during the run (%lu)", taint);
	CHECK(!hung && !sh->viol[C_HANG], "no step hung (limit %d s), the worker exited normally",
	      STEP_SECONDS);

	printf("# aio_fuzz seed=%llu ops=%ld calls=%lu accepted=%lu events=%lu cancelled=%lu destroyed_inflight=%lu forks=%lu\n",
	       (unsigned long long)seed, ops, sh->calls, sh->accepted, sh->events,
	       sh->cancelled, sh->destroyed_inflight, sh->forks);
	printf("# actions:");
	for (int a = 0; a < A_FINAL; a++)
		printf(" %s=%lu", actions[a].name, sh->acts[a]);
	printf("\n");
	printf("# aio_fuzz verified_reads=%lu verified_bytes=%lu lost_contexts=%lu violations=%lu\n",
	       sh->verified_reads, sh->verified_bytes, sh->zombies, sh->diags);
	return tap_done();
}
