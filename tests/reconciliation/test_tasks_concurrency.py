"""Concurrent claimers as separate OS processes on PostgreSQL: every task is claimed exactly once."""
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from reconciliation.choices import TaskStatus
from reconciliation.models import Task
from tests.reconciliation.test_tasks import make_source, make_task, make_type

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]

# A claimer process: set Django up, wait at the barrier (a line on stdin), then claim through the
# real `tasks claim` command in a tight loop until the queue is empty; print the ids it got.
DRIVER = r"""
import io, json, sys
import django
django.setup()
from django.core.management import call_command
print("ready", flush=True)
sys.stdin.readline()
got = []
while True:
    out = io.StringIO()
    call_command("tasks", "claim", "--scraper", "espn_scraper", "--worker", sys.argv[1], "--json", stdout=out)
    doc = json.loads(out.getvalue())
    if doc is None:
        break
    got.append(doc["id"])
print(json.dumps(got), flush=True)
"""


def _env(tmp_path):
    s = connection.settings_dict
    url = f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    env = dict(os.environ, DATABASE_URL=url, DJANGO_SETTINGS_MODULE="adce_site.settings",
               ADCE_VAR_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    return env


def test_concurrent_claimer_processes_never_share_a_task(tmp_path):
    ptype = make_type(make_source())
    tasks = [make_task(ptype, priority=["CRITICAL", "HIGH", "MEDIUM", "LOW"][i % 4]) for i in range(40)]
    env = _env(tmp_path)
    procs = [
        subprocess.Popen([sys.executable, "-c", DRIVER, f"w{i}"], cwd=ROOT, env=env, text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for i in range(6)
    ]
    try:
        for p in procs:  # barrier: every process is set up before any claims
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    claimed = Counter(tid for got in results for tid in got)
    assert sorted(claimed) == sorted(str(t.pk) for t in tasks)
    assert set(claimed.values()) == {1}, "a task was handed to two claimers"
    rows = list(Task.objects.values_list("status", "attempts", "claimed_by"))
    assert all(status == TaskStatus.CLAIMED and attempts == 1 for status, attempts, _ in rows)
    # Each task's recorded claimer is the process that reported it.
    owner = {tid: f"w{i}" for i, got in enumerate(results) for tid in got}
    assert {str(pk): by for pk, by in Task.objects.values_list("pk", "claimed_by")} == owner


def test_concurrent_manage_py_claims(tmp_path):
    """The plain CLI, launched at once: 5 tasks, 7 claimers → 5 distinct tasks and 2 nulls."""
    ptype = make_type(make_source())
    tasks = [make_task(ptype) for _ in range(5)]
    env = _env(tmp_path)
    procs = [
        subprocess.Popen([sys.executable, "manage.py", "tasks", "claim", "--scraper", "espn_scraper",
                          "--worker", f"cli{i}", "--json"], cwd=ROOT, env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for i in range(7)
    ]
    docs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        docs.append(json.loads(out))
    got = [d["id"] for d in docs if d is not None]
    assert sorted(got) == sorted(str(t.pk) for t in tasks)
    assert docs.count(None) == 2


def test_a_claim_skips_a_row_another_claimer_holds():
    """SKIP LOCKED (issue 15 item 8): while another transaction holds the most urgent pending task's
    row, a claim takes the next task at once instead of queueing behind that lock. Without it the
    claim picked the same top row and its UPDATE waited for the lock (here: lock_timeout)."""
    import psycopg

    ptype = make_type(make_source())
    top = make_task(ptype, priority="CRITICAL")
    nxt = make_task(ptype, priority="LOW")
    s = connection.settings_dict
    other = psycopg.connect(host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"],
                            dbname=s["NAME"], autocommit=False)
    try:
        other.execute("SELECT id FROM reconciliation_task WHERE id = %s FOR UPDATE", [top.pk])
        with connection.cursor() as cur:
            cur.execute("SET lock_timeout = '2s'")
        from reconciliation.services.task_queue import task_claim

        got = task_claim(scraper="espn_scraper", worker="me")
        assert got is not None and got.pk == nxt.pk
    finally:
        other.rollback()
        other.close()
        with connection.cursor() as cur:
            cur.execute("RESET lock_timeout")
    top.refresh_from_db()
    assert top.status == TaskStatus.PENDING and top.attempts == 0
