#!/bin/sh
# Runs inside the guest (copied to the work share as run.sh by
# tools/run-suites.sh).  Each suite leaves RESULTS/<suite>/<test>.out whose
# last line is "rc=N".  $1 is the implementation the kernel should have.
impl=$1
R=/mnt/work/results
T=/build/tests
mkdir -p $R/abi $R/libaio

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

# libaio's harness wants a writable copy of itself (it creates test files).
cp -a $T/harness /tmp/harness
cd /tmp/harness
for c in $(cat /mnt/work/harness-cases); do
	run $R/libaio/$c.out 300 ./cases/$c.p
done
