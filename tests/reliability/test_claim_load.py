"""Issue 6 item 4: 8 OS processes claiming from 1,000 tasks on PostgreSQL.

Each process loops `task_claim` until nothing is left. Every task must be claimed exactly once (no
task handed to two claimers, none lost), with one attempt, by the process that reported it."""
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from reconciliation.choices import Priority, TaskStatus
from reconciliation.models import DataType, Source, Task

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 8
TASKS = 1000


def _driver() -> str:
    """The claimer process of bench/claims_bench.py (argv: worker, scraper; prints {"got", "end"})."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("claims_bench", ROOT / "bench" / "claims_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DRIVER


DRIVER = _driver()


def _env(tmp_path):
    s = connection.settings_dict
    url = f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    return dict(os.environ, DATABASE_URL=url, DJANGO_SETTINGS_MODULE="adce_site.settings",
                ADCE_VAR_DIR=str(tmp_path), PYTHONPATH=str(ROOT))


def _make_tasks(n):
    source = Source.objects.create(name="espn", scraper="espn_scraper", location="s3://lake/espn/",
                                   seasons=["2024-25"])
    dtype = DataType.objects.create(source=source, name="play_by_play", level="game",
                                    path_patterns=["play_by_play/{game_id}.json"])
    priorities = ["CRITICAL", "HIGH", "MEDIUM", "LOW"]
    Task.objects.bulk_create(
        Task(source=source, data_type=dtype, season="2024-25", priority=priorities[i % 4],
             priority_rank=Priority(priorities[i % 4]).rank, gap_kind="missing", scraper="espn_scraper",
             reason="load") for i in range(n))
    return {str(pk) for pk in Task.objects.values_list("pk", flat=True)}


def test_eight_processes_claim_each_of_1000_tasks_exactly_once(tmp_path):
    expected = _make_tasks(TASKS)
    env = _env(tmp_path)
    procs = [subprocess.Popen([sys.executable, "-c", DRIVER, f"w{i}", "espn_scraper"], cwd=ROOT, env=env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(PROCESSES)]
    try:
        for p in procs:  # barrier: all set up before anyone claims, so they really race
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        started = time.monotonic()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=55)
            assert p.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1])["got"])
        elapsed = time.monotonic() - started
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    claimed = Counter(tid for got in results for tid in got)
    assert set(claimed) == expected, "a task was lost (never claimed)"
    assert set(claimed.values()) == {1}, "a task was handed to two claimers"
    assert sum(len(got) for got in results) == TASKS
    assert sum(1 for got in results if got) >= 2, "no concurrency happened: one process took everything"
    rows = list(Task.objects.values_list("pk", "status", "attempts", "claimed_by"))
    assert all(status == TaskStatus.CLAIMED and attempts == 1 for _, status, attempts, _ in rows)
    owner = {tid: f"w{i}" for i, got in enumerate(results) for tid in got}
    assert {str(pk): by for pk, _, _, by in rows} == owner
    assert elapsed < 60, f"1,000 claims by {PROCESSES} processes took {elapsed:.1f}s"
