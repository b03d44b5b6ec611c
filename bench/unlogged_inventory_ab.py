#!/usr/bin/env python
"""A/B (issue 23, tried and not kept): the PostgreSQL inventory table as it is (logged) against the same
table made UNLOGGED (no WAL), on one prepared database copied per variant; per round the DuckDB ingest
peer, then per variant `scan` (first ingest), the unchanged rescan and the 0.1 %-changed rescan, each
its own process timed by bench/ingest_scale.py's `timed` (wall, CPU s, peak RSS). One JSON line per round.

    .venv/bin/python bench/unlogged_inventory_ab.py SIZE ROUNDS unlogged,logged [WORKDIR] [PG_URL]

Reports and prepared databases as bench/ingest_scale.py --keep-prepared makes them under WORKDIR
(default /work/bench-data). Result: docs/benchmarks.md §14.
"""
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest_scale as s  # noqa: E402
import psycopg  # noqa: E402

size, rounds, variants = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(",")
workdir = Path(sys.argv[4] if len(sys.argv) > 4 else "/work/bench-data")
pg_url = sys.argv[5] if len(sys.argv) > 5 else "postgres://postgres@127.0.0.1:5432/adce_lead_bench"
s.KEEP_PREPARED = True  # every variant starts from the same prepared copy (migrated, coverage, catalogs)
exp = s.report(workdir, size)
steps = (("scan", exp["manifest_uri"]), ("rescan", exp["manifest_uri"]), ("changed", exp["changed"]["manifest_uri"]))
for rnd in range(rounds):
    duck = s.timed(f"duckdb {size}", [s.PYTHON, "-c", s.DUCKDB_INGEST, exp["manifest_uri"],
                                      str(workdir / f"duck-{size}.db")], dict(os.environ))
    out = {"round": rnd, "size": size, "duckdb": duck["seconds"], "duck_cpu": duck["cpu_s"]}
    for variant in variants:
        env = s.prepared("postgres", size, exp, workdir, pg_url)
        if variant == "unlogged":
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute("ALTER TABLE reconciliation_storedobject SET UNLOGGED")
        for name, manifest in steps:
            step = s.timed(f"{variant} {name}", [*s.MANAGE, "scan", "--inventory-manifest", manifest, "--json"], env, pg=True)
            doc = json.loads(step.pop("stdout"))
            # [wall s, CPU s, peak MB, objects, the scan's own step timings]
            out[f"{variant}_{name}"] = [step["seconds"], step["cpu_s"], step["peak_rss_mb"], doc["objects"], doc.get("timings")]
    print(json.dumps(out), flush=True)
