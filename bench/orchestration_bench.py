#!/usr/bin/env python
"""Orchestrator benchmarks (issue 20, SPEC §13). Each EMPTIES the database named by DATABASE_URL
(flush) and uses a temporary lake folder.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/adce_bench_orch \\
        .venv/bin/python bench/orchestration_bench.py overhead [--tasks 1000] [--workers 2]
    DATABASE_URL=… .venv/bin/python bench/orchestration_bench.py heal-demo [--seasons 2] [--workers 2]
    DATABASE_URL=… .venv/bin/python bench/orchestration_bench.py queries [--tasks 100]

overhead: N tasks of one partition each whose file is already in the lake, a no-op scraper
(`true`), global and scraper concurrency = workers. A real `qcluster` with that many workers runs
the loop (dispatch → run → verify → complete → dispatch). Reported: wall time from the first start
to the last finish, tasks per second, and the orchestrator's overhead per task = worker-seconds per
task minus the no-op scraper's own cost, measured in the same run as a peer (the same N spawns of
`true`, `workers` at a time, from a plain Python loop). Also the same queue through `dispatch --once`
passes in one process (no worker, no broker).

heal-demo: `manage.py demo --no-serve` (synthetic lake with planted losses, the demo scraper), then
a real `qcluster` runs the loop until every task is done or failed for good. Reported: time until the
last healable gap was healed, until the queue settled (the on-purpose failures need their backoff),
gaps healed / left open, runs, and the loop's median time-to-heal.

queries: the database statements per task of the same queue through `dispatch --once` — the figure
the machine's load does not change.

The loop is kicked with one `dispatch` job at t0 (the `adce:dispatch` schedule would fire within
the minute; the wait for the next minute is not the orchestrator's cost).
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "adce_site.settings")


def setup(var_dir: str):
    os.environ.setdefault("ADCE_VAR_DIR", var_dir)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("flush", "--no-input", verbosity=0)


def start_cluster(workers: int, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "ADCE_Q_WORKERS": str(workers), "ADCE_Q_POLL": "0.05"}
    return subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "qcluster"], cwd=ROOT, env=env,
                            stdout=log_path.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def stop_cluster(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_until(predicate, timeout: float, proc=None, poll: float = 0.2) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return time.monotonic() - t0
        if proc is not None and proc.poll() is not None:
            raise SystemExit("qcluster exited early")
        time.sleep(poll)
    raise SystemExit(f"not settled after {timeout:.0f} s")


def noop_peer(n: int, workers: int) -> float:
    """The no-op scraper's own cost: n spawns of `true` (own session, waited), `workers` at a time."""
    left = iter(range(n))
    lock = threading.Lock()

    def spawn():
        while True:
            with lock:
                if next(left, None) is None:
                    return
            subprocess.Popen(["true"], start_new_session=True, stdin=subprocess.DEVNULL).wait()

    threads = [threading.Thread(target=spawn) for _ in range(workers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def plant_queue(lake: Path, n: int, workers: int):
    from reconciliation.choices import Priority
    from reconciliation.models import DataType, Gap, Source, Task
    from reconciliation.orchestration.services import scrapers_import

    src = Source.objects.create(name="bench", scraper="noop", location=f"file://{lake}/", seasons=["2024-25"])
    dtype = DataType.objects.create(source=src, name="pbp", level="game", path_patterns=["pbp/{game_id}.json"])
    (lake / "pbp").mkdir(parents=True, exist_ok=True)
    tasks, gaps = [], []
    for i in range(n):
        (lake / "pbp" / f"{i}.json").write_text("{}")
        task = Task(source=src, data_type=dtype, season="2024-25", priority=Priority.HIGH, priority_rank=Priority.HIGH.rank,
                    gap_kind="missing", scraper="noop", reason="bench")
        tasks.append(task)
        gaps.append(Gap(source=src, data_type=dtype, season="2024-25", partition=str(i), kind="missing",
                        priority="HIGH", priority_rank=1, task=task))
    Task.objects.bulk_create(tasks, batch_size=1000)
    Gap.objects.bulk_create(gaps, batch_size=1000)
    path = lake.parent / "scrapers.yaml"
    path.write_text(f'limits:\n  max_concurrency: {workers}\nscrapers:\n  noop:\n    command: ["true"]\n'
                    f"    max_concurrency: {workers}\n    max_attempts: 1\n")
    scrapers_import(path)


def run_span():
    from django.db.models import Max, Min

    from reconciliation.orchestration.models import ScraperRun

    agg = ScraperRun.objects.aggregate(first=Min("started_at"), last=Max("finished_at"))
    return (agg["last"] - agg["first"]).total_seconds(), ScraperRun.objects.count()


def overhead(args, tmp: Path) -> dict:
    from django_q.tasks import async_task

    from reconciliation.choices import TaskStatus
    from reconciliation.models import Task
    from reconciliation.orchestration.models import ScraperRun
    from reconciliation.orchestration.dispatch import dispatch_once

    n, w = args.tasks, args.workers
    peer = noop_peer(n, w)
    out = {"tasks": n, "workers": w, "noop_peer_s": round(peer, 3),
           "noop_peer_ms_per_task_worker": round(peer * w / n * 1000, 2)}

    plant_queue(tmp / "lake", n, w)
    proc = start_cluster(w, tmp / "qcluster.log")
    try:
        time.sleep(2)  # the cluster's processes start (not part of the measurement)
        async_task("reconciliation.orchestration.jobs.dispatch")
        wall = wait_until(lambda: Task.objects.filter(status=TaskStatus.DONE).count() == n, 900, proc, 0.1)
    finally:
        stop_cluster(proc)
    span, runs = run_span()
    out["qcluster"] = {"wall_s": round(wall, 2), "runs_span_s": round(span, 2), "runs": runs,
                       "tasks_per_s": round(n / span, 1), "ms_per_task": round(span / n * 1000, 2),
                       "worker_ms_per_task": round(span * w / n * 1000, 2),
                       "overhead_ms_per_task": round((span * w - peer * w) / n * 1000, 2),
                       "ratio_to_noop": round(span / peer, 2)}
    assert runs == n, f"{runs} runs for {n} tasks"

    # the same queue again through `dispatch --once` passes in this process
    from reconciliation.models import Gap
    ScraperRun.objects.all().delete()
    Task.objects.update(status=TaskStatus.PENDING, attempts=0, claimed_by="", finished_at=None)
    Gap.objects.update(status="open", resolved_at=None)
    t0 = time.perf_counter()
    while True:
        result, _ = dispatch_once()
        if not result.started:
            break
    once = time.perf_counter() - t0
    out["dispatch_once"] = {"wall_s": round(once, 2), "ms_per_task": round(once / n * 1000, 2),
                            "overhead_ms_per_task": round((once - peer) * w / n * 1000, 2),
                            "ratio_to_noop": round(once / peer, 2)}
    return out


def queries(args, tmp: Path) -> dict:
    """Database statements per task through `dispatch --once` (independent of the machine's load)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from reconciliation.orchestration.dispatch import dispatch_once

    plant_queue(tmp / "lake", args.tasks, args.workers)
    passes = 0
    with CaptureQueriesContext(connection) as ctx:
        while dispatch_once()[0].started:
            passes += 1
    return {"tasks": args.tasks, "workers": args.workers, "passes": passes, "statements": len(ctx.captured_queries),
            "statements_per_task": round(len(ctx.captured_queries) / args.tasks, 1)}


def heal_demo(args, tmp: Path) -> dict:
    from django.core.management import call_command
    from django.db.models import Max
    from django_q.tasks import async_task

    from reconciliation.choices import OPEN_TASK_STATUSES, GapStatus, TaskStatus
    from reconciliation.models import Gap, Task
    from reconciliation.orchestration.models import ScraperRun
    from reconciliation.orchestration.selectors import loop_health_stat

    call_command("demo", "--no-serve", "--seasons", str(args.seasons), "--dir", str(tmp / "demo"), stdout=io.StringIO())
    open_before = Gap.objects.filter(status=GapStatus.OPEN).count()
    tasks = Task.objects.filter(status__in=OPEN_TASK_STATUSES).count()
    proc = start_cluster(args.workers, tmp / "qcluster.log")
    try:
        time.sleep(2)
        started = dt.datetime.now(dt.timezone.utc)
        async_task("reconciliation.orchestration.jobs.dispatch")
        settled = wait_until(lambda: not Task.objects.filter(status__in=OPEN_TASK_STATUSES).exists(), 1800, proc, 0.5)
    finally:
        stop_cluster(proc)
    last_heal = Gap.objects.filter(status=GapStatus.RESOLVED, resolved_at__gte=started).aggregate(m=Max("resolved_at"))["m"]
    healed = Gap.objects.filter(status=GapStatus.RESOLVED, resolved_at__gte=started).count()
    return {"seasons": args.seasons, "workers": args.workers, "open_gaps_before": open_before, "tasks": tasks,
            "gaps_healed": healed, "gaps_left_open": Gap.objects.filter(status=GapStatus.OPEN).count(),
            "tasks_failed_for_good": Task.objects.filter(status=TaskStatus.FAILED).count(),
            "runs": ScraperRun.objects.count(),
            "time_to_last_heal_s": round((last_heal - started).total_seconds(), 2) if last_heal else None,
            "time_to_settle_s": round(settled, 2),
            "median_time_to_heal_h (first sighting → resolved)": round(loop_health_stat("median_time_to_heal_hours"), 4),
            "run_durations_ms_median": statistics.median(ScraperRun.objects.values_list("duration_ms", flat=True))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", choices=("overhead", "heal-demo", "queries"))
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seasons", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="adce-orch-bench-") as tmp:
        setup(os.path.join(tmp, "var"))
        from django.db import connection

        result = {"overhead": overhead, "heal-demo": heal_demo, "queries": queries}[args.bench](args, Path(tmp))
        result = {"bench": args.bench, "database": connection.vendor, "cpus": os.cpu_count(),
                  "load_avg_1m": round(os.getloadavg()[0], 2), **result}
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
