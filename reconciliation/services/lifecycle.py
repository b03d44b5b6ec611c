"""Apply a gap lifecycle plan (reconciliation.domain.lifecycle) to the database.

    plan = lifecycle_plan(report, specs_by_id, max_items=…, critical_days=…)   # reads, decides
    changes = lifecycle_apply(plan, run=run, now=now)                             # writes

Call both in one transaction (the reconcile does): the plan is made from what that transaction reads.
`lifecycle_changes(plan)` is what a dry run reports: the plan's counts, nothing written.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict

from django.db.models import Count, Min

from adce_site.iterables import chunks
from reconciliation.choices import OPEN_TASK_STATUSES, GapStatus, Priority, TaskStatus
from reconciliation.domain.analysis import AnalysisReport, TaskPlan
from reconciliation.domain.lifecycle import LifecyclePlan, LiveGap, OpenTask, plan
from reconciliation.models import DataType, Gap, ReconcileRun, Task
from reconciliation.services.task_queue import task_max_attempts_default, tasks_finish_resolved

_CHUNK = 500
_BATCH = 2000


def lifecycle_plan(report: AnalysisReport, specs_by_id: dict, *, max_items: int, critical_days: int) -> LifecyclePlan:
    scope = list(specs_by_id)
    return plan(report, _live_gaps(scope), _open_tasks(scope), specs_by_id, max_items=max_items,
                critical_days=critical_days)


def _live_gaps(scope: list[int]) -> dict[tuple[int, str], LiveGap]:
    qs = (Gap.objects.filter(status__in=(GapStatus.OPEN, GapStatus.IGNORED), data_type_id__in=scope)
          .values_list("data_type_id", "partition", "id", "status", "task_id", "task__status", "kind", "priority",
                       "season", "game_date", "object_key", "object_size", "object_last_modified", "shortfall"))
    return {(row[0], row[1]): LiveGap(*row[2:]) for row in qs.iterator(chunk_size=10_000)}


def _open_tasks(scope: list[int]) -> list[OpenTask]:
    others = {row["task_id"]: (row["n"], row["top"]) for row in
              Gap.objects.filter(status=GapStatus.OPEN, task__status__in=OPEN_TASK_STATUSES)
              .exclude(data_type_id__in=scope).values("task_id").annotate(n=Count("id"), top=Min("priority_rank"))
              .order_by()}
    return [OpenTask(pk, status, rank, *others.get(pk, (0, None))) for pk, status, rank in
            Task.objects.filter(status__in=OPEN_TASK_STATUSES).order_by("pk")
            .values_list("pk", "status", "priority_rank")]


def lifecycle_changes(plan: LifecyclePlan, *, created_ids=None, done=None, reranked=None) -> dict:
    """The run summary's account of a plan: planned counts, or (given) what applying it did."""
    ids = created_ids or [None] * len(plan.tasks_create)
    return {"opened": len(plan.to_open), "updated": len(plan.to_update), "resolved": len(plan.to_resolve),
            "ignored": plan.ignored, "tasks_created": [_plan_doc(p, tid) for p, tid in zip(plan.tasks_create, ids)],
            "tasks_done": len(plan.tasks_finish) if done is None else done,
            "tasks_reranked": len(plan.tasks_rerank) if reranked is None else reranked}


def _plan_doc(p: TaskPlan, task_id=None) -> dict:
    return {"id": task_id, "source": p.source, "data_type": p.data_type, "season": p.season,
            "priority": p.priority, "gap_type": p.gap_kind, "scraper": p.scraper, "partitions": p.missing_files,
            "estimated_time_minutes": p.minutes}


