#!/bin/bash
# Compiles the user-space tests inside the toolchain tree, into
# $ROOT/build/tests (visible in the guest at /build/tests):
#   abi/*      our ABI tests (TAP), 64-bit, plus compat32 built with -m32
#   bench/*    the micro-benchmarks of `make bench`
#   fuzz/*     our fuzzer and soak, and fuzz.sh, which runs them with
#              trinity and stress-ng (`make soak`, the fuzz suite)
#   harness/   libaio's harness cases, against the system libaio
set -euo pipefail
. "$(dirname "$0")/lib.sh"
"$SRC/tools/setup.sh"

in_root /bin/bash -ec '
	out=/build/tests
	rm -rf $out.new
	mkdir -p $out.new/abi $out.new/bench $out.new/fuzz $out.new/harness
	cflags="-O2 -g -Wall -Werror"
	for t in /build/src/tests/abi/*.c; do
		n=$(basename $t .c)
		case $n in
		compat32) gcc $cflags -m32 -static -o $out.new/abi/$n $t ;;
		usb_cancel) gcc $cflags -o $out.new/abi/$n $t -luring ;;
		*) gcc $cflags -o $out.new/abi/$n $t -lpthread ;;
		esac
	done
	for t in /build/src/tests/bench/*.c; do
		gcc $cflags -o $out.new/bench/$(basename $t .c) $t -lpthread -luring
	done
	for t in /build/src/tests/fuzz/*.c; do
		gcc $cflags -I /build/src/tests/abi -o $out.new/fuzz/$(basename $t .c) $t -lpthread
	done
	cp /build/src/tests/fuzz/fuzz.sh $out.new/fuzz/
	cp -a /usr/src/libaio/harness/. $out.new/harness/
	make -s -C $out.new/harness LIBAIO=-laio all >/dev/null
	cp /build/src/tests/fio/fio-tap.sh /build/src/tests/fio/fio-buffered-tap.sh $out.new/
	rm -rf $out
	mv $out.new $out
'
