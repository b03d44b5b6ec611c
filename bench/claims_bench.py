"""Claims per second with 1, 4 and 8 concurrent claimers on PostgreSQL (issue 15 item 8).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/SCRATCH python bench/claims_bench.py \\
        [--code DIR] [--tasks 2000] [--claimers 1 4 8] [--rounds 3]

For each claimer count and round: the scratch database's tasks are replaced by TASKS pending tasks of
one scraper; that many OS processes set Django up from the checkout DIR (default: this one; pass an
older checkout, e.g. `git worktree add /tmp/old main`, to measure it side by side), wait at a barrier,
then loop `task_claim` until nothing is left. Claims/s = TASKS / (time from the barrier to the last
claimer's end). Every task must be claimed exactly once (checked). The database is migrated by this
checkout first; both checkouts must share the schema.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "adce_site.settings")

# One claimer (argv: worker, scraper): set Django up, wait at the barrier (a line on stdin), claim in a
# tight loop until nothing is left; print the ids it got and when it ended. tests/reliability/
# test_claim_load.py runs the same driver.
DRIVER = r"""
import json, sys, time
import django
django.setup()
from reconciliation.services.task_queue import task_claim
print("ready", flush=True)
sys.stdin.readline()
got = []
while True:
    task = task_claim(scraper=sys.argv[2], lease_minutes=30, worker=sys.argv[1])
    if task is None:
        break
    got.append(str(task.pk))
print(json.dumps({"got": got, "end": time.time()}), flush=True)
"""


def make_tasks(n: int) -> set[str]:
    from reconciliation.choices import Priority
    from reconciliation.models import DataType, Gap, Source, Task

    Gap.objects.all().delete()
    Task.objects.all().delete()
    source, _ = Source.objects.get_or_create(name="bench", defaults=dict(
        scraper="bench_scraper", location="s3://lake/bench/", seasons=["2024-25"]))
    dtype, _ = DataType.objects.get_or_create(source=source, name="pbp", defaults=dict(
        level="game", path_patterns=["pbp/{game_id}.json"]))
    priorities = list(Priority)
    Task.objects.bulk_create(
        Task(source=source, data_type=dtype, season="2024-25", priority=priorities[i % 4],
             priority_rank=priorities[i % 4].rank, gap_kind="missing", scraper="bench_scraper",
             reason="bench") for i in range(n))
    return {str(pk) for pk in Task.objects.values_list("pk", flat=True)}


def one_round(code: Path, claimers: int, tasks: int, env: dict) -> float:
    expected = make_tasks(tasks)
    from django.db import connection

    connection.close()
    procs = [subprocess.Popen([sys.executable, "-c", DRIVER, f"w{i}", "bench_scraper"], cwd=code, env=env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(claimers)]
    for p in procs:
        line = p.stdout.readline().strip()
        if line != "ready":
            raise SystemExit(f"claimer did not start: {p.stderr.read()[-2000:]}")
    start = time.time()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    got, end = [], start
    for p in procs:
        out, err = p.communicate(timeout=600)
        if p.returncode:
            raise SystemExit(f"claimer failed: {err[-2000:]}")
        doc = json.loads(out.strip().splitlines()[-1])
        got += doc["got"]
        end = max(end, doc["end"])
    if len(got) != len(set(got)) or set(got) != expected:
        raise SystemExit(f"claims wrong: {len(got)} claims, {len(set(got))} distinct, {len(expected)} tasks")
    return tasks / (end - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", default=str(ROOT), help="checkout whose task_claim the claimers run")
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--claimers", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("DATABASE_URL must name a PostgreSQL scratch database")
    call_command("migrate", verbosity=0)
    code = Path(args.code).resolve()
    env = dict(os.environ, PYTHONPATH=str(code), ADCE_VAR_DIR=tempfile.mkdtemp(prefix="adce-claims-"))
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=code, capture_output=True, text=True).stdout.strip()
    print(f"code {code} ({rev}), {args.tasks} tasks, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    for n in args.claimers:
        rates = [one_round(code, n, args.tasks, env) for _ in range(args.rounds)]
        print(f"claimers {n}: median {statistics.median(rates):7.0f} claims/s  (rounds: "
              f"{', '.join(f'{r:.0f}' for r in rates)})", flush=True)


if __name__ == "__main__":
    main()
