"""Task queue services (SPEC §8): scrapers claim backfill tasks safely, finish or fail them.

Lifecycle: pending → claimed → done | failed. A claim takes a lease; a lease that runs out puts the
task back to pending (or fails it once its attempts are used up). Every claim counts one attempt.

Claiming (SQLite and PostgreSQL): pick the most urgent pending task, then flip it with a conditional
``UPDATE … WHERE id = … AND status = 'pending'``. Only the claimer whose UPDATE changed one row owns the
task; a claimer that lost the race picks again. On PostgreSQL the pick is ``SELECT … FOR UPDATE SKIP
LOCKED`` in the claim's transaction: concurrent claimers each lock a different row instead of all
racing for the top one (claim throughput halved under contention without it), and the conditional
UPDATE stays as the guard. SQLite serialises writers anyway and has no row locks.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from adce_site.iterables import chunks
from reconciliation.choices import OPEN_TASK_STATUSES, GapStatus, Priority, TaskStatus
from reconciliation.models import Gap, ReconciliationSettings, Task


class TaskError(ValueError):
    """A task operation that cannot be done (unknown id, wrong state). Message is one line."""


class TaskNotFound(TaskError):
    pass


class TaskStateError(TaskError):
    pass


LEASE_EXPIRED = "lease expired"
LEASE_MINUTES_MIN, LEASE_MINUTES_MAX = 1, 7 * 24 * 60  # one minute to one week
WORKER_MAX_LENGTH = Task._meta.get_field("claimed_by").max_length


def lease_minutes_problem(value) -> str | None:
    """Why `value` is not a lease length (a number of minutes within the bounds), or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return f"expected a number of minutes between {LEASE_MINUTES_MIN} and {LEASE_MINUTES_MAX}"
    if not LEASE_MINUTES_MIN <= value <= LEASE_MINUTES_MAX:
        return f"must be between {LEASE_MINUTES_MIN} and {LEASE_MINUTES_MAX} minutes, got {value:g}"
    return None


def worker_problem(worker) -> str | None:
    """Why `worker` cannot be recorded as claimed_by, or None."""
    if not isinstance(worker, str):
        return "expected a string"
    if len(worker) > WORKER_MAX_LENGTH:
        return f"at most {WORKER_MAX_LENGTH} characters, got {len(worker)}"
    return None


def task_max_attempts_default() -> int:
    """What a newly created task gets as `max_attempts` (settings.ADCE_TASK_MAX_ATTEMPTS)."""
    return max(1, int(getattr(settings, "ADCE_TASK_MAX_ATTEMPTS", 3)))


def _parse_id(task_id) -> uuid.UUID:
    if isinstance(task_id, uuid.UUID):
        return task_id
    try:
        return uuid.UUID(str(task_id).strip())
    except (TypeError, ValueError):
        raise TaskNotFound(f"task {task_id!r}: not a valid task id (expected a UUID)") from None


def _get(task_id) -> Task:
    pk = _parse_id(task_id)
    try:
        return Task.objects.select_related("source", "data_type").get(pk=pk)
    except Task.DoesNotExist:
        raise TaskNotFound(f"task {pk}: no such task") from None


def tasks_expire_leases(now: dt.datetime | None = None) -> int:
    """Claimed tasks whose lease ran out go back to pending, or to failed when their attempts are
    used up; both get last_error "lease expired". Returns how many tasks were changed.

    Each UPDATE re-checks status and lease, so concurrent callers cannot double-apply it."""
    now = now or timezone.now()
    expired = Task.objects.filter(status=TaskStatus.CLAIMED, lease_expires_at__lt=now)
    failed = expired.filter(attempts__gte=F("max_attempts")).update(
        status=TaskStatus.FAILED, last_error=LEASE_EXPIRED, lease_expires_at=None,
        finished_at=now, updated_at=now,
    )
    back = expired.filter(attempts__lt=F("max_attempts")).update(
        status=TaskStatus.PENDING, last_error=LEASE_EXPIRED, claimed_by="", claimed_at=None,
        lease_expires_at=None, updated_at=now,
    )
    return failed + back


def _pick_candidate(scraper: str, *, skip_locked: bool = False):
    """The id of the most urgent pending task of a scraper (priority, then age), or None. With
    `skip_locked` (PostgreSQL, inside a transaction) the row is locked and rows other claimers hold
    are passed over."""
    pending = Task.objects.filter(scraper=scraper, status=TaskStatus.PENDING)
    if skip_locked:
        pending = pending.select_for_update(skip_locked=True)
    return pending.order_by("priority_rank", "created_at", "id").values_list("pk", flat=True).first()


