#!/bin/bash
# Boots the Rust test kernel, collects the KTAP that KUnit prints during boot
# and reports each test through the kernel's own parser
# (tools/testing/kunit/kunit.py parse).  Last line: "kunit-rust: N passed, N failed".
#   tools/kunit-runner.sh [rust|c]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

impl=${1:-rust}
# Incremental: a no-op when nothing that goes into the kernel changed.
vmlinux=$("$SRC/tools/kbuild.sh" test "$impl")

work=$AIO_CACHE/runs/kunit-$impl
# Nothing to run in user space: KUnit runs during boot.
printf '#!/bin/sh\n' | stage_guest "$work"
rc=0
"$SRC/tools/qemu-run.sh" "$vmlinux" "$work" 600 "kunit.filter_glob=aio_rs*" || rc=$?

# kunit.py runs inside the tree (it needs python3 and the kernel sources).
cp "$work/console.log" "$ROOT/build/kunit-console.log"
in_root /bin/sh -c 'cd /build/linux && python3 tools/testing/kunit/kunit.py parse \
	/build/kunit-console.log' >"$work/parsed.txt" 2>&1 || true
grep -E "\[(PASSED|FAILED|SKIPPED|CRASHED)\]|Testing complete|ERROR" "$work/parsed.txt" || true

passed=$(grep -c "\[PASSED\] [a-z_0-9]*$" "$work/parsed.txt" || true)
failed=$(grep -cE "\[(FAILED|CRASHED)\] [a-z_0-9]*$" "$work/parsed.txt" || true)
# Suites are reported with the same markers; count only test cases.
summary=$(grep -oE "Ran [0-9]+ tests: passed: [0-9]+(, failed: [0-9]+)?(, crashed: [0-9]+)?" "$work/parsed.txt" | tail -n1 || true)
if [ -n "$summary" ]; then
	passed=$(echo "$summary" | sed -nE 's/.*passed: ([0-9]+).*/\1/p')
	f=$(echo "$summary" | sed -nE 's/.*failed: ([0-9]+).*/\1/p')
	c=$(echo "$summary" | sed -nE 's/.*crashed: ([0-9]+).*/\1/p')
	failed=$(( ${f:-0} + ${c:-0} ))
fi
if [ "$rc" != 0 ] || [ -z "$summary" ] || [ "$passed" = 0 ]; then
	echo "  FAIL kunit-$impl: no complete KTAP result (qemu status $rc); console kept in $work/console.log"
	failed=$((failed + 1))
fi
echo "kunit-$impl: $passed passed, $failed failed"
[ "$failed" = 0 ]
