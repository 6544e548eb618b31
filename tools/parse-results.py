#!/usr/bin/env python3
"""Summarises a guest run: parse-results.py WORKDIR IMPL QEMU_RC

Prints "SUITE-IMPL: N passed, N failed" per suite directory under
WORKDIR/results, and "console-IMPL: ..." for the console check; exits 1 if
anything failed.
"""
import os
import re
import sys

work, impl, qemu_rc = sys.argv[1], sys.argv[2], int(sys.argv[3])
results = os.path.join(work, "results")
failed_any = False

# Reports that fail a run whatever the tests said.
BAD = re.compile(r"BUG:|WARNING:|KASAN|possible circular locking|"
                 r"inconsistent lock state|possible recursive locking|"
                 r"suspicious RCU usage|Kernel panic|Oops|"
                 r"sleeping function called from invalid context|"
                 r"INFO: task .* blocked")


def tap_counts(text):
    """(passed, failed, details) of a TAP output ending in rc=N."""
    ok = len(re.findall(r"^ok \d+", text, re.M))
    bad = re.findall(r"^not ok \d+.*$", text, re.M)
    rc = re.search(r"^rc=(\d+)$", text, re.M)
    plan = re.search(r"^1\.\.(\d+)$", text, re.M)
    details = list(bad)
    if rc is None or plan is None or int(plan.group(1)) != ok + len(bad):
        details.append("incomplete run (crash or timeout): "
                       + " | ".join(text.strip().splitlines()[-3:]))
        return ok, len(bad) + 1, details
    if int(rc.group(1)) != 0 and not bad:
        details.append(f"exit status {rc.group(1)}")
        return ok, 1, details
    return ok, len(bad), details


def harness_counts(text):
    rc = re.search(r"^rc=(\d+)$", text, re.M)
    if rc and rc.group(1) == "0" and "completed PASSED" in text:
        return 1, 0, []
    return 0, 1, [" | ".join(text.strip().splitlines()[-4:])]


suites = sorted(d for d in os.listdir(results) if os.path.isdir(os.path.join(results, d))) \
    if os.path.isdir(results) else []
for suite in suites:
    passed = failed = 0
    for name in sorted(os.listdir(os.path.join(results, suite))):
        if not name.endswith(".out"):
            continue  # logs kept beside the results
        with open(os.path.join(results, suite, name), errors="replace") as f:
            text = f.read()
        p, n, details = (harness_counts if suite == "libaio" else tap_counts)(text)
        passed += p
        failed += n
        for d in details:
            print(f"  FAIL {suite}-{impl}/{name}: {d}")
    if passed + failed == 0:
        print(f"  FAIL {suite}-{impl}: no results")
        failed = 1
    failed_any |= failed > 0
    print(f"{suite}-{impl}: {passed} passed, {failed} failed")

console = os.path.join(work, "console.log")
text = open(console, errors="replace").read() if os.path.exists(console) else ""
problems = [l for l in text.splitlines() if BAD.search(l)]
if qemu_rc != 0:
    problems.append(f"guest did not power off by itself (qemu-run status {qemu_rc})")
if not suites:
    problems.append("no results (guest never ran the suites)")
for p in problems[:20]:
    print(f"  FAIL console-{impl}: {p.strip()}")
print(f"console-{impl}: {0 if problems else 1} passed, {1 if problems else 0} failed")
failed_any |= bool(problems)
sys.exit(1 if failed_any else 0)
