#!/bin/bash
# Decides whether guests can use KVM: boots the given kernel once under KVM
# with nothing to run and a short timeout.  Writes "kvm" or "tcg" to
# $AIO_CACHE/accel (read by qemu-run.sh) and prints it.  Nested KVM on these
# machines tends to die with emulation errors, so this is a probe, never an
# assumption.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

vmlinux=${1:?vmlinux}
accel=tcg
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	work=$AIO_CACHE/runs/kvm-probe
	printf '#!/bin/sh\n' | stage_guest "$work"
	echo kvm >"$AIO_CACHE/accel"
	if "$SRC/tools/qemu-run.sh" "$vmlinux" "$work" 40 >/dev/null 2>&1 &&
	   grep -q "aio-guest: powering off" "$work/console.log"; then
		accel=kvm
	fi
fi
echo $accel >"$AIO_CACHE/accel"
echo $accel
