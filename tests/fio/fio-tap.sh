#!/bin/sh
# fio with ioengine=libaio against block devices, as TAP: verified random
# writes (crc32c) with batched submission and completion, each with
# io_getevents reaping and with userspace_reap=1 (fio reads the ring).
#   fio-tap.sh DEV...
n=0
fail=0
for dev in "$@"; do
	for reap in 0 1; do
		n=$((n + 1))
		out=$(fio --name=verify --filename="$dev" --ioengine=libaio --direct=1 \
			--rw=randwrite --bs=4k --size=8m --iodepth=16 \
			--iodepth_batch_submit=4 --iodepth_batch_complete_min=2 \
			--iodepth_batch_complete_max=8 --userspace_reap=$reap \
			--verify=crc32c --verify_fatal=1 --do_verify=1 2>&1)
		rc=$?
		if [ $rc = 0 ] && echo "$out" | grep -q "err= 0"; then
			echo "ok $n - fio verify on $dev, userspace_reap=$reap"
		else
			echo "not ok $n - fio verify on $dev, userspace_reap=$reap (exit $rc)"
			echo "$out" | tail -n 15 | sed 's/^/# /'
			fail=1
		fi
	done
done
echo "1..$n"
exit $fail
