#!/bin/bash
# The main job: builds the release kernels (Rust, and C for comparison),
# boots each in QEMU and runs the same fio job with ioengine=libaio on a
# virtio-blk disk and on null_blk; shows fio's output for our kernel and a
# side-by-side IOPS table.
#   tools/run.sh            Rust and C
#   tools/run.sh rust       Rust only
set -euo pipefail
. "$(dirname "$0")/lib.sh"

impls=${*:-rust c}
for impl in $impls; do
	"$SRC/tools/kbuild.sh" release "$impl" >/dev/null
done
first=$(echo $impls | cut -d' ' -f1)
[ -e "$AIO_CACHE/accel" ] ||
	"$SRC/tools/accel-probe.sh" "$ROOT/build/out/release-$first/vmlinux" >/dev/null

for impl in $impls; do
	work=$AIO_CACHE/runs/run-$impl
	stage_guest "$work" <<'GUEST'
#!/bin/sh
cd /mnt/work
for dev in /dev/vda /dev/nullb0; do
	echo "=== fio: 4k random reads, ioengine=libaio, iodepth 32, O_DIRECT, on $dev"
	fio --name=randread --filename=$dev --ioengine=libaio --direct=1 \
		--rw=randread --bs=4k --iodepth=32 --iodepth_batch_submit=8 \
		--iodepth_batch_complete_min=1 --size=256m --runtime=10 \
		--time_based --group_reporting 2>&1
	echo "=== fio exit status: $?"
done >fio.txt
GUEST
	log "booting release-$impl (accel $(cat "$AIO_CACHE/accel"))"
	"$SRC/tools/qemu-run.sh" "$ROOT/build/out/release-$impl/vmlinux" "$work" 600
	[ "$impl" = "$first" ] && cat "$work/fio.txt"
done

iops() {	# iops IMPL DEV
	awk -v dev="$2" '/^=== fio: / { on = index($0, dev) > 0 }
		on && /IOPS=/ { sub(/.*IOPS=/, ""); sub(/,.*/, ""); print; exit }' \
		"$AIO_CACHE/runs/run-$1/fio.txt"
}
echo
printf '%-12s' "device"; for impl in $impls; do printf '%14s' "$impl IOPS"; done; echo
for dev in /dev/vda /dev/nullb0; do
	printf '%-12s' "$dev"
	for impl in $impls; do printf '%14s' "$(iops "$impl" "$dev")"; done
	echo
done
echo "(one 10 s run each, $(cat "$AIO_CACHE/accel"), 2 vCPUs: a smoke figure, not a benchmark)"
