#!/usr/bin/env python
"""Read-only speed of the S3 Inventory readers, format beside format in one process (no database):
`InventoryReport.iter_arrow()` over reports written by bench/make_inventory_report.py --format ….

    .venv/bin/python bench/inventory_read_formats.py DIR[=label] DIR[=label] … [--rounds 3]

Each DIR is a make_inventory_report.py output folder (its expected.json names the manifest). Rounds
interleave the formats so that a shared machine's load falls on all of them alike; the table gives
wall and CPU seconds (time.process_time: every thread of this process) per round and rows/s.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    from reconciliation.storage import read_inventory_report

    reports = []
    for item in args.dirs:
        folder, _, label = item.partition("=")
        manifest = json.load(open(os.path.join(folder, "expected.json")))["manifest_uri"]
        reports.append((label or os.path.basename(folder.rstrip("/")), manifest))
    results = {label: [] for label, _ in reports}
    for _ in range(args.rounds):
        for label, manifest in reports:
            report = read_inventory_report(manifest)
            t0, c0 = time.perf_counter(), time.process_time()
            rows = sum(batch.num_rows for batch in report.iter_arrow())
            results[label].append({"objects": rows, "wall_s": round(time.perf_counter() - t0, 2),
                                   "cpu_s": round(time.process_time() - c0, 2)})
    summary = {label: {"runs": runs, "best_wall_objects_per_s": round(max(r["objects"] / r["wall_s"] for r in runs)),
                       "min_cpu_s": min(r["cpu_s"] for r in runs)} for label, runs in results.items()}
    print(json.dumps({"load_avg": os.getloadavg(), "formats": summary}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
