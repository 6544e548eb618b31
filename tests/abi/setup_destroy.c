// SPDX-License-Identifier: GPL-2.0
/*
 * io_setup / io_destroy: argument checks, the mapped ring header, the
 * context id, aio-nr accounting, id reuse, fork, mremap and exit.
 */
#include "tap.h"
#include <sys/mman.h>
#include <sys/wait.h>

#define AIO_NR "/proc/sys/fs/aio-nr"
#define AIO_MAX_NR "/proc/sys/fs/aio-max-nr"

static unsigned possible_cpus(void)
{
	unsigned lo, hi, n = 0;
	FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
	int c;

	if (!f)
		return 1;
	while (fscanf(f, "%u", &lo) == 1) {
		hi = lo;
		c = fgetc(f);
		if (c == '-') {
			if (fscanf(f, "%u", &hi) != 1)
				break;
			c = fgetc(f);
		}
		n += hi - lo + 1;
		if (c != ',')
			break;
	}
	fclose(f);
	return n ? n : 1;
}

/* fs/aio.c's ring size for io_setup(nr): slots and mapping bytes. */
static void ring_geometry(unsigned nr, unsigned *slots, size_t *bytes)
{
	unsigned n = nr > possible_cpus() * 4 ? nr : possible_cpus() * 4;
	size_t page = sysconf(_SC_PAGESIZE), size;

	n = n * 2 + 2;
	size = 32 + 32 * (size_t)n;
	size = (size + page - 1) / page * page;
	*bytes = size;
	*slots = (size - 32) / 32;
}

/* The /proc/self/maps line of the mapping that starts at addr, if any. */
static int maps_line(unsigned long addr, char *line, size_t len)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long lo, hi;
	int found = 0;

	while (f && fgets(line, len, f)) {
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo == addr) {
			found = 1;
			break;
		}
	}
	if (f)
		fclose(f);
	return found;
}

static void test_bad_args(void)
{
	aio_context_t ctx = 0;

	CHECK_RET(io_setup(0, &ctx), -EINVAL, "io_setup(0)");
	ctx = 1;
	CHECK_RET(io_setup(1, &ctx), -EINVAL, "io_setup with *ctxp != 0");
	CHECK_RET(io_setup(1, NULL), -EFAULT, "io_setup with NULL ctxp");
	CHECK_RET(io_setup(1, (void *)0xffffffff81000000UL), -EFAULT,
		  "io_setup with kernel ctxp");
	ctx = 0;
	CHECK_RET(io_setup(0x08000000, &ctx), -EINVAL, "io_setup(2^27): too large");
	CHECK_RET(io_setup(0x80000000U, &ctx), -EAGAIN, "io_setup(2^31): doubled to 0");
	CHECK_RET(io_setup(read_ulong(AIO_MAX_NR) + 1, &ctx), -EAGAIN,
		  "io_setup(aio-max-nr + 1)");
	CHECK(ctx == 0, "failed io_setup leaves *ctxp alone");
	CHECK_RET(io_destroy(0), -EINVAL, "io_destroy(0)");
	CHECK_RET(io_destroy(12345), -EINVAL, "io_destroy(bogus)");
}

static void test_ring(unsigned nr)
{
	unsigned long before = read_ulong(AIO_NR);
	aio_context_t ctx = 0;
	struct aio_ring_hdr *ring;
	unsigned slots;
	size_t bytes;
	char line[512];

	ring_geometry(nr, &slots, &bytes);
	CHECK_RET(io_setup(nr, &ctx), 0, "io_setup(nr)");
	ring = (struct aio_ring_hdr *)ctx;
	CHECK(ctx && ctx % sysconf(_SC_PAGESIZE) == 0, "id %#lx is page aligned", (unsigned long)ctx);
	CHECK(ring->magic == 0xa10a10a1, "ring magic %#x", ring->magic);
	CHECK(ring->compat_features == 1 && ring->incompat_features == 0,
	      "ring features %u/%u", ring->compat_features, ring->incompat_features);
	CHECK(ring->header_length == 32, "header_length %u", ring->header_length);
	CHECK(ring->nr == slots, "io_setup(%u): ring->nr %u, want %u", nr, ring->nr, slots);
	CHECK(ring->head == 0 && ring->tail == 0, "empty ring: head %u tail %u",
	      ring->head, ring->tail);
	CHECK(ring->id == 0, "first context has id 0 (got %u)", ring->id);
	CHECK(read_ulong(AIO_NR) == before + nr, "aio-nr charged with %u", nr);
	if (maps_line(ctx, line, sizeof(line))) {
		unsigned long lo, hi;
		char perms[8] = "";

		sscanf(line, "%lx-%lx %7s", &lo, &hi, perms);
		CHECK(hi - lo == bytes, "mapping is %lu bytes, want %zu", hi - lo, bytes);
		CHECK(!strcmp(perms, "rw-s"), "mapping is shared rw (%s)", perms);
		CHECK(strstr(line, "/[aio]") != NULL, "mapping is named [aio]: %s", line);
	} else {
		CHECK(0, "ring mapping found in /proc/self/maps");
	}
	CHECK_RET(io_destroy(ctx), 0, "io_destroy");
	CHECK(!maps_line(ctx, line, sizeof(line)), "io_destroy unmaps the ring");
	CHECK(read_ulong(AIO_NR) == before, "aio-nr back to %lu", before);
	CHECK_RET(io_destroy(ctx), -EINVAL, "second io_destroy");
}

