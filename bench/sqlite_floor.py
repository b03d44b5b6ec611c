#!/usr/bin/env python
"""SQLite's own C cost of a first ingest (issue 23's floor for the row store): copy the inventory of an
ADCE database into a fresh database file as ADCE's bulk load would write it — rows into the table
without indexes (INSERT … SELECT: no Python, no parsing, no binding), then the unique (key, store) and
the (data type, partition) index, then COMMIT with its checkpoint — each step timed (wall and this
process's CPU). Same journal mode, synchronous and page cache as ADCE's bulk load.

    .venv/bin/python bench/sqlite_floor.py SOURCE.sqlite3 /tmp/floor.sqlite3 [--cache-kb 16384]

SOURCE is an ADCE SQLite database after a scan (its reconciliation_storedobject is read); the target is
deleted first. Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import time

TABLE = "reconciliation_storedobject"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source")
    ap.add_argument("target")
    ap.add_argument("--cache-kb", type=int, default=16_384)
    args = ap.parse_args(argv)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(args.target + suffix):
            os.remove(args.target + suffix)
    con = sqlite3.connect(args.target, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute(f"PRAGMA cache_size=-{args.cache_kb}")
    con.execute(f"ATTACH DATABASE 'file:{args.source}?mode=ro' AS src")
    schema = con.execute("SELECT sql FROM src.sqlite_master WHERE name = ?", [TABLE]).fetchone()[0]
    indexes = [r[0] for r in con.execute("SELECT sql FROM src.sqlite_master WHERE tbl_name = ? AND type = 'index' "
                                         "AND sql IS NOT NULL ORDER BY name DESC", [TABLE])]
    con.execute(schema)
    cols = ", ".join(r[1] for r in con.execute(f"PRAGMA src.table_info({TABLE})") if r[1] != "id")
    steps = {}

    def step(name, sql):
        c0, t0 = time.process_time(), time.perf_counter()
        con.execute(sql)
        steps[name] = {"wall": round(time.perf_counter() - t0, 2), "cpu": round(time.process_time() - c0, 2)}

    con.execute("BEGIN IMMEDIATE")
    step("insert_select", f"INSERT INTO main.{TABLE} ({cols}) SELECT {cols} FROM src.{TABLE} ORDER BY id")
    for sql in indexes:
        step(sql.split('"')[1], sql)
    step("commit", "COMMIT")
    rows = con.execute(f"SELECT count(*) FROM main.{TABLE}").fetchone()[0]
    print(json.dumps({"rows": rows, "cache_kb": args.cache_kb, "steps": steps,
                      "total_wall": round(sum(s["wall"] for s in steps.values()), 2),
                      "total_cpu": round(sum(s["cpu"] for s in steps.values()), 2),
                      "db_mb": round(os.path.getsize(args.target) / 2**20),
                      "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                      "load": round(os.getloadavg()[0], 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
