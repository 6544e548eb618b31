#!/bin/bash
# Static checks: rustfmt (kernel's .rustfmt.toml), clippy (the kernel's
# CLIPPY=1 lints) on fs/aio_rs, checkpatch on the C glue and the SAFETY
# comment rule.  Prints "lint: N passed, N failed".
set -uo pipefail
. "$(dirname "$0")/lib.sh"

passed=0 failed=0
check() {	# check NAME OUTPUT-IS-EMPTY-MEANS-PASS
	local name=$1 out=$2
	if [ -z "$out" ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "  FAIL lint/$name:"
		echo "$out" | head -n 40 | sed 's/^/    /'
	fi
}

[ -d "$ROOT/build/out/test-rust" ] || "$SRC/tools/kbuild.sh" test rust >/dev/null

check rustfmt "$(in_root /bin/sh -c 'cd /build/src && rustfmt --edition 2021 --check \
	--config-path /build/linux/.rustfmt.toml *.rs' 2>&1)"
touch "$SRC/aio_core.rs"
check clippy "$(in_root make -C /build/linux O=/build/out/test-rust LLVM=1 CLIPPY=1 \
	-j"$JOBS" fs/aio_rs/ 2>&1 | grep -B1 -E -- '(-->|error).*fs/aio_rs/')"
check checkpatch "$(in_root /bin/sh -c 'cd /build/linux && perl scripts/checkpatch.pl --no-tree \
	--terse -q -f /build/src/aio_glue.c /build/src/aio_glue.h' 2>&1 |
	grep -v 'total: 0 errors, 0 warnings')"
check checkpatch-patches "$(in_root /bin/sh -c 'cd /build/linux && for p in /build/src/patches/*.patch; do
	perl scripts/checkpatch.pl --no-tree --no-signoff --terse -q "$p"; done' 2>&1 |
	grep -v 'total: 0 errors, 0 warnings')"
# An unsafe block needs a SAFETY comment on its line, in the comment block
# right above it, or within the two lines above (a statement split over
# lines).
check safety-comments "$(cd "$SRC" && awk 'FNR == 1 { prev = prev2 = ""; block = 0 }
	/^[[:space:]]*\/\// { if ($0 ~ /SAFETY/) block = 1; prev2 = prev; prev = $0; next }
	/unsafe[[:space:]]*\{/ {
		if (!block && prev !~ /SAFETY/ && prev2 !~ /SAFETY/ && $0 !~ /SAFETY/) print FILENAME ":" FNR ": unsafe block without SAFETY"
	} { block = 0; prev2 = prev; prev = $0 }' ./*.rs)"
echo "lint: $passed passed, $failed failed"
[ $failed = 0 ]
