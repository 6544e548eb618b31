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
import subprocess
import sys

SYSCALLS = (("io_submit", re.compile(r"io_submit|aio_rs_submit")),
            ("io_getevents", re.compile(r"io_getevents|io_pgetevents|aio_rs_getevents")))


def shorten(name):
    """The last two components of every path in a demangled name, without
    the hash suffix: `aio_core::rw::complete` -> `rw::complete`,
    `<kernel::sync::arc::Arc<aio_core::kiocb::AioKiocb> as
    core::ops::drop::Drop>::drop` -> `<arc::Arc<kiocb::AioKiocb> as
    drop::Drop>::drop`."""
    name = re.sub(r"::h[0-9a-f]{16}$", "", name)
    return re.sub(r"\b(?:\w+::)+\w+", lambda m: "::".join(m.group(0).split("::")[-2:]), name)


def demangler(symbols):
    """A function from raw to readable names: Rust symbols go through the
    command in $CXXFILT (llvm-cxxfilt, one name per line), C ones stay."""
    rust = sorted(s for s in symbols if s.startswith("_R"))
    names = {}
    cmd = os.environ.get("CXXFILT")
    if cmd and rust:
        out = subprocess.run(cmd, shell=True, input="\n".join(rust) + "\n",
                             capture_output=True, text=True, check=False).stdout.splitlines()
        if len(out) == len(rust):
            names = dict(zip(rust, out))
        else:
            print("profile-report: $CXXFILT gave no usable output", file=sys.stderr)
    return lambda sym: shorten(names.get(sym, sym))


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
            leaves[name][chain[0]] += 1
            callees[name][chain[top - 1] if top > 0 else "(self)"] += 1
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
        raw = {sym for p in profs.values() for table in p[2:] for c in table.values() for sym in c}
        name_of = demangler(raw)
        for p in profs.values():
            for table in p[2:]:
                for call, counts in table.items():
                    merged = collections.Counter()
                    for sym, c in counts.items():
                        merged[name_of(sym)] += c
                    table[call] = merged
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
