#!/usr/bin/env python
"""Ingest scale series (issue 23): the same S3 Inventory report (CSV, gzip) read by a bare pyarrow read,
ingested by DuckDB into a table of its own database file, and scanned by ADCE (`scan --inventory-manifest`:
first ingest, rescan of the unchanged report, rescan of a copy with 0.1 % of the objects changed) —
interleaved, round by round, each command its own process, peak RSS as `/usr/bin/time -f %M` reports it.

    .venv/bin/pip install duckdb                      # the peer; not a dependency of ADCE
    .venv/bin/python bench/ingest_scale.py --sizes 1000000 3000000 --db sqlite postgres --rounds 2
    BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/adce_h4_bench   (dropped and recreated per round)

Reports come from bench/make_inventory_report.py (kept under --workdir/<size>/ and reused). Each round,
per size and database: pyarrow read, DuckDB ingest, then a fresh ADCE database (migrate, coverage and
catalogs: untimed), `scan` (first ingest), `scan` again (unchanged report), `scan` of the changed copy.
Before every timed command the dirty pages are written back (os.sync, PostgreSQL CHECKPOINT; untimed).
Correctness: the scan's object and unmatched counts equal the generator's; the unchanged rescan writes
0 rows; the changed rescan writes exactly the changed objects. Exit 1 when a check fails.
With ADCE_OBJECT_STORE=files in the environment the scans keep the objects in Parquet files (issue 23
item 2); the checks are then: no scan writes a row, and each scan's files hold every object it listed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from reconcile_bench import PYTHON, cpu_ticks, prepare_db  # noqa: E402

CHANGE_EVERY = 1000  # 0.1 % of the objects change between the report and its "next day" copy

PYARROW_READ = r"""
import json, sys, urllib.parse, pyarrow as pa, pyarrow.csv as pcsv
manifest = urllib.parse.urlparse(sys.argv[1]).path
doc = json.load(open(manifest))
root = manifest.split("/inventory/")[0]
n = 0
for f in doc["files"]:
    t = pcsv.read_csv(pa.CompressedInputStream(pa.OSFile(f"{root}/{f['key']}"), "gzip"),
                      read_options=pcsv.ReadOptions(autogenerate_column_names=True))
    n += t.num_rows
print(n)
"""

DUCKDB_INGEST = r"""
import json, os, sys, urllib.parse, duckdb
manifest = urllib.parse.urlparse(sys.argv[1]).path
doc = json.load(open(manifest))
root = manifest.split("/inventory/")[0]
files = [f"{root}/{f['key']}" for f in doc["files"]]
db = sys.argv[2]
for suffix in ("", ".wal"):
    if os.path.exists(db + suffix):
        os.remove(db + suffix)
con = duckdb.connect(db)
con.execute("CREATE TABLE inventory AS SELECT * FROM read_csv(?, header=false, "
            "columns={'bucket': 'VARCHAR', 'key': 'VARCHAR', 'size': 'BIGINT', 'last_modified': 'TIMESTAMPTZ', "
            "'etag': 'VARCHAR', 'storage_class': 'VARCHAR'})", [files])
con.execute("CHECKPOINT")
print(con.execute("SELECT count(*) FROM inventory").fetchone()[0])
con.close()
"""


def timed(name: str, argv: list[str], env: dict, *, pg: bool = False) -> dict:
    """Run argv under /usr/bin/time -f %M (peak RSS of the command alone, KB); wall from here."""
    if pg:
        import psycopg

        with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    os.sync()
    with tempfile.NamedTemporaryFile("r") as rss:
        ticks0 = cpu_ticks()
        t0 = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", rss.name, *argv], env=env, cwd=ROOT,
                              capture_output=True, text=True)
        wall = time.perf_counter() - t0
        ticks1 = cpu_ticks()
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-3000:])
            raise SystemExit(f"{name}: exit {proc.returncode}")
        peak_kb, user, system = rss.read().split()[-3:]
    # CPU seconds of the command (user + system): on a machine other jobs load, wall time measures them too
    out = {"seconds": round(wall, 2), "cpu_s": round(float(user) + float(system), 2),
           "peak_rss_mb": round(int(peak_kb) / 1024), "stdout": proc.stdout}
    if ticks0 and ticks1 and ticks1[1] > ticks0[1]:
        out["steal_pct"] = round(100 * (ticks1[0] - ticks0[0]) / (ticks1[1] - ticks0[1]), 1)
    print(f"  {name}: {out['seconds']} s, {out['cpu_s']} CPU s, {out['peak_rss_mb']} MB", file=sys.stderr, flush=True)
    return out


def report(workdir: Path, size: int) -> dict:
    """The generated report of `size` objects (made once) and its 0.1 %-changed copy."""
    folder = workdir / str(size)
    expected = folder / "expected.json"
    if not expected.exists():
        subprocess.run([PYTHON, str(ROOT / "bench" / "make_inventory_report.py"), str(folder), "--objects", str(size)],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    exp = json.loads(expected.read_text())
    changed = folder / "changed.json"
    if not changed.exists():
        changed.write_text(json.dumps(_changed_copy(exp["manifest_uri"], folder / "next")))
    exp["changed"] = json.loads(changed.read_text())
    return exp


def _changed_copy(manifest_uri: str, folder: Path) -> dict:
    """The same report with every CHANGE_EVERY-th object's size and ETag changed (next day's report)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "adce_site.settings")
    import django

    django.setup()
    from reconciliation.storage import read_inventory_report
    from bench.inventory_writer import write_csv_inventory_report

    changed = 0

    def rows():
        nonlocal changed
        for n, (key, size, lm, etag) in enumerate(read_inventory_report(manifest_uri).iter_rows()):
            if n % CHANGE_EVERY == 0:
                changed += 1
                size, etag = size + 1, "0" + etag[1:]
            yield key, size, lm, etag

    bucket = json.loads(Path(manifest_uri[len("file://"):]).read_text())["sourceBucket"]
    uri = write_csv_inventory_report(str(folder), source_bucket=bucket, rows=rows(), stamp="2030-01-02T00-00Z")
    return {"manifest_uri": uri, "changed": changed}


