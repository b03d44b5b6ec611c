"""`reconcile`: HAVE vs SHOULD, the gap lifecycle and the task queue (SPEC §6–§8).

    reconcile_run(use_cache=False, dry_run=False, as_of=None, output=None) -> ReconcileRun

Steps (each timed in the run's summary): scan → load → analyze → persist → write.

* scan: a fresh complete scan of every active source (scanning.scan_run), unless `use_cache` and the
  inventory is fresh (see fresh_scans). A scan that fails fails the reconcile: no gap or task changes.
* load: data type specs, the catalog, and HAVE (load_have): per data type its present partitions as
  one aggregated text, and the newest object only of the partitions that could be empty or stale.
* analyze: analysis.analyze (pure).
* persist, in ONE transaction: open new gaps, update open ones (kind/priority move with as_of), resolve
  open gaps the analysis no longer reports, leave ignored gaps alone, mark open tasks whose gaps are
  all closed as done, re-rank pending tasks, and plan new tasks for open gaps no open task covers.
* write: the §8 queue file (queue_file.queue_document), atomically.

A dry run does all of it in memory: no ScanRun, no ReconcileRun, no gap, no task, no file.
Decisions are in docs/scan-and-reconcile.md.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from itertools import chain, repeat
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from adce_site.cli import no_progress
from adce_site.runguard import run_lock, run_unlock, runs_fail_stale, save_after_failure

from reconciliation.domain.analysis import AnalysisInput, AnalysisReport, GapFinding, analyze, plan_tasks
from reconciliation.domain.verdict import partition_verdict
from reconciliation.engine.have import have_from_rows, load_have
from reconciliation.choices import (OPEN_TASK_STATUSES, PRIORITY_RANK, GapKind, GapStatus, PatternLevel, Priority, RunStatus,
                      ScanMode, ScanStatus, TaskStatus)
from reconciliation.engine.inventory import objects_delete, objects_upsert  # noqa: F401  (re-exported for the S3-event loop)
from reconciliation.models import DataType, Gap, ReconcileRun, ReconciliationSettings, ScanRun, Source, StoredObject, Task
from reconciliation.storage import StorageError
from reconciliation.services.scan import paused_gc
from reconciliation.services.scan import ScanFailed, ScanInputError, ScanTotals, TargetStats, iter_rows, scan_plan, scan_run

UTC = dt.timezone.utc
_CHUNK = 500
_BATCH = 2000


class ReconcileInputError(ValueError):
    """Bad input found before anything was done (nothing to reconcile, bad output path, bad scan plan)."""


class ReconcileOutputError(Exception):
    """Gaps and tasks were committed, but the queue file could not be written. `run` is the run."""

    def __init__(self, message: str, run: ReconcileRun | None = None):
        super().__init__(message)
        self.run = run


class ReconcileFailed(Exception):
    """The reconcile could not complete (its scan failed); gaps and tasks are unchanged. `run` is the
    recorded failed ReconcileRun (None in a dry run)."""

    def __init__(self, message: str, run: ReconcileRun | None = None):
        super().__init__(message)
        self.run = run


# --------------------------------------------------------------------------------------------
# Scan cache


def cache_hours() -> float:
    value = getattr(settings, "ADCE_SCAN_CACHE_HOURS", None)
    if value is None:
        value = os.environ.get("ADCE_SCAN_CACHE_HOURS", "24")
    try:
        return float(value)
    except (TypeError, ValueError):
        return 24.0


def coverage_changed_at() -> dt.datetime | None:
    """When the coverage or a catalog last changed (the inventory's matches may be outdated since)."""
    stamps = [
        ReconciliationSettings.objects.filter(pk=1).values_list("imported_at", flat=True).first(),
        Source.objects.aggregate(m=Max("updated_at"))["m"],
    ]
    stamps = [s for s in stamps if s is not None]
    return max(stamps) if stamps else None


def fresh_scans(now: dt.datetime | None = None) -> list[ScanRun] | None:
    """Scans that make the inventory fresh, or None when it is not.

    Fresh: every active source is covered by a completed, non-sampled scan that finished within
    ADCE_SCAN_CACHE_HOURS (default 24) and after the last coverage/catalog change."""
    now = now or timezone.now()
    since = now - dt.timedelta(hours=cache_hours())
    changed = coverage_changed_at()
    if changed is not None and changed > since:
        since = changed
    needed = set(Source.objects.filter(active=True).values_list("name", flat=True))
    if not needed:
        return None
    used: list[ScanRun] = []
    # A scan of another copy (--location) inventories that copy; it does not stand for the source.
    qs = (ScanRun.objects.filter(status=ScanStatus.COMPLETED, finished_at__gt=since, location_override="")
          .exclude(mode=ScanMode.SAMPLE).order_by("-finished_at"))
    for run in qs.iterator():
        covered = needed & set(run.sources or [])
        if covered:
            used.append(run)
            needed -= covered
        if not needed:
            return used
    return None


# --------------------------------------------------------------------------------------------
# Load


def have_from_listing(plan, matcher, progress) -> tuple[dict, ScanTotals]:
    """HAVE straight from a listing, nothing written (dry run)."""
    totals = ScanTotals(targets=[TargetStats(t.location.uri) for t in plan.targets])
    rows = iter_rows(plan, matcher, scan_id=None, totals=totals, progress=progress)
    have = have_from_rows((r[6], r[7], r[1], r[2], r[3]) for r in rows if r[6] is not None)
    return have, totals


# --------------------------------------------------------------------------------------------
# The service


def reconcile_run(*, use_cache: bool = False, dry_run: bool = False, as_of: dt.date | None = None,
                  output: str | os.PathLike | None = None, trigger: str = "manual",
                  progress: Callable[[str], None] = no_progress) -> ReconcileRun:
    from reconciliation.domain.patterns import PartitionMatcher
    from reconciliation.services.specs import data_type_specs, reconciliation_settings

    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    now = timezone.now()
    as_of = as_of or now.astimezone(UTC).date()
    output_path = _check_output(output) if output else None

    specs = data_type_specs(active_only=True)
    if not specs:
        raise ReconcileInputError("nothing to reconcile: no active source with data types (run import_coverage)")
    specs_by_id = {s.id: s for s in specs}
    source_names = sorted({s.source for s in specs})
    conf = reconciliation_settings()

    # -- scan ------------------------------------------------------------------------------
    t0 = time.perf_counter()
    cached = fresh_scans(now) if use_cache else None
    run: ReconcileRun | None = None
    have = None
    scan_info: dict
    if cached:
        scan = cached[0]
        scan_info = {"id": scan.pk, "cached": True, "ids": [s.pk for s in cached], "mode": scan.mode,
                     "status": scan.status, "objects": scan.objects_seen, "unmatched": scan.unmatched_count}
        progress(f"reconcile: using the inventory of scan(s) {', '.join(str(s.pk) for s in cached)}\n")
    elif dry_run:
        try:
            plan = scan_plan()
        except ScanInputError as exc:
            raise ReconcileInputError(str(exc)) from None
        progress("reconcile: listing (dry run, nothing recorded)\n")
        try:
            with paused_gc():
                have, totals = have_from_listing(plan, PartitionMatcher.from_db(), progress)
        except StorageError as exc:
            raise ReconcileFailed(f"scan failed: {exc}") from None
        scan = None
        scan_info = {"id": None, "cached": False, "mode": plan.mode, "status": "not recorded (dry run)",
                     "objects": totals.total("objects"), "unmatched": totals.total("unmatched"),
                     "unmatched_examples": totals.unmatched_examples[:10]}
    else:
        try:
            scan_plan()  # validate before recording anything
        except ScanInputError as exc:
            raise ReconcileInputError(str(exc)) from None
        run = _run_create(trigger=trigger, as_of=as_of, started_at=now, output_path=str(output_path or ""))
        try:
            scan = scan_run(trigger=f"reconcile:{trigger}"[:40], progress=progress)
        except (ScanFailed, ScanInputError) as exc:
            run.scan = getattr(exc, "run", None)
            _run_fail(run, f"scan failed: {exc}", t_start)
            raise ReconcileFailed(run.error, run) from None
        except BaseException as exc:  # interrupted, a dead connection, a bug: never leave it "running"
            _run_fail(run, f"scan: {type(exc).__name__}: {exc}" if str(exc) else f"scan: {type(exc).__name__}", t_start)
            raise
        scan_info = {"id": scan.pk, "cached": False, "mode": scan.mode, "status": scan.status,
                     "objects": scan.objects_seen, "unmatched": scan.unmatched_count}
    timings["scan"] = time.perf_counter() - t0
    if run is None and not dry_run:
        run = _run_create(trigger=trigger, as_of=as_of, started_at=now, scan=scan, output_path=str(output_path or ""))

    try:
        with paused_gc():
            report, changes = _analyse_and_persist(
                run, scan, have, specs, specs_by_id, source_names, conf, as_of, now, dry_run, scan_info,
                timings, output_path, progress)
    except BaseException as exc:
        if run is not None and run.status == RunStatus.RUNNING:
            _run_fail(run, f"{type(exc).__name__}: {exc}", t_start)
        raise
    if run is not None:
        run_unlock("reconcile", run.pk)

    # -- write (after the commit: the file shows what the database now holds) -----------------
    t0 = time.perf_counter()
    if output_path and not dry_run:
        from reconciliation.services.queue_file import queue_file_write

        try:
            output_path.parent.mkdir(parents=True, exist_ok=True)
            queue_file_write(output_path, as_of)
        except OSError as exc:
            message = f"--output: cannot write {output_path}: {exc.strerror or exc}"
            ReconcileRun.objects.filter(pk=run.pk).update(error=message)
            raise ReconcileOutputError(message, run) from exc
    timings["write"] = time.perf_counter() - t0

    timings["total"] = time.perf_counter() - t_start
    if dry_run:
        run = ReconcileRun(status=RunStatus.COMPLETED, trigger=trigger, as_of=as_of, dry_run=True,
                           started_at=now, output_path=str(output_path or ""))
    run.summary = _summary(run, report, changes, scan_info, timings, as_of, dry_run, output_path)
    run.duration_ms = int(timings["total"] * 1000)
    if not dry_run:
        ReconcileRun.objects.filter(pk=run.pk).update(summary=run.summary, duration_ms=run.duration_ms)
    return run


STALE_ERROR = "interrupted: its process or database connection died before it finished"


def _run_create(**fields) -> ReconcileRun:
    """The running row, created together with its advisory lock (adce_site.runguard); runs left
    "running" by a process or connection that died are marked failed first."""
    runs_fail_stale(ReconcileRun.objects.all(), "reconcile", STALE_ERROR)
    with transaction.atomic():
        run = ReconcileRun.objects.create(status=RunStatus.RUNNING, **fields)
        run_lock("reconcile", run.pk)
    return run


def _run_fail(run: ReconcileRun, error: str, t_start: float) -> None:
    run.status = RunStatus.FAILED
    run.error = error
    run.finished_at = timezone.now()
    run.duration_ms = int((time.perf_counter() - t_start) * 1000)
    save_after_failure(run.save, f"reconcile run #{run.pk}")  # even when the connection itself died
    run_unlock("reconcile", run.pk)


def _analyse_and_persist(run, scan, have, specs, specs_by_id, source_names, conf, as_of, now, dry_run,
                         scan_info, timings, output_path, progress):
    from reconciliation.services.specs import catalog_specs

    # -- load --------------------------------------------------------------------------------
    t0 = time.perf_counter()
    catalog = catalog_specs(sources=source_names)
    if have is None:  # from the inventory table (else from a dry run's listing)
        have = load_have(specs, as_of)
    timings["load"] = time.perf_counter() - t0
    progress(f"reconcile: {len(have)} partitions present; analysing as of {as_of}\n")

    # -- analyze -----------------------------------------------------------------------------
    t0 = time.perf_counter()
    report = analyze(AnalysisInput(data_types=specs, catalog=catalog, have=have, as_of=as_of,
                                   critical_days=conf.critical_days))
    del have
    timings["analyze"] = time.perf_counter() - t0

    # -- persist: one transaction ------------------------------------------------------------
    t0 = time.perf_counter()
    if dry_run:
        changes = _plan_changes(report, specs_by_id, conf.max_items_per_task, conf.critical_days)
    else:
        run.scan = scan
        with transaction.atomic():
            changes = _persist(run, report, specs_by_id, conf.max_items_per_task, conf.critical_days, now)
            run.status = RunStatus.COMPLETED
            run.summary = _summary(run, report, changes, scan_info, timings, as_of, dry_run, output_path)
            run.finished_at = timezone.now()
            run.save()
    timings["persist"] = time.perf_counter() - t0
    return report, changes


def _check_output(output) -> Path:
    """Refuse, before any work, an --output the run could not write. Missing folders are fine: they
    are created when the file is written (never on a dry run); only a path that cannot become a
    folder (a file on the way) or an unwritable existing folder is refused."""
    path = Path(output)
    if path.is_dir():
        raise ReconcileInputError(f"--output: {path} is a folder")
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ReconcileInputError(f"--output: {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ReconcileInputError(f"--output: {path}: folder {existing} is not writable")
    return path


# --------------------------------------------------------------------------------------------
# Persist (the gap lifecycle and the task queue)


def _finding_fields(f: GapFinding) -> tuple:
    obj = f.object
    return (f.kind, f.priority, f.season, f.game_date,
            obj.key if obj else "", obj.size if obj else None, obj.last_modified if obj else None)


def _live_gaps(data_type_ids) -> dict[tuple[int, str], tuple]:
    """(data_type_id, partition) → (id, status, task_id, kind, priority, season, game_date,
    object_key, object_size, object_last_modified) of the open and ignored gaps in scope."""
    out = {}
    qs = (Gap.objects.filter(status__in=(GapStatus.OPEN, GapStatus.IGNORED), data_type_id__in=list(data_type_ids))
          .values_list("data_type_id", "partition", "id", "status", "task_id", "kind", "priority", "season",
                       "game_date", "object_key", "object_size", "object_last_modified"))
    for row in qs.iterator(chunk_size=10_000):
        out[(row[0], row[1])] = row[2:]
    return out


def _decide(report: AnalysisReport, live: dict) -> tuple[list, list, list, int]:
    """(to_open [finding], to_update [(gap_id, finding)], to_resolve [gap_id], ignored_found)."""
    to_open, to_update = [], []
    found = set()
    ignored = 0
    for f in report.gaps:
        k = (f.data_type_id, f.partition)
        found.add(k)
        cur = live.get(k)
        if cur is None:
            to_open.append(f)
        elif cur[1] == GapStatus.IGNORED:
            ignored += 1  # an operator's decision: never reopened, re-ranked or resolved here
        elif _finding_fields(f) != tuple(cur[3:]):
            to_update.append((cur[0], f))
    to_resolve = [v[0] for k, v in live.items() if v[1] == GapStatus.OPEN and k not in found]
    return to_open, to_update, to_resolve, ignored


def _chunks(items: list, size: int = _CHUNK):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _persist(run: ReconcileRun, report: AnalysisReport, specs_by_id: dict, max_items: int, critical_days: int,
             now: dt.datetime) -> dict:
    scope = list(specs_by_id)
    live = _live_gaps(scope)
    to_open, to_update, to_resolve, ignored = _decide(report, live)
    source_of = dict(DataType.objects.filter(pk__in=scope).values_list("id", "source_id"))

    # update (kind and priority move with as_of; the deciding object may have changed)
    updates = []
    for gap_id, f in to_update:
        g = Gap(pk=gap_id, kind=f.kind, priority=f.priority, priority_rank=PRIORITY_RANK[f.priority], season=f.season,
                game_date=f.game_date, object_key=f.object.key if f.object else "",
                object_size=f.object.size if f.object else None,
                object_last_modified=f.object.last_modified if f.object else None)
        updates.append(g)
    Gap.objects.bulk_update(updates, ["kind", "priority", "priority_rank", "season", "game_date", "object_key",
                                      "object_size", "object_last_modified"], batch_size=500)

    # resolve: the partition is present now (or no longer expected)
    for ids in _chunks(to_resolve):
        Gap.objects.filter(pk__in=ids, status=GapStatus.OPEN).update(
            status=GapStatus.RESOLVED, resolved_at=now, resolved_by=run)
    Gap.objects.filter(status=GapStatus.OPEN, data_type_id__in=scope).exclude(last_seen_at=now).update(last_seen_at=now)

    # tasks: open ones left without an open gap are done; pending ones take their gaps' top priority
    done = _tasks_finish_resolved(now)
    reranked = _tasks_rerank_pending(now)

    # new tasks for open gaps that no open task covers (never queued twice), stored ones and new ones
    created, task_of = _tasks_create(run, specs_by_id, max_items, critical_days, now, to_open)

    # open: inserted last, with their task, so that each new row is written once
    Gap.objects.bulk_create((
        Gap(source_id=source_of[f.data_type_id], data_type_id=f.data_type_id, season=f.season, partition=f.partition,
            game_date=f.game_date, kind=f.kind, priority=f.priority, priority_rank=PRIORITY_RANK[f.priority],
            status=GapStatus.OPEN, first_seen_at=now, last_seen_at=now,
            object_key=f.object.key if f.object else "", object_size=f.object.size if f.object else None,
            object_last_modified=f.object.last_modified if f.object else None, opened_by=run,
            task_id=task_of.get((f.data_type_id, f.partition)))
        for f in to_open
    ), batch_size=_BATCH)
    return {"opened": len(to_open), "updated": len(to_update), "resolved": len(to_resolve), "ignored": ignored,
            "tasks_created": [_plan_doc(p, tid) for p, tid in created], "tasks_done": done, "tasks_reranked": reranked}


def _tasks_finish_resolved(now) -> int:
    with_open = Gap.objects.filter(status=GapStatus.OPEN, task__isnull=False).values("task_id")
    return Task.objects.filter(status__in=OPEN_TASK_STATUSES).exclude(pk__in=with_open).update(
        status=TaskStatus.DONE, finished_at=now, lease_expires_at=None, updated_at=now)


def _tasks_rerank_pending(now) -> int:
    changed = 0
    tops = (Gap.objects.filter(status=GapStatus.OPEN, task__status=TaskStatus.PENDING)
            .values("task_id").annotate(top=Min("priority_rank")).order_by())
    current = dict(Task.objects.filter(status=TaskStatus.PENDING).values_list("pk", "priority_rank"))
    by_rank = defaultdict(list)
    for row in tops:
        if current.get(row["task_id"]) != row["top"]:
            by_rank[row["top"]].append(row["task_id"])
    names = {v: k for k, v in PRIORITY_RANK.items()}
    for rank, ids in by_rank.items():
        for chunk in _chunks(ids):
            changed += Task.objects.filter(pk__in=chunk, status=TaskStatus.PENDING).update(
                priority=names[rank], priority_rank=rank, updated_at=now)
    return changed


def _uncovered_findings(specs_by_id: dict) -> tuple[list[GapFinding], dict]:
    """Open gaps in scope that no open task covers, as GapFindings (+ their gap ids). Gaps of a task
    failed for good wait for an operator's requeue (SPEC §13): never queued again here."""
    rows = (Gap.objects.filter(status=GapStatus.OPEN, data_type_id__in=list(specs_by_id))
            .exclude(task__status__in=(*OPEN_TASK_STATUSES, TaskStatus.FAILED))
            .values_list("id", "data_type_id", "season", "partition", "game_date", "kind", "priority"))
    findings, ids = [], {}
    for gap_id, dt_id, season, partition, game_date, kind, priority in rows.iterator(chunk_size=10_000):
        spec = specs_by_id[dt_id]
        findings.append(GapFinding(dt_id, spec.source, spec.name, season, partition, game_date, kind, priority, None))
        ids[(dt_id, partition)] = gap_id
    return findings, ids


def _tasks_create(run, specs_by_id, max_items, critical_days, now, new_findings: list[GapFinding]) -> tuple[list, dict]:
    """Tasks for the stored open gaps no open task covers and for `new_findings` (not stored yet).
    Returns ([(plan, task id)], {(data_type_id, partition) of a new finding: its task id})."""
    from reconciliation.services.task_queue import task_max_attempts_default

    findings, ids = _uncovered_findings(specs_by_id)
    findings += new_findings
    if not findings:
        return [], {}
    plans = plan_tasks(findings, specs_by_id, max(1, max_items), critical_days=critical_days)
    source_of = dict(DataType.objects.filter(pk__in=list(specs_by_id)).values_list("id", "source_id"))
    attempts = task_max_attempts_default()
    tasks = []
    for p in plans:
        tasks.append(Task(
            id=uuid.uuid4(), source_id=source_of[p.data_type_id], data_type_id=p.data_type_id, season=p.season,
            priority=p.priority, priority_rank=PRIORITY_RANK[p.priority], gap_kind=p.gap_kind, scraper=p.scraper,
            reason=p.reason, status=TaskStatus.PENDING, max_attempts=attempts, created_at=now, reconcile_run=run,
        ))
    Task.objects.bulk_create(tasks, batch_size=_BATCH)
    task_of = {}
    for task, p in zip(tasks, plans):
        gap_ids = []
        for g in p.gaps:
            k = (g.data_type_id, g.partition)
            if k in ids:
                gap_ids.append(ids[k])
            else:
                task_of[k] = task.pk
        for chunk in _chunks(gap_ids):
            Gap.objects.filter(pk__in=chunk).update(task=task)
    return [(p, str(t.pk)) for t, p in zip(tasks, plans)], task_of


def _plan_doc(p, task_id=None) -> dict:
    return {"id": task_id, "source": p.source, "data_type": p.data_type, "season": p.season,
            "priority": p.priority, "gap_type": p.gap_kind, "scraper": p.scraper, "partitions": len(p.gaps),
            "estimated_time_minutes": p.minutes}


def _plan_changes(report: AnalysisReport, specs_by_id: dict, max_items: int, critical_days: int) -> dict:
    """What _persist would do, computed without writing anything (dry run)."""
    live = _live_gaps(specs_by_id)
    to_open, to_update, to_resolve, ignored = _decide(report, live)
    resolving = set(to_resolve)
    # open tasks that would have no open gap left
    open_gaps_per_task: Counter = Counter()
    resolved_per_task: Counter = Counter()
    open_task_ids = set(Task.objects.filter(status__in=OPEN_TASK_STATUSES).values_list("pk", flat=True))
    covered: set = set()
    for (dt_id, partition), v in live.items():
        gap_id, status, task_id = v[0], v[1], v[2]
        if status != GapStatus.OPEN or task_id not in open_task_ids:
            continue
        open_gaps_per_task[task_id] += 1
        if gap_id in resolving:
            resolved_per_task[task_id] += 1
        else:
            covered.add((dt_id, partition))
    done = sum(1 for t in open_task_ids if open_gaps_per_task[t] == resolved_per_task[t])
    updated = {gap_id: f for gap_id, f in to_update}
    failed_tasks = set(Task.objects.filter(status=TaskStatus.FAILED).values_list("pk", flat=True))
    pending: list[GapFinding] = list(to_open)
    for (dt_id, partition), v in live.items():
        if v[1] != GapStatus.OPEN or v[0] in resolving or (dt_id, partition) in covered or v[2] in failed_tasks:
            continue
        f = updated.get(v[0])
        if f is None:
            spec = specs_by_id[dt_id]
            f = GapFinding(dt_id, spec.source, spec.name, v[5], partition, v[6], v[3], v[4], None)
        pending.append(f)
    plans = plan_tasks(pending, specs_by_id, max(1, max_items), critical_days=critical_days) if pending else []
    return {"opened": len(to_open), "updated": len(to_update), "resolved": len(to_resolve), "ignored": ignored,
            "tasks_created": [_plan_doc(p) for p in plans], "tasks_done": done, "tasks_reranked": None}


# --------------------------------------------------------------------------------------------
# Summary (--json and ReconcileRun.summary)


def _summary(run, report: AnalysisReport, changes: dict, scan_info: dict, timings: dict, as_of, dry_run, output_path):
    by_priority = {p.lower(): 0 for p in Priority.values}
    by_kind = {k: 0 for k in GapKind.values}
    for f in report.gaps:
        by_priority[f.priority.lower()] += 1
        by_kind[f.kind] += 1
    created = changes["tasks_created"]
    return {
        "run": run.pk if run is not None else None,
        "dry_run": dry_run,
        "as_of": as_of.isoformat(),
        "scan": scan_info,
        "gaps": {
            "total": len(report.gaps),
            "by_priority": by_priority,
            "by_kind": by_kind,
            "opened": changes["opened"],
            "updated": changes["updated"],
            "resolved": changes["resolved"],
            "ignored": changes["ignored"],
        },
        "tasks": {
            "created": len(created),
            "done": changes["tasks_done"],
            "reranked": changes["tasks_reranked"],
            "created_tasks": created[:200],
        },
        "completeness": [
            {"source": c.source, "data_type": c.data_type, "season": c.season, "expected": c.expected,
             "present": c.present, "completeness": round(c.completeness, 6)}
            for c in report.completeness
        ],
        "output": {"path": str(output_path), "written": not dry_run} if output_path else None,
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }


# --------------------------------------------------------------------------------------------
# The S3-event closed loop


def gaps_rejudge(data_type_partitions: Iterable[tuple[int, str]], *, as_of: dt.date | None = None,
                 now: dt.datetime | None = None) -> int:
    """Re-judge single partitions after objects_upsert (an S3 upload): resolve their open gaps when the
    newest object now satisfies the data type (present, not empty, not stale) and finish tasks left
    with no open gap. Opens nothing: new gaps need the catalog and a complete scan (reconcile).
    Returns the number of gaps resolved."""
    now = now or timezone.now()
    as_of = as_of or now.astimezone(UTC).date()
    pairs = {(int(d), str(p)) for d, p in data_type_partitions if d is not None}
    if not pairs:
        return 0
    types = {t.pk: t for t in DataType.objects.filter(pk__in={d for d, _ in pairs})}
    resolved = 0
    with transaction.atomic():
        for dt_id, partition in sorted(pairs):
            spec = types.get(dt_id)
            gap = Gap.objects.filter(data_type_id=dt_id, partition=partition, status=GapStatus.OPEN).first()
            if spec is None or gap is None:
                continue
            rows = StoredObject.objects.filter(data_type_id=dt_id, partition=partition).values_list(
                "data_type_id", "partition", "key", "size", "last_modified")
            newest = have_from_rows(rows).get((dt_id, partition))
            if partition_verdict(spec, partition, newest, as_of) is not None:
                continue
            resolved += Gap.objects.filter(pk=gap.pk, status=GapStatus.OPEN).update(
                status=GapStatus.RESOLVED, resolved_at=now)
        if resolved:
            _tasks_finish_resolved(now)
    return resolved
