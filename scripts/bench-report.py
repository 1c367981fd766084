#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""The report of `make bench` (scripts/bench.sh): medians, spread and
paired ratios of the raw runs, a Markdown table, a CSV, a PNG plot and,
with --doc, Documentation/benchmarks.rst. Runs with Debian's python3 and
python3-matplotlib (scripts/setup-host.sh installs it); no scipy.

Ratios are paired: for repetition r, value(peer, r) / value(reference, r),
both from the same repetition of the same boot; the figure is the geometric
mean of those ratios, with a 95 % confidence interval from the
t-distribution of their logarithms. A goal is met when the whole interval
is at or above it, missed when the whole interval is below it, and
inconclusive otherwise."""

import argparse
import csv
import math
import os
import re
import statistics
import sys

WORKLOADS = [
    ("hot4k", "hot set, 4 KiB random reads (16 MiB, warm)"),
    ("hot512", "hot set, 512 B random reads (16 MiB, warm)"),
    ("hot4k-qd16", "hot set, 4 KiB random reads at queue depth 16 (libaio, 4 jobs x depth 4, warm)"),
    ("uniform", "uniform 4 KiB random reads over 2x the cache"),
    ("randwrite", "4 KiB random writes (16 MiB)"),
    ("mix70", "70/30 random read/write, 4 KiB (16 MiB)"),
    ("seqread", "1 MiB sequential reads, uncached (48 MiB)"),
    ("seqwrite", "1 MiB sequential writes (48 MiB)"),
    ("fsync", "ext4, 4 KiB random writes with fsync after each"),
]
TITLES = dict(WORKLOADS)
PEERS = {
    "loop": "raw loop (tmpfs file)",
    "linear": "dm-linear over the loop",
    "linear-brd": "dm-linear over brd",
    "ebs": "dm-ebs 4 KiB on 4 KiB over the loop (every bio via dm-bufio)",
    "ebs512": "dm-ebs 512 B on 4 KiB over the loop (unaligned bios via dm-bufio)",
    "writecache": "dm-writecache (ssd mode) over the loop",
    "delay": "dm-delay 1 ms over a loop",
    "bc-wb": "bufcache writeback over the loop",
    "bc-wt": "bufcache writethrough over the loop",
    "bc-wb-brd": "bufcache writeback over brd",
    "bc-delay": "bufcache writeback over dm-delay 1 ms",
}
# The throughput that matters per workload.
MBPS = {"seqread", "seqwrite"}
BC_MODES = ("bc-wb", "bc-wt")

# Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom;
# beyond 30 the value for 30 (a slightly wider interval than the truth).
T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
       2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
       2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t95(df):
    return T95[min(df, len(T95)) - 1]


def ebs_ref(w):
    """The dm-ebs peer of a workload: 512 B reads need the 512 B one."""
    return "ebs512" if w == "hot512" else "ebs"


def load(path):
    """runs[(workload, peer)][rep] = (iops, MB/s, p99 us); extra[name] =
    (value, unit). BENCH lines have 7 fields, or 8 with the run's slot in
    its repetition's order (ignored here)."""
    runs, extra = {}, {}
    with open(path) as f:
        for row in csv.reader(f):
            if not row:
                continue
            if row[0] == "BENCH" and len(row) >= 7:
                w, p, rep = row[1], row[2], int(row[3])
                runs.setdefault((w, p), {})[rep] = (
                    float(row[4]), float(row[5]), float(row[6]))
            elif row[0] == "BENCHX" and len(row) >= 4:
                extra[row[1]] = (row[2], ",".join(row[3:]))
    return runs, extra


def value(w, r):
    return r[1] if w in MBPS else r[0]


def summarize(runs):
    out = {}
    for (w, p), reps in runs.items():
        rs = list(reps.values())
        vals = [value(w, r) for r in rs]
        out[(w, p)] = {
            "value": statistics.median(vals),
            "min": min(vals),
            "max": max(vals),
            "iops": statistics.median(r[0] for r in rs),
            "mbps": statistics.median(r[1] for r in rs),
            "p99": statistics.median(r[2] for r in rs),
            "n": len(rs),
            "unit": "MB/s" if w in MBPS else "IOPS",
        }
    return out


