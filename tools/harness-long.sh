#!/bin/bash
# The libaio harness cases that take minutes each under TCG (6: huge I/Os,
# 11: a million reads and writes, 14: 768 MB I/Os across fork, 18: 100
# threads racing io_destroy, 20: aio-max-nr with 65536 contexts), on the
# release kernels, Rust then C.  Not part of `make test` (CI time); run it
# with `make test-long`.  First, the larger configurations of the
# interleaving checker (tests/host/src/model.rs: ring of 3 slots, 7 events,
# up to three consumers), which take minutes each.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
"$SRC/tools/setup.sh" || exit 1
rc=0
in_root /bin/sh -c 'cd /build/src/tests/host &&
	CARGO_HOME=/build/cargo-home CARGO_TARGET_DIR=/build/host-target \
	cargo test --offline -- --ignored --nocapture' || rc=1
"$SRC/tools/build-tests.sh" || exit 1
for impl in rust c; do
	HARNESS_CASES="6 11 14 18 20" GUEST_TIMEOUT=5400 \
		"$SRC/tools/run-suites.sh" "$impl" release || rc=1
done
exit $rc
