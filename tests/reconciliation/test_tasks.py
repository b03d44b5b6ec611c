"""Task services: claim order, the conditional-update race, leases, attempts, state errors, requeue.

The `make_*` helpers build rows directly; the other task/admin test modules import them."""
import datetime as dt
import itertools

import pytest

from reconciliation.services import task_queue as tasks_mod
from reconciliation.choices import GapStatus, Priority, TaskStatus
from reconciliation.models import DataType, Gap, ReconciliationSettings, Source, Task
from reconciliation.services.task_queue import (
    LEASE_EXPIRED,
    TaskNotFound,
    TaskStateError,
    gaps_ignore,
    gaps_requeue,
    task_claim,
    task_complete,
    task_fail,
    tasks_expire_leases,
    tasks_mark_failed,
    tasks_requeue,
)

T0 = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.timezone.utc)
_seq = itertools.count(1)


def make_source(name="espn", scraper=None, seasons=("2023-24", "2024-25")):
    return Source.objects.create(name=name, scraper=scraper or f"{name}_scraper",
                                 location=f"s3://lake/{name}/", seasons=list(seasons))


def make_type(source, name="play_by_play", level="game", threshold=0.95, minutes=2):
    return DataType.objects.create(source=source, name=name, level=level, completeness_threshold=threshold,
                                   minutes_per_file=minutes, path_patterns=[f"{name}/{{game_id}}.json"])


def make_task(data_type, *, priority="MEDIUM", season="2024-25", kind="missing", created_at=None,
              status=TaskStatus.PENDING, **extra):
    return Task.objects.create(
        source=data_type.source, data_type=data_type, season=season, priority=priority,
        priority_rank=Priority(priority).rank, gap_kind=kind, scraper=data_type.source.scraper,
        reason="test", status=status, created_at=created_at or T0, **extra,
    )


def make_gap(data_type, partition=None, *, season="2024-25", kind="missing", priority="MEDIUM",
             status=GapStatus.OPEN, task=None, game_date=None):
    partition = partition if partition is not None else f"40{next(_seq):07d}"
    return Gap.objects.create(
        source=data_type.source, data_type=data_type, season=season, partition=partition,
        game_date=game_date or dt.date(2024, 11, 1), kind=kind, priority=priority,
        priority_rank=Priority(priority).rank, status=status, task=task,
    )


@pytest.fixture
def ptype(db):
    return make_type(make_source())


# --- claim ---

def test_claim_takes_most_urgent_then_oldest(ptype):
    low = make_task(ptype, priority="LOW", created_at=T0 - dt.timedelta(days=3))
    med_new = make_task(ptype, priority="MEDIUM", created_at=T0)
    med_old = make_task(ptype, priority="MEDIUM", created_at=T0 - dt.timedelta(hours=1))
    crit = make_task(ptype, priority="CRITICAL", created_at=T0 + dt.timedelta(hours=1))
    order = [task_claim(scraper="espn_scraper", worker="w", now=T0).pk for _ in range(4)]
    assert order == [crit.pk, med_old.pk, med_new.pk, low.pk]
    assert task_claim(scraper="espn_scraper", now=T0) is None


def test_claim_sets_lease_worker_and_counts_attempt(ptype):
    t = make_task(ptype)
    got = task_claim(scraper="espn_scraper", lease_minutes=10, worker="host-1", now=T0)
    assert got.pk == t.pk
    assert got.status == TaskStatus.CLAIMED
    assert got.attempts == 1
    assert got.claimed_by == "host-1"
    assert got.claimed_at == T0
    assert got.lease_expires_at == T0 + dt.timedelta(minutes=10)


def test_claim_only_own_scraper_and_only_pending(ptype):
    other = make_type(make_source("nba", scraper="nba_api"))
    make_task(other)
    make_task(ptype, status=TaskStatus.DONE)
    make_task(ptype, status=TaskStatus.FAILED)
    assert task_claim(scraper="espn_scraper", now=T0) is None
    assert task_claim(scraper="nba_api", now=T0).scraper == "nba_api"


@pytest.mark.parametrize("lease, worker", [(0, ""), (0.05, ""), (10081, ""), (30, "w" * 151), (30, None)])
def test_claim_rejects_a_lease_or_worker_out_of_bounds(ptype, lease, worker):
    make_task(ptype)
    with pytest.raises(ValueError):
        task_claim(scraper="espn_scraper", lease_minutes=lease, worker=worker)
    assert Task.objects.get().status == TaskStatus.PENDING


