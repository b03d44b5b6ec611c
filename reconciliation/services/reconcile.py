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
from adce_site.iterables import chunks
from adce_site.runs import run_record

from reconciliation.domain.analysis import (PRESENT, AnalysisInput, AnalysisReport, DataTypeSpec, GapFinding, ObjectSummary, analyze,
                       plan_tasks, stale_cutoff)
from adce_site.choices import RunStatus
from reconciliation.choices import OPEN_TASK_STATUSES, GapKind, GapStatus, PatternLevel, Priority, ScanMode, TaskStatus
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
    qs = (ScanRun.objects.filter(status=RunStatus.COMPLETED, finished_at__gt=since, location_override="")
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


def _newer(lm, size, key, cur: ObjectSummary) -> bool:
    """analysis.pick_newest, on raw values: latest LastModified, then larger, then smaller key."""
    if lm != cur.last_modified:
        return lm > cur.last_modified
    if size != cur.size:
        return size > cur.size
    return key < cur.key


def _summary_setters():
    """ObjectSummary's slot descriptors: setting the fields directly skips the frozen dataclass'
    __init__ (a third of HAVE's load time for a million objects). None when it has no slots."""
    try:
        return ObjectSummary.key.__set__, ObjectSummary.size.__set__, ObjectSummary.last_modified.__set__
    except AttributeError:
        return None


def have_from_rows(rows: Iterable[tuple], have: dict | None = None, *, parse=None) -> dict:
    """(data_type_id, partition, key, size, last_modified) rows → HAVE, the newest object per partition.
    `parse` turns a raw last_modified (SQLite text) into an aware datetime."""
    have = {} if have is None else have
    get = have.get
    setters = _summary_setters()
    if setters is None:
        for dt_id, part, key, size, lm in rows:
            if parse is not None:
                lm = parse(lm)
            cur = get((dt_id, part))
            if cur is None or _newer(lm, size, key, cur):
                have[(dt_id, part)] = ObjectSummary(key, size, lm)
        return have
    set_key, set_size, set_lm = setters
    new, cls = object.__new__, ObjectSummary
    if parse is None:
        parse = _identity
    for dt_id, part, key, size, lm in rows:
        lm = parse(lm)
        k = (dt_id, part)
        cur = get(k)
        if cur is None or _newer(lm, size, key, cur):
            obj = new(cls)
            set_key(obj, key)
            set_size(obj, size)
            set_lm(obj, lm)
            have[k] = obj
    return have


def _identity(value):
    return value


def load_have(specs: Iterable[DataTypeSpec], as_of: dt.date) -> dict:
    """HAVE from the inventory table for analysis.analyze as of `as_of`: (data type id, partition) →
    the newest object (ObjectSummary, with its key) when it could be empty or stale, else PRESENT.

    Most partitions are healthy and only their presence matters. So per data type one aggregate query
    returns its present partitions as one text (split in C instead of a row tuple per object) and the
    partitions holding a *suspect* object: smaller than min_size_bytes or, for season-level types,
    modified before the stale cutoff. Only those partitions' rows are read in full, and their newest
    object picked as pick_newest does. A partition without a suspect object cannot be empty or stale,
    whichever object is the newest; one with a suspect object is judged on its newest object (an empty
    older copy under a good newest one is fine; an empty newest one is a gap even with a large older one).

    Only rows under their source's *current* location count: rows left from an old location (the
    coverage moved) or from a `scan --location` of another copy never make a partition present.
    All queries read one snapshot of the inventory (see _snapshot)."""
    from reconciliation.storage import parse_location

    present_keys, newest = [], {}
    specs = list(specs)
    locations = dict(DataType.objects.filter(pk__in=[s.id for s in specs]).values_list("id", "source__location"))
    sqlite = connection.vendor == "sqlite"
    agg = "group_concat({}, %s)" if sqlite else "string_agg({}, %s)"
    here = 'o."store" = %s AND ' + ('substr(o."key", 1, length(%s)) = %s' if sqlite else 'starts_with(o."key", %s)')
    suspect = '(o."size" < %s OR o."last_modified" < %s)'
    # The location test sits inside the aggregates, not in WHERE: the planner (often without statistics
    # right after a bulk scan) would otherwise AND the data-type index with the whole (store, key) one.
    table = StoredObject._meta.db_table
    # '/' joins partitions safely when they hold none ({game_id} is one path segment, the others are
    # dates, seasons or ""). Partitions with dimension values (§10) hold '/': they are joined with a
    # control character, and the pieces counted against the rows, so that a key holding that character
    # too falls back to reading the partitions one row each (_partitions_of).
    present_agg = agg.format(f'CASE WHEN {here} THEN o."partition" END')
    suspect_agg = agg.format(f'CASE WHEN {here} AND {suspect} THEN o."partition" END')
    plain = f'SELECT {present_agg}, {suspect_agg}, -1, -1 FROM {table} o WHERE o."data_type_id" = %s'
    counted = (f'SELECT {present_agg}, {suspect_agg}, count(CASE WHEN {here} THEN 1 END), '
               f'count(CASE WHEN {here} AND {suspect} THEN 1 END) FROM {table} o WHERE o."data_type_id" = %s')
    with _snapshot(), connection.cursor() as cur:
        for spec in specs:
            try:
                loc = parse_location(locations[spec.id])
            except (KeyError, ValueError):
                continue
            where = [loc.store, loc.prefix, loc.prefix] if sqlite else [loc.store, loc.prefix]
            cutoff = stale_cutoff(as_of, spec.freshness_days) if spec.level == PatternLevel.SEASON else None
            lm = connection.ops.adapt_datetimefield_value(cutoff)
            if spec.dimensions:
                sep = _SEPARATOR
                cur.execute(counted, [*where, sep, *where, spec.min_size_bytes, lm, sep, *where, *where,
                                      spec.min_size_bytes, lm, spec.id])
            else:
                sep = "/"
                cur.execute(plain, [*where, sep, *where, spec.min_size_bytes, lm, sep, spec.id])
            present, suspects, n_present, n_suspect = cur.fetchone()
            present = present.split(sep) if present is not None else []  # None: no object at all
            suspects = suspects.split(sep) if suspects is not None else []
            if n_present >= 0 and (len(present) != n_present or len(suspects) != n_suspect):
                present, suspects = _partitions_of(spec, loc, cutoff)  # a partition holds the separator
            present_keys.append(zip(repeat(spec.id), present))
            if suspects:
                newest.update(_newest_of(spec.id, sorted(set(suspects)), loc))
    have = dict.fromkeys(chain.from_iterable(present_keys), PRESENT)  # one C-level build of ~1M keys
    have.update(newest)
    return have


_SEPARATOR = "\x1e"  # ASCII record separator: joins partitions that may hold '/'


def _partitions_of(spec: DataTypeSpec, loc, cutoff) -> tuple[list[str], list[str]]:
    """(present partitions, partitions holding a suspect object) of a data type, one row each (rare)."""
    present, suspects = [], []
    rows = (StoredObject.objects.filter(data_type_id=spec.id, store=loc.store, key__startswith=loc.prefix)
            .values_list("partition", "size", "last_modified"))
    for partition, size, modified in rows.iterator(chunk_size=10_000):
        present.append(partition)
        if size < spec.min_size_bytes or (cutoff is not None and modified < cutoff):
            suspects.append(partition)
    return present, suspects


def _newest_of(dt_id: int, partitions: list[str], loc) -> dict:
    """The newest object (with its key) of each of these partitions, among rows under `loc`."""
    newest: dict = {}
    # Chunks of 100: without statistics (right after a bulk scan) PostgreSQL estimates a longer IN list
    # to match more rows than the whole data type and scans all of it instead of the index.
    for chunk in chunks(partitions, 100):
        rows = (StoredObject.objects.filter(data_type_id=dt_id, partition__in=chunk)
                .values_list("partition", "store", "key", "size", "last_modified"))
        have_from_rows(((dt_id, part, key, size, lm) for part, store, key, size, lm in rows
                        if store == loc.store and key.startswith(loc.prefix)), newest)
    return newest


@contextlib.contextmanager
def _snapshot():
    """Several reads that see one state of the inventory, even while a scan commits: a transaction,
    REPEATABLE READ on PostgreSQL (SQLite's read transaction is a snapshot already). Inside a caller's
    transaction its isolation applies."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


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
    from reconciliation.services.specs import data_type_specs, partition_matcher, reconciliation_settings

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
    fields = {"trigger": trigger, "as_of": as_of, "started_at": now, "output_path": str(output_path or "")}
    with contextlib.ExitStack() as recording:  # the run's row, from its creation to its commit (adce_site.runs)
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
                    have, totals = have_from_listing(plan, partition_matcher(), progress)
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
            run = recording.enter_context(run_record(ReconcileRun, **fields))
            try:
                scan = scan_run(trigger=f"reconcile:{trigger}"[:40], progress=progress)
            except (ScanFailed, ScanInputError) as exc:
                run.scan = getattr(exc, "run", None)
                run.fail(f"scan failed: {exc}")
                raise ReconcileFailed(run.error, run) from None
            except BaseException as exc:  # interrupted, a dead connection, a bug: never leave it "running"
                run.fail(f"scan: {type(exc).__name__}: {exc}" if str(exc) else f"scan: {type(exc).__name__}")
                raise
            scan_info = {"id": scan.pk, "cached": False, "mode": scan.mode, "status": scan.status,
                         "objects": scan.objects_seen, "unmatched": scan.unmatched_count}
        timings["scan"] = time.perf_counter() - t0
        if run is None and not dry_run:
            run = recording.enter_context(run_record(ReconcileRun, scan=scan, **fields))

        with paused_gc():
            report, changes = _analyse_and_persist(
                run, scan, have, specs, specs_by_id, source_names, conf, as_of, now, dry_run, scan_info,
                timings, output_path, progress)

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
            obj.key if obj else "", obj.size if obj else None, obj.last_modified if obj else None, f.shortfall)


def _live_gaps(data_type_ids) -> dict[tuple[int, str], tuple]:
    """(data_type_id, partition) → (id, status, task_id, kind, priority, season, game_date,
    object_key, object_size, object_last_modified, shortfall) of the open and ignored gaps in scope."""
    out = {}
    qs = (Gap.objects.filter(status__in=(GapStatus.OPEN, GapStatus.IGNORED), data_type_id__in=list(data_type_ids))
          .values_list("data_type_id", "partition", "id", "status", "task_id", "kind", "priority", "season",
                       "game_date", "object_key", "object_size", "object_last_modified", "shortfall"))
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


def _persist(run: ReconcileRun, report: AnalysisReport, specs_by_id: dict, max_items: int, critical_days: int,
             now: dt.datetime) -> dict:
    scope = list(specs_by_id)
    live = _live_gaps(scope)
    to_open, to_update, to_resolve, ignored = _decide(report, live)
    source_of = dict(DataType.objects.filter(pk__in=scope).values_list("id", "source_id"))

    # update (kind and priority move with as_of; the deciding object may have changed)
    updates = []
    for gap_id, f in to_update:
        g = Gap(pk=gap_id, kind=f.kind, priority=f.priority, priority_rank=Priority(f.priority).rank, season=f.season,
                game_date=f.game_date, object_key=f.object.key if f.object else "",
                object_size=f.object.size if f.object else None,
                object_last_modified=f.object.last_modified if f.object else None, shortfall=f.shortfall)
        updates.append(g)
    Gap.objects.bulk_update(updates, ["kind", "priority", "priority_rank", "season", "game_date", "object_key",
                                      "object_size", "object_last_modified", "shortfall"], batch_size=500)

    # resolve: the partition is present now (or no longer expected)
    for ids in chunks(to_resolve, _CHUNK):
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
            game_date=f.game_date, kind=f.kind, priority=f.priority, priority_rank=Priority(f.priority).rank,
            status=GapStatus.OPEN, first_seen_at=now, last_seen_at=now,
            object_key=f.object.key if f.object else "", object_size=f.object.size if f.object else None,
            object_last_modified=f.object.last_modified if f.object else None, opened_by=run, shortfall=f.shortfall,
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
    names = {p.rank: p for p in Priority}
    for rank, ids in by_rank.items():
        for chunk in chunks(ids, _CHUNK):
            changed += Task.objects.filter(pk__in=chunk, status=TaskStatus.PENDING).update(
                priority=names[rank], priority_rank=rank, updated_at=now)
    return changed


def _uncovered_findings(specs_by_id: dict) -> tuple[list[GapFinding], dict]:
    """Open gaps in scope that no open task covers, as GapFindings (+ their gap ids). Gaps of a task
    failed for good wait for an operator's requeue (SPEC §13): never queued again here."""
    rows = (Gap.objects.filter(status=GapStatus.OPEN, data_type_id__in=list(specs_by_id))
            .exclude(task__status__in=(*OPEN_TASK_STATUSES, TaskStatus.FAILED))
            .values_list("id", "data_type_id", "season", "partition", "game_date", "kind", "priority", "shortfall"))
    findings, ids = [], {}
    for gap_id, dt_id, season, partition, game_date, kind, priority, short in rows.iterator(chunk_size=10_000):
        spec = specs_by_id[dt_id]
        findings.append(GapFinding(dt_id, spec.source, spec.name, season, partition, game_date, kind, priority, None,
                                   short))
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
            priority=p.priority, priority_rank=Priority(p.priority).rank, gap_kind=p.gap_kind, scraper=p.scraper,
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
        for chunk in chunks(gap_ids, _CHUNK):
            Gap.objects.filter(pk__in=chunk).update(task=task)
    return [(p, str(t.pk)) for t, p in zip(tasks, plans)], task_of


def _plan_doc(p, task_id=None) -> dict:
    return {"id": task_id, "source": p.source, "data_type": p.data_type, "season": p.season,
            "priority": p.priority, "gap_type": p.gap_kind, "scraper": p.scraper, "partitions": p.missing_files,
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
            f = GapFinding(dt_id, spec.source, spec.name, v[5], partition, v[6], v[3], v[4], None, v[10])
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
             "present": c.present, "completeness": None if c.completeness is None else round(c.completeness, 6),
             **({"not_judged": c.reason} if c.completeness is None else {}), **({"counted": True} if c.counted else {})}
            for c in report.completeness
        ],
        "not_judged": sum(c.completeness is None for c in report.completeness),
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
    from reconciliation.domain.seasons import current_season

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
            if newest is None or newest.size < spec.min_size_bytes:
                continue
            if (spec.level == PatternLevel.SEASON and gap.season == current_season(as_of)
                    and newest.last_modified < stale_cutoff(as_of, spec.freshness_days)):
                continue
            resolved += Gap.objects.filter(pk=gap.pk, status=GapStatus.OPEN).update(
                status=GapStatus.RESOLVED, resolved_at=now)
        if resolved:
            _tasks_finish_resolved(now)
    return resolved
