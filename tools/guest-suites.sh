#!/bin/sh
# Runs inside the guest (copied to the work share as run.sh by
# tools/run-suites.sh).  Each suite leaves RESULTS/<suite>/<test>.out whose
# last line is "rc=N".  $1 is the implementation the kernel should have.
impl=$1
R=/mnt/work/results
T=/build/tests
mkdir -p $R/abi $R/libaio $R/fio $R/fault $R/fuzz

run() {	# run OUTFILE TIMEOUT CMD...
	out=$1 tmo=$2
	shift 2
	timeout -k 5 "$tmo" "$@" >"$out" 2>&1
	echo "rc=$?" >>"$out"
}

for t in setup_destroy getevents_submit compat32; do
	run $R/abi/$t.out 300 $T/abi/$t
done
run $R/abi/implementation.out 60 $T/abi/implementation "$impl"
run $R/abi/poll_cancel.out 300 $T/abi/poll_cancel
# Requests that complete inside io_submit: events, eventfd counts, slots.
run $R/abi/batch.out 300 $T/abi/batch
# Many reapers on one context: exactly once, destroy/exit/timeouts/signals
# with sleepers, and (ours) one wake-up per event, no starved min_nr.
run $R/abi/reapers.out 300 $T/abi/reapers "$impl"
run $R/abi/usb_cancel.out 300 $T/abi/usb_cancel
# Fault injection (per-task fail-nth, as syzkaller): allocation or user copy
# n of each system call and opcode fails, n = 1, 2, ... (suite "fault").
run $R/fault/fault_inject.out 600 $T/abi/fault_inject "$impl"
# Buffered AIO on FUSE (no IOCB_NOWAIT), served by the test itself.
run $R/abi/fuse_pool.out 300 $T/abi/fuse_pool /tmp/fuse "$impl"

# Stress (threads, shared and private contexts, user-space reaping) and
# fio on the raw devices, before /dev/vda gets a file system.
run $R/abi/stress-nullb.out 300 $T/abi/stress /dev/nullb0 1
run $R/abi/stress-nvme.out 300 $T/abi/stress /dev/nvme0n1 1
run $R/abi/stress-tmpfs.out 300 $T/abi/stress /tmp/stressfile 0
mkdir -p $R/fio
run $R/fio/fio.out 600 sh $T/fio-tap.sh /dev/nullb0 /dev/vda /dev/nvme0n1

# The data path on tmpfs, then on ext4 (virtio-blk) with O_DIRECT on the
# NVMe disk and null_blk (which does not keep data).
run $R/abi/rw-tmpfs.out 300 $T/abi/rw /tmp
mkdir -p /tmp/ext4
if mkfs.ext4 -q -F /dev/vda && mount -t ext4 /dev/vda /tmp/ext4; then
	run $R/abi/rw-ext4.out 300 $T/abi/rw /tmp/ext4 /dev/nvme0n1 /dev/nullb0
	run $R/abi/stress-ext4.out 300 $T/abi/stress /tmp/ext4/stressfile 0
	run $R/abi/stress-ext4-direct.out 300 $T/abi/stress /tmp/ext4/stressfile 1
	run $R/abi/stress-ext4-dsync.out 300 $T/abi/stress /tmp/ext4/stressfile 2
	run $R/fio/fio-buffered.out 600 sh $T/fio-buffered-tap.sh /tmp/ext4
	hdir=/tmp/ext4/harness fdir=/tmp/ext4/fuzz
else
	echo "rc=1 (no ext4 on /dev/vda)" >$R/abi/rw-ext4.out
	hdir=/tmp/harness fdir=/tmp/fuzz
fi