def paired(runs, w, p, ref):
    """Geometric mean of the per-repetition ratios p/ref and its 95 %
    interval: {"gm", "lo", "hi", "n", "ratios"}, lo/hi None below n=2;
    None without a repetition that both peers ran with a positive value."""
    a, b = runs.get((w, p)), runs.get((w, ref))
    if not a or not b:
        return None
    ratios = []
    for rep in sorted(set(a) & set(b)):
        x, y = value(w, a[rep]), value(w, b[rep])
        if x > 0 and y > 0:
            ratios.append(x / y)
    if not ratios:
        return None
    logs = [math.log(r) for r in ratios]
    m = statistics.fmean(logs)
    res = {"gm": math.exp(m), "lo": None, "hi": None, "n": len(ratios), "ratios": ratios}
    if len(logs) >= 2:
        half = t95(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
        res["lo"], res["hi"] = math.exp(m - half), math.exp(m + half)
    return res


def verdict(pr, goal):
    if pr is None:
        return "n/a"
    if pr["lo"] is None:
        return "inconclusive"
    if pr["lo"] >= goal:
        return "met"
    if pr["hi"] < goal:
        return "missed"
    return "inconclusive"


def fmt_x(pr):
    return "" if pr is None else f"{pr['gm']:.2f}x"


def fmt_ci(pr):
    if pr is None or pr["lo"] is None:
        return "-"
    return f"{pr['lo']:.2f}-{pr['hi']:.2f}x"


# (goal, workload, peer, reference, wanted ratio), from the table.
RATIO_GOALS = [
    ("hot 4 KiB: >= 0.9x dm-linear over brd (bc-wb-brd)", "hot4k", "bc-wb-brd", "linear-brd", 0.9),
    ("hot 4 KiB: >= 3x dm-linear over a tmpfs loop (bc-wb)", "hot4k", "bc-wb", "linear", 3),
    ("hot set behind a 1 ms origin: >= 10x the origin alone", "hot4k", "bc-delay", "delay", 10),
    ("512 B hot: >= 4x dm-ebs (512 B on 4 KiB)", "hot512", "bc-wb", "ebs512", 4),
    ("70/30 mix: >= 2x dm-ebs (4 KiB on 4 KiB)", "mix70", "bc-wb", "ebs", 2),
    ("sequential 1 MiB read, uncached: >= 0.9x dm-linear", "seqread", "bc-wb", "linear", 0.9),
    ("sequential 1 MiB write: >= 0.9x dm-linear", "seqwrite", "bc-wb", "linear", 0.9),
]


def ratio_goals(runs):
    """Rows: goal, ratio (geomean), 95 % CI, n, verdict."""
    rows = []
    for goal, w, p, ref, want in RATIO_GOALS:
        pr = paired(runs, w, p, ref)
        rows.append([goal, fmt_x(pr) or "n/a", fmt_ci(pr),
                     str(pr["n"]) if pr else "0", verdict(pr, want)])
    return rows


def samples_of(unit):
    """The samples a BENCHX unit text lists ("... samples: a b c; ...")."""
    m = re.search(r"samples: ([0-9 .-]+)", unit)
    return [float(x) for x in m.group(1).split()] if m else []


def other_goals(extra):
    """Goals measured once (or over a few samples), not per repetition:
    goal, figure, n, verdict (met/missed for one measurement: no interval;
    over samples, met if every sample meets it, missed if none does)."""
    rows = []
    for key, label in (("hot_after_scan_cutoff_4194304", "default cutoff"),
                       ("hot_after_scan_cutoff_0", "no bypass")):
        if key in extra:
            v = float(extra[key][0])
            rows.append([f"hot-set hit ratio after a scan of 2x the cache "
                         f"({label}): >= 90 % of before",
                         f"{v:.0f} % ({extra[key][1].split('(')[-1].rstrip(')')})",
                         "1", "met" if v >= 90 else "missed"])
    if "metadata_bytes_per_block" in extra:
        b = float(extra["metadata_bytes_per_block"][0])
        ss = samples_of(extra["metadata_bytes_per_block"][1]) or [b]
        limit = 0.02 * 4096
        v = ("met" if max(ss) <= limit else "missed" if min(ss) > limit
             else "inconclusive")
        rows.append(["metadata: <= 2 % of cached bytes (system-wide, approximate)",
                     f"{b:.0f} bytes per 4 KiB block ({100 * b / 4096:.1f} %; "
                     f"samples {' '.join(f'{x:.0f}' for x in ss)})",
                     str(len(ss)), v])
    shares = [float(extra[k][0]) for k in ("share_target1", "share_target2")
              if k in extra]
    if shares:
        rows.append(["two targets, one budget: each within 10 % of its share",
                     " / ".join(f"{v:.0f} %" for v in shares), "1",
                     "met" if all(abs(v - 100) <= 10 for v in shares) else "missed"])
    return rows


def losses(runs):
    """(slower, unclear): bc-wb and bc-wt against dm-linear, per workload;
    slower when the whole interval is below 1; unclear when the geometric
    mean is below 1 but the interval reaches 1 (or there is no interval)."""
    slower, unclear = [], []
    for w, _ in WORKLOADS:
        for p in BC_MODES:
            pr = paired(runs, w, p, "linear")
            if pr is None:
                continue
            if pr["hi"] is not None and pr["hi"] < 1:
                slower.append((w, p, pr))
            elif pr["gm"] < 1:
                unclear.append((w, p, pr))
    return slower, unclear


def reps(n):
    return f"{n} repetition" + ("" if n == 1 else "s")


def loss_lines(runs):
    slower, unclear = losses(runs)
    out = []
    unit = {w: "MB/s" if w in MBPS else "IOPS" for w, _ in WORKLOADS}
    for w, p, pr in slower:
        out.append(f"- ``{w}``, {TITLES[w]}: ``{p}`` is slower than dm-linear: "
                   f"{pr['gm']:.2f}x, {100 * (1 - pr['gm']):.0f} % fewer {unit[w]} "
                   f"(95 % CI {fmt_ci(pr)}, {reps(pr['n'])}).")
    if not slower:
        out.append("- No workload where ``bc-wb`` or ``bc-wt`` is slower than "
                   "dm-linear with its whole interval below 1.")
    for w, p, pr in unclear:
        ci = (f"95 % CI {fmt_ci(pr)}" if pr["lo"] is not None
              else "no interval from one repetition")
        out.append(f"- ``{w}``, {TITLES[w]}: ``{p}`` may be slower than dm-linear, "
                   f"or not: {pr['gm']:.2f}x, but the interval reaches 1 ({ci}, "
                   f"{reps(pr['n'])}): inconclusive.")
    return out


def cache_of(p, extra):
    """What holds each peer's cached data, and how much (the notes under
    the peers' table say more)."""
    bufio = extra.get("bufio_cache_bytes")
    bufio = (f"dm-bufio's: {int(bufio[0]) >> 20} MiB, global" if bufio
             else "dm-bufio's: its default, global")
    return {
        "loop": "none (tmpfs is RAM)",
        "linear": "none",
        "linear-brd": "none (brd is RAM)",
        "ebs": bufio,
        "ebs512": bufio,
        "writecache": "96 MiB RAM-disk slice (writes)",
        "delay": "none",
        "bc-wb": "32 MiB (fsync: 16 MiB)",
        "bc-wt": "32 MiB (fsync: 16 MiB)",
        "bc-wb-brd": "32 MiB (fsync: 16 MiB)",
        "bc-delay": "32 MiB",
    }[p]


def workload_rows(s, runs, w, refs):
    rows = []
    for p in PEERS:
        if (w, p) not in s:
            continue
        r = s[(w, p)]
        rows.append([p, f"{r['value']:.1f} {r['unit']}", f"{r['min']:.1f}-{r['max']:.1f}",
                     f"{r['p99']:.0f}", str(r["n"])] +
                    [fmt_x(paired(runs, w, p, ref)) or "-" for ref in refs])
    return rows


def refs_of(w):
    return ["linear", ebs_ref(w), "linear-brd"]


def markdown(s, runs, extra, meta):
    lines = [f"# dm-bufcache benchmark ({meta})", "",
             "Ratios: geometric mean of the per-repetition ratios (paired).", ""]
    for w, title in WORKLOADS:
        if not any((w, p) in s for p in PEERS):
            continue
        refs = refs_of(w)
        lines += [f"## {title}", "",
                  "| peer | median | spread | p99 us | n | "
                  + " | ".join(f"x {r}" for r in refs) + " |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        lines += ["| " + " | ".join(row) + " |" for row in workload_rows(s, runs, w, refs)]
        lines.append("")
    lines += ["## Goals", "", "| goal | ratio (geomean) | 95 % CI | n | verdict |",
              "| --- | ---: | ---: | ---: | --- |"]
    lines += ["| " + " | ".join(r) + " |" for r in ratio_goals(runs)]
    og = other_goals(extra)
    if og:
        lines += ["", "| goal (not per repetition) | figure | n | verdict |",
                  "| --- | --- | ---: | --- |"]
        lines += ["| " + " | ".join(r) + " |" for r in og]
    lines += ["", "## Where bufcache is slower", ""]
    lines += [l.replace("``", "`") for l in loss_lines(runs)]
    lines.append("")
    if extra:
        lines += ["## Other figures", ""]
        lines += [f"- {k}: {v} {u}" for k, (v, u) in sorted(extra.items())]
        lines.append("")
    return "\n".join(lines)


def rst_table(header, rows):
    cols = list(zip(*([header] + rows)))
    widths = [max(len(str(c)) for c in col) for col in cols]
    sep = "  ".join("=" * w for w in widths)
    out = [sep, "  ".join(str(h).ljust(w) for h, w in zip(header, widths)).rstrip(), sep]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    out.append(sep)
    return out


def heading(t, ch):
    return [t, ch * len(t), ""]


def rst(s, runs, extra, a):
    t = "Benchmarks"
    seed = extra.get("seed", ("?",))[0]
    lines = [".. SPDX-License-Identifier: GPL-2.0", "", "=" * len(t), t, "=" * len(t), "",
             "Written by ``make bench`` (``scripts/bench.sh``); do not edit by hand.", "",
             f"- Source: commit ``{a.commit}``.",
             f"- Kernel: {a.kernel}.",
             f"- Machine: {a.machine}.",
             f"- Date: {a.date}; {a.reps} repetitions of {a.runtime} s per run. Every",
             "  peer runs repetition 1, then 2, ...; the peers of each repetition in",
             f"  a shuffled order (a different one per repetition; seed {seed}).",
             "- Before every run: the ``flush`` message to every bufcache and",
             "  dm-writecache peer (what the previous run left is written back),",
             "  ``sync``, ``echo 3 > /proc/sys/vm/drop_caches`` (which also runs the",
             "  shrinkers: bufcache and dm-bufio drop their clean blocks); the hot",
             "  workloads then warm the peer under test with one pass over the hot",
             "  set, the others start cold.",
             "- fio, ``O_DIRECT``, ``psync`` at queue depth 1 (``hot4k-qd16``:",
             "  ``libaio``, 4 jobs of depth 4). Every peer in the same boot.",
             "  Under emulation absolute figures mean little: read the ratios.",
             "- Per workload: the median of the repetitions, their spread",
             "  (min-max) and the median p99 completion latency; the ratios are",
             "  paired: for each repetition the peer's figure over the reference's",
             "  from the same repetition, and their geometric mean.",
             "- Goals: the geometric mean of the paired ratios with its 95 %",
             "  confidence interval (Student's t on the logarithms of the ratios,",
             "  n-1 degrees of freedom). *met*: the whole interval is at or above",
             "  the goal; *missed*: the whole interval is below it; *inconclusive*:",
             "  the interval holds the goal.",
             ]
    if a.raw_doc:
        lines += [f"- Raw data: every run in ``Documentation/{a.raw_doc}`` (``BENCH,``",
                  "  workload, peer, repetition, IOPS, MB/s, p99 us, place in the",
                  "  repetition's order; ``BENCHX,`` other figures), and the whole log",
                  f"  of the run (host, then guest) in ``Documentation/{a.log_doc}``."]
    lines += ["", ".. image:: benchmarks.png", ""]
    lines += heading("Peers", "-")
    lines += rst_table(["peer", "what", "cache"],
                       [[p, d, cache_of(p, extra)] for p, d in PEERS.items()
                        if any((w, p) in s for w, _ in WORKLOADS)])
    lines += ["",
              "The caches: ``cache_size`` for bufcache; for dm-ebs, dm-bufio's",
              "buffers, whose only limit is global (its module parameter",
              "``max_cache_size_bytes``, shared by every dm-bufio user; dm-ebs has",
              "no size setting of its own), set to the same 32 MiB for the run",
              "when writable; for dm-writecache, its cache device (96 MiB, a",
              "dm-linear slice of ``/dev/ram1``: brd allocates a page when it is",
              "written), which holds written blocks only. Against a 16 MiB hot set",
              "and 64 MiB of uniform reads. ``ebs`` (4 KiB logical blocks) runs",
              "the 4 KiB workloads, ``ebs512`` the 512 B one (warmed with 512 B",
              "reads: a 4 KiB-aligned bio passes it by). The fsync workload runs on",
              "five other 64 MiB origins (loop devices; slices of ``/dev/ram1``",
              "for the brd controls), bufcache with 16 MiB.",
              ""]
    for w, title in WORKLOADS:
        if not any((w, p) in s for p in PEERS):
            continue
        lines += heading(title, "-")
        refs = refs_of(w)
        lines += rst_table(["peer", "median", "spread", "p99 us", "n"]
                           + [f"x {r}" for r in refs], workload_rows(s, runs, w, refs))
        lines.append("")
    lines += heading("Goals", "-")
    lines += rst_table(["goal", "ratio (geomean)", "95 % CI", "n", "verdict"], ratio_goals(runs))
    lines.append("")
    og = other_goals(extra)
    if og:
        lines += ["Measured once per run, not per repetition (no interval: the",
                  "verdict compares the figure, or every sample, with the goal):", ""]
        lines += rst_table(["goal", "figure", "n", "verdict"], og)
        lines.append("")
    if "metadata_bytes_per_block" in extra:
        load_f = extra.get("metadata_load_bytes_per_block")
        lines += ["The metadata figure is system-wide and approximate: the growth of",
                  "``SUnreclaim`` + ``VmallocUsed`` in ``/proc/meminfo`` from before",
                  "a table load to a full 128 MiB cache of 4 KiB blocks, per cached",
                  "block, the median of three samples; it includes whatever else the",
                  "kernel allocated meanwhile and DM's own per-device allocations."]
        if load_f:
            lines += [f"Of it, {float(load_f[0]):.0f} bytes per slot are there after the "
                      "table load, before any block is cached."]
        lines += ["The engine's own estimate, ``index_bytes`` in",
                  "``rust/bufcache/engine/mod.rs``, is 80 bytes per slot: a 56-byte",
                  "``Slot``, an 8-byte buffer pointer and up to four 4-byte hash",
                  "buckets (two per slot at this size: 72 bytes), allocated whole at",
                  "table load for ``cache_size`` / block size slots. A cached block",
                  "adds its ``Arc<Buf>`` (24 bytes, a ``kmalloc-32`` object); the",
                  "4 KiB of data are whole pages, not counted here.", ""]
    lines += heading("Where bufcache is slower", "-")
    lines += ["``bc-wb`` and ``bc-wt`` against dm-linear over the same loop device,",
              "every workload (paired ratios, 95 % intervals):", ""]
    lines += loss_lines(runs)
    lines.append("")
    if extra:
        lines += heading("Other figures", "-")
        lines += [f"- ``{k}``: {v} {u}" for k, (v, u) in sorted(extra.items())]
        lines.append("")
    # The analysis is written by hand, next to the generated figures.
    lines += [".. include:: benchmarks-notes.rst", ""]
    return "\n".join(lines)


def plot(runs, s, path, meta):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ws = [w for w, _ in WORKLOADS if any((w, p) in s for p in PEERS)]
    # Peers over the 1 ms origin compare with it, not with dm-linear.
    peers = [p for p in PEERS if p not in ("linear", "delay", "bc-delay")
             and any((w, p) in s for w in ws)]
    fig, ax = plt.subplots(figsize=(13, 5))
    width = 0.8 / max(len(peers), 1)
    for i, p in enumerate(peers):
        xs, ys, lo, hi = [], [], [], []
        for j, w in enumerate(ws):
            pr = paired(runs, w, p, "linear")
            if pr is not None:
                xs.append(j + i * width)
                ys.append(pr["gm"])
                lo.append(pr["gm"] - (pr["lo"] if pr["lo"] is not None else pr["gm"]))
                hi.append((pr["hi"] if pr["hi"] is not None else pr["gm"]) - pr["gm"])
        ax.bar(xs, ys, width, label=p, yerr=[lo, hi], capsize=2,
               error_kw={"elinewidth": 0.8})
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(ws))])
    ax.set_xticklabels(ws)
    ax.set_ylabel("x dm-linear over the same loop\n(geomean of paired ratios, 95 % CI; log)")
    ax.set_title(f"dm-bufcache and peers: {meta}", fontsize=9)
    ax.legend(fontsize=7, ncol=5)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--machine", required=True)
    ap.add_argument("--date", required=True)
    ap.add_argument("--reps", required=True)
    ap.add_argument("--runtime", required=True)
    ap.add_argument("--commit", default="unknown")
    ap.add_argument("--doc")
    ap.add_argument("--raw-doc", help="the raw CSV, relative to --doc, to cite")
    ap.add_argument("--log-doc", help="the VM log, relative to --doc, to cite")
    a = ap.parse_args()
    runs, extra = load(a.raw)
    if not runs:
        sys.exit("no runs in " + a.raw)
    s = summarize(runs)
    meta = f"{a.kernel}, {a.commit}, {a.date}"
    with open(os.path.join(a.out, "results.csv"), "w", newline="") as f:
        wr = csv.writer(f)
        head = ["workload", "peer", "unit", "median", "min", "max", "iops", "mbps",
                "p99_us", "reps"]
        for ref in ("linear", "ebs", "linear_brd"):
            head += [f"x_{ref}", f"x_{ref}_lo", f"x_{ref}_hi", f"x_{ref}_n"]
        wr.writerow(head + ["ebs_peer"])
        for (w, p), r in sorted(s.items()):
            row = [w, p, r["unit"], f"{r['value']:.2f}", f"{r['min']:.2f}",
                   f"{r['max']:.2f}", f"{r['iops']:.1f}", f"{r['mbps']:.2f}",
                   f"{r['p99']:.0f}", r["n"]]
            for ref in refs_of(w):
                pr = paired(runs, w, p, ref)
                if pr is None:
                    row += ["", "", "", ""]
                else:
                    row += [f"{pr['gm']:.3f}",
                            "" if pr["lo"] is None else f"{pr['lo']:.3f}",
                            "" if pr["hi"] is None else f"{pr['hi']:.3f}", pr["n"]]
            wr.writerow(row + [ebs_ref(w)])
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(markdown(s, runs, extra, meta))
    plot(runs, s, os.path.join(a.out, "bench.png"), meta)
    if a.doc:
        with open(os.path.join(a.doc, "benchmarks.rst"), "w") as f:
            f.write(rst(s, runs, extra, a))
        plot(runs, s, os.path.join(a.doc, "benchmarks.png"), meta)


if __name__ == "__main__":
    main()
