#!/bin/sh
# Fuzzers and load against the AIO system calls, inside a test guest (a
# KASAN, lockdep and kmemleak kernel; the harness checks its console):
#   fuzz.sh slice IMPL OUTDIR DIR SLOWDIR BLOCKDEV
#   fuzz.sh soak  IMPL OUTDIR DIR SLOWDIR BLOCKDEV SECONDS
# IMPL is rust or c; DIR a writable ext4 directory; SLOWDIR ext4 on a slow
# device or "-"; BLOCKDEV a scratch block device (its data is destroyed).
# Every piece leaves OUTDIR/<piece>.out, TAP ending in "rc=N":
#   trinity-SEED   trinity on the AIO calls with mmap/munmap/mremap/eventfd
#   aio_fuzz-SEED  our seeded fuzzer (tests/fuzz/aio_fuzz.c)
#   soak           our multi-threaded soak (tests/fuzz/aio_soak.c)
#   stress-ng      stress-ng --aiol --verify on DIR
#   kmemleak       no unreferenced object that mentions aio afterwards
# "slice" is the short, fixed-seed run of `make test`; "soak" runs each
# for a share of SECONDS (`make soak`).
mode=$1 impl=$2 out=$3 dir=$4 slow=$5 bdev=$6 secs=${7:-0}
T=/build/tests/fuzz
mkdir -p "$out" "$dir"
[ "$slow" = - ] && slow=

# Trinity knows no io_pgetevents, and refuses fork and close (its own
# children fork and exit all the time); aio_fuzz covers those three.
TRINITY_CALLS="io_setup io_submit io_getevents io_cancel io_destroy
	mmap munmap mremap eventfd eventfd2"
TRINITY_CHILDREN=4

tap_end() {	# tap_end FILE RC: the plan and rc line of a shell-made TAP file
	echo "1..$(grep -c '^\(not \)\?ok ' "$1")" >>"$1"
	echo "rc=$2" >>"$1"
}

check() {	# check FILE COND DESCRIPTION: the next numbered TAP line
	n=$(($(grep -c '^\(not \)\?ok ' "$1") + 1))
	if [ "$2" = 1 ]; then echo "ok $n - $3" >>"$1"; else echo "not ok $n - $3" >>"$1"; fi
}

victims() {	# what trinity opens for its fd arguments (its -b does nothing)
	v=$dir/victims
	rm -rf "$v"
	mkdir -p "$v/sub"
	for s in 0 1 4 64 1024; do
		head -c $((s * 1024)) /dev/urandom >"$v/file-${s}k"
	done
	mkfifo "$v/fifo"
	[ -b "$bdev" ] && cp -a "$bdev" "$v/"
	echo "$v"
}

# trinity_seed SEED CALLS TIMEOUT: CALLS calls over TRINITY_CHILDREN
# children from SEED; TIMEOUT only catches a hang.
trinity_seed() {
	f=$out/trinity-$1.out
	log=$out/trinity-$1.log
	wd=/tmp/trinity-$1
	taint0=$(cat /proc/sys/kernel/tainted)
	args=
	for c in $TRINITY_CALLS; do args="$args -c $c"; done
	mkdir -p "$wd"
	# shellcheck disable=SC2086
	(cd "$wd" && timeout -s INT -k 60 "$3" trinity --dangerous -q --stats \
		-N "$2" -s "$1" -C $TRINITY_CHILDREN -V "$(victims)" \
		$args) >"$log" 2>&1
	rc=$?
	rm -rf "$wd"
	ran=$(sed -n 's/.*Ran \([0-9]*\) syscalls.*/\1/p' "$log" | tail -n1)
	: >"$f"
	# What reached past argument checks: successes per call (both ABIs).
	awk '/^[a-z_0-9]+: \(attempted:/ {
		n = $1; sub(":", "", n); split($0, a, "success:"); split(a[2], b, ".")
		split($0, c, "attempted:"); split(c[2], d, ".")
		tried[n] += d[1]; ok[n] += b[1] }
	END { for (n in tried) printf "# trinity %s: %d calls, %d succeeded\n", n, tried[n], ok[n] }' \
		"$log" | sort >>"$f"
	echo "# trinity seed=$1 calls=${ran:-0} children=$TRINITY_CHILDREN rc=$rc" >>"$f"
	check "$f" "$([ "${ran:-0}" -ge "$2" ] && echo 1)" \
		"trinity seed $1: ${ran:-0} calls (of $2) ran to the end"
	check "$f" "$([ "$(cat /proc/sys/kernel/tainted)" = "$taint0" ] && echo 1)" \
		"trinity seed $1: kernel taint unchanged ($taint0)"
	grep -q "kernel became tainted" "$log" && tail -n 5 "$log" | sed 's/^/# /' >>"$f"
	tap_end "$f" 0
}

