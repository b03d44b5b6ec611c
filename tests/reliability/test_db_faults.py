"""Database faults (PostgreSQL): the connection is killed (pg_terminate_backend from a second
connection) in the middle of verify and of reconcile's persist step. Nothing is half-written, the
run is marked failed with the error, and the next run succeeds."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from django.db import connection

from metrics.models import MetricDefinition, VerificationRun
from metrics.probes import REGISTRY
from adce_site.choices import RunStatus
from reconciliation.models import Gap, ReconcileRun, Task

from .conftest import state_snapshot
from .dbkill import BackendKiller

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def fresh_connection():
    """Drop this thread's connection if the kill left it broken (Django keeps a connection that
    died outside a transaction until told otherwise)."""
    if connection.connection is not None and not connection.is_usable():
        connection.close()


@pytest.fixture(autouse=True)
def _usable_connection_for_teardown():
    yield
    fresh_connection()


# ---- verify --------------------------------------------------------------------------------------

@pytest.fixture
def metrics_lake(tmp_path):
    """Three file_count metrics (a, b, c) with baselines 3, then every folder gets 3 more files."""
    from metrics.services import metric_import, verification_run

    dirs = {}
    for name in "abc":
        d = dirs[name] = tmp_path / name
        d.mkdir()
        for i in range(3):
            (d / f"{i}.json").write_text("{}")
    config = tmp_path / "metrics.yaml"
    config.write_text("metrics:\n  lake:\n" + "".join(
        f"    {n}_files: {{kind: file_count, path: {d}}}\n" for n, d in dirs.items()))
    metric_import(config)
    first = verification_run(update=True, use_cache=False)
    assert first.status == "completed"
    for d in dirs.values():
        for i in range(3, 6):
            (d / f"{i}.json").write_text("{}")
    return dirs


def _baselines():
    return dict(MetricDefinition.objects.values_list("name", "baseline_value"))


def _hook_probe(monkeypatch, path_part: str, killer: BackendKiller):
    probe = REGISTRY["file_count"]

    def func(params, ctx):
        if path_part in str(params.get("path")):
            killer.hit()
        return probe.func(params, ctx)

    monkeypatch.setitem(REGISTRY, "file_count", dataclasses.replace(probe, func=func))


@pytest.mark.parametrize("where", ["probe", "record"])
def test_connection_killed_during_verify(metrics_lake, monkeypatch, where):
    from metrics import services
    from metrics.services import verification_run

    killer = BackendKiller.of(connection).start()
    if where == "probe":  # while b is being measured (no transaction open)
        _hook_probe(monkeypatch, "/b", killer)
    else:  # inside b's record transaction: its measurement is written, its baseline not yet
        original = services.baseline_apply

        def baseline_apply(metric, value, **kw):
            if metric.name == "b_files":
                killer.hit()
            return original(metric, value, **kw)

        monkeypatch.setattr(services, "baseline_apply", baseline_apply)
    baselines = _baselines()

    with pytest.raises(Exception) as info:
        verification_run(update=True, use_cache=False)
    killer.join()
    assert killer.hits == 1
    assert "terminat" in str(info.value).lower() or "closed" in str(info.value).lower()

    run = VerificationRun.objects.order_by("-pk").first()
    assert run.status == "failed", run.status
    assert run.error and run.finished_at is not None
    # a was recorded (and its baseline moved) in its own transaction before the kill; b's
    # measurement and baseline were rolled back together; c was never measured
    names = sorted(run.measurements.values_list("metric__name", flat=True))
    assert names == ["a_files"]
    now = _baselines()
    assert now["a_files"] == 6 and now["b_files"] == baselines["b_files"] == 3 and now["c_files"] == 3
    assert run.measurements.get().applied

    # the next run succeeds and completes the picture
    nxt = verification_run(update=True, use_cache=False)
    assert nxt.status == "completed"
    assert nxt.measurements.count() == 3
    assert _baselines() == {"a_files": 6, "b_files": 6, "c_files": 6}
    assert not VerificationRun.objects.filter(status="running").exists()


# ---- reconcile -------------------------------------------------------------------------------------

@pytest.fixture
def file_lake(tmp_path):
    from ..reconciliation.test_scanning import add_games, file_uri, make_source, put_file

    root = tmp_path / "lake"
    root.mkdir()
    src = make_source("espn", file_uri(root), {"pbp": {"path_patterns": ["pbp/{game_id}.json"]}})
    add_games(src, [(f"g{i}", "2024-25", f"2024-11-{i + 1:02d}") for i in range(20)])
    for i in range(5):
        put_file(root, f"pbp/g{i}.json")
    return root


AS_OF = dt.date(2024, 12, 31)


def test_connection_killed_during_reconcile_persist(file_lake, monkeypatch):
    from reconciliation.services import lifecycle
    from reconciliation.services.reconcile import reconcile_run

    from ..reconciliation.test_scanning import put_file

    first = reconcile_run(as_of=AS_OF)
    assert first.status == RunStatus.COMPLETED
    for i in range(5, 10):  # 5 gaps would resolve …
        put_file(file_lake, f"pbp/g{i}.json")
    (file_lake / "pbp" / "g0.json").unlink()  # … and one would open
    before = state_snapshot()

    killer = BackendKiller.of(connection).start()
    original = lifecycle._tasks_create

    def tasks_create(*args, **kwargs):  # gaps are opened/resolved already, in the same transaction
        killer.hit()
        return original(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "_tasks_create", tasks_create)
    with pytest.raises(Exception):
        reconcile_run(as_of=AS_OF)
    killer.join()
    assert killer.hits == 1

    run = ReconcileRun.objects.order_by("-pk").first()
    assert run.pk != first.pk
    assert run.status == RunStatus.FAILED and run.error
    after = state_snapshot()
    assert after["gaps"] == before["gaps"] and after["tasks"] == before["tasks"]
    assert not Gap.objects.filter(opened_by=run).exists() and not Task.objects.filter(reconcile_run=run).exists()

    monkeypatch.setattr(lifecycle, "_tasks_create", original)
    nxt = reconcile_run(as_of=AS_OF)
    assert nxt.status == RunStatus.COMPLETED
    assert set(Gap.objects.filter(status="open").values_list("partition", flat=True)) == (
        {"g0"} | {f"g{i}" for i in range(10, 20)})
    assert not ReconcileRun.objects.filter(status=RunStatus.RUNNING).exists()


def test_connection_killed_then_a_query_outside_any_transaction(metrics_lake, monkeypatch):
    """The first query after the kill runs outside a transaction (Django then keeps the dead
    connection): the run is still recorded failed, on a fresh connection."""
    from metrics.services import verification_run

    killer = BackendKiller.of(connection).start()

    def progress(line):
        if "a_files" in line:
            killer.hit()
            MetricDefinition.objects.count()  # raises: the backend is gone

    with pytest.raises(Exception, match="(?i)terminat|closed|server"):
        verification_run(update=True, use_cache=False, progress=progress)
    killer.join()
    run = VerificationRun.objects.order_by("-pk").first()
    assert run.status == "failed" and "OperationalError" in run.error
    assert verification_run(update=True, use_cache=False).status == "completed"


def test_a_run_whose_process_died_is_marked_failed_by_the_next_run(metrics_lake):
    """A running run's process holds its advisory lock; once that process (here: a second connection)
    is gone, the next run marks the orphan failed — and never a run that is still alive."""
    import psycopg

    from adce_site import runguard

    from adce_site.runs import runs_fail_stale
    from metrics.services import verification_run

    from .dbkill import conninfo

    orphan = VerificationRun.objects.create(trigger="schedule")
    other = psycopg.connect(conninfo(connection.settings_dict), autocommit=True)
    other.execute("SELECT pg_advisory_lock(%s, %s)", [runguard._key("verify"), orphan.pk])
    assert runs_fail_stale(VerificationRun) == 0  # alive: untouched
    orphan.refresh_from_db()
    assert orphan.status == "running"

    other.close()  # the process dies
    run = verification_run(update=True, use_cache=False)
    assert run.status == "completed"
    orphan.refresh_from_db()
    assert orphan.status == "failed" and "interrupted" in orphan.error and orphan.finished_at
    assert orphan.measurements.count() == 0


def test_a_run_started_inside_another_on_the_same_connection_does_not_fail_the_outer_one(metrics_lake):
    """The advisory lock is re-entrant in one session: the inner run's sweep must not take the outer run's
    lock for a free one and mark the live outer run failed (its scan files would then be swept too)."""
    from adce_site.runs import run_record, runs_fail_stale

    with run_record(VerificationRun, trigger="manual") as outer:
        assert runs_fail_stale(VerificationRun) == 0
        with run_record(VerificationRun, trigger="manual") as inner:
            pass
        outer.refresh_from_db()
        assert outer.status == "running"
    inner.refresh_from_db()
    outer.refresh_from_db()
    assert (outer.status, inner.status) == ("completed", "completed")


# ---- scan (the first step of reconcile) -------------------------------------------------------------

def test_connection_killed_during_scan_listing(file_lake, monkeypatch):
    """Killed while the listing streams into the staging table: the scan is recorded failed, the
    inventory is untouched, the next scan succeeds."""
    from reconciliation.services import scan as scanning
    from reconciliation.services import scan_stream
    from adce_site.choices import RunStatus
    from reconciliation.models import ScanRun

    first = scanning.scan_run()
    assert first.status == RunStatus.COMPLETED
    before = state_snapshot()
    killer = BackendKiller.of(connection).start()
    original = scan_stream.list_objects

    def list_objects(location, **kw):
        for i, obj in enumerate(original(location, **kw)):
            if i == 2:
                killer.hit()
            yield obj

    monkeypatch.setattr(scan_stream, "list_objects", list_objects)
    with pytest.raises(Exception):
        scanning.scan_run()
    killer.join()
    fresh_connection()  # as the next process would have
    run = ScanRun.objects.order_by("-pk").first()
    assert run.pk != first.pk
    assert run.status == RunStatus.FAILED and run.error
    assert state_snapshot() == before
    monkeypatch.setattr(scan_stream, "list_objects", original)
    assert scanning.scan_run().status == RunStatus.COMPLETED


def test_connection_killed_during_reconcile_scan_step(file_lake, monkeypatch):
    """Killed during reconcile's scan step: neither the ReconcileRun nor its ScanRun is left running."""
    from reconciliation.services import scan_stream
    from adce_site.choices import RunStatus
    from reconciliation.models import ScanRun
    from reconciliation.services.reconcile import reconcile_run

    assert reconcile_run(as_of=AS_OF).status == RunStatus.COMPLETED
    before = state_snapshot()
    killer = BackendKiller.of(connection).start()
    original = scan_stream.list_objects

    def list_objects(location, **kw):
        for i, obj in enumerate(original(location, **kw)):
            if i == 2:
                killer.hit()
            yield obj

    monkeypatch.setattr(scan_stream, "list_objects", list_objects)
    with pytest.raises(Exception):
        reconcile_run(as_of=AS_OF)
    killer.join()
    fresh_connection()
    assert state_snapshot() == before
    assert not ScanRun.objects.filter(status=RunStatus.RUNNING).exists()
    assert not ReconcileRun.objects.filter(status=RunStatus.RUNNING).exists()


def test_a_reconcile_whose_process_died_is_marked_failed_by_the_next_one(file_lake):
    """Rows left 'running' by a dead process (nobody holds their advisory lock) are swept."""
    from adce_site.choices import RunStatus
    from reconciliation.models import ScanRun
    from reconciliation.services.reconcile import reconcile_run

    # a dead process' rows: committed, and no process holds them any more
    orphan_scan = ScanRun.objects.create(status=RunStatus.RUNNING, mode="list", trigger="reconcile:schedule")
    orphan = ReconcileRun.objects.create(status=RunStatus.RUNNING, trigger="schedule", as_of=AS_OF,
                                         started_at=orphan_scan.started_at)
    run = reconcile_run(as_of=AS_OF)
    assert run.status == RunStatus.COMPLETED
    orphan.refresh_from_db()
    orphan_scan.refresh_from_db()
    assert orphan.status == RunStatus.FAILED and orphan.error
    assert orphan_scan.status == RunStatus.FAILED and orphan_scan.error
