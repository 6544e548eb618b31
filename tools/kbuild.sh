#!/bin/bash
# Builds one kernel: tools/kbuild.sh {test|release} {rust|c}
# Prints the path (on the host) of the resulting vmlinux.  Incremental: the
# patched tree and each build directory live in the cache and are reused;
# the config is regenerated only when a fragment or a patch changes.
# With AIO_RS_SRC=DIR (a copy of this repository at another commit), the
# crate, Kconfig and config fragments come from DIR, the kernel tree and
# its patches from this checkout, and the kernel goes to its own build
# directory, {test,release}-{rust,c}-base: what `make bench` compares with
# (BENCH_BASE).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavour=${1:?test|release}
impl=${2:?rust|c}
case $flavour in test|release) ;; *) echo "bad flavour $flavour" >&2; exit 2;; esac
case $impl in rust|c) ;; *) echo "bad impl $impl" >&2; exit 2;; esac

"$SRC/tools/setup.sh"

# 1. The patched kernel tree, shared by every build directory.  When the
# patch series changes, the files that the old or the new series touch are
# rebuilt in a scratch directory from the pristine tree plus the new series,
# and only those whose contents differ are copied into the tree, so that
# the rebuild stays incremental (a patch whose message alone changed costs
# nothing).  (Reverse-applying the old series instead fails as soon as the
# tree has drifted from it.)
tree=$ROOT/build/linux
applied=$tree/.aio-patches
phash=$(cat "$SRC"/patches/*.patch | sha1sum | cut -c1-16)
exec 8>"$AIO_CACHE/.tree.lock"
flock 8
if [ ! -d "$applied" ]; then
	log "preparing kernel tree"
	rm -rf "$tree"
	mkdir -p "$ROOT/build"
	cp -a "$ROOT$KSRC_PRISTINE" "$tree.tmp"
	mkdir "$tree.tmp/.aio-patches"
	mv "$tree.tmp" "$tree"
fi
if [ "$(cat "$applied"/*.patch 2>/dev/null | sha1sum | cut -c1-16)" != "$phash" ]; then
	log "applying patch series $phash"
	scratch=$(mktemp -d)
	# A fresh tree has no applied series yet (the glob matches nothing).
	touched=$( { cat "$applied"/*.patch 2>/dev/null || true; cat "$SRC"/patches/*.patch; } |
		  sed -n -E 's#^(\+\+\+ b|--- a)/([^\t]*).*#\2#p' | sort -u)
	for f in $touched; do
		mkdir -p "$scratch/$(dirname "$f")"
		if [ -f "$ROOT$KSRC_PRISTINE/$f" ]; then
			cp "$ROOT$KSRC_PRISTINE/$f" "$scratch/$f"
		fi
	done
	for p in "$SRC"/patches/*.patch; do
		patch -s -p1 -d "$scratch" <"$p"
	done
	for f in $touched; do
		if [ -f "$scratch/$f" ]; then
			cmp -s "$scratch/$f" "$tree/$f" || cp "$scratch/$f" "$tree/$f"
		else
			rm -f "$tree/$f"
		fi
		rm -f "$tree/$f.orig" "$tree/$f.rej"
	done
	rm -rf "$scratch"
	rm -f "$applied"/*.patch
	cp "$SRC"/patches/*.patch "$applied/"
fi
ln -sfn /build/src "$tree/fs/aio_rs"
flock -u 8

# The base's crate is what the guest's /build/src is from here on (in_root).
if [ -n "${AIO_RS_SRC:-}" ]; then
	SRC=$(cd "$AIO_RS_SRC" && pwd)
	suffix=-base
fi

# 2. The config: tinyconfig + fragments, regenerated when they change.
out=build/out/$flavour-$impl${suffix:-}
mkdir -p "$ROOT/$out"
frags="configs/base.config configs/$flavour.config configs/impl-$impl.config"
chash=$( (cd "$SRC" && cat $frags Kconfig; echo "$phash") | sha1sum | cut -c1-16)
mk() { in_root make -C /build/linux O=/$out LLVM=1 -j"$JOBS" "$@"; }
if [ "$(cat "$ROOT/$out/.aio-config" 2>/dev/null)" != "$chash" ]; then
	log "configuring $flavour-$impl"
	mk -s tinyconfig >/dev/null
	in_root /bin/sh -c "cd /build/linux && scripts/kconfig/merge_config.sh -m -O /$out /$out/.config $(printf '/build/src/%s ' $frags)" >/dev/null
	mk -s olddefconfig >/dev/null
	# Every fragment line must have survived (a dependency may have
	# silently dropped one).
	missing=0
	for f in $frags; do
		while IFS= read -r line; do
			case $line in CONFIG_*=n) sym=${line%%=*}
				grep -q "^$sym=" "$ROOT/$out/.config" && { echo "config: $sym still set" >&2; missing=1; } ;;
			CONFIG_*) grep -qxF "$line" "$ROOT/$out/.config" || {
				[ "$line" = "CONFIG_AIO_RUST_KUNIT_TEST=y" ] && [ "$flavour" != test ] && continue
				echo "config: $line did not stick" >&2; missing=1; } ;;
			esac
		done < "$SRC/$f"
	done
	[ $missing = 0 ] || exit 1
	echo "$chash" >"$ROOT/$out/.aio-config"
fi

# 3. Build, unless nothing that goes into this kernel changed since its last
# successful build (the pristine tree never changes; the patches and the
# config are in $chash): callers may ask for a kernel as often as they like.
shash=$( (cd "$SRC" && cat Kbuild Kconfig ./*.rs ./*.c ./*.h; echo "$chash") | sha1sum | cut -c1-16)
if [ -e "$ROOT/$out/vmlinux" ] && [ "$(cat "$ROOT/$out/.aio-built" 2>/dev/null)" = "$shash" ]; then
	echo "$ROOT/$out/vmlinux"
	exit 0
fi
rm -f "$ROOT/$out/.aio-built"
log "building $flavour-$impl"
start=$(date +%s)
if ! mk vmlinux >"$ROOT/$out/build.log" 2>&1; then
	grep -E "error|Error|warning:" "$ROOT/$out/build.log" | head -n 60 >&2
	tail -n 20 "$ROOT/$out/build.log" >&2
	exit 1
fi
log "built $flavour-$impl in $(( $(date +%s) - start ))s"
grep -E "^(warning|error)|: warning:" "$ROOT/$out/build.log" | grep -i "aio_rs" >&2 || true
echo "$shash" >"$ROOT/$out/.aio-built"
echo "$ROOT/$out/vmlinux"
