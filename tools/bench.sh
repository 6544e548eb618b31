#!/bin/bash
# `make bench`: our AIO against C aio and io_uring, side by side, in one run.
# Builds the release kernels (Rust and C, the same config fragments but the
# implementation choice), boots each with identical QEMU settings, and
# alternates them over BENCH_ROUNDS rounds (Rust first in odd rounds, C
# first in even ones) so that drift on a noisy host cancels.  The report
# (tools/bench-report.py) gives medians over rounds and the ratios.
#
# Settings (environment):
#   BENCH_ROUNDS   rounds, at least 3 (default 3)
#   BENCH_RUNTIME  seconds per fio cell (default 3)
#   BENCH_FLAVOUR  release (default) or test (the debug kernels)
#   BENCH_IODEPTHS, BENCH_JOBS, BENCH_MODES  narrow the matrix for a quick
#                  A/B (defaults "1 8 32 128", "1 2", "single batched")
#   BENCH_MICRO=0  skip the micro-measurements
#   BENCH_BUFFERED=0  skip the buffered and O_DSYNC cells (ext4 on virtio-blk
#                  and on a null_blk with a fixed latency, BENCH_LAT_US,
#                  default 2000)
#   BENCH_BASE=REV  also our kernel as of commit REV (its crate, Kconfig and
#                  config fragments; this checkout's kernel patches), as a
#                  third kernel in every round: the report then gives ours
#                  now / ours at REV for every figure (what a change bought,
#                  measured in one run)
#   BENCH_SMOKE=1  one round, one fio cell, two buffered cells, tiny
#                  micro-measurements, on the test kernels: what `make test`
#                  runs so that this keeps working; its figures mean nothing.
# Output: a table on the terminal, and results.json, results.csv and
# iops.png in $ROOT/build/bench/<date>/ (also linked as bench/latest; the
# toolchain tree, because gnuplot and python live there).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

smoke=${BENCH_SMOKE:-0}
# The buffered cells of a smoke run: one cold read and one O_DSYNC cell
# (each of the eight takes about 45 s on a TCG debug guest; the others are
# the same code with other parameters).
smoke_bcells="cold-rand-qd32-lat dsync-qd32-lat"
if [ "$smoke" = 1 ]; then
	rounds=1 flavour=${BENCH_FLAVOUR:-test}
else
	rounds=${BENCH_ROUNDS:-3} flavour=${BENCH_FLAVOUR:-release}
	[ "$rounds" -ge 3 ] || { echo "bench: BENCH_ROUNDS must be at least 3" >&2; exit 2; }
fi

for impl in rust c; do
	"$SRC/tools/kbuild.sh" "$flavour" "$impl" >/dev/null
done
kernels="rust c"
base=${BENCH_BASE:-}
if [ -n "$base" ]; then
	rev=$(git -C "$SRC" rev-parse --short "$base")
	base_src=$AIO_CACHE/base-src/$rev
	if [ ! -e "$base_src/.complete" ]; then
		rm -rf "$base_src"
		mkdir -p "$base_src"
		git -C "$SRC" archive "$rev" | tar -x -C "$base_src"
		# Newer than any object of the build directory it is seeded from
		# (git archive dates files at the commit).
		find "$base_src" -type f -exec touch {} +
		touch "$base_src/.complete"
	fi
	# Seeded from ours: the kernel around the crate is the same, so the
	# base builds incrementally.
	bout=$ROOT/build/out/$flavour-rust-base
	if [ ! -d "$bout" ]; then
		cp -a "$ROOT/build/out/$flavour-rust" "$bout.tmp"
		rm -f "$bout.tmp/.aio-built"
		mv "$bout.tmp" "$bout"
	fi
	AIO_RS_SRC=$base_src "$SRC/tools/kbuild.sh" "$flavour" rust >/dev/null
	kernels="rust c base"
fi
vmlinux() {	# vmlinux KERNEL: the image of rust, c or base
	case $1 in
	base) echo "$ROOT/build/out/$flavour-rust-base/vmlinux" ;;
	*) echo "$ROOT/build/out/$flavour-$1/vmlinux" ;;
	esac
}
"$SRC/tools/build-tests.sh"
[ -e "$AIO_CACHE/accel" ] ||
	"$SRC/tools/accel-probe.sh" "$ROOT/build/out/$flavour-c/vmlinux" >/dev/null
