"""The scale-out scan (issue 23 item 4) beside the sequential one, on PostgreSQL, same sitting, interleaved.

    python bench/scan_parallel_bench.py --sizes 3000000 --rounds 2 --workers 2 \
        --pg-url postgres://postgres@127.0.0.1:5432/adce_h1 --redis-url redis://127.0.0.1:6379/11 --out FILE

For each size: a fresh database with the generated report's coverage and catalogs (bench/ingest_scale.py's
reports, reused from --reports), one `qcluster` with --workers workers on a Redis broker, then per round
the sequential and the parallel `scan --inventory-manifest` alternately, each as a first ingest (empty
inventory), a rescan of the unchanged report and a rescan of the 0.1 %-changed copy. Per step: wall,
the command's CPU and peak RSS (/usr/bin/time), the workers' CPU (the cluster's process group, from
/proc), the load average before the step. PostgreSQL's own CPU is in neither. Counts are checked equal
between the two modes and to the generator's. Exit 1 when a check fails.

--store files runs both modes with `ADCE_OBJECT_STORE=files` (the objects in Parquet files: a parallel scan
writes one file per data file); each mode then starts from no row and no snapshot.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import ingest_scale  # noqa: E402
from ingest_scale import MANAGE, emit, prepared, report, timed  # noqa: E402
from orchestration_bench import stop_cluster  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def group_pids(pgid: int) -> dict[int, list[str]]:
    """The processes of group `pgid`: pid -> the fields of /proc/pid/stat after the command name."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields[2]: the process group
            found[int(stat.parent.name)] = fields
    return found


def group_cpu(pgid: int) -> float:
    """CPU seconds of every process of group `pgid`, and of its children already reaped."""
    return sum(int(x) for f in group_pids(pgid).values() for x in f[11:15]) / TICK  # utime stime cutime cstime


def group_peak_rss_mb(pgid: int) -> int:
    """The largest peak RSS (VmHWM) of one process of the group (a worker's, over its life so far)."""
    peak = 0
    for pid in group_pids(pgid):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return round(peak / 1024)


def start_cluster(env: dict, workers: int, log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        proc = subprocess.Popen([*MANAGE, "qcluster"], cwd=ROOT, env={**env, "ADCE_Q_WORKERS": str(workers)},
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    # Up: the cluster, its sentinel, monitor and pusher, and every worker (it logs nothing to say so).
    while len(group_pids(proc.pid)) < workers + 4:
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_cluster(proc)
            raise SystemExit(f"qcluster did not start: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    return proc


def step(name: str, env: dict, manifest: str, parallel: bool, cluster: subprocess.Popen) -> dict:
    argv = [*MANAGE, "scan", "--inventory-manifest", manifest, "--json"] + (["--parallel"] if parallel else [])
    load = os.getloadavg()[0]
    workers0 = group_cpu(cluster.pid)
    out = timed(name, argv, env, pg=True)
    doc = json.loads(out.pop("stdout"))
    out.update(workers_cpu_s=round(group_cpu(cluster.pid) - workers0, 2), load_1min=round(load, 2),
               workers_peak_rss_mb=group_peak_rss_mb(cluster.pid),
               inventory=doc["inventory"], objects=doc["objects"], matched=doc["matched"],
               unmatched=doc["unmatched"], bytes=doc["bytes"], timings=doc["timings"])
    out["total_cpu_s"] = round(out["cpu_s"] + out["workers_cpu_s"], 2)
    return out


def truncate(env: dict) -> None:
    """An empty inventory: no object row, no snapshot (nor its files)."""
    import shutil

    import psycopg

    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("TRUNCATE reconciliation_storedobject, reconciliation_inventorysnapshot")
    shutil.rmtree(Path(env["ADCE_VAR_DIR"]) / "inventory-snapshots", ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[3_000_000])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--reports", default="/work/bench-data", help="bench/ingest_scale.py's --workdir (read only)")
    ap.add_argument("--workdir", default="/tmp/adce-scan-parallel")
    ap.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/adce_h1"))
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    ap.add_argument("--keep-prepared", action="store_true",
                    help="start from bench/ingest_scale.py's kept prepared database of --pg-url (untimed either way)")
    ap.add_argument("--store", choices=["rows", "files"], default="rows", help="ADCE_OBJECT_STORE")
    ap.add_argument("--out", help="append the results (JSON lines) here")
    args = ap.parse_args(argv)
    ingest_scale.KEEP_PREPARED = args.keep_prepared
    workdir = Path(args.workdir)
    ok = True
    for size in args.sizes:
        exp = report(Path(args.reports), size)
        env = prepared("postgres", size, exp, workdir, args.pg_url)
        env.update(ADCE_OBJECT_STORE=args.store, ADCE_REDIS_URL=args.redis_url, ADCE_Q_CLUSTER_NAME=f"bench-{uuid.uuid4().hex[:8]}", ADCE_Q_POLL="0.2")
        cluster = start_cluster(env, args.workers, workdir / f"qcluster-{size}.log")
        try:
            for rnd in range(1, args.rounds + 1):
                row = {"bench": "scan_parallel", "round": rnd, "size": size, "objects": exp["objects"],
                       "workers": args.workers, "store": args.store, "at": dt.datetime.now(dt.timezone.utc).isoformat()}
                for mode, parallel in (("sequential", False), ("parallel", True)):
                    truncate(env)
                    steps = {}
                    for name, manifest in (("scan", exp["manifest_uri"]), ("rescan_unchanged", exp["manifest_uri"]),
                                           ("rescan_changed", exp["changed"]["manifest_uri"])):
                        steps[name] = step(f"{mode} {size} {name}", env, manifest, parallel, cluster)
                    row[mode] = steps
                seq, par = row["sequential"], row["parallel"]
                counts = ("objects", "matched", "unmatched", "bytes")
                row["checks"] = {
                    "objects as generated": seq["scan"]["objects"] == exp["objects"],
                    "unmatched as generated": seq["scan"]["unmatched"] == exp["unmatched"],
                    "parallel counts == sequential": all(seq[s][c] == par[s][c] for s in seq for c in counts),
                }
                if args.store == "files":  # a parallel scan writes more files, the same objects, no row
                    row["checks"]["every scan holds its objects in files, no row"] = all(
                        m[s]["inventory"].get("object_store") == "files" and m[s]["inventory"].get("written") == 0
                        and m[s]["inventory"].get("rows") == m[s]["objects"] for m in (seq, par) for s in m)
                else:
                    row["checks"]["parallel inventory == sequential"] = all(
                        seq[s]["inventory"] == par[s]["inventory"] for s in seq)
                    row["checks"]["changed rescan writes the changed objects"] = (
                        par["rescan_changed"]["inventory"]["written"] == exp["changed"]["changed"])
                row["speedup_wall"] = {s: round(seq[s]["seconds"] / par[s]["seconds"], 2) for s in seq}
                ok = ok and all(row["checks"].values())
                emit(row, args.out)
        finally:
            stop_cluster(cluster)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
