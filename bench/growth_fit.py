#!/usr/bin/env python
"""Growth fit of bench/ingest_scale.py results: t = a·N^b (least squares on log t, log N) per step, on
CPU seconds (and wall), with the extrapolation to --to objects (100M by default).

    .venv/bin/python bench/growth_fit.py RESULTS.jsonl [--since ISO-TIME] [--to 100000000]

RESULTS is a file of ingest_scale.py or object_store_ab.py JSON lines (bench/RESULTS-ingest-scale.md holds them between prose:
lines that are not JSON are skipped). --since keeps the rows measured at or after that time.
"""
from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(a, b) of t = a·N^b through (N, t) points, least squares in log-log."""
    xs, ys = [math.log(n) for n, _ in points], [math.log(t) for _, t in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return math.exp(my - b * mx), b


def series(rows: list[dict]) -> dict[str, list[tuple[int, dict]]]:
    out = defaultdict(list)
    for row in rows:
        n = row["objects"]
        for peer in ("pyarrow_read", "duckdb_ingest", "duckdb_gaps"):
            if "cpu_s" in row.get(peer, {}):
                out[peer].append((n, row[peer]))
        for kind in ("sqlite", "postgres"):
            if row.get("bench") == "object_store_ab":  # {db: {store: {"steps": …}}}
                runs = {f"{kind} {store}": seq for store, seq in row.get(kind, {}).items()}
            else:
                runs = {kind: row.get(kind, {})}
            for label, run in runs.items():
                for step, m in run.get("steps", {}).items():
                    if "cpu_s" in m:  # older lines have wall time only
                        out[f"{label} {step}"].append((n, m))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("--since", default="")
    ap.add_argument("--to", type=int, default=100_000_000)
    args = ap.parse_args(argv)
    rows = []
    for line in open(args.results):
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get("at", "") >= args.since and "objects" in row:
            rows.append(row)
    print(f"| step | sizes | b (CPU) | b (wall) | CPU s at {args.to / 1e6:g}M | wall s at {args.to / 1e6:g}M | peak MB (largest size) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, pts in series(rows).items():
        sizes = sorted({n for n, _ in pts})
        if len(sizes) < 2:
            continue
        a_c, b_c = fit([(n, m["cpu_s"]) for n, m in pts])
        a_w, b_w = fit([(n, m["seconds"]) for n, m in pts])
        peak = max(m["peak_rss_mb"] for n, m in pts if n == sizes[-1])
        print(f"| {name} | {', '.join(f'{n / 1e6:.0f}M' for n in sizes)} | {b_c:.2f} | {b_w:.2f} | "
              f"{a_c * args.to ** b_c:.0f} | {a_w * args.to ** b_w:.0f} | {peak} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
