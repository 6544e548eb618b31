#!/bin/bash
# Where the time goes: boots the release kernels (x86 forces PERF_EVENTS on,
# so the benchmarked kernels are the profiled ones), samples the AIO system calls under
# syscall_cost and fio on each (tools/guest-profile.sh), and compares them
# (tools/profile-report.py).  Results in $AIO_CACHE/runs/profile-{rust,c}.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$SRC/tools/build-tests.sh"
for impl in rust c; do
	vmlinux=$("$SRC/tools/kbuild.sh" release "$impl")
	work=$AIO_CACHE/runs/profile-$impl
	stage_guest "$work" "$SRC/tools/guest-profile.sh"
	"$SRC/tools/qemu-run.sh" "$vmlinux" "$work" 900 >"$work.log" 2>&1 ||
		{ tail -n 20 "$work.log" >&2; exit 1; }
	[ -e "$work/results/complete" ] || { echo "profile: $impl did not finish" >&2; exit 1; }
done
# Rust's v0 symbols are demangled by the tree's llvm-cxxfilt.
CXXFILT="chroot $ROOT /usr/bin/llvm-cxxfilt" python3 "$SRC/tools/profile-report.py" \
	"$AIO_CACHE/runs/profile-rust/results" "$AIO_CACHE/runs/profile-c/results"