static void test_ids(void)
{
	aio_context_t ctx[6] = { 0 };
	int i, ok = 1;

	for (i = 0; i < 6; i++) {
		if (io_setup(1, &ctx[i]) || ((struct aio_ring_hdr *)ctx[i])->id != (unsigned)i)
			ok = 0;
	}
	CHECK(ok, "ids count up from 0 across a table growth");
	CHECK_RET(io_destroy(ctx[1]), 0, "destroy id 1");
	ctx[1] = 0;
	CHECK_RET(io_setup(1, &ctx[1]), 0, "io_setup after a destroy");
	CHECK(((struct aio_ring_hdr *)ctx[1])->id == 1, "the lowest free id is reused");
	/* Writing a wrong id into the ring makes the context unreachable. */
	((struct aio_ring_hdr *)ctx[2])->id = 3;
	CHECK_RET(io_getevents(ctx[2], 0, 1, NULL, &(struct timespec){ 0 }), -EINVAL,
		  "a ring whose id points elsewhere is not found");
	((struct aio_ring_hdr *)ctx[2])->id = 2;
	CHECK_RET(io_getevents(ctx[2], 0, 1, NULL, &(struct timespec){ 0 }), 0,
		  "restoring the id makes it reachable again");
	for (i = 0; i < 6; i++)
		io_destroy(ctx[i]);
}

static void test_max_nr(void)
{
	unsigned long max = read_ulong(AIO_MAX_NR), cur = read_ulong(AIO_NR);
	aio_context_t a = 0, b = 0;

	if (write_ulong(AIO_MAX_NR, cur + 100)) {
		CHECK(0, "can set aio-max-nr (needs root)");
		return;
	}
	CHECK_RET(io_setup(60, &a), 0, "io_setup(60) under aio-max-nr");
	CHECK_RET(io_setup(41, &b), -EAGAIN, "io_setup(41) would pass aio-max-nr");
	CHECK_RET(io_setup(40, &b), 0, "io_setup(40) reaches aio-max-nr");
	CHECK(read_ulong(AIO_NR) == cur + 100, "aio-nr at the limit");
	io_destroy(a);
	io_destroy(b);
	write_ulong(AIO_MAX_NR, max);
	CHECK(read_ulong(AIO_NR) == cur, "aio-nr released");
}

static void test_fork(void)
{
	aio_context_t ctx = 0;
	int status = -1;
	pid_t pid;

	io_setup(4, &ctx);
	pid = fork();
	if (pid == 0) {
		char line[512];
		int bad = 0;

		if (maps_line(ctx, line, sizeof(line)))
			bad |= 1;	/* the ring is not inherited */
		if (io_getevents(ctx, 0, 1, NULL, &(struct timespec){ 0 }) != -EINVAL)
			bad |= 2;
		if (io_destroy(ctx) != -EINVAL)
			bad |= 4;
		_exit(bad);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "fork: the child has no ring and gets EINVAL (status %#x)", status);
	CHECK_RET(io_getevents(ctx, 0, 1, NULL, &(struct timespec){ 0 }), 0,
		  "fork: the parent's context still works");
	io_destroy(ctx);
}

static void test_mremap(void)
{
	aio_context_t ctx = 0;
	unsigned slots;
	size_t bytes;
	void *dst, *moved;

	ring_geometry(32, &slots, &bytes);
	io_setup(32, &ctx);
	dst = mmap(NULL, bytes * 2, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	moved = mremap((void *)ctx, bytes, bytes, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	CHECK(moved == dst, "mremap of the ring");
	CHECK_RET(io_getevents((aio_context_t)moved, 0, 1, NULL, &(struct timespec){ 0 }), 0,
		  "mremap: the new address is the context id");
	CHECK_RET(io_getevents(ctx, 0, 1, NULL, &(struct timespec){ 0 }), -EINVAL,
		  "mremap: the old address is not");
	CHECK_RET(io_destroy((aio_context_t)moved), 0, "mremap: io_destroy by the new id");
	munmap(dst, bytes * 2);
}

static void test_exit(void)
{
	unsigned long before = read_ulong(AIO_NR);
	int status = -1;
	pid_t pid = fork();

	if (pid == 0) {
		aio_context_t a = 0, b = 0;

		_exit(io_setup(10, &a) || io_setup(20, &b));
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit: child set up 2 contexts");
	CHECK(read_ulong(AIO_NR) == before, "exit: aio-nr back to %lu (is %lu)",
	      before, read_ulong(AIO_NR));
}

/*
 * Exit with contexts whose rings user space unmapped: the contexts then
 * hold the last references of their ring files, which exit_aio drops
 * while the task is exiting (the fput queues task work there).  Trinity
 * found this: ours ran that task work early, and the exit crashed.
 */
static void test_exit_unmapped(void)
{
	unsigned long before = read_ulong(AIO_NR);
	int status = -1;
	pid_t pid = fork();

	if (pid == 0) {
		aio_context_t ctx[3] = { 0 };
		unsigned slots;
		size_t bytes;
		int i;

		ring_geometry(32, &slots, &bytes);
		for (i = 0; i < 3; i++)
			if (io_setup(32, &ctx[i]) || munmap((void *)ctx[i], bytes))
				_exit(1);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "exit with 3 contexts whose rings were unmapped");
	CHECK(read_ulong(AIO_NR) == before, "exit unmapped: aio-nr back to %lu (is %lu)",
	      before, read_ulong(AIO_NR));
}

int main(void)
{
	test_bad_args();
	test_ring(1);
	test_ring(128);
	test_ring(5000);
	test_ids();
	test_max_nr();
	test_fork();
	test_mremap();
	test_exit();
	test_exit_unmapped();
	return tap_done();
}
