"""The gap lifecycle as a plan (SPEC §6–§8): what a reconcile changes, decided without the database.

    plan(report, live_gaps, open_tasks, specs_by_id, max_items=…, critical_days=…) -> LifecyclePlan

A dry run is the plan; a real run applies it (reconciliation.services.lifecycle.lifecycle_apply) in
one transaction, right after reading its inputs there. The rules:

* a finding without a live gap opens one; one with an open gap updates it when its kind, priority,
  season, day or deciding object moved; an ignored gap is an operator's decision: never reopened,
  re-ranked or resolved here;
* an open gap in scope the analysis no longer reports is resolved;
* an open task left without an open gap (in scope or not) is done;
* a pending task takes its open gaps' top priority;
* the open gaps no open task covers (not pending, not claimed, and not of a task failed for good,
  which waits for an operator's requeue: SPEC §13) and the new ones go into new tasks (plan_tasks).
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from reconciliation.choices import GapStatus, Priority, TaskStatus
from reconciliation.domain.analysis import AnalysisReport, DataTypeSpec, GapFinding, TaskPlan, plan_tasks

_NAME_OF_RANK = {p.rank: p.value for p in Priority}


class LiveGap(NamedTuple):
    """An open or ignored gap as stored, with the status of its task (None: no task)."""

    id: int
    status: str
    task_id: object
    task_status: str | None
    kind: str
    priority: str
    season: str | None
    game_date: dt.date | None
    object_key: str
    object_size: int | None
    object_last_modified: dt.datetime | None
    shortfall: int | None = None  # a short gap (§10)

    @property
    def judged(self) -> tuple:
        return (self.kind, self.priority, self.season, self.game_date, self.object_key, self.object_size,
                self.object_last_modified, self.shortfall)


class OpenTask(NamedTuple):
    """A pending or claimed task, with its open gaps outside the reconcile's scope (count, top rank)."""

    id: object
    status: str
    priority_rank: int
    other_open_gaps: int = 0
    other_top_rank: int | None = None


@dataclass(slots=True)
class LifecyclePlan:
    scope: tuple[int, ...]                         # the data types judged
    to_open: list[GapFinding] = field(default_factory=list)
    to_update: list[tuple[int, GapFinding]] = field(default_factory=list)   # (gap id, finding)
    to_resolve: list[int] = field(default_factory=list)                     # gap ids
    ignored: int = 0                               # findings of ignored gaps, left alone
    tasks_finish: list = field(default_factory=list)                        # task ids
    tasks_rerank: list[tuple[object, str]] = field(default_factory=list)    # (task id, priority)
    tasks_create: list[TaskPlan] = field(default_factory=list)
    # the stored gaps the new tasks take, (data_type_id, partition) → gap id (the others are to_open)
    stored_gap_ids: dict[tuple[int, str], int] = field(default_factory=dict)


def _judged(f: GapFinding) -> tuple:
    obj = f.object
    return (f.kind, f.priority, f.season, f.game_date,
            obj.key if obj else "", obj.size if obj else None, obj.last_modified if obj else None, f.shortfall)


def plan(report: AnalysisReport, live_gaps: Mapping[tuple[int, str], LiveGap], open_tasks: list[OpenTask],
         specs_by_id: Mapping[int, DataTypeSpec], *, max_items: int, critical_days: int) -> LifecyclePlan:
    """`live_gaps`: the open and ignored gaps of the data types in `specs_by_id`, by (data type id,
    partition); `open_tasks`: every pending or claimed task."""
    out = LifecyclePlan(scope=tuple(specs_by_id))
    found = set()
    for f in report.gaps:
        k = (f.data_type_id, f.partition)
        found.add(k)
        cur = live_gaps.get(k)
        if cur is None:
            out.to_open.append(f)
        elif cur.status == GapStatus.IGNORED:
            out.ignored += 1
        elif _judged(f) != cur.judged:
            out.to_update.append((cur.id, f))
    out.to_resolve = [g.id for k, g in live_gaps.items() if g.status == GapStatus.OPEN and k not in found]
    resolving, updated = set(out.to_resolve), dict(out.to_update)

    # open gaps left after the plan: their tasks' ranks, and the ones no open task covers
    ranks = defaultdict(list)
    uncovered: list[GapFinding] = list(out.to_open)
    for (dt_id, partition), g in live_gaps.items():
        if g.status != GapStatus.OPEN or g.id in resolving:
            continue
        f = updated.get(g.id)
        if g.task_id is not None:
            ranks[g.task_id].append(Priority(f.priority if f else g.priority).rank)
        if g.task_status in (TaskStatus.PENDING, TaskStatus.CLAIMED, TaskStatus.FAILED):
            continue
        if f is None:
            spec = specs_by_id[dt_id]
            f = GapFinding(dt_id, spec.source, spec.name, g.season, partition, g.game_date, g.kind, g.priority, None,
                           g.shortfall)
        uncovered.append(f)
        out.stored_gap_ids[(dt_id, partition)] = g.id

    for t in open_tasks:
        left = ranks.get(t.id, []) + ([t.other_top_rank] if t.other_open_gaps else [])
        if not left:
            out.tasks_finish.append(t.id)
        elif t.status == TaskStatus.PENDING and min(left) != t.priority_rank:
            out.tasks_rerank.append((t.id, _NAME_OF_RANK[min(left)]))
    if uncovered:
        out.tasks_create = plan_tasks(uncovered, specs_by_id, max(1, max_items), critical_days=critical_days)
    return out
