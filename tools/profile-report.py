#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Where the time of the AIO system calls goes, ours against C, from the
call chains that tools/guest-profile.sh sampled on each release kernel.

    profile-report.py RUST_RESULTS C_RESULTS

For each workload and kernel: the share of all samples spent in each AIO
system call, then, within io_submit and io_getevents, the functions that
the samples were in (leaf, self time) and the syscall's direct callees
(inclusive time).  On TCG the software clock interrupts only where
interrupts are enabled, so time spent with them off is charged to the
spot that enables them again (`_raw_spin_unlock_irq*`)."""
import collections
import gzip
import os
import re
import sys

SYSCALLS = (("io_submit", re.compile(r"io_submit|aio_rs_submit")),
            ("io_getevents", re.compile(r"io_getevents|io_pgetevents|aio_rs_getevents")))


def demangle(sym):
    """A short readable name for a v0-mangled Rust symbol: its last path
    components (crate roots, disambiguators and generic arguments dropped)."""
    if not sym.startswith("_R"):
        return sym
    body = re.sub(r"(?<=[CMXYNI])s[0-9A-Za-z]*_", "", sym[2:])
    idents, i = [], 0
    while i < len(body):
        m = re.match(r"(\d+)_?", body[i:])
        if m and i > 0 and body[i - 1] == "B":
            i = body.index("_", i) + 1  # a back reference
        elif m and (i == 0 or not body[i - 1].isdigit()):
            n = int(m.group(1))
            start = i + len(m.group(0))
            idents.append(body[start:start + n])
            i = start + n
        else:
            i += 1
    skip = {"kernel", "aio_core", "core", "bindings", "bindings_raw", "pin_init"}
    idents = [x for x in idents if x not in skip]
    return "::".join(idents[-3:]) if idents else sym


def samples(path):
    """Call chains, leaf first, one list of symbols per sample."""
    chain = []
    with gzip.open(path, "rt", errors="replace") as fh:
        for line in fh:
            fields = line.split()
            if not fields:
                if chain:
                    yield chain
                chain = []
            elif len(fields) >= 2:
                chain.append(fields[1])
    if chain:
        yield chain


def profile(path):
    total = 0
    per_call = collections.Counter()
    leaves = collections.defaultdict(collections.Counter)
    callees = collections.defaultdict(collections.Counter)
    for chain in samples(path):
        total += 1
        if "do_syscall_64" not in chain:
            continue
        entry = chain.index("do_syscall_64")
        for name, pattern in SYSCALLS:
            hits = [i for i in range(entry) if pattern.search(chain[i])]
            if not hits:
                continue
            top = min(hits)
            per_call[name] += 1
            leaves[name][demangle(chain[0])] += 1
            callees[name][demangle(chain[top - 1]) if top > 0 else "(self)"] += 1
            break
    return total, per_call, leaves, callees


def main():
    dirs = dict(zip(("ours", "C"), sys.argv[1:3]))
    workloads = sorted(f[:-7] for f in os.listdir(dirs["ours"]) if f.endswith(".txt.gz"))
    for w in workloads:
        print(f"== {w}")
        profs = {k: profile(os.path.join(d, w + ".txt.gz")) for k, d in dirs.items()
                 if os.path.exists(os.path.join(d, w + ".txt.gz"))}
        if any(p[0] == 0 for p in profs.values()) or len(profs) < 2:
            print(f"profile-report: no samples for {w} on some kernel", file=sys.stderr)
            return 1
        for name, _ in SYSCALLS:
            line = [f"{k}: {100 * p[1][name] / max(p[0], 1):.1f}% of samples ({p[1][name]})"
                    for k, p in profs.items()]
            print(f"  {name}: " + ", ".join(line))
            for kind, index in (("self", 2), ("callees", 3)):
                for k, p in profs.items():
                    n = max(p[1][name], 1)
                    top = ", ".join(f"{s} {100 * c / n:.0f}%" for s, c in p[index][name].most_common(14))
                    print(f"    {k:>4} {kind}: {top}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
