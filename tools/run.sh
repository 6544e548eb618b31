#!/bin/bash
# The main job: builds the Rust release kernel, boots it and runs a real fio
# workload with ioengine=libaio on a virtio-blk disk and on null_blk, and
# shows fio's output.
#   tools/run.sh [rust|c]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

impl=${1:-rust}
vmlinux=$("$SRC/tools/kbuild.sh" release "$impl")
[ -e "$AIO_CACHE/accel" ] || "$SRC/tools/accel-probe.sh" "$vmlinux" >/dev/null

work=$AIO_CACHE/runs/run-$impl
rm -rf "$work"
mkdir -p "$work"
cat >"$work/run.sh" <<'GUEST'
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
chmod +x "$work/run.sh"
log "booting release-$impl (accel $(cat "$AIO_CACHE/accel"))"
"$SRC/tools/qemu-run.sh" "$vmlinux" "$work" 600
cat "$work/fio.txt"
