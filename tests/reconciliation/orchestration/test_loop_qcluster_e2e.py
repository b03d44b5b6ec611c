"""End to end (SPEC §13): two real `qcluster` processes on PostgreSQL heal a lake with planted losses,
with no manual step after the schedules exist. The schedule reconciles, reconcile hands its new tasks
to dispatch, runs hand their free slots back to dispatch, verification resolves the gaps.

Three scrapers: one heals, one exits 0 without writing (a liar), one fails some partitions. The run
rows' timestamps are checked against every concurrency and rate limit, and no task runs twice at once.
"""
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from reconciliation.choices import GapStatus, ScraperRunStatus, TaskStatus
from reconciliation.models import Gap, Task
from reconciliation.orchestration.models import ScraperRun
from reconciliation.orchestration.services import scrapers_import
from reconciliation.domain.seasons import season_of
from tests.events.test_qcluster_e2e import _database_url

from ..test_scanning import add_games, file_uri, make_source, put_file
from .conftest import demo_command, scrapers_yaml

DEADLINE_SECONDS = 240
LIMITS = {"global": (2, 3, 1.0), "healer": (1, 2, 1.0)}  # (max_concurrency, starts, window seconds)


def plant(root: Path, name: str, today: dt.date):
    """Source `name` (scraper `name`): games 1…7 a month ago; game 1 stored, 2…7 lost."""
    folder = root / name
    folder.mkdir(parents=True)
    src = make_source(name, file_uri(folder), {"pbp": {"path_patterns": ["pbp/{game_id}.json"],
                                                       "min_size_bytes": 100}},
                      seasons=(season_of(today),), scraper=name)
    day0 = today - dt.timedelta(days=30)
    add_games(src, [(f"{name[0]}{i}", season_of(today), (day0 + dt.timedelta(days=i)).isoformat()) for i in range(1, 8)])
    put_file(folder, f"pbp/{name[0]}1.json")


def intervals_overlap_at_most(runs, limit: int) -> bool:
    """At every start, at most `limit` runs (including it) hold a slot: started ≤ t < finished."""
    for r in runs:
        holding = [o for o in runs if o.started_at <= r.started_at < o.finished_at]
        if len(holding) > limit:
            return False
    return True


def starts_within_rate(runs, count: int, window: float) -> bool:
    starts = sorted(r.started_at for r in runs)
    span = dt.timedelta(seconds=window)
    return all(sum(1 for t in starts if s <= t < s + span) <= count for s in starts)


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_qclusters_heal_the_lake_within_every_limit(tmp_path):
    from django_q.models import Schedule

    from reconciliation.models import ReconciliationSettings

    today = timezone.now().date()
    lake = tmp_path / "lake"
    for name in ("healer", "liar", "flaky"):
        plant(lake, name, today)
    conf = ReconciliationSettings.load()
    conf.max_items_per_task = 2
    conf.save()
    (gmax, gcount, gwin), (hmax, hcount, hwin) = LIMITS["global"], LIMITS["healer"]
    scrapers_import(scrapers_yaml(tmp_path / "scrapers.yaml", {
        "healer": demo_command() + f"    max_concurrency: {hmax}\n    rate_limit: \"{hcount}/second\"\n"
                                   "    backoff_minutes: [0]\n",
        "liar": demo_command("--mode", "lie") + "    max_attempts: 2\n    backoff_minutes: [0]\n"
                                                "    pause_after_failures: 0\n",
        "flaky": demo_command("--fail-ids", "f3,f6") + "    max_attempts: 2\n    backoff_minutes: [0]\n"
                                                        "    pause_after_failures: 0\n",
    }, limits=f"  max_concurrency: {gmax}\n  rate_limit: \"{gcount}/second\"\n"))

    call_command("setup_schedules", stdout=open(os.devnull, "w"))
    # The hourly reconcile comes due now: from here on nothing is done by hand.
    Schedule.objects.filter(name="adce:reconcile").update(next_run=timezone.now() - dt.timedelta(seconds=1))

    env = {**os.environ, "DATABASE_URL": _database_url(), "ADCE_VAR_DIR": str(tmp_path / "var"),
           "ADCE_Q_POLL": "0.2", "ADCE_Q_WORKERS": "1"}
    procs, logs = [], []
    try:
        for i in range(2):  # two clusters: two "hosts", one worker each
            log = (tmp_path / f"qcluster{i}.log").open("w")
            logs.append(log)
            procs.append(subprocess.Popen([sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "qcluster"],
                                          cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True))
        deadline = time.monotonic() + DEADLINE_SECONDS
        settled = False
        while time.monotonic() < deadline and not settled:
            for p in procs:
                assert p.poll() is None, "a qcluster exited early:\n" + _tail(tmp_path)
            settled = (Task.objects.exists()
                       and not Task.objects.filter(status__in=(TaskStatus.PENDING, TaskStatus.CLAIMED)).exists()
                       and not ScraperRun.objects.filter(status__in=(ScraperRunStatus.RUNNING,
                                                                     ScraperRunStatus.ACCEPTED)).exists())
            time.sleep(0.5)  # polling the database, not synchronising on time
        assert settled, "the loop did not settle in time:\n" + _tail(tmp_path)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        for log in logs:
            log.close()

    gaps = {g.partition: g for g in Gap.objects.select_related("task")}
    # every healable gap is resolved
    for p in ("h2", "h3", "h4", "h5", "h6", "h7", "f2", "f4", "f5", "f7"):
        assert gaps[p].status == GapStatus.RESOLVED, (p, gaps[p].status)
    assert set(Task.objects.filter(scraper="healer").values_list("status", flat=True)) == {TaskStatus.DONE}
    # the liar's tasks end failed with what is still missing
    for task in Task.objects.filter(scraper="liar"):
        assert task.status == TaskStatus.FAILED and task.attempts == 2
        assert task.last_error == f"{task.gaps.count()} of {task.gaps.count()} partitions still missing"
    assert all(gaps[f"l{i}"].status == GapStatus.OPEN for i in range(2, 8))
    # the failing partitions end failed for good after max_attempts; their gaps stay open
    for p in ("f3", "f6"):
        task = gaps[p].task
        assert gaps[p].status == GapStatus.OPEN and task.status == TaskStatus.FAILED and task.attempts == 2
        assert task.last_error.startswith("exit status 1: could not fetch flaky.pbp")

    runs = list(ScraperRun.objects.select_related("scraper").order_by("started_at"))
    assert runs and all(r.status in (ScraperRunStatus.SUCCEEDED, ScraperRunStatus.FAILED) and r.finished_at
                        for r in runs)
    # no task ever runs twice at once
    by_task = {}
    for r in runs:
        by_task.setdefault(r.task_id, []).append(r)
    for task_runs in by_task.values():
        for a, b in zip(task_runs, task_runs[1:]):
            assert b.started_at >= a.finished_at
        assert [r.attempt for r in task_runs] == list(range(1, len(task_runs) + 1))
    # recorded starts never exceed a concurrency or rate limit
    assert intervals_overlap_at_most(runs, gmax) and starts_within_rate(runs, gcount, gwin)
    healer = [r for r in runs if r.scraper.name == "healer"]
    assert intervals_overlap_at_most(healer, hmax) and starts_within_rate(healer, hcount, hwin)
    # the limits were really reached (else the check above proves nothing)
    assert max(sum(1 for o in runs if o.started_at <= r.started_at < o.finished_at) for r in runs) == gmax


def _tail(tmp_path: Path) -> str:
    return "\n".join(p.read_text()[-3000:] for p in sorted(tmp_path.glob("qcluster*.log")))
