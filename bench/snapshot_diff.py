#!/usr/bin/env python
"""The snapshot rescan's DuckDB diff alone (issue 23 item 3, docs/benchmarks.md §16): two snapshot files of
one store, diffed by reconciliation.engine.inventory_snapshot.SnapshotDiff under the configured memory cap
(ADCE_SNAPSHOT_DIFF_MEMORY), printing one JSON line: changed rows, vanished keys, passes, out-of-memory
retries, seconds. Peak memory: run it under `/usr/bin/time -f %M`.

    cp var/inventory-snapshots/<store>/scan-N.parquet /tmp/old.parquet      # any two files of one store
    /usr/bin/time -f %M .venv/bin/python bench/snapshot_diff.py /tmp/old.parquet var/inventory-snapshots/<store>/scan-N.parquet

ADCE_VAR_DIR picks where DuckDB spills (its inventory-snapshots folder is created if missing).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "adce_site.settings")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--store", default="s3://nba-sim-raw-data-lake", help="the files' store (a label here)")
    args = ap.parse_args()
    import django

    django.setup()
    from django.conf import settings

    from reconciliation.engine.inventory_snapshot import SnapshotDiff, snapshot_dir

    snapshot_dir().mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with SnapshotDiff({args.store: (args.old, args.new)}, {args.store: None}, scan_id=0) as diff:
        changed, vanished = diff.run()
        print(json.dumps({"changed": changed, "vanished": vanished, "passes": diff.passes,
                          "out_of_memory": diff.retries, "seconds": round(time.perf_counter() - started, 2),
                          "memory_limit": settings.ADCE_SNAPSHOT_DIFF_MEMORY}))


if __name__ == "__main__":
    main()
