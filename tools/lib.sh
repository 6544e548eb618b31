# Shared by the tools: paths and a way to run a command inside the toolchain tree.
# shellcheck shell=bash
AIO_CACHE=${AIO_CACHE:-/var/cache/aio-rs}
ROOT=$AIO_CACHE/root
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KSRC_PRISTINE=/usr/src/linux-source-7.3	# inside $ROOT
JOBS=${JOBS:-$(nproc)}

# Runs "$@" chrooted into the toolchain tree, in a private mount namespace
# (so nothing stays mounted), with the repository bound at /build/src.
in_root() {
	mkdir -p "$ROOT/build/src"
	unshare -m --propagation private /bin/bash -c '
		set -e
		root=$1; src=$2; shift 2
		mount --bind "$src" "$root/build/src"
		mount -t proc proc "$root/proc"
		mount --rbind /dev "$root/dev"
		exec chroot "$root" /usr/bin/env -i \
			PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
			TERM=dumb DEBIAN_FRONTEND=noninteractive "$@"' in_root "$ROOT" "$SRC" "$@"
}

# Stages a guest job in WORKDIR (emptied first), the one way every tool
# does it: with SCRIPT, the guest runs `sh SCRIPT ARGS...` from a copy in
# WORKDIR; without, the job (run.sh) is read from standard input.  The
# guest sees WORKDIR as /mnt/work (tools/guest-init.sh).
#   stage_guest WORKDIR [SCRIPT [ARGS...]]
stage_guest() {
	local work=$1
	shift
	rm -rf "$work"
	mkdir -p "$work"
	if [ $# -gt 0 ]; then
		cp "$1" "$work/"
		{
			printf '#!/bin/sh\nexec sh /mnt/work/%s' "$(basename "$1")"
			shift
			[ $# -gt 0 ] && printf ' %s' "$@"
			printf '\n'
		} >"$work/run.sh"
	else
		cat >"$work/run.sh"
	fi
	chmod +x "$work/run.sh"
}

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
