#!/usr/bin/env python
"""Reconcile benchmark (issue 3): an S3 Inventory report of ~1,000,000 objects over 4 sources and 8 seasons
with known gaps → `scan --inventory-manifest`, then `reconcile --use-cache`, on SQLite and PostgreSQL.

    /tmp/venv/bin/python bench/reconcile_bench.py                      # both databases, 1M objects
    /tmp/venv/bin/python bench/reconcile_bench.py --db sqlite --objects 100000 --keep
    --generator storage (default): STORAGE's bench/make_inventory_report.py (reference layout, nested
                                   source locations, old + new key layouts)
    --generator own:               this script's generator (4 sources in 4 disjoint prefixes, keys
                                   outside every source, layout drift)
    BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/adce_bench_recon  (default; dropped and recreated)

Every step runs as its own `manage.py` process (like an operator would run it); wall time comes from the
parent, peak memory from that child's ru_maxrss (os.wait4). Correctness: each generator knows which
partitions it left out, emptied or aged and computes the expected gap counts (by kind, priority and, for
STORAGE's, per completeness cell) with its own implementation of SPEC §5–§6; the bench compares them
with the --json of scan and reconcile, checks that a second reconcile opens nothing and that gaps.json
lists the tasks created. Exit 1 when a check fails. Results: bench/RESULTS-reconcile.md.

Targets (2-core box): ingest ≥ 200,000 objects/s; reconcile of 1M ≤ 10 s; peak memory ≤ 1 GB per process.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import zlib
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BUCKET = "bench-lake"
AS_OF = dt.date(2025, 3, 1)
SEASON_END_YEARS = range(2018, 2026)  # 2017-18 … 2024-25: 8 seasons; 2024-25 is current, 2023-24 previous
SOURCES = ["espn", "nba_api", "hoopr", "bbref"]
CRITICAL_DAYS = 7
GAMES_PER_DAY = 7
UTC = dt.timezone.utc


def season_name(end_year: int) -> str:
    return f"{end_year - 1}-{end_year % 100:02d}"


def h(*parts) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


# ---------------------------------------------------------------------------------------------
# Generator


def catalog() -> list[tuple[str, str, dt.date]]:
    """~1,230 games a season, GAMES_PER_DAY a day from late October to mid April."""
    games = []
    for end in SEASON_END_YEARS:
        day = dt.date(end - 1, 10, 22)
        n = 0
        while n < 1230:
            for _ in range(GAMES_PER_DAY):
                if n >= 1230:
                    break
                games.append((f"00{end % 100:02d}{n:06d}", season_name(end), day))
                n += 1
            day += dt.timedelta(days=1)
    return games


def generate(workdir: Path, target_objects: int) -> dict:  # noqa: C901 - one linear recipe
    """Coverage YAML, catalog CSVs, the inventory report and the expected gap counts."""
    games = catalog()
    expected_games = [g for g in games if g[2] <= AS_OF]
    dates_by_season: dict[str, list[dt.date]] = defaultdict(list)
    for _, season, day in expected_games:
        if not dates_by_season[season] or dates_by_season[season][-1] != day:
            dates_by_season[season].append(day)
    n_game_types = max(2, round((target_objects * 0.99) / (len(SOURCES) * len(expected_games))))
    game_types = [f"t{j:02d}" for j in range(n_game_types)]
    date_types = ["d0", "d1"]
    current, previous = season_name(2025), season_name(2024)

    # -- coverage + catalog -----------------------------------------------------------------
    lines = ["expected_coverage:"]
    for s in SOURCES:
        lines += [f"  {s}:", f"    scraper: {s}_scraper", f"    location: s3://{BUCKET}/{s}/",
                  f'    seasons: ["{SEASON_END_YEARS[0]}-{SEASON_END_YEARS[-1]}"]', "    data_types:"]
        for t in game_types:
            required = "false" if t == game_types[-1] else "true"
            threshold = "1.0" if t == "t00" else "0.95"
            lines += [f"      {t}:", f"        required: {required}", f"        completeness_threshold: {threshold}",
                      "        min_size_bytes: 100", f'        path_patterns: ["{t}/{{game_id}}.json"]']
        for t in date_types:
            lines += [f"      {t}:", "        min_size_bytes: 100", f'        path_patterns: ["{t}/{{date}}.json"]']
        lines += ["      season_file:", "        freshness_days: 7", "        min_size_bytes: 100",
                  '        path_patterns: ["season/nba_{season_end}.parquet"]']
    lines += ["reconciliation:", f"  critical_days: {CRITICAL_DAYS}", "  max_items_per_task: 100"]
    (workdir / "coverage.yaml").write_text("\n".join(lines) + "\n")
    for s in SOURCES:
        with open(workdir / f"catalog_{s}.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["game_id", "season", "game_date"])
            for gid, season, day in games:
                w.writerow([gid, season, day.isoformat()])

    # -- objects and the expectation ----------------------------------------------------------
    # cells[(source, type, season)] = [expected, [(day_or_None, kind)…]]
    cells: dict[tuple, list] = {}
    meta: dict[str, dict] = {}  # type → required, threshold, level
    for t in game_types:
        meta[t] = {"required": t != game_types[-1], "threshold": 1.0 if t == "t00" else 0.95, "level": "game"}
    for t in date_types:
        meta[t] = {"required": True, "threshold": 0.95, "level": "date"}
    meta["season_file"] = {"required": True, "threshold": 0.95, "level": "season"}

    report_dir = workdir / "report"
    data_dir = report_dir / BUCKET / "adce-inventory" / "data"
    manifest_dir = report_dir / BUCKET / "adce-inventory" / "2025-03-01T01-00Z"
    data_dir.mkdir(parents=True, exist_ok=True)
    manifest_dir.mkdir(parents=True, exist_ok=True)
    files = []
    writer = _ReportWriter(data_dir, files)
    count = 0

    def lm_of(day: dt.date) -> str:
        return f"{day + dt.timedelta(days=1)}T06:00:00.000Z"

    for s in SOURCES:
        # game level: gaps where the hash says so; s2's t01 loses every game of 2025-02-28 (CRITICAL)
        for t in game_types:
            for gid, season, day in expected_games:
                key = (s, t, season)
                cell = cells.setdefault(key, [0, []])
                cell[0] += 1
                x = h(s, t, gid)
                if x % 997 == 0 or (s == "nba_api" and t == "t01" and day == dt.date(2025, 2, 28)):
                    cell[1].append((day, "missing"))
                    continue
                size = 10 if x % 1499 == 1 else 1000 + x % 5000
                if size < 100:
                    cell[1].append((day, "empty"))
                writer.row(f"{s}/{t}/{gid}.json", size, lm_of(day), x)
                count += 1
        # date level
        for t in date_types:
            for season, days in dates_by_season.items():
                for day in days:
                    cell = cells.setdefault((s, t, season), [0, []])
                    cell[0] += 1
                    x = h(s, t, day)
                    if x % 101 == 0:
                        cell[1].append((day, "missing"))
                        continue
                    writer.row(f"{s}/{t}/{day:%Y%m%d}.json", 500 + x % 1000, lm_of(day), x)
                    count += 1
        # season level: espn's current file is stale; hoopr has no 2019-20 file
        for end in SEASON_END_YEARS:
            season = season_name(end)
            cell = cells.setdefault((s, "season_file", season), [0, []])
            cell[0] += 1
            if s == "hoopr" and season == "2019-20":
                cell[1].append((None, "missing"))
                continue
            if season == current:
                lm = "2025-01-01T00:00:00.000Z" if s == "espn" else "2025-02-28T12:00:00.000Z"
                if s == "espn":
                    cell[1].append((None, "stale"))
            else:
                lm = f"{end}-07-01T00:00:00.000Z"
            writer.row(f"{s}/season/nba_{end}.parquet", 50_000_000, lm, h(s, end))
            count += 1
        # layout drift: keys under the source that match nothing
        for i in range(2000):
            writer.row(f"{s}/tmp/{i:05d}.json.bak", 10, "2025-01-01T00:00:00.000Z", i)
            count += 1
    # and some keys outside every source location (not taken by the scan)
    for i in range(1000):
        writer.row(f"logs/{i:05d}.log", 10, "2025-01-01T00:00:00.000Z", i)
    writer.close()

    manifest = {
        "sourceBucket": BUCKET,
        "destinationBucket": f"arn:aws:s3:::{BUCKET}-inventory",
        "version": "2016-11-30",
        "creationTimestamp": str(int(time.time() * 1000)),
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size, LastModifiedDate, ETag",
        "files": files,
    }
    (manifest_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))

    # -- expected counts (SPEC §6, independently of reconciliation.domain.analysis) -------------------
    by_kind, by_priority = Counter(), Counter()
    for (s, t, season), (expected, gaps) in cells.items():
        m = meta[t]
        completeness = (expected - len(gaps)) / expected if expected else 1.0
        for day, kind in gaps:
            by_kind[kind] += 1
            if not m["required"]:
                p = "low"
            elif kind == "stale":
                p = "critical"
            elif day is not None and AS_OF - dt.timedelta(days=CRITICAL_DAYS) < day <= AS_OF:
                p = "critical"
            elif season == current and completeness < m["threshold"]:
                p = "high"
            elif season in (current, previous):
                p = "medium"
            else:
                p = "low"
            by_priority[p] += 1
    expected = {
        "objects_in_report": count + 1000,
        "objects_under_sources": count,
        "unmatched": 2000 * len(SOURCES),
        "outside": 1000,
        "gaps_total": sum(by_kind.values()),
        "by_kind": {k: by_kind.get(k, 0) for k in ("missing", "empty", "stale", "short")},
        "by_priority": {k: by_priority.get(k, 0) for k in ("critical", "high", "medium", "low")},
        "game_types_per_source": n_game_types,
        "as_of": AS_OF.isoformat(),
    }
    (workdir / "expected.json").write_text(json.dumps(expected, indent=2))
    return {"manifest": f"file://{manifest_dir / 'manifest.json'}", **expected}


class _ReportWriter:
    """Header-less, quoted, URL-encoded CSV, gzip, 250,000 rows a file (like S3 Inventory)."""

    PER_FILE = 250_000

    def __init__(self, folder: Path, files: list):
        self.folder, self.files, self.n, self.part = folder, files, 0, 0
        self.buf = None

    def _open(self):
        self.buf = io.StringIO()

    def row(self, key: str, size: int, last_modified: str, x: int):
        if self.buf is None:
            self._open()
        self.buf.write(f'"{BUCKET}","{urllib.parse.quote(key, safe="/")}","{size}","{last_modified}","{x:08x}{x:024x}"\n')
        self.n += 1
        if self.n % self.PER_FILE == 0:
            self._flush()

    def _flush(self):
        if self.buf is None:
            return
        data = gzip.compress(self.buf.getvalue().encode(), compresslevel=1)
        name = f"part-{self.part:04d}.csv.gz"
        (self.folder / name).write_bytes(data)
        self.files.append({"key": f"{BUCKET}/adce-inventory/data/{name}", "size": len(data),
                           "MD5checksum": hashlib.md5(data).hexdigest()})
        self.part += 1
        self.buf = None

    def close(self):
        self._flush()


# ---------------------------------------------------------------------------------------------
# Running manage.py steps


def cpu_ticks() -> tuple[int, int] | None:
    """(steal, total) jiffies of all CPUs from /proc/stat; None where there is none. On a VM, steal is
    the time the host ran something else while this guest wanted the CPU: a step that saw much of it
    took longer than the same step on a quiet host, whatever the code did."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def run_measured(name: str, args: list[str], env: dict, results: dict, *, parse_json: bool = False):
    """Like run_step, with the child's own rusage: fork/exec by hand and os.wait4 it. Each step starts
    with the previous steps' dirty pages written out (untimed): PostgreSQL's shared buffers by a
    CHECKPOINT, the OS's page cache by os.sync. On this machine's disk (~300 MB/s) the write-back of a
    million-row import otherwise lands in the next step's time."""
    import tempfile

    if env["DATABASE_URL"].startswith("postgres"):
        import psycopg

        try:
            with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
                conn.execute("CHECKPOINT")
        except psycopg.Error as exc:  # not a superuser / pg_checkpoint member: time it as it comes
            print(f"bench: no CHECKPOINT before {name}: {exc}".strip(), file=sys.stderr)
    os.sync()
    ticks0 = cpu_ticks()
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:  # child
            try:
                os.chdir(ROOT)
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                os.execve(PYTHON, [PYTHON, str(ROOT / "manage.py"), *args], env)
            finally:
                os._exit(127)
        _, status, rusage = os.wait4(pid, 0)
        wall = time.perf_counter() - t0
        ticks1 = cpu_ticks()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.stderr.write(stderr[-3000:])
        raise SystemExit(f"{name}: exit {code}")
    results[name] = {"seconds": round(wall, 2), "peak_rss_mb": round(rusage.ru_maxrss / 1024, 1),
                     "cpu_seconds": round(rusage.ru_utime + rusage.ru_stime, 2)}
    if ticks0 and ticks1 and ticks1[1] > ticks0[1]:
        results[name]["steal_pct"] = round(100 * (ticks1[0] - ticks0[0]) / (ticks1[1] - ticks0[1]), 1)
    if parse_json:
        results[name]["json"] = json.loads(stdout)
    return results[name]