MANAGE = [PYTHON, str(ROOT / "manage.py")]


KEEP_PREPARED = False  # --keep-prepared: reuse a copy of the prepared database (the 10M catalogs take minutes)


def prepared(kind: str, size: int, exp: dict, workdir: Path, pg_url: str) -> dict:
    """The environment of a fresh database holding the report's coverage and catalogs (untimed)."""
    env = prepare_db(kind, workdir / str(size), pg_url)
    if KEEP_PREPARED and _copy_prepared(kind, size, workdir, pg_url):
        return env
    subprocess.run([*MANAGE, "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True)
    subprocess.run([*MANAGE, "import_coverage", exp["coverage"]], env=env, cwd=ROOT, check=True, capture_output=True)
    for source, path in exp["catalogs"].items():
        subprocess.run([*MANAGE, "import_catalog", "--source", source, path], env=env, cwd=ROOT, check=True,
                       capture_output=True)
    if KEEP_PREPARED:
        _save_prepared(kind, size, workdir, pg_url)
    return env


def _prepared_names(kind: str, size: int, workdir: Path, pg_url: str) -> tuple[Path, str]:
    """(the kept copy's SQLite file or PostgreSQL database name, the stamp that must match to reuse it):
    the migrations it was made with, so that a schema change never reuses an old copy."""
    stamp = ",".join(sorted(p.name for p in (ROOT / "reconciliation" / "migrations").glob("0*.py")))
    if kind == "sqlite":
        return workdir / str(size) / "prepared.sqlite3", stamp
    return urllib.parse.urlparse(pg_url).path.lstrip("/") + f"_prep{size}", stamp


def _admin(pg_url: str):
    import psycopg

    return psycopg.connect(urllib.parse.urlparse(pg_url)._replace(path="/postgres").geturl(), autocommit=True)


def _copy_prepared(kind: str, size: int, workdir: Path, pg_url: str) -> bool:
    kept, stamp = _prepared_names(kind, size, workdir, pg_url)
    stamp_file = workdir / str(size) / f"prepared-{kind}.stamp"
    if not stamp_file.exists() or stamp_file.read_text() != stamp:
        return False
    if kind == "sqlite":
        shutil.copyfile(kept, workdir / str(size) / "bench.sqlite3")
    else:
        name = urllib.parse.urlparse(pg_url).path.lstrip("/")
        with _admin(pg_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{kept}"')
    return True


def _save_prepared(kind: str, size: int, workdir: Path, pg_url: str) -> None:
    kept, stamp = _prepared_names(kind, size, workdir, pg_url)
    if kind == "sqlite":  # every connection closed: the WAL is checkpointed into the file
        shutil.copyfile(workdir / str(size) / "bench.sqlite3", kept)
    else:
        name = urllib.parse.urlparse(pg_url).path.lstrip("/")
        with _admin(pg_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{kept}"')
            conn.execute(f'CREATE DATABASE "{kept}" TEMPLATE "{name}"')
    (workdir / str(size) / f"prepared-{kind}.stamp").write_text(stamp)


def adce_round(kind: str, size: int, exp: dict, workdir: Path, pg_url: str) -> dict:
    env = prepared(kind, size, exp, workdir, pg_url)
    pg = kind == "postgres"
    steps = {}
    for name, manifest in (("scan", exp["manifest_uri"]), ("rescan_unchanged", exp["manifest_uri"]),
                           ("rescan_changed", exp["changed"]["manifest_uri"])):
        step = timed(f"{kind} {size} {name}", [*MANAGE, "scan", "--inventory-manifest", manifest, "--json"], env, pg=pg)
        doc = json.loads(step.pop("stdout"))
        step.update(inside_s=round(doc["duration_ms"] / 1000, 2), inventory=doc["inventory"],
                    objects=doc["objects"], unmatched=doc["unmatched"], timings=doc.get("timings"))
        steps[name] = step
    return steps


def columnar_round(size: int, exp: dict, workdir: Path, pg_url: str, modes: list[str]) -> dict:
    """bench/columnar_ingest.py in both modes, on a SQLite database holding the coverage and catalogs."""
    env = prepared("sqlite", size, exp, workdir, pg_url)
    out = {}
    for mode in modes:
        step = timed(f"columnar {size} {mode}", [PYTHON, str(ROOT / "bench" / "columnar_ingest.py"), exp["manifest_uri"],
                                                 "--mode", mode, "--out", str(workdir / f"inventory-{size}.parquet")], env)
        step.update(json.loads(step.pop("stdout")))
        out[mode] = step
    return out


def emit(row: dict, out: str | None) -> None:
    """A result: a JSON line on stdout, and appended to `out` when given."""
    print(json.dumps(row), flush=True)
    if out:
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")


def checks(steps: dict, exp: dict) -> dict:
    scan, same, changed = steps["scan"], steps["rescan_unchanged"], steps["rescan_changed"]
    if os.environ.get("ADCE_OBJECT_STORE") == "files":  # every scan writes all its objects to files, no row
        return {
            "objects": scan["objects"] == exp["objects"],
            "unmatched": scan["unmatched"] == exp["unmatched"],
            "no scan writes a row": all(s["inventory"].get("object_store") == "files" and s["inventory"].get("written") == 0
                                        for s in (scan, same, changed)),
            "every object listed is in the files": all(s["inventory"].get("rows") == s["objects"]
                                                       for s in (scan, same, changed)),
        }
    return {
        "objects": scan["objects"] == exp["objects"],
        "unmatched": scan["unmatched"] == exp["unmatched"],
        "unchanged rescan writes 0 rows": same["inventory"].get("written") == 0 and same["inventory"].get("deleted") == 0,
        "changed rescan writes the changed objects": changed["inventory"].get("written") == exp["changed"]["changed"],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 3_000_000])
    ap.add_argument("--db", nargs="*", choices=["sqlite", "postgres"], default=["sqlite", "postgres"],
                    help="ADCE on these databases (none: only the peers and --columnar)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workdir", default="/tmp/adce-ingest-scale")
    ap.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/adce_h4_bench"))
    ap.add_argument("--columnar", nargs="*", choices=["match", "file", "parquet"],
                    help="also bench/columnar_ingest.py in these modes (default: all) per size")
    ap.add_argument("--out", help="append the results (JSON lines) here")
    ap.add_argument("--keep-prepared", action="store_true",
                    help="keep a copy of each prepared database (migrated, coverage and catalogs) and start later "
                         "rounds from it (untimed either way)")
    args = ap.parse_args(argv)
    global KEEP_PREPARED
    KEEP_PREPARED = args.keep_prepared
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    reports = {size: report(workdir, size) for size in args.sizes}
    env = dict(os.environ)
    ok = True
    for rnd in range(1, args.rounds + 1):
        for size in args.sizes:
            exp = reports[size]
            row = {"round": rnd, "size": size, "objects": exp["objects"], "at": dt.datetime.now(dt.timezone.utc).isoformat()}
            row["pyarrow_read"] = timed(f"pyarrow {size}", [PYTHON, "-c", PYARROW_READ, exp["manifest_uri"]], env)
            row["duckdb_ingest"] = timed(f"duckdb {size}", [PYTHON, "-c", DUCKDB_INGEST, exp["manifest_uri"],
                                                              str(workdir / f"duck-{size}.db")], env)
            for part in ("pyarrow_read", "duckdb_ingest"):
                row[part].pop("stdout")
            if args.columnar is not None:
                row["columnar"] = columnar_round(size, exp, workdir, args.pg_url, args.columnar or ["match", "file", "parquet"])
            for kind in args.db:
                steps = adce_round(kind, size, exp, workdir, args.pg_url)
                row[kind] = {"steps": steps, "checks": checks(steps, exp),
                             "scan_vs_duckdb": round(steps["scan"]["seconds"] / row["duckdb_ingest"]["seconds"], 2),
                             "rescan_vs_scan": round(steps["rescan_unchanged"]["seconds"] / steps["scan"]["seconds"], 2)}
                ok = ok and all(row[kind]["checks"].values())
            emit(row, args.out)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
