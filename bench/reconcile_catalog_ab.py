#!/usr/bin/env python
"""Reconcile over files (ADCE_OBJECT_STORE=files) with the catalog copied to Arrow in memory (BASELINE tree,
e.g. a `git worktree` of the commit before) against the catalog streamed to a Parquet file (this tree),
alternately, on one scanned database, each `reconcile --use-cache` its own process under /usr/bin/time.

    .venv/bin/python bench/reconcile_catalog_ab.py --baseline /work/benchtree --workdir /work/bench \
        --size 30000000 --db sqlite --rounds 2 [--scan] --out FILE

The database is bench/object_store_ab.py's (its last sequence's state); --scan runs one files-mode scan of
the report first. Pass it: object_store_ab's sequence ends with the 0.1 %-changed report, which
expected.json does not describe (without --scan the check fails while both trees may agree). Gaps and tasks are deleted before each
reconcile (a first reconcile); its gaps by kind and priority and every completeness cell must equal the
generator's expected.json (exit 1 when not).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from ingest_scale import PYTHON, emit, report, timed  # noqa: E402
from reconcile_scale import RESET, counts_of, want_of  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/adce_bench_ab")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--scan", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    folder = Path(args.workdir) / str(args.size)
    exp = report(Path(args.workdir), args.size)
    env = dict(os.environ, ADCE_OBJECT_STORE="files", ADCE_SCAN_CACHE_HOURS="100000", ADCE_VAR_DIR=str(folder / "var"),
               DATABASE_URL=f"sqlite:///{folder / 'bench.sqlite3'}" if args.db == "sqlite" else args.pg_url)
    env.pop("ADCE_REQUIRE_POSTGRES", None)
    trees = {"arrow (baseline)": Path(args.baseline), "parquet": ROOT}
    if args.scan:
        timed("files scan", [PYTHON, str(ROOT / "manage.py"), "scan", "--inventory-manifest", exp["manifest_uri"]], env)
    ok = True
    for rnd in range(1, args.rounds + 1):
        row = {"bench": "reconcile_catalog_ab", "round": rnd, "size": args.size, "db": args.db,
               "at": dt.datetime.now(dt.timezone.utc).isoformat()}
        for name in (list(trees) if rnd % 2 else list(trees)[::-1]):
            manage = [PYTHON, str(trees[name] / "manage.py")]
            subprocess.run([*manage, "shell", "-c", RESET], env=env, check=True)
            step = timed(f"{args.db} {args.size} reconcile, catalog {name}",
                         [*manage, "reconcile", "--use-cache", "--as-of", exp["as_of"], "--json"], env)
            doc = json.loads(step.pop("stdout"))
            step["ok"] = counts_of(doc["gaps"], doc["completeness"]) == want_of(exp)
            ok = ok and step["ok"]
            row[name] = step
        emit(row, args.out)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
