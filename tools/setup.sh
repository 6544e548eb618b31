#!/bin/bash
# Creates (once) the Debian trixie toolchain tree that builds and boots the
# kernels, and unpacks linux-source-7.3 from trixie-backports.  Idempotent:
# every step leaves a stamp and is skipped when the stamp exists.
#
# Cache layout (outside the clone so CI and later sessions reuse it):
#   $AIO_CACHE/root           the debootstrap'd trixie tree (toolchain, qemu, fio)
#   $AIO_CACHE/root/usr/src/linux-source-7.3   pristine kernel source
#   $AIO_CACHE/versions.txt   exact versions used
set -euo pipefail

# shellcheck source=tools/lib.sh
. "$(dirname "$0")/lib.sh"
SETUP_REV=7	# bump when the package list changes

PKGS=(
	rustc rust-src bindgen rustfmt rust-clippy cargo clang lld llvm
	make gcc libc6-dev flex bison bc libelf-dev libssl-dev cpio kmod
	python3 perl xz-utils zstd ca-certificates dpkg-dev
	qemu-system-x86 fio libaio-dev libaio1t64 busybox-static
	util-linux e2fsprogs procps iproute2 strace gnuplot-nox gcc-multilib
	liburing-dev linux-perf trinity stress-ng
)

log() { echo "setup: $*" >&2; }

mirror() {
	# Use the host's configured Debian mirror; fall back to the default one.
	local m
	m=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)$/\1/p' \
		/etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
	[ -n "$m" ] || m=$(awk '$1=="deb" && $2 ~ /\/debian$/ {print $2; exit}' \
		/etc/apt/sources.list 2>/dev/null)
	echo "${m:-http://deb.debian.org/debian}"
}

mkdir -p "$AIO_CACHE"
exec 9>"$AIO_CACHE/.setup.lock"
flock 9

if [ -e "$AIO_CACHE/.setup-done-$SETUP_REV" ] &&
   [ -d "$ROOT/usr/src/linux-source-7.3" ]; then
	exit 0
fi

if ! command -v debootstrap >/dev/null; then
	log "installing debootstrap on the host"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

M=$(mirror)
if [ ! -e "$AIO_CACHE/.debootstrap-done" ]; then
	log "debootstrap trixie from $M into $ROOT (a few minutes)"
	rm -rf "$ROOT"
	debootstrap --variant=minbase trixie "$ROOT" "$M" >"$AIO_CACHE/debootstrap.log" 2>&1 ||
		{ tail -n 30 "$AIO_CACHE/debootstrap.log"; exit 1; }
	touch "$AIO_CACHE/.debootstrap-done"
fi

cat >"$ROOT/etc/apt/sources.list" <<EOS
deb $M trixie main
deb $M trixie-updates main
deb $M trixie-backports main
EOS
echo 'APT::Install-Recommends "false";' >"$ROOT/etc/apt/apt.conf.d/90norecommends"
cat >>"$ROOT/etc/apt/sources.list" <<EOS
deb-src $M trixie main
EOS

log "installing the toolchain into the tree"
in_root apt-get update -qq
in_root apt-get install -y -qq "${PKGS[@]}" >"$AIO_CACHE/apt.log" 2>&1 ||
	{ tail -n 30 "$AIO_CACHE/apt.log"; exit 1; }
in_root apt-get install -y -qq -t trixie-backports linux-source-7.3 >>"$AIO_CACHE/apt.log" 2>&1 ||
	{ tail -n 30 "$AIO_CACHE/apt.log"; exit 1; }

if [ ! -d "$ROOT/usr/src/linux-source-7.3" ]; then
	log "unpacking linux-source-7.3"
	tar -C "$ROOT/usr/src" -xf "$ROOT"/usr/src/linux-source-7.3.tar.*
fi

# libaio's upstream source, for its test harness.
if [ ! -d "$ROOT/usr/src/libaio" ]; then
	log "fetching libaio source (harness)"
	in_root sh -c 'mkdir -p /usr/src/libaio.dl && cd /usr/src/libaio.dl &&
		apt-get source --download-only libaio >/dev/null 2>&1' || true
	# Only the upstream tarball matters (it holds harness/); the Debian
	# parts may be gone from the mirror once a newer revision lands.
	orig=$(ls "$ROOT"/usr/src/libaio.dl/libaio_*.orig.tar.* | head -n1)
	mkdir -p "$ROOT/usr/src/libaio"
	tar -C "$ROOT/usr/src/libaio" --strip-components=1 -xf "$orig"
fi

in_root dpkg-query -W -f '${Package} ${Version}\n' \
	rustc rust-src bindgen clang lld llvm gcc qemu-system-x86 fio libaio-dev \
	linux-source-7.3 >"$AIO_CACHE/versions.txt"
echo "libaio-source $(cd "$ROOT"/usr/src/libaio.dl && ls libaio_*.orig.tar.*)" >>"$AIO_CACHE/versions.txt"
echo "debian-mirror-snapshot $(date -u +%Y-%m-%d)" >>"$AIO_CACHE/versions.txt"
cat "$AIO_CACHE/versions.txt" >&2
touch "$AIO_CACHE/.setup-done-$SETUP_REV"