def lifecycle_apply(plan: LifecyclePlan, *, run: ReconcileRun, now: dt.datetime) -> dict:
    """Write the plan: update, resolve, finish and re-rank tasks, create tasks, open gaps (inserted last,
    with their task, so that each new row is written once). Every write re-checks the state it expects."""
    source_of = dict(DataType.objects.filter(pk__in=plan.scope).values_list("id", "source_id"))
    # Model instances are built one batch at a time (bulk_* would hold them all: ~1 KB per gap, issue 23)
    for batch in chunks(plan.to_update, _BATCH):
        Gap.objects.bulk_update([
            Gap(pk=gap_id, kind=f.kind, priority=f.priority, priority_rank=Priority(f.priority).rank, season=f.season,
                game_date=f.game_date, shortfall=f.shortfall, **_object_fields(f))
            for gap_id, f in batch
        ], ["kind", "priority", "priority_rank", "season", "game_date", "object_key", "object_size",
            "object_last_modified", "shortfall"], batch_size=500)
    for ids in chunks(plan.to_resolve, _CHUNK):
        Gap.objects.filter(pk__in=ids, status=GapStatus.OPEN).update(
            status=GapStatus.RESOLVED, resolved_at=now, resolved_by=run)
    Gap.objects.filter(status=GapStatus.OPEN, data_type_id__in=plan.scope).exclude(last_seen_at=now).update(
        last_seen_at=now)

    done = len(tasks_finish_resolved(plan.tasks_finish, now=now))
    reranked = _tasks_rerank(plan.tasks_rerank, now)
    created_ids, task_of = _tasks_create(run, plan, source_of, now)
    for batch in chunks(plan.to_open, _BATCH):
        Gap.objects.bulk_create([
            Gap(source_id=source_of[f.data_type_id], data_type_id=f.data_type_id, season=f.season,
                partition=f.partition, game_date=f.game_date, kind=f.kind, priority=f.priority,
                priority_rank=Priority(f.priority).rank, status=GapStatus.OPEN, first_seen_at=now, last_seen_at=now,
                opened_by=run, task_id=task_of.get((f.data_type_id, f.partition)), shortfall=f.shortfall,
                **_object_fields(f))
            for f in batch
        ])
    return lifecycle_changes(plan, created_ids=created_ids, done=done, reranked=reranked)


def _object_fields(f) -> dict:
    obj = f.object
    return {"object_key": obj.key if obj else "", "object_size": obj.size if obj else None,
            "object_last_modified": obj.last_modified if obj else None}


def _tasks_rerank(moves: list[tuple[object, str]], now: dt.datetime) -> int:
    by_priority = defaultdict(list)
    for task_id, priority in moves:
        by_priority[priority].append(task_id)
    changed = 0
    for priority, ids in by_priority.items():
        for chunk in chunks(ids, _CHUNK):
            changed += Task.objects.filter(pk__in=chunk, status=TaskStatus.PENDING).update(
                priority=priority, priority_rank=Priority(priority).rank, updated_at=now)
    return changed


def _tasks_create(run, plan: LifecyclePlan, source_of: dict, now) -> tuple[list[str], dict]:
    """The planned tasks, and their stored gaps pointed at them. Returns ([task id], {(data_type_id,
    partition) of a gap still to open: its task id})."""
    attempts = task_max_attempts_default()
    tasks = [Task(id=uuid.uuid4(), source_id=source_of[p.data_type_id], data_type_id=p.data_type_id, season=p.season,
                  priority=p.priority, priority_rank=Priority(p.priority).rank, gap_kind=p.gap_kind,
                  scraper=p.scraper, reason=p.reason, status=TaskStatus.PENDING, max_attempts=attempts,
                  created_at=now, reconcile_run=run)
             for p in plan.tasks_create]
    Task.objects.bulk_create(tasks, batch_size=_BATCH)
    task_of = {}
    for task, p in zip(tasks, plan.tasks_create):
        gap_ids = []
        for g in p.gaps:
            k = (g.data_type_id, g.partition)
            if k in plan.stored_gap_ids:
                gap_ids.append(plan.stored_gap_ids[k])
            else:
                task_of[k] = task.pk
        for chunk in chunks(gap_ids, _CHUNK):
            Gap.objects.filter(pk__in=chunk).update(task=task)
    return [str(t.pk) for t in tasks], task_of
