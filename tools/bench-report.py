#!/usr/bin/env python3
"""Report of one `make bench` run (runs in the toolchain tree).

    bench-report.py DIR [HOST_DIR] [--smoke-check]

DIR holds `environment` and one `round-N-IMPL/out/` directory per guest
boot.  Prints the table, writes results.json (every raw figure, the medians
and the ratios), results.csv (one row per cell and kernel/engine) and
iops.png (IOPS against iodepth, one line per engine and kernel).  HOST_DIR
is only used to print where the files are as seen from the host.  With
--smoke-check it also prints "bench-smoke: N passed, N failed": whether every
series, every micro-measurement and cell, and the plot produced a figure.
"""
import csv
import glob
import json
import os
import re
import statistics
import subprocess
import sys

FIO_RE = re.compile(r"fio-(?P<engine>[a-z_-]+)-qd(?P<qd>\d+)-(?P<mode>single|batched|ureap)-j(?P<jobs>\d+)\.json$")
BFIO_RE = re.compile(r"bfio-(?P<cell>[a-z0-9-]+)-(?P<engine>libaio|io_uring)\.json$")
CELL_RE = re.compile(r"cell-(?P<cell>shared|coldstart)-(?P<engine>aio|uring)\.json$")
# The cells of tests/bench/ctx_cells.c, in table order.
XCELLS = [
    ("shared", "2 threads, one context (io_uring: a ring each), qd 8 each"),
    ("coldstart", "cold start: io_setup(64), 64 reads, io_destroy"),
]
# Their series, as in BSERIES.
XSERIES = [("rust", "aio"), ("c", "aio"), ("c", "uring"), ("rust", "uring")]
REAP_RE = re.compile(r"reap-(?P<cell>sleepers-w\d+|twowaiter|throughput)\.json$")
# The cells of tests/bench/reapers.c (many io_getevents sleepers on one
# context, AIO only), in table order.
RCELLS = [
    ("sleepers-w1", "1 sleeper, min_nr=1"),
    ("sleepers-w2", "2 sleepers, min_nr=1"),
    ("sleepers-w4", "4 sleepers, min_nr=1"),
    ("sleepers-w8", "8 sleepers, min_nr=1"),
    ("twowaiter", "A min_nr=1, B min_nr=16"),
    ("throughput", "2 submitters x qd 32, 4 reapers"),
]
RSERIES = [("rust", "aio"), ("c", "aio"), ("base", "aio")]
# Their figures, per kind of cell (the name before "-"): key, what, format.
RFIGURES = {
    "sleepers": [("wakeups_per_event", "wake-ups per event", "{:.3f}"),
                 ("wasted_per_event", "wasted wake-ups per event", "{:.3f}"),
                 ("events_per_sec", "events/s (gaps included)", "{:.0f}")],
    "twowaiter": [("a_events", "events A got", "{:.0f}"),
                  ("b_events", "events B got", "{:.0f}"),
                  ("b_wait_events", "B's wait (events submitted)", "{:.0f}"),
                  ("b_mean_wait_us", "B's mean wait per return, us", "{:.0f}"),
                  ("a_lat_mean_us", "A's latency, mean us", "{:.0f}"),
                  ("a_lat_p99_us", "A's latency, p99 us", "{:.0f}")],
    "throughput": [("events_per_sec", "events/s", "{:.0f}"),
                   ("switches_per_event", "reapers' voluntary switches per event", "{:.3f}")],
}
# Also kept: how many events the run had, and sleepers that only
# io_destroy released (a lost wake-up).
RKEYS = sorted({k for figs in RFIGURES.values() for k, _, _ in figs} | {"events", "stuck"})
# The buffered and O_DSYNC cells (guest-bench.sh), in table order, with what
# each measures.
BCELLS = [
    ("cold-rand-qd1-vda", "cold 4k randread qd 1, ext4/virtio-blk"),
    ("cold-rand-qd32-vda", "cold 4k randread qd 32, ext4/virtio-blk"),
    ("cold-rand-qd1-lat", "cold 4k randread qd 1, ext4/fixed-latency"),
    ("cold-rand-qd32-lat", "cold 4k randread qd 32, ext4/fixed-latency"),
    ("dsync-qd32-lat", "O_DSYNC 4k randwrite qd 32, ext4/fixed-latency"),
    ("dsync-qd32-vda", "O_DSYNC 4k randwrite qd 32, ext4/virtio-blk"),
    ("warm-rand-qd32-vda", "warm 4k randread qd 32, ext4/virtio-blk"),
    ("cold-seq128k-qd8-vda", "cold 128k seq read qd 8, ext4/virtio-blk"),
]
# Their series: ours, C, io_uring on the C kernel, and io_uring on ours (the
# control).
BSERIES = [("rust", "libaio"), ("c", "libaio"), ("c", "io_uring"), ("rust", "io_uring")]
# What the columns are: (kernel, engine) pairs.
SERIES = [("rust", "libaio"), ("c", "libaio"), ("c", "io_uring"), ("c", "io_uring-polled")]
# io_uring on our kernel: the same code as on the C kernel, so its ratio to the
# C kernel's io_uring shows how much the two kernels differ outside AIO (code
# layout, drift).  Near 1.0, the libaio ratio is about AIO alone.
CONTROL = ("rust", "io_uring")


