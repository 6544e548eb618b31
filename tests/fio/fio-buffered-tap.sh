#!/bin/sh
# fio with ioengine=libaio on buffered files, as TAP, each verified
# (crc32c): random writes with O_SYNC and with O_DSYNC, and random reads
# on a cold page cache (the file written, synced and dropped from the
# cache first, then read back and checked with verify_only).
#   fio-buffered-tap.sh DIR
dir=$1
n=0
fail=0
common="--ioengine=libaio --direct=0 --bs=4k --iodepth=16
	--iodepth_batch_submit=4 --iodepth_batch_complete_min=2
	--iodepth_batch_complete_max=8 --verify=crc32c --verify_fatal=1"

point() {	# point NAME RC OUTPUT
	n=$((n + 1))
	if [ "$2" = 0 ] && echo "$3" | grep -q "err= 0"; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1 (exit $2)"
		echo "$3" | tail -n 15 | sed 's/^/# /'
		fail=1
	fi
}

# 2 MiB for the synchronous writes: on C each one waits for the disk inside
# io_submit (8 MiB took over 7 minutes on a TCG debug guest).
for sync in sync dsync; do
	# shellcheck disable=SC2086
	out=$(fio --name=$sync --filename="$dir/fio-$sync" --rw=randwrite $common \
		--size=2m --sync=$sync --do_verify=1 2>&1)
	point "fio randwrite with sync=$sync, verified" $? "$out"
	rm -f "$dir/fio-$sync"
done

# shellcheck disable=SC2086
out=$(fio --name=cold --filename="$dir/fio-cold" --rw=randwrite $common --size=8m --do_verify=0 2>&1)
point "fio randwrite of the file to read cold" $? "$out"
sync
echo 3 >/proc/sys/vm/drop_caches
# shellcheck disable=SC2086
out=$(fio --name=cold --filename="$dir/fio-cold" --rw=randwrite $common --size=8m --verify_only=1 2>&1)
point "fio cold buffered random reads, verified" $? "$out"
rm -f "$dir/fio-cold"
echo "1..$n"
exit $fail
