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
			TERM=dumb "$@"' in_root "$ROOT" "$SRC" "$@"
}

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
