#!/bin/bash
# Boots a test kernel and runs the user-space suites in it:
#   tools/run-suites.sh {rust|c} [test|release]
# Prints one line per suite ("abi-rust: N passed, N failed"), details of
# every failure, and exits non-zero if anything failed.  A guest that hangs
# or a console with a KASAN, lockdep, WARN or BUG report fails the run.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

impl=${1:?rust|c}
flavour=${2:-test}
vmlinux=$ROOT/build/out/$flavour-$impl/vmlinux
[ -e "$vmlinux" ] || vmlinux=$("$SRC/tools/kbuild.sh" "$flavour" "$impl")

work=$AIO_CACHE/runs/suites-$flavour-$impl
rm -rf "$work"
mkdir -p "$work"
cp "$SRC/tools/guest-suites.sh" "$work/guest-suites.sh"
printf '#!/bin/sh\nexec sh /mnt/work/guest-suites.sh %s\n' "$impl" >"$work/run.sh"
chmod +x "$work/run.sh"
# The libaio harness cases that need only what is implemented so far.
echo "2 3 12" >"$work/harness-cases"

rc=0
"$SRC/tools/qemu-run.sh" "$vmlinux" "$work" 900 || rc=$?

python3 "$SRC/tools/parse-results.py" "$work" "$impl" "$rc"
