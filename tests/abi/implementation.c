// SPDX-License-Identifier: GPL-2.0
/*
 * Asserts which AIO implementation the running kernel has: argv[1] is "c"
 * or "rust".  The kernels differ in their symbols (fs/aio.c's ioctx_alloc,
 * our aio_rs_setup) and the Rust one names itself at boot.  Each takes its
 * requests from a slab cache of its own: fs/aio.c's aio_kiocb, our
 * aio_rs_kiocb.
 */
#include "tap.h"
#include <poll.h>

static int has_symbol(const char *name)
{
	char line[256], sym[128];
	FILE *f = fopen("/proc/kallsyms", "r");
	int found = 0;

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*s %*s %127s", sym) == 1 && !strcmp(sym, name)) {
			found = 1;
			break;
		}
	}
	if (f)
		fclose(f);
	return found;
}

static int boot_log_has(const char *needle)
{
	char buf[8192];
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK), found = 0;
	ssize_t n;

	while (fd >= 0 && (n = read(fd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = 0;
		if (strstr(buf, needle))
			found = 1;
	}
	if (fd >= 0)
		close(fd);
	return found;
}

/*
 * N polls armed on an empty pipe hold N requests: the cache has N more
 * objects in use (less what per-CPU caches keep: SLACK), and N fewer once
 * io_destroy cancelled them.  (The cache may be merged with another one of
 * the same size, whose objects come and go too: hence the slack.)
 */
static void test_request_cache(const char *name)
{
	enum { N = 1000, SLACK = N / 4 };
	static struct iocb cbs[N], *ptrs[N];
	aio_context_t ctx = 0;
	long before, during, after;
	int p[2];

	before = slab_objects(name);
	CHECK(before >= 0, "slab cache %s exists (%ld objects)", name, before);
	CHECK(pipe(p) == 0, "pipe");
	CHECK(syscall(__NR_io_setup, N, &ctx) == 0, "io_setup(%d)", N);
	for (int i = 0; i < N; i++) {
		memset(&cbs[i], 0, sizeof(cbs[i]));
		cbs[i].aio_lio_opcode = IOCB_CMD_POLL;
		cbs[i].aio_fildes = p[0];
		cbs[i].aio_buf = POLLIN;
		ptrs[i] = &cbs[i];
	}
	CHECK(syscall(__NR_io_submit, ctx, N, ptrs) == N, "%d polls armed", N);
	during = slab_objects(name);
	CHECK(syscall(__NR_io_destroy, ctx) == 0, "io_destroy cancels them");
	after = slab_objects(name);
	CHECK(during - before >= N - SLACK, "%s: %ld objects more with %d requests in flight",
	      name, during - before, N);
	CHECK(during - after >= N - SLACK, "%s: %ld objects fewer once they are gone", name,
	      during - after);
	close(p[0]);
	close(p[1]);
}

int main(int argc, char **argv)
{
	int rust = argc > 1 && !strcmp(argv[1], "rust");
	const char *msg = "native AIO served by the Rust implementation";

	CHECK(has_symbol("aio_rs_setup") == rust, "aio_rs_setup %s", rust ? "present" : "absent");
	CHECK(has_symbol("aio_complete_rw") == !rust, "fs/aio.c's aio_complete_rw %s",
	      rust ? "absent" : "present");
	CHECK(boot_log_has(msg) == rust, "boot message %s", rust ? "present" : "absent");
	test_request_cache(rust ? "aio_rs_kiocb" : "aio_kiocb");
	return tap_done();
}
