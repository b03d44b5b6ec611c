#!/usr/bin/env python
"""Where a scan's memory goes: run one `scan --inventory-manifest` in this process and print, as one JSON
line, its peak resident memory (VmHWM), the resident memory sampled every --every seconds (VmRSS) beside
Arrow's live allocations (pa.total_allocated_bytes) and the queues between the scan's threads, by phase
(before the first batch, listing = read + match + stage, the swap).

    DATABASE_URL=sqlite:///copy.sqlite3 .venv/bin/python bench/scan_memory.py MANIFEST_URI [--every 0.05]

Use it on a copy of a prepared database (coverage and catalogs imported): it writes the inventory. The
figures to compare between trees are `/usr/bin/time -f %M` of the plain command (bench/ingest_scale.py);
this one says where the difference is.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "adce_site.settings")


def _status(field: str) -> int:
    """A /proc/self/status field in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) // 1024
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest_uri")
    ap.add_argument("--every", type=float, default=0.05, help="sampling period (s)")
    ap.add_argument("--jemalloc-decay-ms", type=int, help="pa.jemalloc_set_decay_ms before the scan")
    args = ap.parse_args(argv)
    import django

    django.setup()
    import pyarrow as pa
    from psycopg.copy import QueuedLibpqWriter

    from reconciliation.services.scan import scan_run, scan_summary

    if args.jemalloc_decay_ms is not None:
        pa.jemalloc_set_decay_ms(args.jemalloc_decay_ms)
    writers: list = []
    init = QueuedLibpqWriter.__init__

    def tracked_init(self, *a, **kw):  # the COPY writer queue's depth, sampled below
        init(self, *a, **kw)
        writers.append(self)

    QueuedLibpqWriter.__init__ = tracked_init
    phase = ["start"]
    peaks: dict[str, dict] = {}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            rss, arrow = _status("VmRSS"), pa.total_allocated_bytes() >> 20
            queued = max((w._queue.qsize() for w in writers), default=0)
            p = peaks.setdefault(phase[0], {"rss_mb": 0, "arrow_mb": 0, "copy_queue": 0})
            if rss > p["rss_mb"]:
                p["rss_mb"], p["arrow_at_rss_peak_mb"], p["file_at_rss_peak_mb"] = rss, arrow, _status("RssFile")
            p["arrow_mb"] = max(p["arrow_mb"], arrow)
            p["copy_queue"] = max(p["copy_queue"], queued)
            stop.wait(args.every)

    def progress(line: str) -> None:
        if "reading inventory report" in line:
            phase[0] = "listing"
        elif "writing the inventory" in line:
            phase[0] = "swap"

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    run = scan_run(manifest_uri=args.manifest_uri, progress=progress)
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    doc = scan_summary(run)
    pool = pa.default_memory_pool()
    print(json.dumps({"wall_s": round(wall, 2), "objects": doc["objects"], "inventory": doc["inventory"],
                      "peak_rss_mb": _status("VmHWM"), "arrow_pool": pool.backend_name,
                      "arrow_pool_max_mb": pool.max_memory() >> 20, "by_phase": peaks}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
