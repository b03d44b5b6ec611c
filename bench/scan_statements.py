#!/usr/bin/env python
"""Where a scan's write time goes: run one `scan --inventory-manifest` in this process and print, as one
JSON line, the scan's own timings (list = read + match + insert, write = the swap) and every SQL
statement of the swap that took more than --min seconds (Django's debug cursor; the batch inserts go
through sqlite3 / COPY directly and are not in it).

    DATABASE_URL=sqlite:///copy.sqlite3 .venv/bin/python bench/scan_statements.py MANIFEST_URI [--min 0.05]

Use it on a copy of a prepared database (coverage and catalogs imported): it writes the inventory.
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest_uri")
    ap.add_argument("--min", type=float, default=0.05, help="report statements slower than this (s)")
    args = ap.parse_args(argv)
    import django

    django.setup()
    from django.db import connection

    from reconciliation.services.scan import scan_run, scan_summary

    connection.force_debug_cursor = True
    t0 = time.perf_counter()
    run = scan_run(manifest_uri=args.manifest_uri)
    wall = time.perf_counter() - t0
    doc = scan_summary(run)
    slow = [{"s": float(q["time"]), "sql": q["sql"][:160]} for q in connection.queries if float(q["time"]) >= args.min]
    print(json.dumps({"wall_s": round(wall, 2), "objects": doc["objects"], "timings": doc["timings"],
                      "inventory": doc["inventory"], "slow": slow}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
