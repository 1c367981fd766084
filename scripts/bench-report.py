#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""The report of `make bench` (scripts/bench.sh): medians, spread and
ratios of the raw runs, a Markdown table, a CSV, a PNG plot and, with
--doc, Documentation/benchmarks.rst. Runs with Debian's python3 and
python3-matplotlib (scripts/setup-host.sh installs it)."""

import argparse
import csv
import os
import statistics
import sys

WORKLOADS = [
    ("hot4k", "hot set, 4 KiB random reads (16 MiB, warm)"),
    ("hot512", "hot set, 512 B random reads (16 MiB, warm)"),
    ("uniform", "uniform 4 KiB random reads over 2x the cache"),
    ("randwrite", "4 KiB random writes (16 MiB)"),
    ("mix70", "70/30 random read/write, 4 KiB (16 MiB)"),
    ("seqread", "1 MiB sequential reads, uncached (48 MiB)"),
    ("seqwrite", "1 MiB sequential writes (48 MiB)"),
    ("fsync", "ext4, 4 KiB random writes with fsync after each"),
]
PEERS = {
    "loop": "raw loop (tmpfs file)",
    "linear": "dm-linear over the loop",
    "linear-brd": "dm-linear over brd",
    "ebs": "dm-ebs (C dm-bufio) over the loop",
    "writecache": "dm-writecache (ssd mode, RAM loop cache)",
    "delay": "dm-delay 1 ms over a loop",
    "bc-wb": "bufcache writeback over the loop",
    "bc-wt": "bufcache writethrough over the loop",
    "bc-wb-brd": "bufcache writeback over brd",
    "bc-delay": "bufcache writeback over dm-delay 1 ms",
}
# The throughput that matters per workload.
MBPS = {"seqread", "seqwrite"}


def load(path):
    runs, extra = {}, {}
    with open(path) as f:
        for row in csv.reader(f):
            if row[0] == "BENCH" and len(row) == 7:
                w, p = row[1], row[2]
                runs.setdefault((w, p), []).append(
                    (float(row[4]), float(row[5]), float(row[6])))
            elif row[0] == "BENCHX" and len(row) >= 4:
                extra[row[1]] = (row[2], ",".join(row[3:]))
    return runs, extra


def summarize(runs):
    out = {}
    for (w, p), rs in runs.items():
        k = 1 if w in MBPS else 0
        vals = [r[k] for r in rs]
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


def ratio(s, w, p, ref):
    a, b = s.get((w, p)), s.get((w, ref))
    if not a or not b or b["value"] <= 0:
        return None
    return a["value"] / b["value"]


def fmt_ratio(r):
    return "" if r is None else f"{r:.2f}x"


def goals(s, extra):
    """(goal, reached, met) rows, from the issue's table."""
    rows = []

    def add(goal, r, want):
        rows.append((goal, "n/a" if r is None else f"{r:.2f}x",
                     "n/a" if r is None else ("yes" if r >= want else "no")))

    add("hot 4 KiB: >= 0.9x dm-linear over brd (bc-wb-brd)",
        ratio(s, "hot4k", "bc-wb-brd", "linear-brd"), 0.9)
    add("hot 4 KiB: >= 3x dm-linear over a tmpfs loop (bc-wb)",
        ratio(s, "hot4k", "bc-wb", "linear"), 3)
    add("hot set behind a 1 ms origin: >= 10x the origin alone",
        ratio(s, "hot4k", "bc-delay", "delay"), 10)
    add("512 B hot: >= 4x dm-ebs", ratio(s, "hot512", "bc-wb", "ebs"), 4)
    add("70/30 mix: >= 2x dm-ebs", ratio(s, "mix70", "bc-wb", "ebs"), 2)
    add("sequential 1 MiB read, uncached: >= 0.9x dm-linear",
        ratio(s, "seqread", "bc-wb", "linear"), 0.9)
    add("sequential 1 MiB write: >= 0.9x dm-linear",
        ratio(s, "seqwrite", "bc-wb", "linear"), 0.9)
    for key, label in (("hot_after_scan_cutoff_4194304", "default cutoff"),
                       ("hot_after_scan_cutoff_0", "no bypass")):
        if key in extra:
            v = float(extra[key][0])
            rows.append((f"hot-set hit ratio after a scan of 2x the cache "
                         f"({label}): >= 90 % of before",
                         f"{v:.0f} % ({extra[key][1].split('(')[-1].rstrip(')')})",
                         "yes" if v >= 90 else "no"))
    if "metadata_bytes_per_block" in extra:
        b = float(extra["metadata_bytes_per_block"][0])
        rows.append(("metadata: <= 2 % of cached bytes",
                     f"{b:.0f} bytes per 4 KiB block ({100 * b / 4096:.1f} %)",
                     "yes" if b <= 0.02 * 4096 else "no"))
    shares = [float(extra[k][0]) for k in ("share_target1", "share_target2")
              if k in extra]
    if shares:
        rows.append(("two targets, one budget: each within 10 % of its share",
                     " / ".join(f"{v:.0f} %" for v in shares),
                     "yes" if all(abs(v - 100) <= 10 for v in shares) else "no"))
    return rows


