#!/bin/bash
# The fuzzers and the load of issue 12 for a given time on the sanitizer
# (test) kernels:  tools/soak.sh [MINUTES]   (default 30; `make soak`)
# SOAK_KERNELS="rust c" also soaks the C kernel (default: rust).  Prints
# "soak-IMPL: N passed, N failed" and "console-IMPL: ..." per kernel; the
# pieces' outputs stay in $AIO_CACHE/runs/soak-IMPL/results/soak.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

minutes=${1:-${SOAK_MINUTES:-30}}
secs=$((minutes * 60))
"$SRC/tools/build-tests.sh"
rc=0
for impl in ${SOAK_KERNELS:-rust}; do
	vmlinux=$("$SRC/tools/kbuild.sh" test "$impl")
	work=$AIO_CACHE/runs/soak-$impl
	stage_guest "$work" <<EOS
#!/bin/sh
R=/mnt/work/results/soak
mkdir -p /tmp/ext4 /tmp/slow /sys/kernel/config
mkfs.ext4 -q -F /dev/vda && mount -t ext4 /dev/vda /tmp/ext4
mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config
# A slow device (every request 100 ms) for cold reads in flight at exit.
s=/sys/kernel/config/nullb/slow
slow=-
if mkdir \$s && echo 256 >\$s/size && echo 1 >\$s/memory_backed &&
   echo 4096 >\$s/blocksize && echo 2 >\$s/irqmode &&
   echo 100000000 >\$s/completion_nsec && echo 1 >\$s/power &&
   dev=/dev/slow && { [ -b \$dev ] || dev=/dev/nullb\$(cat \$s/index); } &&
   mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 \$dev &&
   mount -t ext4 \$dev /tmp/slow; then
	slow=/tmp/slow
fi
sh /build/tests/fuzz/fuzz.sh soak $impl \$R /tmp/ext4/fuzz \$slow /dev/nullb0 $secs
EOS
	log "soak on the $impl test kernel: $minutes min"
	qrc=0
	"$SRC/tools/qemu-run.sh" "$vmlinux" "$work" $((secs * 2 + 1800)) || qrc=$?
	python3 "$SRC/tools/parse-results.py" "$work" "$impl" "$qrc" || rc=1
	grep -h "^# \(trinity seed\|aio_fuzz seed\|aio_soak\|kmemleak\)" \
		"$work"/results/soak/*.out >&2 || true
done
exit $rc
