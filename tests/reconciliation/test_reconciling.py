"""reconcile_run: the gap lifecycle, tasks, cache, failures, dry runs."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from django.apps import apps

from reconciliation.domain.analysis import PRESENT, ObjectSummary
from adce_site.choices import RunStatus
from reconciliation.choices import GapKind, GapStatus, Priority, TaskStatus
from reconciliation.engine.inventory import objects_upsert
from reconciliation.models import DataType, Gap, ReconcileRun, ReconciliationSettings, ScanRun, StoredObject, Task
from reconciliation.engine.have import load_have
from reconciliation.scan_cache import fresh_scans
from reconciliation.services.closed_loop import gaps_rejudge
from reconciliation.services.reconcile import ReconcileFailed, ReconcileInputError, reconcile_run
from reconciliation.services.scan import scan_run
from reconciliation.storage import ObjectInfo, StorageError

from reconciliation.services.specs import data_type_specs

from .test_scanning import add_games, file_uri, make_source, put_file

pytestmark = pytest.mark.django_db
UTC = dt.timezone.utc
HOUR = dt.timedelta(hours=1)
AS_OF = dt.date(2024, 11, 25)
GAMES = [("g1", "2024-25", "2024-10-22"), ("g2", "2024-25", "2024-10-25"), ("g3", "2024-25", "2024-11-20"),
         ("g4", "2024-25", "2024-12-01")]


@pytest.fixture
def lake(tmp_path):
    root = tmp_path / "lake"
    root.mkdir()
    src = make_source("espn", file_uri(root), {"pbp": {"path_patterns": ["pbp/{game_id}.json"], "min_size_bytes": 100}},
                      scraper="espn_async_scraper")
    add_games(src, GAMES)
    put_file(root, "pbp/g1.json")
    return root


def gaps(status=None):
    qs = Gap.objects.all()
    if status:
        qs = qs.filter(status=status)
    return {g.partition: g for g in qs}


def snapshot():
    return {m._meta.label: m.objects.count() for m in apps.get_models()}


def test_first_reconcile_opens_gaps_and_tasks(lake):
    run = reconcile_run(as_of=AS_OF)
    assert run.status == RunStatus.COMPLETED and run.scan.status == RunStatus.COMPLETED
    open_ = gaps(GapStatus.OPEN)
    assert set(open_) == {"g2", "g3"}  # g4 is after as_of; g1 present
    assert open_["g3"].priority == Priority.CRITICAL  # within critical_days
    assert open_["g2"].priority == Priority.HIGH  # current season below threshold
    assert all(g.kind == GapKind.MISSING and g.opened_by_id == run.pk for g in open_.values())
    tasks = list(Task.objects.all())
    assert len(tasks) == 2 and all(t.status == TaskStatus.PENDING for t in tasks)
    assert {t.priority for t in tasks} == {Priority.CRITICAL, Priority.HIGH}
    assert all(g.task_id for g in open_.values())
    s = run.summary
    assert s["gaps"]["opened"] == 2 and s["tasks"]["created"] == 2
    assert s["gaps"]["by_priority"] == {"critical": 1, "high": 1, "medium": 0, "low": 0}
    assert s["gaps"]["by_kind"] == {"missing": 2, "empty": 0, "stale": 0, "short": 0}
    assert s["completeness"] == [{"source": "espn", "data_type": "pbp", "season": "2024-25", "expected": 3,
                                  "present": 1, "completeness": round(1 / 3, 6)}]
    assert set(s["timings"]) >= {"scan", "load", "analyze", "persist", "write", "total"}


def test_tasks_not_duplicated_and_data_appearing_resolves(lake):
    reconcile_run(as_of=AS_OF)
    first_tasks = set(Task.objects.values_list("pk", flat=True))
    again = reconcile_run(as_of=AS_OF)
    assert set(Task.objects.values_list("pk", flat=True)) == first_tasks
    assert again.summary["gaps"]["opened"] == 0 and again.summary["tasks"]["created"] == 0
    assert Gap.objects.count() == 2

    put_file(lake, "pbp/g2.json")
    run = reconcile_run(as_of=AS_OF)
    g2 = Gap.objects.get(partition="g2")
    assert g2.status == GapStatus.RESOLVED and g2.resolved_by_id == run.pk and g2.resolved_at is not None
    assert Task.objects.get(pk=g2.task_id).status == TaskStatus.DONE
    assert Task.objects.get(gaps__partition="g3").status == TaskStatus.PENDING
    assert run.summary["gaps"]["resolved"] == 1 and run.summary["tasks"]["done"] == 1

    # the partition disappears again: a new gap (resolved ones are history), in a new task
    (lake / "pbp/g2.json").unlink()
    reconcile_run(as_of=AS_OF)
    assert Gap.objects.filter(partition="g2").count() == 2
    assert Gap.objects.get(partition="g2", status=GapStatus.OPEN).task.status == TaskStatus.PENDING


def test_priorities_recomputed_as_as_of_moves(lake):
    reconcile_run(as_of=AS_OF)
    g3 = Gap.objects.get(partition="g3")
    assert g3.priority == Priority.CRITICAL
    put_file(lake, "pbp/g4.json")
    run = reconcile_run(as_of=dt.date(2024, 12, 10))
    g3.refresh_from_db()
    assert g3.status == GapStatus.OPEN and g3.priority == Priority.HIGH and g3.priority_rank == 1
    assert run.summary["gaps"]["updated"] == 1
    # the pending task of g3 follows its gaps' priority; no second task for the same gap
    assert Task.objects.get(pk=g3.task_id).priority == Priority.HIGH
    assert Task.objects.count() == 2


def test_ignored_gap_stays_ignored(lake):
    reconcile_run(as_of=AS_OF)
    Gap.objects.filter(partition="g2").update(status=GapStatus.IGNORED, task=None)
    run = reconcile_run(as_of=AS_OF)
    g2 = Gap.objects.get(partition="g2")
    assert g2.status == GapStatus.IGNORED and g2.task_id is None
    assert run.summary["gaps"]["ignored"] == 1 and run.summary["tasks"]["created"] == 0
    # the task that held only g2 has no open gap left: done
    assert Task.objects.filter(status=TaskStatus.DONE).count() == 1


def test_gap_of_done_task_is_requeued(lake):
    reconcile_run(as_of=AS_OF)
    t = Task.objects.get(gaps__partition="g3")
    Task.objects.filter(pk=t.pk).update(status=TaskStatus.DONE)
    run = reconcile_run(as_of=AS_OF)
    assert run.summary["tasks"]["created"] == 1
    assert Gap.objects.get(partition="g3").task.status == TaskStatus.PENDING


def test_gap_of_task_failed_for_good_waits_for_an_operator(lake):
    """SPEC §13: after max_attempts the gaps stay open but reconcile does not queue them again,
    dry run included, until the task is requeued."""
    from reconciliation.services.task_queue import tasks_requeue

    reconcile_run(as_of=AS_OF)
    t = Task.objects.get(gaps__partition="g3")
    Task.objects.filter(pk=t.pk).update(status=TaskStatus.FAILED)
    assert reconcile_run(as_of=AS_OF, dry_run=True).summary["tasks"]["created"] == 0
    run = reconcile_run(as_of=AS_OF)
    assert run.summary["tasks"]["created"] == 0
    g3 = Gap.objects.get(partition="g3")
    assert g3.status == GapStatus.OPEN and g3.task_id == t.pk
    tasks_requeue([t])
    assert Gap.objects.get(partition="g3").task.status == TaskStatus.PENDING


def test_empty_object_is_a_gap_and_recorded(lake):
    put_file(lake, "pbp/g2.json", b"tiny")
    reconcile_run(as_of=AS_OF)
    g2 = Gap.objects.get(partition="g2")
    assert g2.kind == GapKind.EMPTY and g2.object_size == 4 and g2.object_key.endswith("pbp/g2.json")


def test_failed_scan_changes_no_gap_or_task(lake, monkeypatch):
    reconcile_run(as_of=AS_OF)
    before = (sorted(Gap.objects.values_list("pk", "status", "priority", "task_id")),
              sorted(Task.objects.values_list("pk", "status", "priority")),
              sorted(StoredObject.objects.values_list("key", "size")))
    put_file(lake, "pbp/g2.json")
    put_file(lake, "pbp/g3.json")
    import reconciliation.services.scan as scanning
    real = scanning.list_objects

    def broken(location, **kw):
        for n, obj in enumerate(real(location, **kw)):
            if n == 1:
                raise StorageError(f"{location.uri}: connection reset")
            yield obj

    monkeypatch.setattr(scanning, "list_objects", broken)
    with pytest.raises(ReconcileFailed, match="connection reset"):
        reconcile_run(as_of=AS_OF)
    after = (sorted(Gap.objects.values_list("pk", "status", "priority", "task_id")),
             sorted(Task.objects.values_list("pk", "status", "priority")),
             sorted(StoredObject.objects.values_list("key", "size")))
    assert after == before
    failed = ReconcileRun.objects.order_by("-pk").first()
    assert failed.status == RunStatus.FAILED and "connection reset" in failed.error
    assert failed.scan.status == RunStatus.FAILED


def test_dry_run_writes_nothing(lake, tmp_path):
    reconcile_run(as_of=AS_OF)
    put_file(lake, "pbp/g2.json")
    before = snapshot()
    out = tmp_path / "gaps.json"
    run = reconcile_run(as_of=dt.date(2024, 12, 10), dry_run=True, output=out)
    assert snapshot() == before
    assert not out.exists()
    assert run.pk is None and run.dry_run
    s = run.summary
    # would resolve g2, open g4, re-rank g3 (CRITICAL → HIGH), finish g2's task, plan one task for g4
    assert (s["gaps"]["opened"], s["gaps"]["resolved"], s["gaps"]["updated"]) == (1, 1, 1)
    assert s["tasks"]["done"] == 1 and s["tasks"]["created"] == 1
    assert s["scan"]["id"] is None
    assert s["output"] == {"path": str(out), "written": False}
    # the real run does exactly that
    real = reconcile_run(as_of=dt.date(2024, 12, 10)).summary
    assert (real["gaps"]["opened"], real["gaps"]["resolved"], real["gaps"]["updated"]) == (1, 1, 1)
    assert real["tasks"]["done"] == 1 and real["tasks"]["created"] == 1


def test_dry_run_with_cache_and_first_time(lake):
    before = snapshot()
    run = reconcile_run(as_of=AS_OF, dry_run=True)
    assert snapshot() == before
    assert run.summary["gaps"]["opened"] == 2 and run.summary["tasks"]["created"] == 2


def test_use_cache_reuses_a_fresh_complete_scan(lake):
    scan = scan_run()
    run = reconcile_run(as_of=AS_OF, use_cache=True)
    assert run.scan_id is None or run.scan_id == scan.pk
    assert ScanRun.objects.count() == 1 and run.summary["scan"]["cached"] is True
    # a coverage import after the scan makes it stale
    ReconciliationSettings.objects.update_or_create(pk=1, defaults={"imported_at": dt.datetime.now(UTC)})
    assert fresh_scans() is None
    run = reconcile_run(as_of=AS_OF, use_cache=True)
    assert ScanRun.objects.count() == 2 and run.summary["scan"]["cached"] is False


def test_use_cache_ignores_sampled_failed_and_old_scans(lake, settings):
    from reconciliation.models import Source

    Source.objects.update(updated_at=dt.datetime.now(UTC) - dt.timedelta(hours=30))  # imported long ago
    scan_run(sample_rate=0.5, seed=1)
    assert fresh_scans() is None
    full = scan_run()
    ScanRun.objects.filter(pk=full.pk).update(finished_at=dt.datetime.now(UTC) - dt.timedelta(hours=25))
    assert fresh_scans() is None
    settings.ADCE_SCAN_CACHE_HOURS = 48
    assert [s.pk for s in fresh_scans()] == [full.pk]


def test_sampling_never_changes_gaps(lake):
    reconcile_run(as_of=AS_OF)
    before = sorted(Gap.objects.values_list("pk", "status", "priority"))
    put_file(lake, "pbp/g2.json")
    put_file(lake, "pbp/g3.json")
    scan_run(sample_rate=1.0, seed=3)  # even a 100 % sample only estimates
    assert sorted(Gap.objects.values_list("pk", "status", "priority")) == before
    # the cache is the complete scan of the first reconcile: the sample fed nothing into the inventory
    run = reconcile_run(as_of=AS_OF, use_cache=True)
    assert run.summary["scan"]["cached"] is True and run.summary["scan"]["id"] != ScanRun.objects.order_by("-pk")[0].pk
    assert run.summary["gaps"]["resolved"] == 0
    assert reconcile_run(as_of=AS_OF).summary["gaps"]["resolved"] == 2


def test_output_written_atomically(lake, tmp_path):
    out = tmp_path / "gaps.json"
    out.write_text("old")
    run = reconcile_run(as_of=AS_OF, output=out)
    doc = json.loads(out.read_text())
    assert doc["total_tasks"] == 2 and doc["as_of"] == "2024-11-25"
    assert run.output_path == str(out)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".gaps.json")] == []


def test_an_output_that_cannot_be_written_is_bad_input(lake, tmp_path):
    (tmp_path / "a-file").write_text("")
    before = snapshot()
    with pytest.raises(ReconcileInputError, match="a-file is a file, not a folder"):
        reconcile_run(as_of=AS_OF, output=tmp_path / "a-file" / "nope" / "gaps.json")
    assert snapshot() == before


def test_missing_output_folders_are_created(lake, tmp_path):
    reconcile_run(as_of=AS_OF, output=tmp_path / "nope" / "deeper" / "gaps.json")
    assert (tmp_path / "nope" / "deeper" / "gaps.json").is_file()


def test_nothing_to_reconcile():
    with pytest.raises(ReconcileInputError, match="nothing to reconcile"):
        reconcile_run()


def test_objects_upsert_and_rejudge_resolve_gap(lake):
    reconcile_run(as_of=AS_OF)
    store = "file://"
    key = str(lake).lstrip("/") + "/pbp/g2.json"
    touched = objects_upsert(store, [ObjectInfo(key, 10, dt.datetime(2024, 11, 24, tzinfo=UTC))])
    assert len(touched) == 1
    assert gaps_rejudge(touched, as_of=AS_OF) == 0  # 10 bytes < min_size_bytes: still empty
    touched = objects_upsert(store, [ObjectInfo(key, 500, dt.datetime(2024, 11, 25, tzinfo=UTC))])
    assert StoredObject.objects.filter(key=key).count() == 1
    assert gaps_rejudge(touched, as_of=AS_OF) == 1
    g2 = Gap.objects.get(partition="g2")
    assert g2.status == GapStatus.RESOLVED
    assert Task.objects.get(pk=g2.task_id).status == TaskStatus.DONE


def test_have_counts_only_objects_under_the_source_location(lake, tmp_path):
    pbp = DataType.objects.get(name="pbp")
    when = dt.datetime(2024, 11, 1, tzinfo=UTC)
    # left over from an old location, and from a scan of another copy: neither makes g2 present
    StoredObject.objects.create(store="s3://old-bucket", key="pbp/g2.json", size=500, last_modified=when,
                                data_type=pbp, partition="g2")
    scan_run(sources=["espn"], location=file_uri(tmp_path / "lake"))  # same folder, but an override scan
    StoredObject.objects.filter(partition="g1").delete()
    prefix = str(lake).lstrip("/") + "/"
    StoredObject.objects.create(store="file://", key=prefix + "pbp/g3.json", size=500, last_modified=when,
                                data_type=pbp, partition="g3")
    # nor does an old location's newer, empty copy decide g3
    StoredObject.objects.create(store="s3://old-bucket", key="pbp/g3.json", size=1, last_modified=when + HOUR,
                                data_type=pbp, partition="g3")
    have = load_have(data_type_specs(), AS_OF)
    assert have == {(pbp.pk, "g3"): PRESENT}
    assert fresh_scans() is None  # the override scan does not count as a scan of the source


def test_have_picks_newest_then_largest_then_smallest_key(lake):
    pbp = DataType.objects.get(name="pbp")
    prefix = str(lake).lstrip("/") + "/"
    t1, t2 = dt.datetime(2024, 11, 1, tzinfo=UTC), dt.datetime(2024, 11, 2, 3, 4, 5, 60, tzinfo=UTC)
    for key, size, lm in (("a/g5.json", 900, t1), ("b/g5.json", 10, t2), ("d/g5.json", 20, t2), ("c/g5.json", 20, t2)):
        StoredObject.objects.create(store="file://", key=prefix + key, size=size, last_modified=lm,
                                    data_type=pbp, partition="g5")
    StoredObject.objects.create(store="file://", key=prefix + "d/g6.json", size=1, last_modified=t1,
                                data_type=pbp, partition="g6")
    have = load_have(data_type_specs(), AS_OF)
    assert have[(pbp.pk, "g5")] == ObjectSummary(prefix + "c/g5.json", 20, t2)
    assert have[(pbp.pk, "g6")] == ObjectSummary(prefix + "d/g6.json", 1, t1) and t1.tzinfo is not None


@pytest.mark.django_db(transaction=True)
def test_have_outside_a_transaction_opens_its_own(lake):
    # the PostgreSQL pass runs SET TRANSACTION (REPEATABLE READ, READ ONLY) as its first statement
    scan_run()
    assert load_have(data_type_specs(), AS_OF) == {(DataType.objects.get(name="pbp").pk, "g1"): PRESENT}


def _store(dtype, key, size, when, partition, store="file://"):
    StoredObject.objects.create(store=store, key=key, size=size, last_modified=when, data_type=dtype,
                                partition=partition)


def test_reconcile_judges_a_partition_on_its_newest_object(lake):
    scan_run()  # the inventory: pbp/g1.json, 200 bytes
    pbp = DataType.objects.get(name="pbp")
    prefix = str(lake).lstrip("/") + "/"
    t1 = dt.datetime(2024, 11, 1, tzinfo=UTC)
    _store(pbp, prefix + "old/g1.json", 5, t1 - HOUR, "g1")  # an older empty copy under a good newest one: fine
    _store(pbp, prefix + "pbp/g2.json", 5, t1 + HOUR, "g2")  # the newest is empty, an older one large: empty
    _store(pbp, prefix + "old/g2.json", 900, t1, "g2")
    _store(pbp, "pbp/g2.json", 900, t1 + 2 * HOUR, "g2", store="s3://old-bucket")  # not under the location
    _store(pbp, prefix + "pbp/g3.json", 500, t1, "g3")       # fine; the old location's newer empty copy is ignored
    _store(pbp, "pbp/g3.json", 5, t1 + HOUR, "g3", store="s3://old-bucket")
    _store(pbp, "pbp/g4.json", 500, t1, "g4", store="s3://old-bucket")  # only under an old location: missing
    run = reconcile_run(as_of=dt.date(2024, 12, 5), use_cache=True)
    assert run.summary["scan"]["cached"] is True
    found = {g.partition: g for g in Gap.objects.all()}
    assert {p: g.kind for p, g in found.items()} == {"g2": GapKind.EMPTY, "g4": GapKind.MISSING}
    g2 = found["g2"]
    assert (g2.object_key, g2.object_size, g2.object_last_modified) == (prefix + "pbp/g2.json", 5, t1 + HOUR)
    assert run.summary["completeness"][0]["present"] == 2


def test_reconcile_stale_season_file(lake, tmp_path):
    (tmp_path / "hoopr").mkdir()
    make_source("hoopr", file_uri(tmp_path / "hoopr"),
                {"pbp": {"path_patterns": ["new/nba_{season_end}.parquet", "old/nba_{season_end}.parquet"],
                         "freshness_days": 7}}, seasons=("2022-23", "2023-24", "2024-25"))
    scan_run()
    season_file = DataType.objects.get(source__name="hoopr")
    prefix = str(tmp_path / "hoopr").lstrip("/") + "/"
    cutoff = dt.datetime(2024, 11, 18, tzinfo=UTC)  # AS_OF − 7 days, 00:00 UTC
    _store(season_file, prefix + "new/nba_2025.parquet", 900, cutoff - HOUR, "2024-25")  # current season, old: stale
    _store(season_file, prefix + "old/nba_2025.parquet", 900, cutoff - 2 * HOUR, "2024-25")
    _store(season_file, prefix + "new/nba_2024.parquet", 900, cutoff - HOUR, "2023-24")  # not the current season
    _store(season_file, prefix + "new/nba_2023.parquet", 900, cutoff, "2022-23")  # an older stale copy under
    _store(season_file, prefix + "old/nba_2023.parquet", 900, cutoff - HOUR, "2022-23")  # a fresh one
    reconcile_run(as_of=AS_OF, use_cache=True)
    stale = Gap.objects.get(data_type=season_file)
    assert (stale.partition, stale.kind, stale.priority) == ("2024-25", GapKind.STALE, Priority.CRITICAL)
    assert stale.object_key == prefix + "new/nba_2025.parquet" and stale.object_last_modified == cutoff - HOUR


def test_interrupted_scan_fails_the_reconcile_run(lake, monkeypatch):
    import reconciliation.services.scan as scanning

    def interrupted(location, **kw):
        yield from ()
        raise KeyboardInterrupt

    monkeypatch.setattr(scanning, "list_objects", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reconcile_run(as_of=AS_OF)
    run = ReconcileRun.objects.get()
    assert run.status == RunStatus.FAILED and "KeyboardInterrupt" in run.error
    assert Gap.objects.count() == 0 and Task.objects.count() == 0
