# SPDX-License-Identifier: GPL-2.0
#
# Developer entry points.  (The kernel build itself reads Kbuild, not this
# file.)  Everything runs as root and installs what it needs on first use.

.PHONY: run test test-long soak bench setup kernels kunit guest-rust guest-c host-test clean-cache

run:		## build the release kernels, boot each, run fio with libaio: Rust next to C
	tools/run.sh

test:		## every test; ends with "N passed, N failed"
	tools/test.sh

soak:		## trinity, our fuzzer, our soak and stress-ng for SOAK_MINUTES (30) on the sanitizer kernel
	tools/soak.sh

bench:		## ours vs C aio vs io_uring on the release kernels, alternating rounds; table, CSV/JSON, PNG
	tools/bench.sh

test-long:	## the slow libaio harness cases, on the release kernels
	tools/harness-long.sh

setup:		## the toolchain tree and kernel source (cached in /var/cache/aio-rs)
	tools/setup.sh

kernels:	## the four kernels: {test,release} x {rust,c}
	for f in test release; do for i in rust c; do tools/kbuild.sh $$f $$i; done; done

kunit:		## KUnit suites on the Rust test kernel
	tools/kunit-runner.sh rust

guest-rust guest-c:	## the user-space suites on one test kernel
	tools/build-tests.sh
	tools/run-suites.sh $(subst guest-,,$@)

host-test:	## host unit tests of the kernel-free logic (the tree's cargo)
	tools/setup.sh
	bash -c '. tools/lib.sh && in_root /bin/sh -c "cd /build/src/tests/host && \
		CARGO_HOME=/build/cargo-home CARGO_TARGET_DIR=/build/host-target cargo test --offline"'

clean-cache:	## forget every cached build (the toolchain tree stays)
	rm -rf /var/cache/aio-rs/root/build /var/cache/aio-rs/runs