aio_fuzz_seed() {	# aio_fuzz_seed SEED OPS: about 7 steps a second, half that on a slow host
	timeout -k 10 $(($2 / 2 + 300)) "$T/aio_fuzz" "$impl" "$1" "$2" "$dir" $bdev \
		>"$out/aio_fuzz-$1.out" 2>&1
	echo "rc=$?" >>"$out/aio_fuzz-$1.out"
}

soak() {	# soak SECONDS
	timeout -k 10 $(($1 + 300)) "$T/aio_soak" "$impl" "$1" "$dir" \
		"${slow:--}" $bdev >"$out/soak.out" 2>&1
	echo "rc=$?" >>"$out/soak.out"
}

stress_ng() {	# stress_ng WORKERS OPS SECONDS
	f=$out/stress-ng.out
	mkdir -p "$dir/stress-ng"
	(cd "$dir/stress-ng" && timeout -k 10 $(($3 + 120)) stress-ng \
		--aiol "$1" ${2:+--aiol-ops "$2"} --timeout "$3" --verify \
		--metrics-brief --temp-path "$dir/stress-ng") >"$out/stress-ng.log" 2>&1
	rc=$?
	rm -rf "$dir/stress-ng"
	grep -E "aiol|passed|failed|fail:" "$out/stress-ng.log" | sed 's/^/# /' >"$f"
	check "$f" "$([ $rc = 0 ] && echo 1)" "stress-ng --aiol $1 --verify: exit status $rc"
	check "$f" "$(grep -q "failed: [1-9]\|verif.*fail\|fail.*verif" \
		"$out/stress-ng.log" || echo 1)" "stress-ng: no failed or unverified operation"
	tap_end "$f" 0
}

# Kmemleak: the scan after everything; only objects allocated on a path
# through aio count (other subsystems' reports are not ours to judge).
KMEMLEAK=/sys/kernel/debug/kmemleak
kmemleak_clear() {
	mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
	[ -w $KMEMLEAK ] && echo clear >$KMEMLEAK
}
kmemleak_check() {
	f=$out/kmemleak.out
	: >"$f"
	if [ ! -w $KMEMLEAK ]; then
		echo "ok 1 - kmemleak # SKIP not available" >>"$f"
		tap_end "$f" 0
		return
	fi
	# The file stays when kmemleak turned itself off (it fails the
	# writes then): that must not read as "no leak".
	if ! { echo scan >$KMEMLEAK && sleep 5 && echo scan >$KMEMLEAK; } 2>/dev/null; then
		check "$f" 0 "kmemleak: scan (kmemleak disabled itself?)"
		dmesg | grep -i kmemleak | tail -n 5 | sed 's/^/# /' >>"$f"
		tap_end "$f" 0
		return
	fi
	cat $KMEMLEAK >"$out/kmemleak.log"
	n=$(grep -c "^unreferenced object" "$out/kmemleak.log")
	a=$(grep -ci "aio" "$out/kmemleak.log")
	echo "# kmemleak: $n unreferenced objects, $a lines mention aio" >>"$f"
	grep -i -B 12 "aio" "$out/kmemleak.log" | head -n 60 | sed 's/^/# /' >>"$f"
	check "$f" "$([ "$a" = 0 ] && echo 1)" "kmemleak: no leak on an aio path"
	tap_end "$f" 0
}

kmemleak_clear
case $mode in
slice)
	for s in 1 2; do aio_fuzz_seed $s 400; done
	for s in 1 2; do trinity_seed $s 2500 300; done
	soak 30
	stress_ng 2 2000 30
	;;
soak)
	# One after the other (aio-nr and the slab counts the programs check
	# are system-wide): trinity seeds (at most 300k calls) for half the
	# time, aio_fuzz seeds (at most 5000 steps) for a sixth, the soak for
	# a quarter, stress-ng for the rest.
	until_end() { echo $(($1 - $(date +%s))); }
	end=$(($(date +%s) + secs / 2))
	s=1
	while [ "$(until_end $end)" -gt 30 ]; do
		# About 150 calls a second on a debug guest: what fits, at most
		# 300k a seed.
		rem=$(until_end $end)
		calls=$((rem * 100))
		[ $calls -gt 300000 ] && calls=300000
		trinity_seed $s $calls $((rem + 900))
		s=$((s + 1))
	done
	end=$(($(date +%s) + secs / 6))
	s=1
	while [ "$(until_end $end)" -gt 30 ]; do
		steps=$(($(until_end $end) * 5))
		[ $steps -gt 5000 ] && steps=5000
		aio_fuzz_seed $s $steps
		s=$((s + 1))
	done
	soak $((secs / 4))
	stress_ng 2 "" $((secs / 12))
	;;
*)
	echo "usage: fuzz.sh slice|soak IMPL OUTDIR DIR SLOWDIR BLOCKDEV [SECONDS]" >&2
	exit 2
	;;
esac
kmemleak_check