def prepare_db(kind: str, workdir: Path, pg_url: str) -> dict:
    env = dict(os.environ)
    env["ADCE_VAR_DIR"] = str(workdir / "var")
    env.pop("ADCE_REQUIRE_POSTGRES", None)
    if kind == "sqlite":
        db = workdir / "bench.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        env["DATABASE_URL"] = f"sqlite:///{db}"
    else:
        import psycopg

        parsed = urllib.parse.urlparse(pg_url)
        name = parsed.path.lstrip("/")
        admin = parsed._replace(path="/postgres").geturl()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        env["DATABASE_URL"] = pg_url
    return env


def storage_generator(workdir: Path, target_objects: int, report_format: str = "csv", dimensions: bool = False) -> dict:
    """The STORAGE helper's generator (bench/make_inventory_report.py): the reference layout (espn at the
    bucket root, the other sources nested below it, old and new key layouts), as_of 2025-01-15; with
    `dimensions`, §10's data types in the mix (a closed {side}, an open {player_id} with a count)."""
    extra = ["--dimensions"] if dimensions else []
    subprocess.run([PYTHON, str(ROOT / "bench" / "make_inventory_report.py"), str(workdir), "--objects",
                    str(target_objects), "--format", report_format, *extra], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    exp = json.loads((workdir / "expected.json").read_text())
    return {
        "generator": f"bench/make_inventory_report.py --format {report_format}{' --dimensions' if dimensions else ''}",
        "manifest": exp["manifest_uri"], "coverage": exp["coverage"], "catalogs": exp["catalogs"], "as_of": exp["as_of"],
        "objects_in_report": exp["objects"],
        "checks": {
            "scan objects": ("scan", "objects", exp["objects"]),
            "scan unmatched": ("scan", "unmatched", exp["unmatched"]),
            "gaps total": ("reconcile", "gaps.total", exp["gaps"]["total"]),
            "gaps by kind": ("reconcile", "gaps.by_kind",
                             {k: exp["gaps"]["by_kind"].get(k, 0) for k in ("missing", "empty", "stale", "short")}),
            "gaps by priority": ("reconcile", "gaps.by_priority",
                                 {k: exp["gaps"]["by_priority"].get(k.upper(), 0) for k in ("critical", "high", "medium", "low")}),
            "gaps opened": ("reconcile", "gaps.opened", exp["gaps"]["total"]),
            "completeness cells": ("reconcile", "completeness",
                                   sorted((c["source"], c["data_type"], c["season"] or "", c["expected"], c["present"])
                                          for c in exp["cells"])),
        },
        "gaps_total": exp["gaps"]["total"],
    }


def own_generator(workdir: Path, target_objects: int) -> dict:
    """This script's generator: 4 sources in 4 disjoint prefixes (one report, four scan regions)."""
    gen = generate(workdir, target_objects)
    return {
        "generator": "bench/reconcile_bench.py (own)",
        "manifest": gen["manifest"], "coverage": str(workdir / "coverage.yaml"),
        "catalogs": {s: str(workdir / f"catalog_{s}.csv") for s in SOURCES}, "as_of": gen["as_of"],
        "objects_in_report": gen["objects_in_report"],
        "checks": {
            "scan objects": ("scan", "objects", gen["objects_under_sources"]),
            "scan unmatched": ("scan", "unmatched", gen["unmatched"]),
            "scan outside": ("scan", "outside_locations", gen["outside"]),
            "gaps total": ("reconcile", "gaps.total", gen["gaps_total"]),
            "gaps by kind": ("reconcile", "gaps.by_kind", gen["by_kind"]),
            "gaps by priority": ("reconcile", "gaps.by_priority", gen["by_priority"]),
            "gaps opened": ("reconcile", "gaps.opened", gen["gaps_total"]),
        },
        "gaps_total": gen["gaps_total"],
    }


def _get(doc: dict, path: str):
    for part in path.split("."):
        doc = doc[part]
    if path == "completeness":
        return sorted((c["source"], c["data_type"], c["season"] or "", c["expected"], c["present"]) for c in doc)
    return doc


def bench_db(kind: str, workdir: Path, gen: dict, pg_url: str) -> dict:
    env = prepare_db(kind, workdir, pg_url)
    results: dict = {}
    as_of = gen["as_of"]
    run_measured("migrate", ["migrate", "--noinput", "-v", "0"], env, results)
    run_measured("import_coverage", ["import_coverage", gen["coverage"]], env, results)
    for source, path in gen["catalogs"].items():
        run_measured(f"import_catalog_{source}", ["import_catalog", "--source", source, path], env, results)
    scan = run_measured("scan", ["scan", "--inventory-manifest", gen["manifest"], "--json"], env, results, parse_json=True)
    out = workdir / f"gaps-{kind}.json"
    rec = run_measured("reconcile", ["reconcile", "--use-cache", "--as-of", as_of, "--json", "--output", str(out)],
                       env, results, parse_json=True)
    again = run_measured("reconcile_again", ["reconcile", "--use-cache", "--as-of", as_of, "--json"],
                         env, results, parse_json=True)
    scan2 = run_measured("rescan", ["scan", "--inventory-manifest", gen["manifest"], "--json"], env, results, parse_json=True)

    docs = {"scan": scan["json"], "reconcile": rec["json"]}
    # JSON round trip on both sides: expectations may come from the --keep file (tuples became lists)
    norm = lambda v: json.loads(json.dumps(v))  # noqa: E731
    checks = {name: (norm(_get(docs[doc], path)), norm(want)) for name, (doc, path, want) in gen["checks"].items()}
    aj = again["json"]
    checks["second reconcile opens nothing"] = (aj["gaps"]["opened"] + aj["tasks"]["created"], 0)
    checks["queue file tasks"] = (json.loads(out.read_text())["total_tasks"], rec["json"]["tasks"]["created"])
    sj, rj = scan["json"], rec["json"]
    return {
        "results": {k: {kk: vv for kk, vv in v.items() if kk != "json"} for k, v in results.items()},
        "scan_timings": sj.get("timings"), "rescan_timings": scan2["json"].get("timings"),
        "rescan_inventory": scan2["json"].get("inventory"),
        "ingest_objects_per_s": round(sj["objects"] / scan["seconds"]),
        "ingest_objects_per_s_in_scan": round(sj["objects"] / (sj["duration_ms"] / 1000)),
        "reconcile_timings": rj["timings"], "reconcile_again_timings": aj["timings"],
        "tasks_created": rj["tasks"]["created"],
        "checks": {k: {"got": a if k != "completeness cells" else f"{len(a)} cells",
                       "expected": b if k != "completeness cells" else f"{len(b)} cells", "ok": a == b}
                   for k, (a, b) in checks.items()},
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--workdir", default="/tmp/adce-reconcile-bench")
    ap.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/adce_bench_recon"))
    ap.add_argument("--generator", choices=["storage", "own"], default="storage",
                    help="storage: bench/make_inventory_report.py (reference layout, nested locations); "
                         "own: this script's (4 disjoint source prefixes)")
    ap.add_argument("--report-format", default="csv", choices=["csv", "csv-versioned", "parquet", "orc"],
                    help="with --generator storage: the report's format (csv-versioned/parquet/orc: a versioned "
                         "bucket's report with ~10%% delete markers and non-current versions)")
    ap.add_argument("--dimensions", action="store_true",
                    help="with --generator storage: SPEC §10 data types in the mix (docs/benchmarks.md §3)")
    ap.add_argument("--keep", action="store_true", help="reuse an existing generated report of the same size")
    ap.add_argument("--out", help="write the results JSON here")
    args = ap.parse_args(argv)

    workdir = Path(args.workdir)
    marker = workdir / "bench-generated.json"
    t0 = time.perf_counter()
    if (args.keep and marker.exists()
            and json.loads(marker.read_text()).get("target") == [args.generator, args.objects, args.report_format,
                                                                 args.dimensions]):
        gen = json.loads(marker.read_text())
    else:
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        gen = (storage_generator(workdir, args.objects, args.report_format, args.dimensions)
               if args.generator == "storage" else own_generator(workdir, args.objects))
        gen["target"] = [args.generator, args.objects, args.report_format, args.dimensions]
        marker.write_text(json.dumps(gen, indent=2))
    print(f"{gen['generator']}: {gen['objects_in_report']:,} report rows in {time.perf_counter() - t0:.1f}s "
          f"({gen['gaps_total']} known gaps)", file=sys.stderr)

    report = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                          "load_avg_before": os.getloadavg()},
              "generated": {k: v for k, v in gen.items() if k != "checks"}, "runs": {}}
    for kind in (["sqlite", "postgres"] if args.db == "both" else [args.db]):
        print(f"--- {kind}", file=sys.stderr)
        report["runs"][kind] = r = bench_db(kind, workdir, gen, args.pg_url)
        steps = r["results"]
        print(f"scan: {steps['scan']['seconds']}s ({r['ingest_objects_per_s']:,} objects/s incl. start-up; "
              f"{r['ingest_objects_per_s_in_scan']:,}/s inside the scan), peak {steps['scan']['peak_rss_mb']} MB; "
              f"timings {r['scan_timings']}; {steps['scan']['cpu_seconds']} CPU-s, "
              f"steal {steps['scan'].get('steal_pct', '?')} %", file=sys.stderr)
        print(f"reconcile: {steps['reconcile']['seconds']}s, peak {steps['reconcile']['peak_rss_mb']} MB; "
              f"timings {r['reconcile_timings']}", file=sys.stderr)
        print(f"reconcile again: {steps['reconcile_again']['seconds']}s; rescan {steps['rescan']['seconds']}s "
              f"timings {r['rescan_timings']} {r['rescan_inventory']}", file=sys.stderr)
        for name, c in r["checks"].items():
            print(f"  {'OK ' if c['ok'] else 'BAD'} {name}: {c['got']} (expected {c['expected']})", file=sys.stderr)
    text = json.dumps(report, indent=2, default=str)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    ok = all(c["ok"] for r in report["runs"].values() for c in r["checks"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
