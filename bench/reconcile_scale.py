#!/usr/bin/env python
"""Reconcile at scale (issue 23 items 1 and 5): ADCE's `reconcile --use-cache` beside DuckDB's read of the
same S3 Inventory report + the gap query (bench/duckdb_gaps.py), interleaved, each its own process under
`/usr/bin/time -f %M` (peak RSS of the command alone).

    .venv/bin/pip install duckdb                       # the peer; not a dependency of ADCE
    .venv/bin/python bench/reconcile_scale.py --sizes 1000000 3000000 10000000 --db sqlite postgres --rounds 2 \
        --out bench/RESULTS-ingest-scale.md
    BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/adce_h2_bench   (one database per size: …_<size>)

Reports: --reports (default /work/bench-data, read-only: bench/make_inventory_report.py's <size>/ folders
with expected.json). Each database is built once (migrate, coverage, catalogs, `scan` of the report;
untimed) under --workdir and reused (a marker file; --rebuild drops it). Before each timed reconcile the
gaps and tasks are deleted (untimed), so every run is a first reconcile that opens every gap.
Correctness, per run: gaps by kind and priority and every completeness cell equal the generator's
expected.json, for ADCE and for DuckDB alike. Exit 1 when a check fails.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from ingest_scale import MANAGE, prepared, timed  # noqa: E402

PRIORITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")


def expected_of(reports: Path, size: int) -> dict:
    return json.loads((reports / str(size) / "expected.json").read_text())


def database(kind: str, size: int, exp: dict, workdir: Path, pg_base: str, rebuild: bool) -> dict:
    """The environment of the scanned database of this size (built once, then reused)."""
    folder = workdir / kind / str(size)  # where ingest_scale.prepared puts it
    folder.mkdir(parents=True, exist_ok=True)
    pg_url = f"{pg_base}_{size}"
    marker = folder / "scanned"
    env = dict(os.environ, ADCE_VAR_DIR=str(folder / "var"))
    env.pop("ADCE_REQUIRE_POSTGRES", None)
    env["DATABASE_URL"] = f"sqlite:///{folder / 'bench.sqlite3'}" if kind == "sqlite" else pg_url
    env["ADCE_SCAN_CACHE_HOURS"] = "100000"  # the scan is built once and reused for days of runs
    if marker.exists() and not rebuild:
        return env
    env = dict(prepared(kind, size, exp, folder.parent, pg_url), ADCE_SCAN_CACHE_HOURS="100000")
    step = timed(f"{kind} {size} scan (setup)", [*MANAGE, "scan", "--inventory-manifest", exp["manifest_uri"], "--json"],
                 env, pg=kind == "postgres")
    doc = json.loads(step["stdout"])
    if doc["objects"] != exp["objects"]:
        raise SystemExit(f"{kind} {size}: scan saw {doc['objects']} objects, expected {exp['objects']}")
    marker.write_text(json.dumps({"objects": doc["objects"], "scan_s": step["seconds"]}))
    return env


RESET = ("from django.db import connection\n"
         "from reconciliation.models import Gap, Task\n"
         "with connection.cursor() as c:\n"
         "    c.execute(f'DELETE FROM {Gap._meta.db_table}'); c.execute(f'DELETE FROM {Task._meta.db_table}')\n")


def counts_of(gaps: dict, cells: list) -> dict:
    return {"by_kind": {k: v for k, v in sorted(gaps["by_kind"].items()) if v},
            "by_priority": {k.upper(): v for k, v in sorted(gaps["by_priority"].items()) if v},
            "cells": sorted((c["source"], c["data_type"], c["season"] or "", c["expected"], c["present"]) for c in cells)}


def want_of(exp: dict) -> dict:
    g = exp["gaps"]
    return {"by_kind": {k: v for k, v in sorted(g["by_kind"].items()) if v},
            "by_priority": {k: v for k, v in sorted(g["by_priority"].items()) if v},
            "cells": sorted((c["source"], c["data_type"], c["season"] or "", c["expected"], c["present"])
                            for c in exp["cells"])}


def adce_reconcile(kind: str, size: int, env: dict, exp: dict, tree: Path = ROOT, label: str = "") -> dict:
    manage = [sys.executable, str(tree / "manage.py")]  # another tree's manage.py imports that tree's code
    subprocess.run([*manage, "shell", "-c", RESET], env=env, cwd=ROOT, check=True)
    step = timed(f"{kind} {size} reconcile {label}", [*manage, "reconcile", "--use-cache", "--as-of", exp["as_of"], "--json"],
                 env, pg=kind == "postgres")
    doc = json.loads(step.pop("stdout"))
    step["timings"] = doc["timings"]
    step["ok"] = counts_of(doc["gaps"], doc["completeness"]) == want_of(exp)
    step["gaps"] = doc["gaps"]["total"]
    return step


def duckdb_gaps(size: int, exp: dict, reports: Path) -> dict:
    step = timed(f"duckdb {size} read+gaps", [sys.executable, str(ROOT / "bench" / "duckdb_gaps.py"),
                                              str(reports / str(size))], dict(os.environ))
    doc = json.loads(step.pop("stdout"))
    step["ok"] = {k: doc[k] for k in ("by_kind", "by_priority")} == {k: want_of(exp)[k] for k in ("by_kind", "by_priority")} \
        and sorted(map(tuple, doc["cells"])) == want_of(exp)["cells"]
    step["gaps"] = doc["total"]
    step["inside_s"] = doc.get("seconds")
    return step


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 3_000_000])
    ap.add_argument("--db", nargs="*", choices=["sqlite", "postgres"], default=["sqlite", "postgres"])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--reports", default="/work/bench-data")
    ap.add_argument("--workdir", default="/tmp/adce-reconcile-scale")
    ap.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/adce_bench_rs"))
    ap.add_argument("--setup-only", action="store_true", help="build the scanned databases, time nothing else")
    ap.add_argument("--no-duckdb", action="store_true")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--label", default="", help="a name for this tree in the results (e.g. main, h2)")
    ap.add_argument("--baseline", help="another tree (e.g. a `git archive main` copy): its reconcile runs too, "
                                       "interleaved, as <db>_baseline")
    ap.add_argument("--out", help="append the results (JSON lines) here")
    args = ap.parse_args(argv)
    reports, workdir = Path(args.reports), Path(args.workdir)
    exps = {size: expected_of(reports, size) for size in args.sizes}
    envs = {(kind, size): database(kind, size, exps[size], workdir, args.pg_url, args.rebuild)
            for size in args.sizes for kind in args.db}
    if args.setup_only:
        return 0
    ok = True
    for r in range(1, args.rounds + 1):
        for size in args.sizes:
            rows = {}
            if not args.no_duckdb:
                rows["duckdb"] = duckdb_gaps(size, exps[size], reports)
            for kind in args.db:
                if args.baseline:
                    rows[f"{kind}_baseline"] = adce_reconcile(kind, size, envs[(kind, size)], exps[size],
                                                              Path(args.baseline), "baseline")
                rows[kind] = adce_reconcile(kind, size, envs[(kind, size)], exps[size])
            line = {"bench": "reconcile_scale", "label": args.label, "round": r, "size": size,
                    "objects": exps[size]["objects"], "expected_gaps": exps[size]["gaps"]["total"],
                    "load_avg": load_average(), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **rows}
            for kind in [k for k in rows if k != "duckdb"]:
                if "duckdb" in rows:
                    line[f"{kind}_over_duckdb"] = round(rows[kind]["seconds"] / rows["duckdb"]["seconds"], 2)
                    line[f"{kind}_over_duckdb_cpu"] = round(rows[kind]["cpu_s"] / rows["duckdb"]["cpu_s"], 2)
            ok = ok and all(v["ok"] for k, v in rows.items())
            _emit(line, args.out)
    return 0 if ok else 1


def _emit(line: dict, out: str | None) -> None:
    text = json.dumps(line)
    print(text, flush=True)
    if out:
        Path(out).open("a").write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
