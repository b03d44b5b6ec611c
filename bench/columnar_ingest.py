#!/usr/bin/env python
"""Measure the storage design of issue 23 before building it: how fast could ADCE ingest a report if the
object inventory were a columnar store beside the Django database?

    DATABASE_URL=sqlite:////tmp/x/tpl.sqlite3 .venv/bin/python bench/columnar_ingest.py MANIFEST_URI --mode M

The database must hold the coverage and catalogs (the matcher needs them); nothing is written to it
except, in mode `parquet`, a bench table of per-partition aggregates (dropped first).

  --mode match    ADCE's own reader and matcher (services.scan.iter_batches, read-ahead thread as a scan
                  uses it), every batch dropped: the floor of any store behind ADCE's matching.
  --mode file     the same batches streamed into one Parquet file (--out): a columnar store's write.
  --mode parquet  the Parquet file, and the per-partition
                  aggregates a reconcile needs (objects, bytes, newest last_modified, smallest size per
                  data type × partition) merged in Arrow and written to the database in one transaction.

Prints one JSON line: objects, inside_s (inside the process, after Django's start-up), aggregates.
bench/ingest_scale.py runs it beside DuckDB's ingest of the same report (--columnar).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "adce_site.settings")

AGGREGATES = "bench_partition_aggregates"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest")
    ap.add_argument("--mode", choices=["match", "file", "parquet"], default="parquet")
    ap.add_argument("--out", default="/tmp/adce-columnar-inventory.parquet")
    args = ap.parse_args(argv)

    import django

    django.setup()
    import pyarrow as pa
    import pyarrow.parquet as pq
    from django.db import connection, transaction

    from reconciliation.engine.inventory import STAGING_SCHEMA
    from reconciliation.engine.readahead import read_ahead
    from reconciliation.services.scan import ScanTotals, TargetStats, iter_batches, scan_plan
    from reconciliation.services.specs import partition_matcher

    t0 = time.perf_counter()
    plan = scan_plan(manifest_uri=args.manifest)
    totals = ScanTotals(targets=[TargetStats(t.location.uri) for t in plan.targets])
    batches = read_ahead(iter_batches(plan, partition_matcher(), scan_id=None, totals=totals))
    objects, partials = 0, []
    writer = pq.ParquetWriter(args.out, STAGING_SCHEMA, compression="lz4") if args.mode != "match" else None
    for batch in batches:
        objects += batch.num_rows
        if writer is None:
            continue
        writer.write_batch(batch)
        if args.mode == "file":
            continue
        partials.append(pa.Table.from_batches([batch]).group_by(["data_type_id", "partition"]).aggregate(
            [("key", "count"), ("size", "sum"), ("last_modified", "max"), ("size", "min")]))
    aggregates = 0
    if writer is not None:
        writer.close()
    if args.mode == "parquet":
        merged = pa.concat_tables(partials).group_by(["data_type_id", "partition"]).aggregate(
            [("key_count", "sum"), ("size_sum", "sum"), ("last_modified_max", "max"), ("size_min", "min")])
        aggregates = merged.num_rows
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {AGGREGATES}")
            cur.execute(f"CREATE TABLE {AGGREGATES} (data_type_id bigint, partition varchar(64), objects bigint, "
                        "bytes bigint, newest timestamp, smallest bigint)")
            cur.executemany(f"INSERT INTO {AGGREGATES} VALUES (%s, %s, %s, %s, %s, %s)",
                            list(zip(*(merged.column(i).to_pylist() for i in range(6)))))
    print(json.dumps({"mode": args.mode, "objects": objects, "inside_s": round(time.perf_counter() - t0, 2),
                      "aggregates": aggregates, "parquet_mb": round(os.path.getsize(args.out) / 2**20, 1)
                      if writer is not None else None}))
    os._exit(0)  # as scan does (adce_site/process_exit.py): no teardown of Arrow's pools in the timing


if __name__ == "__main__":
    raise SystemExit(main())
