#!/bin/sh
# PID 1 of the test guest.  The root is the toolchain tree over 9p
# (read-only); /mnt/work is the run's work share: it holds run.sh, which
# this script runs, and receives the results.  Then the guest powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/shm /dev/pts
mount -t tmpfs shm /dev/shm
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 work /mnt/work
echo "aio-guest: up, kernel $(uname -r), $(nproc) cpus"
if [ -x /mnt/work/run.sh ]; then
	(cd /mnt/work && ./run.sh) 2>&1
	echo "aio-guest: run.sh exited $?"
fi
sync
echo "aio-guest: powering off"
# reboot(2) directly: synchronous, nothing is exec'd from the 9p root
# while it goes away.  sysrq is the fallback; then wait in a builtin.
busybox poweroff -f
echo o >/proc/sysrq-trigger
while :; do read -r _ </dev/console; done
