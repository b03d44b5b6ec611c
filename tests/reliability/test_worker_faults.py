"""Worker faults with real `manage.py qcluster` processes on PostgreSQL (ORM broker):

* a cluster SIGKILLed (whole process group) while a task runs: a new cluster runs the task again
  once the broker's `retry` lease has expired — not lost, and never two executions at once;
* two clusters on one database and one due schedule: it fires exactly once.
"""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from .dbkill import conninfo

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TIMEOUT, RETRY = 4, 5
SCHEDULER_PASS_SECONDS = 40  # django-q2's guard runs the scheduler every 30 s; startup takes a few  # short Q_CLUSTER timeout/retry (timeout < retry: a lease never outlives its kill)


def _database_url() -> str:
    from django.db import connection

    return conninfo(connection.settings_dict).replace("postgresql://", "postgres://", 1)


class Cluster:
    """One `manage.py qcluster` in its own process group (so SIGKILL takes its workers too)."""

    def __init__(self, tmp_path: Path, name: str, **extra_env):
        self.log_path = tmp_path / f"qcluster-{name}.log"
        env = {k: v for k, v in os.environ.items() if k != "ADCE_REDIS_URL"}
        env.update(DATABASE_URL=_database_url(), ADCE_VAR_DIR=str(tmp_path / "var"), ADCE_Q_POLL="0.2",
                   ADCE_Q_WORKERS="1", ADCE_Q_TIMEOUT=str(TIMEOUT), ADCE_Q_RETRY=str(RETRY),
                   ADCE_Q_MAX_ATTEMPTS="3", **extra_env)
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen([sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "qcluster"],
                                     cwd=settings.BASE_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text()[-3000:]

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # workers left behind, if any
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        self._log.close()


def wait_for(condition, seconds: float, clusters=(), what: str = ""):
    """Bounded poll of an outside condition (files, rows written by other processes)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        for c in clusters:
            assert c.proc.poll() is None, f"qcluster exited early:\n{c.log()}"
        time.sleep(0.1)
    logs = "\n".join(c.log() for c in clusters)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


@pytest.fixture
def clusters(tmp_path):
    started: list[Cluster] = []

    def start(name, **extra_env):
        c = Cluster(tmp_path, name, **extra_env)
        started.append(c)
        return c

    yield start
    for c in started:
        if not c._log.closed:
            c.stop()


def test_a_task_whose_cluster_is_killed_runs_again_and_never_twice_at_once(tmp_path, clusters):
    from django_q.models import OrmQ, Success
    from django_q.tasks import async_task

    assert "orm" in settings.Q_CLUSTER, "this test is about the ORM broker"
    folder = tmp_path / "marks"
    folder.mkdir()
    task_id = async_task("tests.reliability.qtasks.blocking", str(folder))

    first = clusters("a")
    wait_for(lambda: list(folder.glob("start-1-*")), 60, [first], "the first execution to start")
    first.kill()  # SIGKILL the whole process group mid-task
    assert not list(folder.glob("done-*"))
    assert OrmQ.objects.count() == 1  # still queued, leased to the dead cluster

    (folder / "release").write_text("")
    second = clusters("b")
    wait_for(lambda: Success.objects.filter(id=task_id).exists(), 60, [second], "the task to succeed")

    starts = sorted(folder.glob("start-*"))
    assert len(starts) == 2, starts  # ran again: not lost
    assert len(list(folder.glob("done-*"))) == 1
    assert not list(folder.glob("overlap-*"))  # the first process was dead when the second started
    wait_for(lambda: not OrmQ.objects.exists(), 30, [second], "the broker to acknowledge the task")
    assert Success.objects.get(id=task_id).result == "done"


def test_two_clusters_fire_a_due_schedule_once(tmp_path, clusters):
    from django_q.models import Schedule, Success

    folder = tmp_path / "marks"
    folder.mkdir()
    Schedule.objects.create(name="reliability:once", func="tests.reliability.qtasks.record",
                            args=repr(str(folder)), schedule_type=Schedule.MINUTES, minutes=60, repeats=-1)
    Schedule.objects.filter(name="reliability:once").update(next_run=timezone.now() - dt.timedelta(seconds=1))

    started = time.monotonic()
    both = [clusters("a"), clusters("b")]
    # each cluster's guard calls the scheduler 30 s after its start (django-q2's fixed period): both
    # race for the due schedule within the same second or so
    wait_for(lambda: Success.objects.filter(func="tests.reliability.qtasks.record").exists(), 90, both,
             "the schedule to run")
    # keep both clusters up until each has certainly had its first scheduler pass (30 s + startup);
    # a second firing would show up as a second execution file
    wait_for(lambda: time.monotonic() - started > SCHEDULER_PASS_SECONDS or len(list(folder.glob("run-*"))) > 1,
             90, both, "both scheduler passes")
    schedule = Schedule.objects.get(name="reliability:once")
    assert schedule.next_run > timezone.now() + dt.timedelta(minutes=50)
    for c in both:
        c.stop()
    assert len(list(folder.glob("run-*"))) == 1
    assert Success.objects.filter(func="tests.reliability.qtasks.record").count() == 1


def test_sigterm_while_the_database_does_not_answer_exits_within_the_deadline(tmp_path, clusters):
    """Issue 15 item 7: the broker's table is locked by another session, so the cluster's pusher sits
    in a query that never returns (what a stalled database looks like from the cluster). django-q2
    alone waits for it for ever; with ADCE_Q_STOP_SECONDS the command exits 1 that long after SIGTERM,
    and none of its processes is left."""
    import psycopg
    from django.db import connection

    from adce_site.qcluster_deadline import descendants

    cluster = clusters("stall", ADCE_Q_STOP_SECONDS="5")
    locker = psycopg.connect(conninfo(connection.settings_dict), autocommit=False)
    try:
        locker.execute("LOCK TABLE django_q_ormq IN ACCESS EXCLUSIVE MODE")
        lock_pid = locker.info.backend_pid

        def pusher_waits():
            with psycopg.connect(conninfo(connection.settings_dict), autocommit=True) as probe:
                return probe.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                     "AND %s = ANY(pg_blocking_pids(pid))", [lock_pid]).fetchone()[0]

        wait_for(pusher_waits, 90, [cluster], "the pusher to wait on the locked broker table")
        below = descendants(cluster.proc.pid)
        assert below, "the cluster has processes"
        signalled = time.monotonic()
        cluster.proc.send_signal(signal.SIGTERM)
        code = cluster.proc.wait(timeout=5 + 25)
        took = time.monotonic() - signalled
    finally:
        locker.rollback()
        locker.close()
    assert code == 1 and 4.5 < took < 5 + 25, took
    assert "qcluster: not stopped 5 s after the signal" in cluster.log()
    from .qtasks import _alive

    assert not [pid for pid in below if _alive(pid)], "a cluster process outlived the deadline"
