#!/bin/sh
# Runs inside the guest (tools/bench.sh copies it to the work share): one
# round of the benchmark on one kernel.  Settings come from
# /mnt/work/bench.conf; every figure lands as JSON in /mnt/work/out/.
#   fio-ENGINE-qdN-MODE-jJ.json   fio's own JSON for one matrix cell
#   wakeups.json, submit_latency.json   the two micro-measurements
#   syscall_cost.json   ns per call of each AIO system call path
. /mnt/work/bench.conf
O=/mnt/work/out
B=/build/tests/bench
mkdir -p $O

# The fio matrix on null_blk (memory backed: no device latency, so this
# measures the submission and completion paths).
for engine in $ENGINES; do
	for jobs in $JOBS; do
		for qd in $IODEPTHS; do
			for mode in $MODES; do
				[ "$mode" = batched ] && [ "$qd" = 1 ] && continue
				batch=1
				[ "$mode" = batched ] && batch=$(( qd / 4 > 1 ? qd / 4 : 1 ))
				case $engine in
				io_uring-polled) eng="--ioengine=io_uring --hipri=1" ;;
				*) eng="--ioengine=$engine" ;;
				esac
				out=$O/fio-$engine-qd$qd-$mode-j$jobs.json
				# shellcheck disable=SC2086
				timeout -k 5 $((RUNTIME * 3 + 60)) fio --name=bench \
					--filename=/dev/nullb0 $eng --direct=1 \
					--rw=randread --bs=4k --size=1g \
					--iodepth=$qd --iodepth_batch_submit=$batch \
					--iodepth_batch_complete_min=$batch \
					--numjobs=$jobs --group_reporting \
					--time_based --runtime=$RUNTIME \
					--output-format=json --output=$out.tmp \
					>$O/fio-$engine-qd$qd-$mode-j$jobs.log 2>&1 &&
					mv $out.tmp $out
			done
		done
	done
done

if [ "${MICRO:-1}" = 0 ]; then
	echo done >$O/complete
	exit 0
fi

# What each AIO system call path costs (lookup, reaping, submit, a read
# that completes inside io_submit), to locate differences.
timeout -k 5 300 $B/syscall_cost "$COST_ITERATIONS" \
	>$O/syscall_cost.json 2>$O/syscall_cost.log || rm -f $O/syscall_cost.json

# Wake-ups per completion: a sleeper in io_getevents(min_nr=16, nr=32)
# while reads complete one by one.
timeout -k 5 300 $B/wakeups /dev/nullb0 "$WAKE_EVENTS" 16 32 "$WAKE_GAP_US" \
	>$O/wakeups.json 2>$O/wakeups.log || rm -f $O/wakeups.json

# Time inside io_submit for cold buffered 4k reads at queue depth 32, on an
# ext4 file on virtio-blk, page cache dropped first.
mkdir -p /tmp/ext4
if mkfs.ext4 -q -F /dev/vda && mount -t ext4 /dev/vda /tmp/ext4; then
	dd if=/dev/zero of=/tmp/ext4/cold bs=1M count="$LAT_FILE_MB" conv=fsync \
		status=none
	sync
	echo 3 >/proc/sys/vm/drop_caches
	timeout -k 5 600 $B/submit_latency /tmp/ext4/cold "$LAT_READS" 32 \
		>$O/submit_latency.json 2>$O/submit_latency.log ||
		rm -f $O/submit_latency.json
	umount /tmp/ext4
fi
echo done >$O/complete
