"""Dispatchers in separate OS processes on PostgreSQL contend for the same queue: the limits, held in
the database, are never exceeded, and no task is started twice (SPEC §13)."""
import subprocess
import sys

import pytest

from reconciliation.choices import TaskStatus
from reconciliation.models import Task
from reconciliation.orchestration.models import ScraperRun
from reconciliation.orchestration.services import scrapers_import
from tests.reconciliation.test_tasks import make_source, make_task, make_type
from tests.reconciliation.test_tasks_concurrency import ROOT, _env

from .conftest import scrapers_yaml
from .test_loop_qcluster_e2e import intervals_overlap_at_most, starts_within_rate

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# A dispatcher process: wait at the barrier, then dispatch in a loop; each run it starts "works" for
# a few milliseconds and ends (status and task settled as run_finish would) until the queue is empty.
DRIVER = r"""
import random, sys, time
import django
django.setup()
from django.db.models import F
from reconciliation.choices import ScraperRunStatus, TaskStatus
from reconciliation.models import Task
from reconciliation.orchestration.models import ScraperRun
from reconciliation.orchestration.services import db_now
from reconciliation.orchestration.dispatch import dispatch_claim
print("ready", flush=True)
sys.stdin.readline()
rng = random.Random(sys.argv[1])
deadline = time.monotonic() + 90
while time.monotonic() < deadline:
    started = dispatch_claim().started
    for run_id in started:
        time.sleep(rng.uniform(0.005, 0.03))  # the scraper's work
        run = ScraperRun.objects.get(pk=run_id)
        Task.objects.filter(pk=run.task_id, claimed_by=run.claim).update(status=TaskStatus.DONE)
        ScraperRun.objects.filter(pk=run_id).update(status=ScraperRunStatus.SUCCEEDED, finished_at=db_now())
    if not started and not Task.objects.filter(status__in=(TaskStatus.PENDING, TaskStatus.CLAIMED)).exists():
        break
print("done", flush=True)
"""


def test_dispatchers_in_many_processes_never_exceed_a_limit(tmp_path):
    espn = make_type(make_source("espn", scraper="espn_scraper"))
    nba = make_type(make_source("nba", scraper="nba_scraper"))
    for i in range(30):
        make_task(espn, priority=["CRITICAL", "HIGH"][i % 2])
        make_task(nba)
    scrapers_import(scrapers_yaml(tmp_path / "s.yaml", {
        "espn_scraper": '    command: ["true"]\n    max_concurrency: 2\n    rate_limit: "12/second"\n',
        "nba_scraper": '    command: ["true"]\n    max_concurrency: 3\n',
    }, limits='  max_concurrency: 4\n  rate_limit: "20/second"\n'))
    procs = [subprocess.Popen([sys.executable, "-c", DRIVER, str(i)], cwd=ROOT, env=_env(tmp_path), text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(5)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            out, err = p.communicate(timeout=150)
            assert p.returncode == 0 and "done" in out, err
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert set(Task.objects.values_list("status", flat=True)) == {TaskStatus.DONE}
    runs = list(ScraperRun.objects.select_related("scraper").order_by("started_at"))
    assert len(runs) == 60 and len({r.task_id for r in runs}) == 60  # each task started exactly once
    espn_runs = [r for r in runs if r.scraper.name == "espn_scraper"]
    nba_runs = [r for r in runs if r.scraper.name == "nba_scraper"]
    assert intervals_overlap_at_most(runs, 4) and starts_within_rate(runs, 20, 1.0)
    assert intervals_overlap_at_most(espn_runs, 2) and starts_within_rate(espn_runs, 12, 1.0)
    assert intervals_overlap_at_most(nba_runs, 3)
    # most urgent first: every CRITICAL espn task started before any HIGH one
    first_high = min(r.started_at for r in espn_runs if r.task.priority == "HIGH")
    assert all(r.started_at <= first_high for r in espn_runs if r.task.priority == "CRITICAL")
