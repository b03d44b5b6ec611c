#!/usr/bin/env python
"""A/B of source trees on the same S3 Inventory report: each pair runs tree A then tree B (B then A in
every other pair; more trees likewise), each on a fresh copy of the same prepared database (migrated, coverage and catalogs:
bench/ingest_scale.py --keep-prepared makes them), the three steps of bench/ingest_scale.py — `scan
--inventory-manifest` (first ingest), the unchanged rescan, the 0.1 %-changed rescan — each its own
process under `/usr/bin/time` (peak RSS, user + system CPU seconds), with the same checks.

    git archive BASE_COMMIT | tar -x -C /tmp/base          # tree A: the code before the change
    .venv/bin/python bench/scan_ab.py --workdir /work/ha-bench --size 3000000 --trees /tmp/base . \
        --db sqlite postgres --pairs 2 --pg-url postgres://postgres@127.0.0.1:5432/adce_ha_bench

A tree runs with its own virtualenv's Python (TREE/.venv/bin/python) if it has one, else with this one;
a tree's own manage.py imports its own packages (the script's folder comes first on sys.path).
`--duckdb`: each pair also times DuckDB's ingest of the same report (bench/ingest_scale.py's peer), so that
every step can be read as a multiple of it within the pair. One JSON line per run on stdout, a summary
line per run on stderr; each line says the load average when it began.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest_scale import DUCKDB_INGEST, _admin, checks, report, timed  # noqa: E402

STEPS = (("scan", "manifest"), ("rescan_unchanged", "manifest"), ("rescan_changed", "changed"))


def fresh_db(kind: str, workdir: Path, size: int, pg_url: str) -> dict:
    """The environment of a fresh copy of the kept prepared database."""
    env = dict(os.environ)
    env["ADCE_VAR_DIR"] = str(workdir / str(size) / "var")
    env.pop("ADCE_REQUIRE_POSTGRES", None)
    if kind == "sqlite":
        db = workdir / str(size) / "ab.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(workdir / str(size) / "prepared.sqlite3", db)
        env["DATABASE_URL"] = f"sqlite:///{db}"
    else:
        name = urllib.parse.urlparse(pg_url).path.lstrip("/")
        with _admin(pg_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{name}_prep{size}"')
        env["DATABASE_URL"] = pg_url
    return env


def tree_python(tree: Path) -> str:
    own = tree / ".venv" / "bin" / "python"
    return str(own) if own.exists() else sys.executable


def run(tree: Path, kind: str, size: int, exp: dict, workdir: Path, pg_url: str, count: int = 3) -> dict:
    env = fresh_db(kind, workdir, size, pg_url)
    steps = {}
    for name, which in STEPS[:count]:
        uri = exp["manifest_uri"] if which == "manifest" else exp["changed"]["manifest_uri"]
        load = os.getloadavg()[0]
        step = timed(f"{tree.name or tree} {kind} {name}",
                     [tree_python(tree), str(tree / "manage.py"), "scan", "--inventory-manifest", uri, "--json"],
                     env, pg=kind == "postgres")
        doc = json.loads(step.pop("stdout"))
        step.update(inventory=doc["inventory"], objects=doc["objects"], unmatched=doc["unmatched"],
                    timings=doc.get("timings"), load=round(load, 2))
        steps[name] = step
    return steps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--trees", nargs="+", required=True, help="two or more trees, rotated pair by pair")
    ap.add_argument("--db", nargs="+", choices=["sqlite", "postgres"], default=["sqlite"])
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--steps", type=int, choices=[1, 2, 3], default=3,
                    help="the first N steps only (1: the first scan; 2: and the unchanged rescan)")
    ap.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/adce_ha_bench")
    ap.add_argument("--duckdb", action="store_true", help="also time DuckDB's ingest of the report, once per pair")
    args = ap.parse_args(argv)
    workdir = Path(args.workdir)
    exp = report(workdir, args.size)
    trees = [Path(t).resolve() for t in args.trees]
    ok = True
    for pair in range(1, args.pairs + 1):
        order = trees if pair % 2 else trees[::-1]  # A B (C …), then (… C) B A
        if args.duckdb:
            load = os.getloadavg()[0]
            duck = timed(f"duckdb ingest {args.size}", [sys.executable, "-c", DUCKDB_INGEST, exp["manifest_uri"],
                                                        str(workdir / f"duck-{args.size}.db")], dict(os.environ))
            ok = ok and int(duck.pop("stdout").split()[-1]) == exp["objects"]  # after DuckDB's progress bar
            print(json.dumps({"pair": pair, "tree": "duckdb", "size": args.size, "load": round(load, 1),
                              "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                              "steps": {"ingest": duck}}), flush=True)
        for kind in args.db:
            for tree in order:
                load = os.getloadavg()[0]
                steps = run(tree, kind, args.size, exp, workdir, args.pg_url, args.steps)
                verdict = checks(steps, exp) if args.steps == 3 else {"objects": steps["scan"]["objects"] == exp["objects"]}
                ok = ok and all(verdict.values())
                print(json.dumps({"pair": pair, "tree": str(tree), "db": kind, "size": args.size, "load": round(load, 1),
                                  "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                                  "steps": steps, "checks": verdict}), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
