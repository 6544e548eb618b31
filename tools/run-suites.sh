#!/bin/bash
# Boots a test kernel and runs the user-space suites in it:
#   tools/run-suites.sh {rust|c} [test|release]
# Prints one line per suite ("abi-rust: N passed, N failed"), details of
# every failure, and exits non-zero if anything failed.  A guest that hangs
# or a console with a KASAN, lockdep, WARN or BUG report fails the run.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

impl=${1:?rust|c}
flavour=${2:-test}
# Incremental: a no-op when nothing that goes into the kernel changed.
vmlinux=$("$SRC/tools/kbuild.sh" "$flavour" "$impl")

work=$AIO_CACHE/runs/suites-$flavour-$impl
stage_guest "$work" "$SRC/tools/guest-suites.sh" "$impl"
# libaio's harness cases (HARNESS_CASES overrides).  6, 11, 14, 18 and 20
# take minutes each on a TCG debug guest: tools/harness-long.sh runs them on
# the release kernels.
cases="2 3 4 5 7 8 10 12 13 15 16 17 19 21 22 23"
echo "${HARNESS_CASES:-$cases}" >"$work/harness-cases"

rc=0
# The limit is for hangs: one run took 6-8 min on this kind of machine on
# 2026-11-25 and about 16 min on another of the same kind on 2026-12-06.
"$SRC/tools/qemu-run.sh" "$vmlinux" "$work" "${GUEST_TIMEOUT:-2400}" || rc=$?

python3 "$SRC/tools/parse-results.py" "$work" "$impl" "$rc"
