#!/bin/sh
# Runs inside the guest (tools/bench.sh copies it to the work share): one
# round of the benchmark on one kernel.  Settings come from
# /mnt/work/bench.conf; every figure lands as JSON in /mnt/work/out/.
#   fio-ENGINE-qdN-MODE-jJ.json   fio's own JSON for one matrix cell
#   wakeups.json, submit_latency.json   the two micro-measurements
#   syscall_cost.json   ns per call of each AIO system call path
#   cell-{shared,coldstart}-{aio,uring}.json   cells of tests/bench/ctx_cells.c
#   reap-{sleepers-wW,twowaiter,throughput}.json   tests/bench/reapers.c
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
				# User-space reaping (fio reads the ring itself,
				# libaio only; it needs a minimum of 0 events).
				[ "$mode" = ureap ] && [ "$engine" != libaio ] && continue
				batch=1 bmin=1 reap=
				[ "$mode" = batched ] && batch=$(( qd / 4 > 1 ? qd / 4 : 1 )) bmin=$batch
				[ "$mode" = ureap ] && bmin=0 reap=--userspace_reap=1
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
					--iodepth_batch_complete_min=$bmin $reap \
					--numjobs=$jobs --group_reporting \
					--time_based --runtime=$RUNTIME \
					--output-format=json --output=$out.tmp \
					>$O/fio-$engine-qd$qd-$mode-j$jobs.log 2>&1 &&
					mv $out.tmp $out
			done
		done
	done
done

# The paths that must not wait inside io_submit (buffered reads, O_DSYNC
# writes), on ext4 over virtio-blk and over a null_blk whose every request
# takes LAT_NS (so that the device, not TCG, sets the pace).  Cold cells
# drop the page cache first; fio's fadvise_hint makes random reads skip
# readahead and sequential ones use it.  slat is fio's time inside
# io_submit (libaio) or io_uring_enter (io_uring), per I/O.
#   bfio-CELL-ENGINE.json
if [ "${BUFFERED:-0}" = 1 ]; then
	mkdir -p /sys/kernel/config /tmp/b-vda /tmp/b-lat
	mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config
	lat=/sys/kernel/config/nullb/lat
	mkdir $lat && echo $((BUF_FILE_MB * 2)) >$lat/size && echo 1 >$lat/memory_backed &&
		echo 4096 >$lat/blocksize && echo 2 >$lat/irqmode &&
		echo "$LAT_NS" >$lat/completion_nsec && echo 1 >$lat/power
	ldev=/dev/lat
	[ -b $ldev ] || ldev=/dev/nullb$(cat $lat/index)
	mkfs.ext4 -q -F /dev/vda && mount -t ext4 /dev/vda /tmp/b-vda
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 $ldev &&
		mount -t ext4 $ldev /tmp/b-lat
	for d in vda lat; do
		fio --name=prep --filename=/tmp/b-$d/f --rw=write --bs=1m \
			--size="${BUF_FILE_MB}m" --end_fsync=1 >/dev/null 2>&1
	done
	bcell() {	# bcell NAME DEV COLD RW BS QD [FIO OPTIONS...]
		name=$1 dev=$2 cold=$3 rw=$4 bs=$5 qd=$6
		# BCELLS, when set, names the cells to run (the smoke run's few).
		if [ -n "${BCELLS:-}" ]; then
			case " $BCELLS " in
			*" $name "*) ;;
			*) return 0 ;;
			esac
		fi
		shift 6
		for engine in libaio io_uring; do
			out=$O/bfio-$name-$engine.json
			sync
			if [ "$cold" = 1 ]; then
				echo 3 >/proc/sys/vm/drop_caches
			else
				cat /tmp/b-$dev/f >/dev/null
			fi
			# shellcheck disable=SC2086
			timeout -k 5 $((RUNTIME * 3 + 60)) fio --name=bench \
				--filename=/tmp/b-$dev/f --ioengine=$engine --direct=0 \
				--rw=$rw --bs=$bs --iodepth=$qd --size="${BUF_FILE_MB}m" \
				--time_based --runtime=$RUNTIME --slat_percentiles=1 \
				--output-format=json --output=$out.tmp "$@" \
				>$O/bfio-$name-$engine.log 2>&1 && mv $out.tmp $out
		done
	}
	bcell cold-rand-qd1-vda vda 1 randread 4k 1
	bcell cold-rand-qd32-vda vda 1 randread 4k 32
	bcell cold-rand-qd1-lat lat 1 randread 4k 1
	bcell cold-rand-qd32-lat lat 1 randread 4k 32
	bcell dsync-qd32-lat lat 1 randwrite 4k 32 --sync=dsync
	bcell dsync-qd32-vda vda 1 randwrite 4k 32 --sync=dsync
	bcell warm-rand-qd32-vda vda 0 randread 4k 32 --invalidate=0
	bcell cold-seq128k-qd8-vda vda 1 read 128k 8
	umount /tmp/b-vda /tmp/b-lat