def task_try_claim(pk, *, worker: str, now: dt.datetime, lease: dt.timedelta, **also) -> bool:
    """The §8 claim, for every claimer (the queue API and the dispatcher): a conditional UPDATE,
    True only for the one claimer that flipped pending → claimed. `also`: more fields written in
    the same UPDATE (the dispatcher writes the scraper's max_attempts)."""
    changed = Task.objects.filter(pk=pk, status=TaskStatus.PENDING).update(
        status=TaskStatus.CLAIMED, claimed_by=worker, claimed_at=now, lease_expires_at=now + lease,
        attempts=F("attempts") + 1, updated_at=now, **also,
    )
    return changed == 1


def task_claim(*, scraper: str, lease_minutes: float = 30, worker: str = "",
               now: dt.datetime | None = None) -> Task | None:
    """Claim the most urgent pending task of `scraper` for `lease_minutes`; None when there is none."""
    problem = lease_minutes_problem(lease_minutes)
    if problem:
        raise TaskError(f"lease_minutes: {problem}")
    problem = worker_problem(worker)
    if problem:
        raise TaskError(f"worker: {problem}")
    now = now or timezone.now()
    lease = dt.timedelta(minutes=lease_minutes)
    tasks_expire_leases(now)
    skip_locked = connection.vendor == "postgresql" and connection.features.has_select_for_update_skip_locked
    # Each lost race means another claimer took a task, so the pending set shrinks: this terminates.
    while True:
        with transaction.atomic():
            pk = _pick_candidate(scraper, skip_locked=skip_locked)
            if pk is None:
                return None
            claimed = task_try_claim(pk, worker=worker, now=now, lease=lease)
        if claimed:
            return _get(pk)


def task_complete(task_id, *, worker: str | None = None, now: dt.datetime | None = None) -> Task:
    """claimed → done. Refuses a task that is not claimed (or, given `worker`, claimed by another)."""
    now = now or timezone.now()
    task = _get(task_id)
    _require_claimed(task, worker)
    changed = _same_claim(task).update(
        status=TaskStatus.DONE, finished_at=now, lease_expires_at=None, updated_at=now,
    )
    if changed != 1:  # it changed state between our read and our write
        raise TaskStateError(f"task {task.pk}: is no longer claimed; not completed")
    task.refresh_from_db()
    return task


def task_fail(task_id, *, error: str, worker: str | None = None, now: dt.datetime | None = None) -> Task:
    """A claimed task failed: back to pending while attempts < max_attempts, else failed."""
    error = (error or "").strip()
    if not error:
        raise TaskError("an error text is required to fail a task")
    now = now or timezone.now()
    task = _get(task_id)
    _require_claimed(task, worker)
    claimed = _same_claim(task)
    if task.attempts < task.max_attempts:
        changed = claimed.update(status=TaskStatus.PENDING, last_error=error, claimed_by="", claimed_at=None,
                                 lease_expires_at=None, updated_at=now)
    else:
        changed = claimed.update(status=TaskStatus.FAILED, last_error=error, lease_expires_at=None,
                                 finished_at=now, updated_at=now)
    if changed != 1:
        raise TaskStateError(f"task {task.pk}: is no longer claimed; not failed")
    task.refresh_from_db()
    return task


def _same_claim(task: Task) -> QuerySet:
    """The task, only while it is still under the very claim we read (guards the write)."""
    return Task.objects.filter(pk=task.pk, status=TaskStatus.CLAIMED, claimed_by=task.claimed_by,
                               claimed_at=task.claimed_at)


def _require_claimed(task: Task, worker: str | None) -> None:
    if task.status != TaskStatus.CLAIMED:
        raise TaskStateError(f"task {task.pk}: is {task.status}, not claimed")
    if worker is not None and worker != task.claimed_by:
        raise TaskStateError(f"task {task.pk}: is claimed by {task.claimed_by!r}, not {worker!r}")


# --- operator actions (admin) -------------------------------------------------------------------


def tasks_requeue(tasks: QuerySet | Iterable[Task], *, now: dt.datetime | None = None) -> int:
    """Give claimed, done or failed tasks a fresh start: pending, attempts 0, lease released.
    The previous last_error is kept for the record. Pending tasks are left alone."""
    now = now or timezone.now()
    pks = [t.pk for t in tasks]
    return Task.objects.filter(pk__in=pks).exclude(status=TaskStatus.PENDING).update(
        status=TaskStatus.PENDING, attempts=0, claimed_by="", claimed_at=None, lease_expires_at=None,
        finished_at=None, updated_at=now,
    )