# Buffered reads on a cold cache over a slow device: ext4 on a null_blk
# (configfs, memory-backed) whose every request takes 100 ms: long enough
# that io_submit of 32 cold reads ends first even on a TCG debug guest.
slow=/sys/kernel/config/nullb/slow
mkdir -p /sys/kernel/config /tmp/slow
mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config
slow_nullb() {
	mkdir $slow && echo 256 >$slow/size && echo 1 >$slow/memory_backed &&
	echo 4096 >$slow/blocksize && echo 2 >$slow/irqmode &&
	echo 100000000 >$slow/completion_nsec && echo 1 >$slow/power &&
	# Named after the configfs directory since 6.9, nullbN before.
	dev=/dev/slow && { [ -b $dev ] || dev=/dev/nullb$(cat $slow/index); } &&
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 $dev &&
	mount -t ext4 $dev /tmp/slow
}
# O_DIRECT on a full queue: null_blks whose every request takes 100 ms,
# with 2 tags (used raw) and with 4 tags (under ext4).
small_nullb() {	# small_nullb NAME SIZE_MB TAGS: sets $sdev
	d=/sys/kernel/config/nullb/$1
	mkdir $d && echo $2 >$d/size && echo 1 >$d/memory_backed &&
	echo 4096 >$d/blocksize && echo 2 >$d/irqmode &&
	echo 100000000 >$d/completion_nsec && echo 1 >$d/submit_queues &&
	echo $3 >$d/hw_queue_depth && echo 1 >$d/power &&
	sdev=/dev/$1 && { [ -b $sdev ] || sdev=/dev/nullb$(cat $d/index); }
}
tiny_nullb() {
	small_nullb tiny 16 2 && tdev=$sdev &&
	small_nullb tinyfs 64 4 && mkdir -p /tmp/tinyfs &&
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 $sdev &&
	mount -t ext4 $sdev /tmp/tinyfs
}
# The fixed-seed slice of `make soak` (suite "fuzz"): trinity, aio_fuzz,
# the soak and stress-ng, on ext4, the slow device and null_blk.
fuzz_slice() {
	sh $T/fuzz/fuzz.sh slice "$impl" $R/fuzz $fdir "$1" /dev/nullb0
}
if slow_nullb >/tmp/slow-setup.log 2>&1; then
	run $R/abi/async_read.out 300 $T/abi/async_read /tmp/slow "$impl"
	run $R/abi/sync_write.out 300 $T/abi/sync_write /tmp/slow $dev "$impl" $slow/badblocks
	if tiny_nullb >/tmp/tiny-setup.log 2>&1; then
		run $R/abi/direct_full.out 300 $T/abi/direct_full $tdev /tmp/tinyfs "$impl"
		umount /tmp/tinyfs
	else
		{ cat /tmp/tiny-setup.log; echo "rc=1 (no small null_blks)"; } >$R/abi/direct_full.out
	fi
	fuzz_slice /tmp/slow
	umount /tmp/slow
else
	{ cat /tmp/slow-setup.log; echo "rc=1 (no ext4 on a slow null_blk)"; } |
		tee $R/abi/direct_full.out $R/abi/sync_write.out >$R/abi/async_read.out
	fuzz_slice -
fi

# libaio's harness, set up as its Makefile's check targets do (testdir
# files for every case, loop-mounted ext2 images for 8 and 10), in a
# writable copy on ext4 (where RWF_NOWAIT and O_DIRECT work, for 21.t).
cp -a $T/harness $hdir
cd $hdir
mkdir -p testdir testdir.ext2 testdir.enospc
for c in $(cat /mnt/work/harness-cases); do
	for f in rofile:400 rwfile:600 wofile:200; do
		rm -f testdir/${f%%:*}
		echo test >testdir/${f%%:*}
		chmod ${f##*:} testdir/${f%%:*}
	done
	case $c in
	8)
		dd if=/dev/zero bs=1M count=10 of=ext2.img 2>/dev/null
		mke2fs -q -F -b 4096 ext2.img
		mount -o loop -t ext2 ext2.img testdir.ext2
		run $R/libaio/$c.out 600 ./cases/$c.p
		umount testdir.ext2
		;;
	10)
		mount -o loop -t ext2 ext2-enospc.img testdir.enospc
		run $R/libaio/$c.out 600 ./cases/$c.p
		umount testdir.enospc
		;;
	*)
		run $R/libaio/$c.out 600 ./cases/$c.p
		;;
	esac
done
