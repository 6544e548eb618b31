// SPDX-License-Identifier: GPL-2.0
/*
 * Asserts which AIO implementation the running kernel has: argv[1] is "c"
 * or "rust".  The kernels differ in their symbols (fs/aio.c's ioctx_alloc,
 * our aio_rs_setup) and the Rust one names itself at boot.
 */
#include "tap.h"

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

int main(int argc, char **argv)
{
	int rust = argc > 1 && !strcmp(argv[1], "rust");
	const char *msg = "native AIO served by the Rust implementation";

	CHECK(has_symbol("aio_rs_setup") == rust, "aio_rs_setup %s", rust ? "present" : "absent");
	CHECK(has_symbol("aio_complete_rw") == !rust, "fs/aio.c's aio_complete_rw %s",
	      rust ? "absent" : "present");
	CHECK(boot_log_has(msg) == rust, "boot message %s", rust ? "present" : "absent");
	return tap_done();
}