fi

# Cells fio cannot run (tests/bench/ctx_cells.c), on null_blk: 2 threads
# submitting to and reaping from one shared context (io_uring: a ring per
# thread), and cold starts (a context, 64 reads, destroyed; repeated).
#   cell-CELL-ENGINE.json
for engine in aio uring; do
	timeout -k 5 $((RUNTIME * 3 + 60)) $B/ctx_cells shared /dev/nullb0 "$RUNTIME" 8 $engine \
		>$O/cell-shared-$engine.json 2>$O/cell-shared-$engine.log ||
		rm -f $O/cell-shared-$engine.json
	timeout -k 5 $((RUNTIME * 3 + 60)) $B/ctx_cells coldstart /dev/nullb0 "$RUNTIME" $engine \
		>$O/cell-coldstart-$engine.json 2>$O/cell-coldstart-$engine.log ||
		rm -f $O/cell-coldstart-$engine.json
done

# Many io_getevents sleepers on one context (tests/bench/reapers.c), AIO
# only: W sleepers with min_nr=1 while reads complete one by one (wasted
# wake-ups), a min_nr=16 sleeper behind a min_nr=1 one (starvation), and
# 2 submitters with 4 reapers (throughput).
#   reap-sleepers-wW.json, reap-twowaiter.json, reap-throughput.json
reap_tmo=$((REAP_EVENTS * (REAP_GAP_US + 2000) / 1000000 * 4 + 120))
for w in 1 2 4 8; do
	timeout -k 5 $reap_tmo $B/reapers sleepers /dev/nullb0 $w "$REAP_EVENTS" "$REAP_GAP_US" \
		>$O/reap-sleepers-w$w.json 2>$O/reap-sleepers-w$w.log ||
		rm -f $O/reap-sleepers-w$w.json
done
timeout -k 5 $reap_tmo $B/reapers twowaiter /dev/nullb0 "$REAP_EVENTS" "$REAP_GAP_US" \
	>$O/reap-twowaiter.json 2>$O/reap-twowaiter.log || rm -f $O/reap-twowaiter.json
timeout -k 5 $((RUNTIME * 3 + 60)) $B/reapers throughput /dev/nullb0 "$RUNTIME" \
	>$O/reap-throughput.json 2>$O/reap-throughput.log || rm -f $O/reap-throughput.json

if [ "${MICRO:-1}" = 0 ]; then
	echo done >$O/complete
	exit 0
fi

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
fi
# What each AIO system call path costs (lookup, reaping, submit, a read
# that completes inside io_submit, a page-cache hit of an ext4 file, an
# O_DIRECT read of null_blk), to locate differences.
cached=-
[ -f /tmp/ext4/cold ] && cached=/tmp/ext4/cold
timeout -k 5 300 $B/syscall_cost "$COST_ITERATIONS" $cached /dev/nullb0 \
	>$O/syscall_cost.json 2>$O/syscall_cost.log || rm -f $O/syscall_cost.json
mountpoint -q /tmp/ext4 && umount /tmp/ext4
echo done >$O/complete
