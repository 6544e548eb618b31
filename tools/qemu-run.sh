#!/bin/bash
# Boots a kernel in QEMU and runs the work directory's run.sh in it:
#   tools/qemu-run.sh VMLINUX WORKDIR [TIMEOUT_S] [EXTRA_CMDLINE]
# The guest's root is the toolchain tree over 9p (read-only), WORKDIR is
# shared read-write at /mnt/work.  The console goes to WORKDIR/console.log.
# Exit status: 0 if the guest powered off by itself, 124 on a timeout (the
# guest is killed), another code if QEMU failed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

vmlinux=${1:?vmlinux}
work=$(cd "${2:?workdir}" && pwd)
tmo=${3:-600}
extra=${4:-}

install -D -m 755 "$SRC/tools/guest-init.sh" "$ROOT/usr/local/sbin/aio-guest-init"
mkdir -p "$ROOT/mnt/work"

# Disk images (contents are scratch; tests make their own file systems).
disks=$AIO_CACHE/disks
mkdir -p "$disks"
for d in vblk nvme; do
	[ "$(stat -c %s "$disks/$d.img" 2>/dev/null)" = 2147483648 ] || truncate -s 2G "$disks/$d.img"
done

accel=$(cat "$AIO_CACHE/accel" 2>/dev/null || echo tcg)
case $accel in
kvm) acc=(-accel kvm -cpu host) ;;
*) acc=(-accel tcg,thread=multi -cpu max) ;;
esac

cmdline="console=ttyS0 root=root rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=512000,cache=loose ro"
cmdline+=" init=/usr/local/sbin/aio-guest-init panic=-1 loglevel=7"
cmdline+=" null_blk.nr_devices=1 null_blk.queue_mode=2 null_blk.gb=1 null_blk.memory_backed=1 null_blk.poll_queues=2"
cmdline+=" $extra"

qemu=(qemu-system-x86_64 "${acc[@]}" -m 3G -smp 2 -nodefaults -no-reboot
	-display none -serial "file:/build/work/console.log"
	-kernel "/build/vmlinux" -append "$cmdline"
	-fsdev "local,id=rootfs,path=/,security_model=none,readonly=on"
	-device "virtio-9p-pci,fsdev=rootfs,mount_tag=root"
	-fsdev "local,id=workfs,path=/build/work,security_model=none"
	-device "virtio-9p-pci,fsdev=workfs,mount_tag=work"
	-drive "file=/build/disks/vblk.img,if=virtio,format=raw,cache=unsafe"
	-drive "file=/build/disks/nvme.img,if=none,id=nvm,format=raw,cache=unsafe"
	-device "nvme,serial=aiors0001,drive=nvm")

# QEMU runs inside the tree too; bind the kernel, the work dir and the disks.
rc=0
unshare -m --propagation private /bin/bash -c '
	set -e
	root=$1 vmlinux=$2 work=$3 disks=$4 tmo=$5; shift 5
	mkdir -p "$root/build/work" "$root/build/disks"
	touch "$root/build/vmlinux"
	mount --bind "$vmlinux" "$root/build/vmlinux"
	mount --bind "$work" "$root/build/work"
	mount --bind "$disks" "$root/build/disks"
	mount -t proc proc "$root/proc"
	mount --rbind /dev "$root/dev"
	exec timeout -k 5 "$tmo" chroot "$root" /usr/bin/env -i \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"' \
	qemu-run "$ROOT" "$vmlinux" "$work" "$disks" "$tmo" "${qemu[@]}" \
	>"$work/qemu.log" 2>&1 || rc=$?
if [ $rc = 124 ] || [ $rc = 137 ]; then
	echo "qemu-run: guest timed out after ${tmo}s (console kept in $work/console.log)" >&2
	exit 124
fi
exit $rc
