#!/bin/sh
# Runs inside the guest on a profiling kernel (tools/profile.sh): samples
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
	perf record -q -o /tmp/$name.data -e cpu-clock -F "${PROFILE_HZ:-5000}" -a -g -- \
		"$@" >$R/$name.out 2>&1
	perf script -i /tmp/$name.data -F ip,sym --no-inline 2>/dev/null | gzip >$R/$name.txt.gz
	rm -f /tmp/$name.data
}
sample syscall_cost $B/syscall_cost "${PROFILE_ITERATIONS:-20000}"
sample fio-direct-qd1 fio --name=p --filename=/dev/nullb0 --direct=1 --rw=randread \
	--bs=4k --iodepth=1 --ioengine=libaio --time_based --runtime=6 --output-format=terse
echo done >$R/complete