def label(kernel, engine):
    if (kernel, engine) == CONTROL:
        return "io_uring, our kernel"
    return {"rust": "ours", "c": "C"}[kernel] + " " + engine


def load_fio(path):
    with open(path) as f:
        text = f.read()
    # fio may print warnings before the JSON object.
    data = json.loads(text[text.index("{"):])
    job = data["jobs"][0]
    rd = job["read"]
    ios = rd.get("total_ios") or 0
    return {
        "iops": rd["iops"],
        "usr_cpu": job["usr_cpu"],
        "sys_cpu": job["sys_cpu"],
        "ctx": job["ctx"],
        "total_ios": ios,
        "ctx_per_io": job["ctx"] / ios if ios else None,
        "clat_mean_us": rd.get("clat_ns", {}).get("mean", 0) / 1000.0,
    }


def json_cells(rdir, pattern, regex):
    """(name match, figures) of every readable JSON file of a round's out/ whose name matches."""
    for p in sorted(glob.glob(os.path.join(rdir, "out", pattern))):
        m = regex.search(os.path.basename(p))
        if not m:
            continue
        try:
            with open(p) as fh:
                yield m, json.load(fh)
        except ValueError as e:
            print(f"bench: unreadable {p}: {e}", file=sys.stderr)


def load_bfio(path):
    """IOPS, CPU and time in the submitting system call of a buffered cell."""
    with open(path) as f:
        text = f.read()
    job = json.loads(text[text.index("{"):])["jobs"][0]
    side = job["write"] if job["write"].get("total_ios") else job["read"]
    pct = side.get("slat_ns", {}).get("percentile", {})

    def p(k):
        v = pct.get(k)
        return v / 1000.0 if v is not None else None
    return {
        "iops": side["iops"],
        "cpu": job["usr_cpu"] + job["sys_cpu"],
        "slat_p50_us": p("50.000000"),
        "slat_p99_us": p("99.000000"),
    }


def cpu_us_per_io(m, jobs):
    """CPU time per I/O in us: fio's usr and sys CPU are per job, in %."""
    if not m or not m.get("iops"):
        return None
    return (m["usr_cpu"] + m["sys_cpu"]) / 100.0 * jobs / m["iops"] * 1e6


