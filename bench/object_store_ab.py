#!/usr/bin/env python
"""Rows or files (issue 23 item 2): the same S3 Inventory report scanned, rescanned and reconciled with
`ADCE_OBJECT_STORE=rows` (StoredObject rows) and `=files` (Parquet files read through DuckDB), beside
DuckDB's own ingest of the report and DuckDB's read + gap query (the peers of bench/ingest_scale.py and
bench/reconcile_scale.py), in one sitting, interleaved (the two stores swap order every round), each
command its own process under `/usr/bin/time -f %M` (peak RSS of the command alone).

    .venv/bin/python bench/ingest_scale.py --sizes 3000000 --db sqlite --rounds 1 --keep-prepared --workdir W
    .venv/bin/python bench/object_store_ab.py --workdir W --sizes 3000000 10000000 --rounds 2 --out RESULTS.jsonl
    .venv/bin/python bench/object_store_ab.py --workdir W --sizes 30000000 --db sqlite postgres --stores files

--db runs each store on SQLite and/or PostgreSQL (--pg-url, dropped and recreated from the kept prepared copy
per sequence); --stores limits the stores (a 30M rows-mode sequence takes most of an hour). Every round also
times the bare pyarrow read of the report (parse only, the floor of any scan).

Per size, round and store, on a fresh copy of the prepared database (coverage and catalogs; untimed, then
`migrate`): `scan --inventory-manifest` (first ingest), the unchanged rescan, `reconcile --use-cache`, the
0.1 %-changed rescan. Checks, exit 1 when one fails: objects and unmatched equal the generator's; the
reconcile's gaps by kind and priority and every completeness cell equal expected.json (DuckDB's too); in
files mode no StoredObject row is written by the scans.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import ingest_scale  # noqa: E402
from ingest_scale import DUCKDB_INGEST, MANAGE, PYARROW_READ, PYTHON, emit, prepared, report, timed  # noqa: E402
from reconcile_scale import RESET, counts_of, duckdb_gaps, want_of  # noqa: E402

STORES = ("rows", "files")
COUNT_ROWS = ("from reconciliation.models import StoredObject; print(StoredObject.objects.count())")


def adce_sequence(store: str, db: str, size: int, exp: dict, workdir: Path, pg_url: str) -> dict:
    env = dict(prepared(db, size, exp, workdir, pg_url), ADCE_OBJECT_STORE=store, ADCE_SCAN_CACHE_HOURS="100000")
    pg = db == "postgres"
    shutil.rmtree(Path(env["ADCE_VAR_DIR"]) / "inventory-snapshots", ignore_errors=True)
    subprocess.run([*MANAGE, "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True)
    steps = {}

    def scan(name, manifest):
        step = timed(f"{db} {store} {size} {name}", [*MANAGE, "scan", "--inventory-manifest", manifest, "--json"], env,
                     pg=pg)
        doc = json.loads(step.pop("stdout"))
        step.update(objects=doc["objects"], unmatched=doc["unmatched"], inventory=doc["inventory"],
                    timings=doc.get("timings"))
        steps[name] = step

    scan("scan", exp["manifest_uri"])
    scan("rescan_unchanged", exp["manifest_uri"])
    rows = int(subprocess.run([*MANAGE, "shell", "-c", COUNT_ROWS], env=env, cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.split()[-1])
    subprocess.run([*MANAGE, "shell", "-c", RESET], env=env, cwd=ROOT, check=True)
    step = timed(f"{db} {store} {size} reconcile",
                 [*MANAGE, "reconcile", "--use-cache", "--as-of", exp["as_of"], "--json"], env, pg=pg)
    doc = json.loads(step.pop("stdout"))
    step.update(gaps=doc["gaps"]["total"], timings=doc["timings"],
                ok=counts_of(doc["gaps"], doc["completeness"]) == want_of(exp))
    steps["reconcile"] = step
    scan("rescan_changed", exp["changed"]["manifest_uri"])
    checks = {"objects": all(steps[s]["objects"] == exp["objects"] for s in ("scan", "rescan_unchanged")),
              "unmatched": steps["scan"]["unmatched"] == exp["unmatched"],
              "reconcile counts": step["ok"],
              "stored rows": rows > 0 if store == "rows" else rows == 0}
    return {"steps": steps, "stored_object_rows": rows, "checks": checks}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--workdir", required=True, help="bench/ingest_scale.py --keep-prepared's workdir")
    ap.add_argument("--db", nargs="+", choices=["sqlite", "postgres"], default=["sqlite"])
    ap.add_argument("--stores", nargs="+", choices=STORES, default=list(STORES))
    ap.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/adce_bench_ab"))
    ap.add_argument("--out", help="append the results (JSON lines) here")
    args = ap.parse_args(argv)
    stores = [s for s in STORES if s in args.stores]
    ingest_scale.KEEP_PREPARED = True
    workdir = Path(args.workdir)
    reports = {size: report(workdir, size) for size in args.sizes}
    ok = True
    for rnd in range(1, args.rounds + 1):
        for size in args.sizes:
            exp = reports[size]
            row = {"bench": "object_store_ab", "round": rnd, "size": size, "objects": exp["objects"],
                   "at": dt.datetime.now(dt.timezone.utc).isoformat(), "load_avg": [round(x, 2) for x in os.getloadavg()]}
            row["pyarrow_read"] = timed(f"pyarrow {size} read", [PYTHON, "-c", PYARROW_READ, exp["manifest_uri"]],
                                        dict(os.environ))
            row["duckdb_ingest"] = timed(f"duckdb {size} ingest", [PYTHON, "-c", DUCKDB_INGEST, exp["manifest_uri"],
                                                                 str(workdir / f"duck-{size}.db")], dict(os.environ))
            for peer in ("pyarrow_read", "duckdb_ingest"):
                row[peer].pop("stdout")
            row["duckdb_gaps"] = duckdb_gaps(size, exp, workdir)
            ok = ok and row["duckdb_gaps"]["ok"]
            ingest, gaps = row["duckdb_ingest"]["seconds"], row["duckdb_gaps"]["seconds"]
            row["ratios"] = {}
            # the stores swap order every round; the databases alternate inside each store
            for store in (stores if rnd % 2 else stores[::-1]):
                for db in (args.db if rnd % 2 else args.db[::-1]):
                    seq = row.setdefault(db, {})[store] = adce_sequence(store, db, size, exp, workdir, args.pg_url)
                    ok = ok and all(seq["checks"].values())
                    st = seq["steps"]
                    row["ratios"][f"{db} {store}"] = {
                        "scan/duckdb_ingest": round(st["scan"]["seconds"] / ingest, 2),
                        "rescan/duckdb_ingest": round(st["rescan_unchanged"]["seconds"] / ingest, 2),
                        "rescan/scan": round(st["rescan_unchanged"]["seconds"] / st["scan"]["seconds"], 2),
                        "reconcile/duckdb_gaps": round(st["reconcile"]["seconds"] / gaps, 2)}
            emit(row, args.out)
            print(f"  ratios {size}: {row['ratios']}", file=sys.stderr, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
