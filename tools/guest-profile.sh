#!/bin/sh
# Runs inside the guest on a release kernel (tools/profile.sh): samples
# every CPU with the software cpu-clock (TCG has no PMU) while a workload
# runs, and leaves the call chains as text for tools/profile-report.py.
#   RESULTS/<workload>.txt.gz   perf script output (ip and symbol per frame)
#   RESULTS/<workload>.out      the workload's own output
# Workloads: syscall_cost (every AIO system call path in turn) and fio
# 4k O_DIRECT random reads of null_blk at queue depth 1 (libaio).
R=/mnt/work/results
B=/build/tests/bench
mkdir -p $R
echo 0 >/proc/sys/kernel/kptr_restrict
echo -1 >/proc/sys/kernel/perf_event_paranoid
cd /tmp
sample() {	# sample NAME CMD...
	name=$1
	shift
	perf record -q -o /tmp/$name.data -e cpu-clock -F 5000 -a -g -- \
		"$@" >$R/$name.out 2>&1
	perf script -i /tmp/$name.data -F ip,sym --no-inline 2>/dev/null | gzip >$R/$name.txt.gz
	[ -s /tmp/$name.data ] || failed=1
	rm -f /tmp/$name.data
}
failed=0
# The page-cache hit and O_DIRECT paths need an ext4 file and null_blk.
mkdir -p /tmp/ext4
mkfs.ext4 -q -F /dev/vda && mount -t ext4 /dev/vda /tmp/ext4 &&
	dd if=/dev/zero of=/tmp/ext4/warm bs=1M count=1 status=none
sample syscall_cost $B/syscall_cost 20000 /tmp/ext4/warm /dev/nullb0
sample fio-direct-qd1 fio --name=p --filename=/dev/nullb0 --direct=1 --rw=randread \
	--bs=4k --iodepth=1 --ioengine=libaio --time_based --runtime=6 --output-format=terse
[ $failed = 0 ] && echo done >$R/complete