def cell_medians(raw, cells, series, keys):
    """{(cell, kernel, engine): medians of keys over rounds, and the rounds}."""
    med = {}
    for cell, _ in cells:
        for kernel, engine in series:
            rows = [r for r in raw if (r["cell"], r["kernel"], r["engine"]) == (cell, kernel, engine)]
            if rows:
                med[(cell, kernel, engine)] = {k: median([r.get(k) for r in rows]) for k in keys} | {
                    "rounds": len(rows)}
    return med


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    d = args[0]
    host_dir = args[1] if len(args) > 1 else d
    env = {}
    with open(os.path.join(d, "environment")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            env[k] = v

    raw = []
    braw = []
    xraw = []
    rraw = []
    micro = []
    for rdir in sorted(glob.glob(os.path.join(d, "round-*-*"))):
        m = re.search(r"round-(\d+)-(rust|c|base)$", rdir)
        if not m:
            continue
        rnd, kernel = int(m.group(1)), m.group(2)
        for p in sorted(glob.glob(os.path.join(rdir, "out", "fio-*.json"))):
            fm = FIO_RE.search(os.path.basename(p))
            if not fm:
                continue
            try:
                fig = load_fio(p)
            except (ValueError, KeyError, IndexError) as e:
                print(f"bench: unreadable {p}: {e}", file=sys.stderr)
                continue
            raw.append(dict(round=rnd, kernel=kernel, engine=fm["engine"], qd=int(fm["qd"]),
                            mode=fm["mode"], jobs=int(fm["jobs"]), **fig))
        for p in sorted(glob.glob(os.path.join(rdir, "out", "bfio-*.json"))):
            bm = BFIO_RE.search(os.path.basename(p))
            if not bm:
                continue
            try:
                fig = load_bfio(p)
            except (ValueError, KeyError, IndexError) as e:
                print(f"bench: unreadable {p}: {e}", file=sys.stderr)
                continue
            braw.append(dict(round=rnd, kernel=kernel, engine=bm["engine"], cell=bm["cell"], **fig))
        for xm, fig in json_cells(rdir, "cell-*.json", CELL_RE):
            xraw.append(dict(round=rnd, kernel=kernel, engine=xm["engine"], cell=xm["cell"],
                             iops=fig["iops"], cpu_us_per_io=fig["cpu_us_per_io"]))
        for rm, fig in json_cells(rdir, "reap-*.json", REAP_RE):
            rraw.append(dict(round=rnd, kernel=kernel, engine="aio", cell=rm["cell"],
                             **{k: fig[k] for k in RKEYS if k in fig}))
        for name in ("wakeups", "submit_latency", "syscall_cost"):
            p = os.path.join(rdir, "out", name + ".json")
            if os.path.exists(p):
                with open(p) as f:
                    micro.append(dict(round=rnd, kernel=kernel, measure=name, **json.load(f)))

    # Medians over rounds, per cell and series.
    cells = sorted({(r["jobs"], r["mode"], r["qd"]) for r in raw},
                   key=lambda c: (c[0], c[1] != "single", c[2]))
    med = {}
    for (jobs, mode, qd) in cells:
        for kernel, engine in SERIES + [CONTROL, ("base", "libaio")]:
            rows = [r for r in raw if (r["jobs"], r["mode"], r["qd"], r["kernel"], r["engine"]) ==
                    (jobs, mode, qd, kernel, engine)]
            if rows:
                med[(jobs, mode, qd, kernel, engine)] = {
                    k: median([r[k] for r in rows])
                    for k in ("iops", "usr_cpu", "sys_cpu", "ctx_per_io", "clat_mean_us")
                } | {"rounds": len(rows)}

    def ratio(a, b):
        return a / b if a and b else None

    table = []
    for (jobs, mode, qd) in cells:
        ours = med.get((jobs, mode, qd, "rust", "libaio"), {})
        c_aio = med.get((jobs, mode, qd, "c", "libaio"), {})
        # io_uring has no user-space reaping mode: its single-mode cell.
        umode = "single" if mode == "ureap" else mode
        uring = med.get((jobs, umode, qd, "c", "io_uring"), {})
        polled = med.get((jobs, umode, qd, "c", "io_uring-polled"), {})
        table.append(dict(
            jobs=jobs, mode=mode, qd=qd,
            **{f"iops_{k}_{e}": med.get((jobs, mode, qd, k, e), {}).get("iops") for k, e in SERIES},
            **{f"ctx_per_io_{k}_{e}": med.get((jobs, mode, qd, k, e), {}).get("ctx_per_io") for k, e in SERIES},
            **{f"cpu_{k}_{e}": (lambda m: m["usr_cpu"] + m["sys_cpu"] if m else None)(med.get((jobs, mode, qd, k, e)))
               for k, e in SERIES},
            **{f"cpu_us_per_io_{k}_{e}": cpu_us_per_io(med.get((jobs, mode, qd, k, e)), jobs) for k, e in SERIES},
            ours_over_c=ratio(ours.get("iops"), c_aio.get("iops")),
            ours_over_io_uring=ratio(ours.get("iops"), uring.get("iops")),
            ours_over_io_uring_polled=ratio(ours.get("iops"), polled.get("iops")),
            control=ratio(med.get((jobs, umode, qd) + CONTROL, {}).get("iops"), uring.get("iops")),
        ))

    micro_med = {}
    for name, keys in (("wakeups", ("wakeups_per_event", "voluntary_switches", "events")),
                       ("submit_latency", ("submit_p50_us", "submit_p99_us", "submit_max_us", "iops")),
                       ("syscall_cost", ("null_syscall_ns", "getevents_empty_ns", "submit_einval_ns",
                                         "read_roundtrip_ns", "read_user_reap_ns", "cached_read_ns",
                                         "direct_read_ns", "shared_read_ns", "cold_start_ns"))):
        for kernel in ("rust", "c", "base"):
            rows = [m for m in micro if m["measure"] == name and m["kernel"] == kernel]
            if rows:
                micro_med[f"{name}_{kernel}"] = {k: median([r.get(k) for r in rows]) for k in keys} | {
                    "rounds": len(rows)}

    # The table.
    def f(v, fmt="{:.0f}"):
        return fmt.format(v) if v is not None else "-"

    print()
    print("make bench: 4k random reads on null_blk, medians over "
          f"{env.get('rounds')} alternating rounds ({env.get('flavour')} kernels, {env.get('accel')}, "
          f"{env.get('guest')})")
    hdr = (f"{'jobs':>4} {'mode':>7} {'qd':>4} | " + " ".join(f"{label(k, e):>18}" for k, e in SERIES) +
           f" | {'ours/C':>7} {'ours/uring':>10} {'ours/polled':>11} | {'ctx/IO ours':>11} {'ctx/IO C':>9}"
           f" | {'cpu% ours':>9} {'cpu% C':>7} | {'us/IO ours':>10} {'C':>5} {'uring':>5} | {'control':>7}")
    print(hdr)
    print("-" * len(hdr))
    for t in table:
        print(f"{t['jobs']:>4} {t['mode']:>7} {t['qd']:>4} | " +
              " ".join(f"{f(t[f'iops_{k}_{e}']):>18}" for k, e in SERIES) +
              f" | {f(t['ours_over_c'], '{:.2f}'):>7} {f(t['ours_over_io_uring'], '{:.2f}'):>10}"
              f" {f(t['ours_over_io_uring_polled'], '{:.2f}'):>11}"
              f" | {f(t['ctx_per_io_rust_libaio'], '{:.3f}'):>11} {f(t['ctx_per_io_c_libaio'], '{:.3f}'):>9}"
              f" | {f(t['cpu_rust_libaio'], '{:.0f}'):>9} {f(t['cpu_c_libaio'], '{:.0f}'):>7}"
              f" | {f(t['cpu_us_per_io_rust_libaio'], '{:.1f}'):>10} {f(t['cpu_us_per_io_c_libaio'], '{:.1f}'):>5}"
              f" {f(t['cpu_us_per_io_c_io_uring'], '{:.1f}'):>5}"
              f" | {f(t['control'], '{:.2f}'):>7}")
    if table:
        geo = [t["ours_over_c"] for t in table if t["ours_over_c"]]
        geo_u = [t["ours_over_io_uring"] for t in table if t["ours_over_io_uring"]]
        geo_c = [t["control"] for t in table if t["control"]]
        if geo:
            print(f"geometric mean ours/C: {statistics.geometric_mean(geo):.2f}"
                  + (f", ours/io_uring: {statistics.geometric_mean(geo_u):.2f}" if geo_u else "")
                  + (f"; control (io_uring, our kernel / C kernel): {statistics.geometric_mean(geo_c):.2f}"
                     if geo_c else ""))
    print()
    print("micro-measurements (medians over rounds):")
    for kernel in ("rust", "c"):
        w = micro_med.get(f"wakeups_{kernel}")
        s = micro_med.get(f"submit_latency_{kernel}")
        name = {"rust": "ours", "c": "C"}[kernel]
        print(f"  {name:>4}: wake-ups per event at min_nr=16: {f(w and w['wakeups_per_event'], '{:.3f}')}"
              f" | cold buffered 4k reads, qd 32, time in io_submit: p50 {f(s and s['submit_p50_us'], '{:.0f}')} us,"
              f" p99 {f(s and s['submit_p99_us'], '{:.0f}')} us, {f(s and s['iops'])} IOPS")
    for kernel in ("rust", "c"):
        c = micro_med.get(f"syscall_cost_{kernel}")
        name = {"rust": "ours", "c": "C"}[kernel]
        if c:
            print(f"  {name:>4}: ns per call: getppid {f(c['null_syscall_ns'])}, io_getevents on an empty ring "
                  f"{f(c['getevents_empty_ns'])}, io_submit failing EINVAL {f(c['submit_einval_ns'])}, "
                  f"1-byte read submit+reap {f(c['read_roundtrip_ns'])} "
                  f"(reaped in user space: {f(c['read_user_reap_ns'])}), "
                  f"4k page-cache hit of an ext4 file {f(c['cached_read_ns'])}, "
                  f"4k O_DIRECT read of null_blk {f(c['direct_read_ns'])}, "
                  f"1-byte read from 2 threads on one context {f(c.get('shared_read_ns'))}, "
                  f"cold start (io_setup, 64 reads, io_destroy) {f(c.get('cold_start_ns'))}")

    bmed, btable = buffered_table(braw, env, ratio, f)
    xmed, xtable = ctx_cells_table(xraw, ratio, f)
    rmed, rtable = reapers_table(rraw, ratio, f)
    before_after = base_table(env, cells, med, micro_med, xraw, rmed, ratio, f)
    results = {"environment": env, "raw_fio": raw, "raw_micro": micro,
               "cells": table, "micro": micro_med, "raw_buffered": braw,
               "buffered_cells": btable, "raw_ctx_cells": xraw, "ctx_cells": xtable,
               "raw_reapers": rraw, "reapers": rtable,
               "ours_over_base": before_after}
    with open(os.path.join(d, "results.json"), "w") as fh:
        json.dump(results, fh, indent=1)
    with open(os.path.join(d, "results.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["jobs", "mode", "iodepth", "kernel", "engine", "rounds", "iops", "usr_cpu", "sys_cpu",
                    "ctx_per_io", "clat_mean_us", "ours_over_this"])
        for (jobs, mode, qd, kernel, engine), m in sorted(med.items()):
            ours = med.get((jobs, mode, qd, "rust", "libaio"), {}).get("iops")
            w.writerow([jobs, mode, qd, kernel, engine, m["rounds"], f"{m['iops']:.0f}",
                        f"{m['usr_cpu']:.1f}", f"{m['sys_cpu']:.1f}",
                        "" if m["ctx_per_io"] is None else f"{m['ctx_per_io']:.4f}",
                        f"{m['clat_mean_us']:.1f}", "" if not ours else f"{ours / m['iops']:.3f}"])
        # The micro-measurements and the reapers cells: one row per figure.
        rflat = {f"reapers_{cell}_{kernel}": {k: v for k, v in m.items() if v is not None}
                 for (cell, kernel, _), m in rmed.items()}
        for mode, figures in (("micro", micro_med), ("reapers", rflat)):
            for key, m in sorted(figures.items()):
                for k, v in m.items():
                    w.writerow(["", mode, "", key, k, "", v, "", "", "", "", ""])

    plot(d, cells, med)
    print()
    print(f"files: {host_dir}/results.json, results.csv, iops.png")
    if "--smoke-check" in sys.argv:
        return smoke_check(d, env, med, micro_med, bmed, xmed, rmed)
    return 0


def base_table(env, cells, med, micro_med, xraw, rmed, ratio, f):
    """With BENCH_BASE: ours now against ours at the base commit, figure by
    figure, from the same run (IOPS: higher is better; ns: lower is)."""
    if not env.get("base"):
        return []
    rows = []
    for (jobs, mode, qd) in cells:
        now = med.get((jobs, mode, qd, "rust", "libaio"), {})
        then = med.get((jobs, mode, qd, "base", "libaio"), {})
        rows.append((f"fio {jobs} job(s), {mode}, qd {qd} (IOPS)", now.get("iops"), then.get("iops")))
    for cell, what in XCELLS:
        now = median([r["iops"] for r in xraw if (r["cell"], r["kernel"], r["engine"]) == (cell, "rust", "aio")])
        then = median([r["iops"] for r in xraw if (r["cell"], r["kernel"], r["engine"]) == (cell, "base", "aio")])
        rows.append((f"{what} (IOPS)", now, then))
    for cell, key, what in (("throughput", "events_per_sec", "reapers: 4 reapers, one context (events/s)"),
                            ("sleepers-w8", "wasted_per_event", "reapers: 8 sleepers, wasted wake-ups/event")):
        rows.append((what, rmed.get((cell, "rust", "aio"), {}).get(key),
                     rmed.get((cell, "base", "aio"), {}).get(key)))
    now_c, then_c = micro_med.get("syscall_cost_rust", {}), micro_med.get("syscall_cost_base", {})
    for k in ("getevents_empty_ns", "submit_einval_ns", "read_roundtrip_ns", "read_user_reap_ns",
              "cached_read_ns", "direct_read_ns", "shared_read_ns", "cold_start_ns"):
        rows.append((f"syscall_cost {k}", now_c.get(k), then_c.get(k)))
    print()
    print(f"ours now ({env.get('commit')}) against ours at {env.get('base')}, same run, medians over rounds")
    hdr = f"{'figure':<62} | {'now':>9} {'base':>9} | {'now/base':>8}"
    print(hdr)
    print("-" * len(hdr))
    out = []
    for what, now, then in rows:
        r = ratio(now, then)
        out.append(dict(figure=what, now=now, base=then, now_over_base=r))
        print(f"{what:<62} | {f(now):>9} {f(then):>9} | {f(r, '{:.3f}'):>8}")
    return out


def ctx_cells_table(xraw, ratio, f):
    """Medians of the cells of ctx_cells.c: IOPS, CPU per I/O, ratios."""
    xmed = cell_medians(xraw, XCELLS, XSERIES, ("iops", "cpu_us_per_io"))
    if not xmed:
        return xmed, []
    xtable = []
    print()
    print("cells fio cannot run (tests/bench/ctx_cells.c), 4k O_DIRECT random reads of null_blk, "
          "medians over rounds; us/IO = CPU time per I/O")
    hdr = (f"{'cell':<58} | {'ours':>7} {'C':>7} {'io_uring':>8} | {'ours/C':>6} {'ours/uring':>10}"
           f" {'control':>7} | {'us/IO ours':>10} {'C':>5} {'uring':>5}")
    print(hdr)
    print("-" * len(hdr))
    for cell, what in XCELLS:
        ours, c_aio, uring, ctl = (xmed.get((cell,) + s, {}) for s in XSERIES)
        row = dict(cell=cell, what=what,
                   iops_ours=ours.get("iops"), iops_c=c_aio.get("iops"), iops_io_uring=uring.get("iops"),
                   ours_over_c=ratio(ours.get("iops"), c_aio.get("iops")),
                   ours_over_io_uring=ratio(ours.get("iops"), uring.get("iops")),
                   control=ratio(ctl.get("iops"), uring.get("iops")),
                   cpu_us_per_io_ours=ours.get("cpu_us_per_io"), cpu_us_per_io_c=c_aio.get("cpu_us_per_io"),
                   cpu_us_per_io_io_uring=uring.get("cpu_us_per_io"))
        xtable.append(row)
        print(f"{what:<58} | {f(row['iops_ours']):>7} {f(row['iops_c']):>7} {f(row['iops_io_uring']):>8}"
              f" | {f(row['ours_over_c'], '{:.2f}'):>6} {f(row['ours_over_io_uring'], '{:.2f}'):>10}"
              f" {f(row['control'], '{:.2f}'):>7} | {f(row['cpu_us_per_io_ours'], '{:.1f}'):>10}"
              f" {f(row['cpu_us_per_io_c'], '{:.1f}'):>5} {f(row['cpu_us_per_io_io_uring'], '{:.1f}'):>5}")
    return xmed, xtable


def got_events(m):
    """Whether B of the twowaiter cell got any events: yes, no or -."""
    return "-" if m.get("b_events") is None else ("yes" if m["b_events"] else "no")


def reapers_table(rraw, ratio, f):
    """Medians of the cells of reapers.c, ours and C side by side with the
    ratio and the issue's target for the figures that have one."""
    rmed = cell_medians(rraw, RCELLS, RSERIES, RKEYS)
    if not rmed:
        return rmed, []
    rtable = []
    print()
    print("Many reapers on one context (tests/bench/reapers.c, AIO only), 4k O_DIRECT reads of null_blk, "
          "medians over rounds")
    hdr = (f"{'cell':<32} {'figure':<38} | {'ours':>8} {'C':>8} | {'ours/C':>6} | "
           f"{'target':<34} {'met':>3}")
    print(hdr)
    print("-" * len(hdr))
    for cell, what in RCELLS:
        ours, c_aio = (rmed.get((cell,) + s, {}) for s in RSERIES[:2])
        if not ours and not c_aio:
            continue
        kind = cell.split("-")[0]
        for key, fig, fmt in RFIGURES[kind]:
            o, c = ours.get(key), c_aio.get(key)
            target, met = "", None
            if key == "wasted_per_event":
                target = f"<= 0.05 (C about {int(cell.split('-w')[1]) - 1})"
                met = o <= 0.05 if o is not None else None
            elif kind == "throughput" and key == "events_per_sec":
                target = ">= 1.5x C"
                met = ratio(o, c) >= 1.5 if ratio(o, c) else None
            elif key == "b_wait_events":
                # Bounded: B got events, and no wait was the whole run.
                target = f"bounded; B got events: {got_events(ours)}, C {got_events(c_aio)}"
                if o is not None and ours.get("b_events") is not None:
                    met = bool(ours["b_events"]) and o < (ours.get("events") or 0)
            row = dict(cell=cell, what=what, figure=key, ours=o, c=c, ours_over_c=ratio(o, c),
                       target=target or None, met=met)
            rtable.append(row)
            print(f"{what:<32} {fig:<38} | {f(o, fmt):>8} {f(c, fmt):>8} | {f(row['ours_over_c'], '{:.2f}'):>6} | "
                  f"{target:<34} {'-' if met is None else ('yes' if met else 'no'):>3}")
    stuck = {f"{cell} {kernel}": m["stuck"] for (cell, kernel, _), m in rmed.items() if m.get("stuck")}
    if stuck:
        print("sleepers that only io_destroy released (lost wake-ups): " +
              ", ".join(f"{k}: {v:.0f}" for k, v in sorted(stuck.items())))
    return rmed, rtable


def buffered_table(braw, env, ratio, f):
    """Medians of the buffered cells, printed as a table of IOPS, time in
    the submitting call, and the ratios."""
    bmed = cell_medians(braw, BCELLS, BSERIES, ("iops", "cpu", "slat_p50_us", "slat_p99_us"))
    if not bmed:
        return bmed, []
    btable = []
    print()
    print("buffered and O_DSYNC paths (issue 9), medians over rounds; slat = time inside io_submit "
          "(io_uring_enter for io_uring) per I/O, us; fixed-latency device: null_blk, "
          f"{env.get('lat_us', '?')} us per request")
    hdr = (f"{'cell':<48} | {'ours':>7} {'C':>7} {'io_uring':>8} | {'ours/C':>6} {'ours/uring':>10}"
           f" {'control':>7} | {'slat p50 ours':>13} {'C':>6} | {'slat p99 ours':>13} {'C':>7}"
           f" {'io_uring':>8}"
           f" | {'cpu% ours':>9} {'C':>4}")
    print(hdr)
    print("-" * len(hdr))
    for cell, what in BCELLS:
        m = {s: bmed.get((cell,) + s, {}) for s in BSERIES}
        ours, c_aio, uring, ctl = (m[s] for s in BSERIES)
        row = dict(cell=cell, what=what,
                   iops_ours=ours.get("iops"), iops_c=c_aio.get("iops"), iops_io_uring=uring.get("iops"),
                   ours_over_c=ratio(ours.get("iops"), c_aio.get("iops")),
                   ours_over_io_uring=ratio(ours.get("iops"), uring.get("iops")),
                   control=ratio(ctl.get("iops"), uring.get("iops")),
                   slat_p50_ours=ours.get("slat_p50_us"), slat_p50_c=c_aio.get("slat_p50_us"),
                   slat_p99_ours=ours.get("slat_p99_us"), slat_p99_c=c_aio.get("slat_p99_us"),
                   slat_p99_io_uring=uring.get("slat_p99_us"),
                   cpu_ours=ours.get("cpu"), cpu_c=c_aio.get("cpu"))
        btable.append(row)
        print(f"{what:<48} | {f(row['iops_ours']):>7} {f(row['iops_c']):>7} {f(row['iops_io_uring']):>8}"
              f" | {f(row['ours_over_c'], '{:.2f}'):>6} {f(row['ours_over_io_uring'], '{:.2f}'):>10}"
              f" {f(row['control'], '{:.2f}'):>7} | {f(row['slat_p50_ours']):>13} {f(row['slat_p50_c']):>6}"
              f" | {f(row['slat_p99_ours']):>13} {f(row['slat_p99_c']):>7} {f(row['slat_p99_io_uring']):>8}"
              f" | {f(row['cpu_ours']):>9} {f(row['cpu_c']):>4}")
    return bmed, btable


def smoke_check(d, env, med, micro_med, bmed, xmed, rmed):
    """Every series and measurement produced a figure (not: how fast)."""
    checks = [(f"fio {label(k, e)}", any(key[3:] == (k, e) and m["iops"] for key, m in med.items()))
              for k, e in SERIES + [CONTROL]]
    checks += [(f"fio user-space reaping {label(k, 'libaio')}",
                any(key[1] == "ureap" and key[3:] == (k, "libaio") and m["iops"] for key, m in med.items()))
               for k in ("rust", "c")]
    checks += [(f"{name} {kernel}", f"{name}_{kernel}" in micro_med)
               for name in ("wakeups", "submit_latency", "syscall_cost") for kernel in ("rust", "c")]
    checks += [(f"syscall_cost {path} {kernel}",
                micro_med.get(f"syscall_cost_{kernel}", {}).get(f"{path}_ns") is not None)
               for path in ("cached_read", "direct_read", "shared_read", "cold_start")
               for kernel in ("rust", "c")]
    # A smoke run names the buffered cells it ran (environment "bcells").
    ran = env.get("bcells", "").split() or [cell for cell, _ in BCELLS]
    checks += [(f"buffered {cell} {label(k, e)}", bool(bmed.get((cell, k, e), {}).get("iops")))
               for cell, _ in BCELLS if cell in ran for k, e in BSERIES]
    checks += [(f"buffered cell {cell} known", cell in dict(BCELLS)) for cell in ran]
    checks += [(f"cell {cell} {kernel} {engine}", bool(xmed.get((cell, kernel, engine), {}).get("iops")))
               for cell, _ in XCELLS for kernel, engine in XSERIES]
    # Every reap-*.json, on both kernels: its first figure is there.
    checks += [(f"reapers {cell} {kernel}",
                rmed.get((cell, kernel, "aio"), {}).get(RFIGURES[cell.split("-")[0]][0][0]) is not None)
               for cell, _ in RCELLS for kernel in ("rust", "c")]
    checks.append(("plot", os.path.getsize(os.path.join(d, "iops.png")) > 0
                   if os.path.exists(os.path.join(d, "iops.png")) else False))
    for name, ok in checks:
        if not ok:
            print(f"bench-smoke: no figure for {name}")
    passed = sum(ok for _, ok in checks)
    print(f"bench-smoke: {passed} passed, {len(checks) - passed} failed")
    return 0 if passed == len(checks) else 1


def plot(d, cells, med):
    """IOPS against iodepth: one panel per (jobs, mode), one line per series."""
    panels = sorted({(j, m) for (j, m, _) in cells}, key=lambda p: (p[0], p[1] != "single"))
    if not panels:
        return
    script = []
    rows = 1 if len(panels) <= 2 else 2
    cols = (len(panels) + rows - 1) // rows
    script.append(f"set terminal png size {640 * cols},{420 * rows} font ',10' noenhanced")
    script.append(f"set output '{d}/iops.png'")
    script.append(f"set multiplot layout {rows},{cols}")
    script.append("set logscale x 2; set xlabel 'iodepth'; set ylabel 'IOPS'; set key left top; set grid")
    for jobs, mode in panels:
        plots = []
        for kernel, engine in SERIES + [CONTROL]:
            pts = [(qd, med[(jobs, mode, qd, kernel, engine)]["iops"])
                   for (j, m, qd) in cells if (j, m) == (jobs, mode) and (jobs, mode, qd, kernel, engine) in med]
            if not pts:
                continue
            data = os.path.join(d, f"plot-{jobs}-{mode}-{kernel}-{engine}.dat")
            with open(data, "w") as fh:
                for qd, iops in pts:
                    fh.write(f"{qd} {iops}\n")
            plots.append(f"'{data}' using 1:2 with linespoints title '{label(kernel, engine)}'")
        script.append(f"set title '4k randread, null_blk, {jobs} job(s), {mode} submit/complete'")
        script.append("plot " + ", ".join(plots))
    script.append("unset multiplot")
    try:
        subprocess.run(["gnuplot"], input="\n".join(script), text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"bench: gnuplot failed: {e}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
