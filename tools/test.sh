#!/bin/bash
# Runs every test: host unit tests, KUnit on the Rust test kernel, and the
# guest suites on the Rust and the C test kernels (differential: the same
# binaries and expectations on both).  One line per suite and kernel, then
# "N passed, N failed" for the total; non-zero exit on any failure.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

t0=$(date +%s)
lines=()
total_p=0
total_f=0

# Runs a step, echoes its output and collects its "NAME: N passed, N failed"
# lines.  A step that fails without such a line counts as one failure.
step() {
	local name=$1 out rc
	shift
	log "== $name"
	out=$("$@" 2>&1)
	rc=$?
	echo "$out"
	local got
	got=$(echo "$out" | grep -E "^[a-z0-9-]+: [0-9]+ passed, [0-9]+ failed$" || true)
	if [ -z "$got" ]; then
		got="$name: 0 passed, 1 failed"
	elif [ $rc != 0 ] && ! echo "$got" | grep -qv " 0 failed$"; then
		got="$got"$'\n'"$name: 0 passed, 1 failed"
	fi
	while IFS= read -r l; do
		lines+=("$l")
		p=${l#*: }; p=${p%% passed*}
		f=${l##*passed, }; f=${f%% failed}
		total_p=$((total_p + p))
		total_f=$((total_f + f))
	done <<<"$got"
}

# The host tests run with the toolchain tree's cargo (no dependencies, no
# network), so they do not depend on what the host has installed.
host_tests() {
	local out p f
	out=$(in_root /bin/sh -c 'cd /build/src/tests/host &&
		CARGO_HOME=/build/cargo-home CARGO_TARGET_DIR=/build/host-target \
		cargo test --offline' 2>&1)
	echo "$out" | grep -E "^test |test result|^error" >&2
	p=$(echo "$out" | awk '/^test result:/ { s += $4 } END { print s + 0 }')
	f=$(echo "$out" | awk '/^test result:/ { s += $6 } END { print s + 0 }')
	echo "$out" | grep -q "^test result:" || f=1
	echo "host: $p passed, $f failed"
	[ "$f" = 0 ]
}

build_all() {
	local k
	for k in "test rust" "test c"; do
		# shellcheck disable=SC2086
		"$SRC/tools/kbuild.sh" $k >/dev/null || { echo "build: 0 passed, 1 failed ($k)"; return 1; }
	done
	"$SRC/tools/build-tests.sh" || { echo "build: 0 passed, 1 failed (tests)"; return 1; }
	echo "accel: $("$SRC/tools/accel-probe.sh" "$ROOT/build/out/test-c/vmlinux")" >&2
	echo "build: 3 passed, 0 failed"
}

if ! "$SRC/tools/setup.sh"; then
	echo "setup: 0 passed, 1 failed"
	echo "0 passed, 1 failed"
	exit 1
fi
step host host_tests
step build build_all
step lint "$SRC/tools/lint.sh"
step kunit "$SRC/tools/kunit-runner.sh" rust
step guest-rust "$SRC/tools/run-suites.sh" rust
step guest-c "$SRC/tools/run-suites.sh" c
# The benchmark's smoke configuration (test kernels, one tiny cell): only
# that it still produces every figure; nothing here is about speed.
step bench-smoke env BENCH_SMOKE=1 "$SRC/tools/bench.sh"

echo
echo "Summary ($(( $(date +%s) - t0 ))s, accel $(cat "$AIO_CACHE/accel" 2>/dev/null || echo ?)):"
printf '%s\n' "${lines[@]}"
echo "$total_p passed, $total_f failed"
[ "$total_f" = 0 ]