accel=$(cat "$AIO_CACHE/accel")

stamp=$(date +%Y%m%d-%H%M%S)
[ "$smoke" = 1 ] && stamp=smoke
dir=$ROOT/build/bench/$stamp
rm -rf "$dir"
mkdir -p "$dir"
[ "$smoke" = 1 ] || ln -sfn "$stamp" "$ROOT/build/bench/latest"

conf() {	# conf IMPL: the guest's settings for one kernel
	# io_uring on our kernel is the control: the same code on both kernels.
	local engines="libaio io_uring"
	[ "$1" = c ] && engines="libaio io_uring io_uring-polled"
	# The base is compared with ours only.
	[ "$1" = base ] && engines="libaio"
	if [ "$smoke" = 1 ]; then
		cat <<-EOF
		ENGINES="$engines"
		RUNTIME=1
		IODEPTHS="8"
		JOBS="1"
		MODES="single ureap"
		MICRO=1
		COST_ITERATIONS=200
		WAKE_EVENTS=64
		WAKE_GAP_US=200
		REAP_EVENTS=60
		REAP_GAP_US=200
		LAT_READS=64
		LAT_FILE_MB=8
		BUFFERED=1
		BCELLS="$smoke_bcells"
		BUF_FILE_MB=32
		LAT_NS=2000000
		EOF
	else
		cat <<-EOF
		ENGINES="$engines"
		RUNTIME=${BENCH_RUNTIME:-3}
		IODEPTHS="${BENCH_IODEPTHS:-1 8 32 128}"
		JOBS="${BENCH_JOBS:-1 2}"
		MODES="${BENCH_MODES:-single batched ureap}"
		MICRO=${BENCH_MICRO:-1}
		COST_ITERATIONS=20000
		WAKE_EVENTS=2048
		WAKE_GAP_US=200
		REAP_EVENTS=400
		REAP_GAP_US=1000
		LAT_READS=2048
		LAT_FILE_MB=256
		BUFFERED=${BENCH_BUFFERED:-1}
		BUF_FILE_MB=256
		LAT_NS=$(( ${BENCH_LAT_US:-2000} * 1000 ))
		EOF
	fi
}

{
	echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "accel=$accel"
	echo "flavour=$flavour"
	echo "rounds=$rounds"
	echo "host_cpus=$(nproc)"
	echo "host_cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "guest=2 vCPUs, 3 GiB, null_blk memory_backed poll_queues=2, virtio-blk cache=unsafe"
	echo "lat_us=${BENCH_LAT_US:-2000}"
	echo "kernel=$(cat "$ROOT/build/linux/Makefile" | awk '/^VERSION/ { v = $3 } /^PATCHLEVEL/ { p = $3 } /^SUBLEVEL/ { s = $3 } END { print v "." p "." s }')"
	echo "fio=$(in_root fio --version)"
	echo "commit=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "base=${rev:-}"
	if [ "$smoke" = 1 ]; then echo "bcells=$smoke_bcells"; fi
} >"$dir/environment"

for round in $(seq 1 "$rounds"); do
	order=$kernels
	[ $((round % 2)) = 0 ] && order=$(echo "$kernels" | tr ' ' '\n' | tac | tr '\n' ' ')
	for impl in $order; do
		work=$dir/round-$round-$impl
		stage_guest "$work" "$SRC/tools/guest-bench.sh"
		conf "$impl" >"$work/bench.conf"
		log "bench round $round/$rounds: $flavour-$impl ($accel)"
		"$SRC/tools/qemu-run.sh" "$(vmlinux "$impl")" "$work" 3600 ||
			log "bench: guest $flavour-$impl failed in round $round (see $work/console.log)"
	done
done

check=
[ "$smoke" = 1 ] && check=--smoke-check
in_root python3 /build/src/tools/bench-report.py "${dir#"$ROOT"}" "$dir" $check