def tasks_mark_failed(tasks: QuerySet | Iterable[Task], *, by: str = "operator",
                      now: dt.datetime | None = None) -> int:
    """Stop open (pending or claimed) tasks for good."""
    now = now or timezone.now()
    pks = [t.pk for t in tasks]
    return Task.objects.filter(pk__in=pks, status__in=OPEN_TASK_STATUSES).update(
        status=TaskStatus.FAILED, last_error=f"marked failed by {by}", lease_expires_at=None,
        finished_at=now, updated_at=now,
    )


def gaps_ignore(gaps: QuerySet | Iterable[Gap]) -> int:
    """An operator accepts these open gaps: ignored (kept, no longer queued). They still count as
    gaps for completeness — the partition is still not there. An open task left with no open
    partition is done, like reconcile does (it leaves the queue file)."""
    pks = [g.pk for g in gaps]
    targets = Gap.objects.filter(pk__in=pks, status=GapStatus.OPEN)
    task_ids = set(targets.exclude(task=None).values_list("task_id", flat=True))
    with transaction.atomic():
        n = targets.update(status=GapStatus.IGNORED, task=None)
        tasks_finish_resolved(task_ids)
    return n


def tasks_finish_resolved(task_ids=None, *, now: dt.datetime | None = None) -> list:
    """Open (pending or claimed) tasks left without an open gap have nothing to do: done. Among
    `task_ids`, or every open task when None. Returns the ids of the tasks finished.

    The one place this rule lives: reconcile, the S3-event re-judge, an operator's ignore and a
    scraper's completion event all finish tasks through it."""
    now = now or timezone.now()
    with_open = Gap.objects.filter(status=GapStatus.OPEN, task__isnull=False).values("task_id")
    qs = Task.objects.filter(status__in=OPEN_TASK_STATUSES).exclude(pk__in=with_open)
    finished = []
    with transaction.atomic():
        for chosen in [qs] if task_ids is None else (qs.filter(pk__in=c) for c in chunks(list(task_ids), 500)):
            finished += chosen.select_for_update().values_list("pk", flat=True)  # PostgreSQL: locked until done
        for chunk in chunks(finished, 500):
            Task.objects.filter(pk__in=chunk).update(status=TaskStatus.DONE, finished_at=now, lease_expires_at=None,
                                                     updated_at=now)
    return finished


@transaction.atomic
def gaps_requeue(gaps: QuerySet | Iterable[Gap], *, reason: str = "requeued by an operator",
                 now: dt.datetime | None = None) -> list[Task]:
    """Queue these gaps again now, in new pending tasks.

    Ignored gaps are reopened; open gaps already in an open (pending/claimed) task stay there (never
    queued twice); open gaps of a done or failed task — or of none — are detached and grouped into new
    tasks per (source, data type, season, priority, kind), partition order, at most
    max_items_per_task each (§8). Resolved gaps are history and are skipped."""
    now = now or timezone.now()
    pks = [g.pk for g in gaps]
    Gap.objects.filter(pk__in=pks, status=GapStatus.IGNORED).update(status=GapStatus.OPEN, task=None)
    todo = list(
        Gap.objects.filter(pk__in=pks, status=GapStatus.OPEN)
        .exclude(task__status__in=OPEN_TASK_STATUSES)
        .select_related("source", "data_type")
        .order_by("source__name", "data_type__name", "season", "priority_rank", "kind", "game_date", "partition")
    )
    cap = max(1, ReconciliationSettings.load().max_items_per_task)
    groups: dict[tuple, list[Gap]] = {}
    for gap in todo:
        groups.setdefault((gap.data_type_id, gap.season, gap.priority, gap.kind), []).append(gap)
    created: list[Task] = []
    for (_, season, priority, kind), members in groups.items():
        first = members[0]
        for chunk in chunks(members, cap):
            task = Task.objects.create(
                source=first.source, data_type=first.data_type, season=season, priority=priority,
                priority_rank=Priority(priority).rank, gap_kind=kind, scraper=first.source.scraper,
                reason=f"{reason}: {len(chunk)} {kind} partition(s) of {first.data_type}",
                max_attempts=task_max_attempts_default(), created_at=now,
            )
            Gap.objects.filter(pk__in=[g.pk for g in chunk]).update(task=task)
            created.append(task)
    return created