def markdown(s, extra, meta):
    lines = [f"# dm-bufcache benchmark ({meta})", ""]
    for w, title in WORKLOADS:
        peers = [p for p in PEERS if (w, p) in s]
        if not peers:
            continue
        lines += [f"## {title}", "",
                  "| peer | median | spread | MB/s | p99 us | x dm-linear | x dm-ebs | x linear-brd |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for p in peers:
            r = s[(w, p)]
            lines.append(
                f"| {p} | {r['value']:.1f} {r['unit']} | {r['min']:.1f}-{r['max']:.1f} | "
                f"{r['mbps']:.1f} | {r['p99']:.0f} | {fmt_ratio(ratio(s, w, p, 'linear'))} | "
                f"{fmt_ratio(ratio(s, w, p, 'ebs'))} | {fmt_ratio(ratio(s, w, p, 'linear-brd'))} |")
        lines.append("")
    rows = goals(s, extra)
    lines += ["## Goals", "", "| goal | reached | met |", "| --- | --- | --- |"]
    lines += [f"| {g} | {r} | {m} |" for g, r, m in rows]
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


def rst(s, extra, a):
    t = "Benchmarks"
    lines = [".. SPDX-License-Identifier: GPL-2.0", "", "=" * len(t), t, "=" * len(t), "",
             "Written by ``make bench`` (``scripts/bench.sh``); do not edit by hand.", "",
             f"- Kernel: {a.kernel}.",
             f"- Machine: {a.machine}.",
             f"- Date: {a.date}; {a.reps} repetitions of {a.runtime} s per run,",
             "  workloads interleaved (every peer runs repetition 1, then 2, ...);",
             "  medians, with the spread (min-max) of the repetitions.",
             "- fio, ``psync``, queue depth 1, ``O_DIRECT``. Every peer in the same boot.",
             "  Under emulation absolute figures mean little: read the ratios.", "",
             ".. image:: benchmarks.png", "",
             "Peers", "-----", ""]
    lines += rst_table(["peer", "what"], [[p, d] for p, d in PEERS.items()])
    lines.append("")
    for w, title in WORKLOADS:
        peers = [p for p in PEERS if (w, p) in s]
        if not peers:
            continue
        lines += [title, "-" * len(title), ""]
        rows = []
        for p in peers:
            r = s[(w, p)]
            rows.append([p, f"{r['value']:.1f} {r['unit']}", f"{r['min']:.1f}-{r['max']:.1f}",
                         f"{r['p99']:.0f}", fmt_ratio(ratio(s, w, p, "linear")) or "-",
                         fmt_ratio(ratio(s, w, p, "ebs")) or "-",
                         fmt_ratio(ratio(s, w, p, "linear-brd")) or "-"])
        lines += rst_table(["peer", "median", "spread", "p99 us", "x linear", "x ebs",
                            "x linear-brd"], rows)
        lines.append("")
    lines += ["Goals", "-----", ""]
    lines += rst_table(["goal", "reached", "met"], [list(r) for r in goals(s, extra)])
    lines.append("")
    if extra:
        lines += ["Other figures", "-------------", ""]
        lines += [f"- ``{k}``: {v} {u}" for k, (v, u) in sorted(extra.items())]
        lines.append("")
    # The analysis is written by hand, next to the generated figures.
    lines += [".. include:: benchmarks-notes.rst", ""]
    return "\n".join(lines)


def plot(s, path, meta):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ws = [w for w, _ in WORKLOADS if any((w, p) in s for p in PEERS)]
    # Peers over the 1 ms origin compare with it, not with dm-linear.
    peers = [p for p in PEERS if p not in ("linear", "delay", "bc-delay")
             and any((w, p) in s for w in ws)]
    fig, ax = plt.subplots(figsize=(12, 5))
    width = 0.8 / max(len(peers), 1)
    for i, p in enumerate(peers):
        xs, ys = [], []
        for j, w in enumerate(ws):
            r = ratio(s, w, p, "linear")
            if r is not None:
                xs.append(j + i * width)
                ys.append(r)
        ax.bar(xs, ys, width, label=p)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(ws))])
    ax.set_xticklabels(ws)
    ax.set_ylabel("median, relative to dm-linear over the same loop (log)")
    ax.set_title(f"dm-bufcache and peers: {meta}", fontsize=9)
    ax.legend(fontsize=7, ncol=4)
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
    ap.add_argument("--doc")
    a = ap.parse_args()
    runs, extra = load(a.raw)
    if not runs:
        sys.exit("no runs in " + a.raw)
    s = summarize(runs)
    meta = f"{a.kernel}, {a.date}"
    with open(os.path.join(a.out, "results.csv"), "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["workload", "peer", "unit", "median", "min", "max", "iops", "mbps",
                     "p99_us", "reps", "x_linear", "x_ebs", "x_linear_brd"])
        for (w, p), r in sorted(s.items()):
            wr.writerow([w, p, r["unit"], f"{r['value']:.2f}", f"{r['min']:.2f}",
                         f"{r['max']:.2f}", f"{r['iops']:.1f}", f"{r['mbps']:.2f}",
                         f"{r['p99']:.0f}", r["n"]] +
                        [f"{x:.3f}" if x is not None else "" for x in
                         (ratio(s, w, p, "linear"), ratio(s, w, p, "ebs"),
                          ratio(s, w, p, "linear-brd"))])
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(markdown(s, extra, meta))
    plot(s, os.path.join(a.out, "bench.png"), meta)
    if a.doc:
        with open(os.path.join(a.doc, "benchmarks.rst"), "w") as f:
            f.write(rst(s, extra, a))
        plot(s, os.path.join(a.doc, "benchmarks.png"), meta)


if __name__ == "__main__":
    main()