def test_lost_race_is_detected_by_rowcount_and_the_pick_retried(ptype, monkeypatch):
    """Another claimer wins the picked task between our SELECT and our UPDATE: our conditional
    UPDATE changes 0 rows, so we must not return that task, and must pick the next one."""
    first = make_task(ptype, priority="CRITICAL")
    second = make_task(ptype, priority="LOW")
    real_pick = tasks_mod._pick_candidate
    calls = []

    def racing_pick(scraper, **kwargs):
        pk = real_pick(scraper, **kwargs)
        if not calls:  # the rival claims exactly the task we just picked
            Task.objects.filter(pk=pk).update(status=TaskStatus.CLAIMED, claimed_by="rival", attempts=1)
        calls.append(pk)
        return pk

    monkeypatch.setattr(tasks_mod, "_pick_candidate", racing_pick)
    got = task_claim(scraper="espn_scraper", worker="me", now=T0)
    assert calls == [first.pk, second.pk]
    assert got.pk == second.pk and got.claimed_by == "me"
    first.refresh_from_db()
    assert first.claimed_by == "rival" and first.attempts == 1  # untouched by the loser


def test_conditional_update_changes_nothing_for_a_non_pending_task(ptype):
    t = make_task(ptype, status=TaskStatus.CLAIMED, claimed_by="rival", attempts=1)
    assert tasks_mod.task_try_claim(t.pk, worker="me", now=T0, lease=dt.timedelta(minutes=5)) is False
    t.refresh_from_db()
    assert (t.claimed_by, t.attempts) == ("rival", 1)


# --- leases and attempts ---

def test_expired_lease_returns_to_pending_and_is_claimable_again(ptype):
    t = make_task(ptype)
    task_claim(scraper="espn_scraper", lease_minutes=30, worker="a", now=T0)
    # Not yet expired at the very end of the lease.
    assert tasks_expire_leases(T0 + dt.timedelta(minutes=30)) == 0
    assert task_claim(scraper="espn_scraper", worker="b", now=T0 + dt.timedelta(minutes=30)) is None
    got = task_claim(scraper="espn_scraper", worker="b", now=T0 + dt.timedelta(minutes=31))
    assert got.pk == t.pk and got.claimed_by == "b" and got.attempts == 2
    assert got.last_error == LEASE_EXPIRED


def test_expired_lease_after_max_attempts_fails_the_task(ptype):
    t = make_task(ptype, max_attempts=2)
    now = T0
    for _ in range(2):
        assert task_claim(scraper="espn_scraper", lease_minutes=1, now=now).pk == t.pk
        now += dt.timedelta(minutes=2)
    assert tasks_expire_leases(now) == 1
    t.refresh_from_db()
    assert t.status == TaskStatus.FAILED and t.last_error == LEASE_EXPIRED and t.attempts == 2
    assert t.finished_at == now
    assert task_claim(scraper="espn_scraper", now=now) is None


def test_fail_retries_until_max_attempts_then_fails(ptype):
    t = make_task(ptype, max_attempts=3)
    for attempt in (1, 2):
        task_claim(scraper="espn_scraper", now=T0)
        after = task_fail(t.pk, error=f"boom {attempt}", now=T0)
        assert (after.status, after.attempts, after.last_error) == (TaskStatus.PENDING, attempt, f"boom {attempt}")
        assert after.claimed_by == "" and after.lease_expires_at is None
    task_claim(scraper="espn_scraper", now=T0)
    after = task_fail(t.pk, error="boom 3", now=T0)
    assert (after.status, after.attempts, after.finished_at) == (TaskStatus.FAILED, 3, T0)


def test_complete_marks_done(ptype):
    t = make_task(ptype)
    task_claim(scraper="espn_scraper", worker="w", now=T0)
    done = task_complete(str(t.pk), now=T0 + dt.timedelta(minutes=3))
    assert done.status == TaskStatus.DONE and done.finished_at == T0 + dt.timedelta(minutes=3)
    assert done.lease_expires_at is None


@pytest.mark.parametrize("status", [TaskStatus.PENDING, TaskStatus.DONE, TaskStatus.FAILED])
def test_complete_and_fail_refuse_unclaimed_tasks(ptype, status):
    t = make_task(ptype, status=status)
    with pytest.raises(TaskStateError, match=f"is {status}, not claimed"):
        task_complete(t.pk)
    with pytest.raises(TaskStateError):
        task_fail(t.pk, error="x")
    t.refresh_from_db()
    assert t.status == status and t.last_error == ""


def test_complete_refuses_other_worker(ptype):
    t = make_task(ptype)
    task_claim(scraper="espn_scraper", worker="a", now=T0)
    with pytest.raises(TaskStateError, match="claimed by 'a'"):
        task_complete(t.pk, worker="b")
    assert Task.objects.get().status == TaskStatus.CLAIMED


def test_unknown_and_malformed_ids(db):
    with pytest.raises(TaskNotFound, match="no such task"):
        task_complete("6f1c1f7e-8a5b-4c6e-9a51-8d9b1b0e0f00")
    with pytest.raises(TaskNotFound, match="not a valid task id"):
        task_fail("nope", error="x")


