"""`reconcile`: HAVE vs SHOULD, the gap lifecycle and the task queue (SPEC §6–§8).

    reconcile_run(use_cache=False, dry_run=False, as_of=None, output=None) -> ReconcileRun

Steps (each timed in the run's summary): scan → load → analyze → persist → write.

* scan: a fresh complete scan of every active source (services.scan.scan_run), unless `use_cache` and
  the inventory is fresh (scan_cache.fresh_scans). A scan that fails fails the reconcile: no gap or
  task changes.
* load + analyze, one data type at a time, all from one snapshot of the inventory: in the database
  (engine.gaps_sql: expected partitions from the catalog table or the domain's list anti-joined with
  the present ones, an open type's (§10) placed in their seasons; Python gets gaps and counts), the
  few it cannot take from their HAVE
  (engine.have.load_have) and analysis.analyze (pure). Memory grows with the gaps, not with the
  objects or the catalog (issue 23).
* persist: the gap lifecycle, planned (domain.lifecycle.plan, pure) and applied in ONE transaction
  (services.lifecycle): open, update, resolve gaps; finish, re-rank and create tasks.
* write: the §8 queue file (queue_file.queue_document), atomically.

A dry run lists instead of scanning and reports the plan: no ScanRun, no ReconcileRun, no gap, no
task, no file.
Decisions are in docs/scan-and-reconcile.md.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from adce_site.choices import RunStatus
from adce_site.cli import no_progress
from adce_site.runs import run_record

from reconciliation.domain.analysis import AnalysisInput, AnalysisReport, DataTypeSpec, analyze
from reconciliation.choices import PatternLevel
from reconciliation.engine import gaps_sql
from reconciliation.engine.duck_sql import InventoryUnreadable, inventory_session
from reconciliation.engine.have import have_from_rows, have_snapshot, load_have
from reconciliation.models import ReconcileRun, ScanRun
from reconciliation.scan_cache import fresh_scans
from reconciliation.services.lifecycle import lifecycle_apply, lifecycle_changes, lifecycle_plan
from reconciliation.services.reconcile_summary import reconcile_summary
from reconciliation.services.scan import paused_gc, scan_run
from reconciliation.services.scan_plan import ScanFailed, ScanInputError, ScanTotals, TargetStats, scan_plan
from reconciliation.services.scan_stream import iter_rows
from reconciliation.storage import StorageError

UTC = dt.timezone.utc


class ReconcileInputError(ValueError):
    """Bad input found before anything was done (nothing to reconcile, bad output path, bad scan plan)."""


class ReconcileOutputError(Exception):
    """Gaps and tasks were committed, but the queue file could not be written. `run` is the run."""

    def __init__(self, message: str, run: ReconcileRun | None = None):
        super().__init__(message)
        self.run = run


class ReconcileFailed(Exception):
    """The reconcile could not complete (its scan failed, or a store's inventory files cannot be read);
    gaps and tasks are unchanged. `run` is the recorded failed ReconcileRun (None in a dry run)."""

    def __init__(self, message: str, run: ReconcileRun | None = None):
        super().__init__(message)
        self.run = run


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
    from reconciliation.services.specs import data_type_specs, partition_matcher, reconciliation_settings

    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    now = timezone.now()
    as_of = as_of or now.astimezone(UTC).date()
    output_path = _check_output(output) if output else None

    specs = data_type_specs(active_only=True)
    if not specs:
        raise ReconcileInputError("nothing to reconcile: no active source with data types (run import_coverage)")
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

        try:
            with paused_gc():
                report, changes = _analyse_and_persist(_Job(
                    run=run, scan=scan, have=have, specs=specs, conf=conf, as_of=as_of, now=now, dry_run=dry_run,
                    scan_info=scan_info, timings=timings, output_path=output_path, progress=progress))
        except InventoryUnreadable as exc:  # a store's files are gone: no answer, never "no objects"
            if run is not None:
                run.fail(str(exc))
            raise ReconcileFailed(str(exc), run) from None

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
    run.summary = reconcile_summary(run, report, changes, scan_info, timings, as_of, dry_run, output_path)
    run.duration_ms = int(timings["total"] * 1000)
    if not dry_run:
        ReconcileRun.objects.filter(pk=run.pk).update(summary=run.summary, duration_ms=run.duration_ms)
    return run


@dataclass
class _Job:
    """One reconcile between its scan and its write: what the analysis and the lifecycle need."""

    run: ReconcileRun | None       # None on a dry run
    scan: ScanRun | None
    have: dict | None              # from a dry run's listing; None: load it from the inventory
    specs: list[DataTypeSpec]
    conf: object                   # ReconciliationSettings
    as_of: dt.date
    now: dt.datetime
    dry_run: bool
    scan_info: dict
    output_path: Path | None
    progress: Callable[[str], None]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def specs_by_id(self) -> dict[int, DataTypeSpec]:
        return {s.id: s for s in self.specs}


def _analyse(job: _Job) -> AnalysisReport:
    """Load and analyse one data type at a time (in analyze's order), all from one snapshot of the
    inventory. Each type is analysed in the database (engine.gaps_sql: the anti-join, or an open type's
    partitions placed in their seasons; Python sees gaps and counts), except a game- or date-level type
    whose source has no catalog ("no catalog" cells, its HAVE not read) and a type gaps_sql cannot take
    (a value list too long for one query, a location that cannot be read): those load their HAVE
    (engine.have.load_have) and the part of their source's catalog they use. So memory holds neither
    the objects nor the catalog. A dry run's listing brings HAVE for every type at once: analysed at once."""
    from reconciliation.services.specs import catalog_specs, has_catalog, season_start_catalog

    timings, conf, as_of = job.timings, job.conf, job.as_of
    timings["load"] = timings["analyze"] = 0.0
    report = AnalysisReport()
    have, job.have = job.have, None

    def add(part):
        report.gaps += part.gaps
        report.completeness += part.completeness

    def pure(group, catalog, group_have):
        return analyze(AnalysisInput(data_types=group, catalog=catalog, have=group_have, as_of=as_of,
                                     critical_days=conf.critical_days))

    # every data type read from one state of the inventory, each store's opened once (engine.duck_sql)
    with have_snapshot(), inventory_session():
        for source, specs in groupby(sorted(job.specs, key=lambda s: (s.source, s.name)), key=attrgetter("source")):
            specs = list(specs)
            t0 = time.perf_counter()
            if have is not None:
                add(pure(specs, catalog_specs(sources=[source]), have))
                timings["analyze"] += time.perf_counter() - t0
                continue
            catalogued = has_catalog(source)
            starts = season_start_catalog(source)  # each season's first game: all the other levels use
            full: dict = {}

            def catalog_of(spec):
                """The part of the source's catalog a pure analysis of `spec` uses (every game, read once,
                only for a game- or date-level type gaps_sql does not take)."""
                if spec.level not in (PatternLevel.GAME, PatternLevel.DATE):
                    return starts
                if catalogued and not full:
                    full.update(catalog_specs(sources=[source]))
                return full

            timings["load"] += time.perf_counter() - t0
            for spec in specs:
                t0 = time.perf_counter()
                by_catalog = spec.level in (PatternLevel.GAME, PatternLevel.DATE)
                part = (gaps_sql.analyse(spec, as_of, conf.critical_days, starts.get(source, ()))
                        if gaps_sql.in_database(spec) and (catalogued or not by_catalog) else None)
                if part is None:
                    # without a catalog a game- or date-level type is not judged: its HAVE is not read
                    group_have = load_have([spec], as_of) if catalogued or not by_catalog else {}
                    catalog = catalog_of(spec)
                    timings["load"] += time.perf_counter() - t0
                    t0 = time.perf_counter()
                    part = pure([spec], catalog, group_have)
                    del group_have
                add(part)
                timings["analyze"] += time.perf_counter() - t0
    job.progress(f"reconcile: {len(report.gaps)} gaps in {len(report.completeness)} cells as of {as_of}\n")
    return report


def _analyse_and_persist(job: _Job) -> tuple[AnalysisReport, dict]:
    report = _analyse(job)
    conf, timings = job.conf, job.timings
    # -- the gap lifecycle: planned, then (unless a dry run) applied in one transaction --------
    t0 = time.perf_counter()
    limits = {"max_items": conf.max_items_per_task, "critical_days": conf.critical_days}
    if job.dry_run:
        changes = lifecycle_changes(lifecycle_plan(report, job.specs_by_id, **limits))
    else:
        run = job.run
        run.scan = job.scan
        with transaction.atomic():
            changes = lifecycle_apply(lifecycle_plan(report, job.specs_by_id, **limits), run=run, now=job.now)
            run.status = RunStatus.COMPLETED
            run.summary = reconcile_summary(run, report, changes, job.scan_info, timings, job.as_of, False,
                                            job.output_path)
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