def test_fail_needs_error_text(ptype):
    t = make_task(ptype)
    task_claim(scraper="espn_scraper", now=T0)
    with pytest.raises(ValueError, match="error text"):
        task_fail(t.pk, error="  ")
    assert Task.objects.get().status == TaskStatus.CLAIMED


# --- operator actions ---

def test_requeue_and_mark_failed(ptype):
    failed = make_task(ptype, status=TaskStatus.FAILED, attempts=3, last_error="boom")
    pending = make_task(ptype)
    assert tasks_requeue(Task.objects.all()) == 1
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.last_error) == (TaskStatus.PENDING, 0, "boom")
    assert tasks_mark_failed([pending], by="alice") == 1
    pending.refresh_from_db()
    assert pending.status == TaskStatus.FAILED and pending.last_error == "marked failed by alice"


def test_gaps_ignore_only_open_and_finishes_emptied_tasks(ptype):
    t = make_task(ptype)
    g_open = make_gap(ptype, task=t)
    g_res = make_gap(ptype, status=GapStatus.RESOLVED)
    kept = make_task(ptype)
    make_gap(ptype, task=kept)
    ignored_of_kept = make_gap(ptype, task=kept)
    assert gaps_ignore([g_open, g_res, ignored_of_kept]) == 2
    g_open.refresh_from_db(); g_res.refresh_from_db(); t.refresh_from_db(); kept.refresh_from_db()
    assert (g_open.status, g_open.task_id) == (GapStatus.IGNORED, None)
    assert g_res.status == GapStatus.RESOLVED
    assert t.status == TaskStatus.DONE  # nothing left to fetch: leaves the queue
    assert kept.status == TaskStatus.PENDING  # still has an open partition


def test_gaps_requeue_groups_into_new_tasks_and_never_double_queues(ptype):
    ReconciliationSettings.objects.update_or_create(pk=1, defaults={"max_items_per_task": 2})
    done = make_task(ptype, status=TaskStatus.DONE)
    open_task = make_task(ptype)
    d = [make_gap(ptype, f"40100000{i}", task=done, game_date=dt.date(2024, 11, i + 1)) for i in range(3)]
    covered = make_gap(ptype, "402000000", task=open_task)
    ignored = make_gap(ptype, "403000000", status=GapStatus.IGNORED, priority="LOW")
    resolved = make_gap(ptype, "404000000", status=GapStatus.RESOLVED, task=done)
    created = gaps_requeue(Gap.objects.all(), now=T0)
    # 3 MEDIUM gaps → 2 tasks (cap 2); the reopened LOW gap → 1 task.
    assert len(created) == 3
    assert all(t.status == TaskStatus.PENDING and t.scraper == "espn_scraper" for t in created)
    for g in d:
        g.refresh_from_db()
    assert [g.task_id for g in d][:2] == [created[0].pk] * 2 and d[2].task_id == created[1].pk
    covered.refresh_from_db(); ignored.refresh_from_db(); resolved.refresh_from_db()
    assert covered.task_id == open_task.pk
    assert ignored.status == GapStatus.OPEN and ignored.task_id == created[2].pk
    assert created[2].priority == "LOW" and created[2].priority_rank == 3
    assert resolved.task_id == done.pk
    # Requeueing again queues nothing new: every gap is now in an open task.
    assert gaps_requeue(Gap.objects.all(), now=T0) == []


def test_max_attempts_default_comes_from_settings(settings):
    from reconciliation.services.task_queue import task_max_attempts_default

    settings.ADCE_TASK_MAX_ATTEMPTS = 5
    assert task_max_attempts_default() == 5
    settings.ADCE_TASK_MAX_ATTEMPTS = 0  # a task always gets at least one attempt
    assert task_max_attempts_default() == 1


def test_tasks_finish_resolved_finishes_open_tasks_without_an_open_gap(ptype):
    from reconciliation.services.task_queue import tasks_finish_resolved

    waiting, emptied, other, done = (make_task(ptype) for _ in range(4))
    make_gap(ptype, task=waiting)
    make_gap(ptype, task=emptied, status=GapStatus.RESOLVED)
    make_gap(ptype, task=other, status=GapStatus.IGNORED)
    Task.objects.filter(pk=done.pk).update(status=TaskStatus.DONE)
    assert tasks_finish_resolved([waiting.pk, emptied.pk, done.pk], now=T0) == [emptied.pk]  # only those asked
    assert Task.objects.get(pk=emptied.pk).finished_at == T0
    assert tasks_finish_resolved(now=T0) == [other.pk]  # every open task
    assert dict(Task.objects.values_list("pk", "status")) == {
        waiting.pk: "pending", emptied.pk: "done", other.pk: "done", done.pk: "done"}
