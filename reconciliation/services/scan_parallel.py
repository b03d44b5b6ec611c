"""The scale-out scan: one django-q2 task per data file of one S3 Inventory manifest (issue 23 item 4).

    scan_parallel_start(manifest_uri=…, sources=None, location=None) -> ScanRun   (the coordinator)
    scan_part_run(part_id)        (a worker, reconciliation.orchestration.jobs.scan_file)
    scan_parallel_wait(run_id)    (the command, unless --no-wait)
    scan_parts_expire()           (the lease rule; called by waiters and at every scan's start)

* Start: validate the plan, read the manifest once, create the run (`parallel`), its shared staging
  table (reconciliation.engine.inventory_shared) and one ScanPart per data file, then enqueue one task
  per part (tasks take ids). PostgreSQL only: SQLite has one writer, so `--parallel` is refused there.
* A worker claims its part with a conditional UPDATE (pending → running, its own token): a task
  delivered twice, or one for a run that already failed, finds nothing to claim. It reads and matches
  its one file through the sequential scan's own stream (scan_stream.iter_batches) and COPYs it into
  the staging table, then, in the same transaction, marks the part done (conditional on its token and
  the run still running, with the run row locked): the rows and the mark commit together or not at all.
* The finisher: the worker whose mark finds every other part done (the run row lock serialises the
  marks, so exactly one does, on any host) marks its part "finishing" and swaps the inventory exactly
  as a sequential scan does, recording the run completed inside that transaction.
* A failed file fails the run (its key and the error), drops the staging table; nobody swaps, and
  the workers still running roll back.
* Files mode (ADCE_OBJECT_STORE=files where the run starts; the run records it, so every worker does
  the same): no staging table. Each worker writes its file's rows to its own Parquet file
  (scan-<run>-part-<seq>.parquet, in ADCE_INVENTORY_SNAPSHOT_DIR, which must then be storage every
  worker's host shares) and records it on its part; the finisher makes all of them, in manifest order
  (a later file's row of a key wins), the parts of one snapshot per store (object_files.files_replace).
  A failed run removes every part file.
* Lease: a part not done by `lease_until` fails the run (its worker died, or no worker serves the
  queue). A claim sets it to now + ADCE_SCAN_PART_LEASE_SECONDS (past django-q2's task timeout); a
  pending part's is renewed whenever another part of the run is done.
"""
from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Sequence

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from adce_site.choices import RunStatus
from adce_site.cli import no_progress
from adce_site.runs import runs_fail_stale
from reconciliation.choices import ScanPartStatus as Part
from reconciliation.engine import inventory_shared as shared
from reconciliation.engine.inventory_snapshot import SnapshotWriter, scan_part_files_remove, snapshot_files_sweep
from reconciliation.engine.object_files import files_keys_unique, files_mode, files_outside_refusal, files_replace
from reconciliation.engine.readahead import read_ahead
from reconciliation.models import ScanPart, ScanRun
from reconciliation.services.scan_plan import ScanFailed, ScanInputError, ScanPlan, ScanTotals, TargetStats, scan_plan
from reconciliation.services.scan_stream import UNMATCHED_EXAMPLES, iter_batches, report_targets
from reconciliation.storage import StorageError, read_inventory_report
from reconciliation.storage.inventory_report import DataFile, InventoryReport

TASK = "reconciliation.orchestration.jobs.scan_file"  # takes the part id


class _Lost(Exception):
    """The part or its run is no longer this worker's to finish (failed elsewhere, lease taken)."""


def _lease() -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=settings.ADCE_SCAN_PART_LEASE_SECONDS)


# -------------------------------------------------------------------------------------------- start

def scan_parallel_start(*, manifest_uri: str | None, sources: Sequence[str] | None = None,
                        location: str | None = None, trigger: str = "manual", allow_empty_report: bool = False,
                        progress: Callable[[str], None] = no_progress) -> ScanRun:
    """Create the run and its parts and enqueue one task per data file. ScanInputError: nothing was
    done. ScanFailed: the manifest could not be read (the failed run is recorded)."""
    if connection.vendor != "postgresql":
        raise ScanInputError("--parallel needs PostgreSQL: SQLite has a single writer (scan without --parallel)")
    if not manifest_uri:
        raise ScanInputError("--parallel needs --inventory-manifest: it runs one task per data file of a report")
    if isinstance(sources, str):
        sources = [sources]
    args = {"sources": list(sources) if sources else None, "location": location or None}
    plan = scan_plan(**args, manifest_uri=manifest_uri, allow_empty_report=allow_empty_report)
    files = files_mode()
    refusal = None if files else files_outside_refusal([t.region for t in plan.targets])
    if refusal:
        raise ScanInputError(refusal)
    scan_parts_expire()
    runs_fail_stale(ScanRun)
    swept = snapshot_files_sweep()  # what a killed run left in the snapshot folder (its run is failed now)
    run = ScanRun.objects.create(mode=plan.mode, trigger=trigger, sources=plan.source_names, parallel=True,
                                 locations=[t.location.uri for t in plan.targets], manifest_uri=plan.manifest_uri,
                                 location_override=plan.location_override)
    try:
        progress(f"scan: reading inventory report {plan.manifest_uri}\n")
        report = read_inventory_report(plan.manifest_uri, progress=progress, allow_empty=allow_empty_report)
        report_targets(plan, report.source_bucket)  # the bucket must hold a scanned location
    except StorageError as exc:
        _run_fail(run.pk, str(exc))
        run.refresh_from_db()
        raise ScanFailed(str(exc), run) from exc
    run.stats = {"parallel": {"files": len(report.files), "args": args, "object_store": "files" if files else "rows",
                              "report": {
        "manifest_uri": report.manifest_uri, "source_bucket": report.source_bucket,
        "destination_bucket": report.destination_bucket, "file_format": report.file_format,
        "file_schema": report.file_schema}}}
    if swept["entries"]:
        run.stats["swept"] = swept
    with transaction.atomic():
        run.save(update_fields=["stats"])
        if not files:
            shared.shared_staging_create(run.pk)
        lease = _lease()
        ScanPart.objects.bulk_create([ScanPart(scan=run, seq=n, file_key=f.key, file_uri=f.uri, file_size=f.size,
                                               file_md5=f.md5, lease_until=lease) for n, f in enumerate(report.files)])
    if not report.files:  # an empty report (--allow-empty-inventory): nothing for a worker to do
        scan_parallel_finish(run.pk)
    else:
        _enqueue_parts(run, progress)
    run.refresh_from_db()
    return run


def _enqueue_parts(run: ScanRun, progress) -> None:
    from django_q.tasks import async_task

    try:
        for part_id in run.parts.order_by("seq").values_list("pk", flat=True):
            async_task(TASK, part_id)
    except Exception as exc:  # the broker is down: no part may wait for a task that was never queued
        _run_fail(run.pk, f"enqueueing the data files failed: {type(exc).__name__}: {exc}")
        run.refresh_from_db()
        raise ScanFailed(run.error, run) from exc
    progress(f"scan #{run.pk}: {run.parts.count()} data files queued, one task each\n")


# -------------------------------------------------------------------------------------------- worker

def scan_part_run(part_id: int) -> dict:
    """Claim, read, match and stage one data file; the last one done finishes the scan."""
    token, now = uuid.uuid4().hex, timezone.now()
    claimed = ScanPart.objects.filter(pk=part_id, status=Part.PENDING, scan__status=RunStatus.RUNNING).update(
        status=Part.RUNNING, token=token, started_at=now, lease_until=_lease())
    if not claimed:
        return {"part": part_id, "status": "not claimed"}
    part = ScanPart.objects.select_related("scan").get(pk=part_id)
    run = part.scan
    writer = SnapshotWriter(run.pk, part=part.seq) if _run_files(run) else None
    try:
        plan, report = _run_plan(run), _part_report(run, part)
        totals = ScanTotals(targets=[TargetStats(t.location.uri) for t in plan.targets])
        matcher = _run_matcher(run)
        started = time.perf_counter()
        # read and matched on a thread ahead of the COPY or file (both release the GIL), as a sequential scan
        batches = read_ahead(iter_batches(plan, matcher, scan_id=run.pk, totals=totals, report=report))
        if writer is not None:
            for batch in batches:
                writer.write(batch)
            writer.close([])
            files = {store: [str(path), writer.counts()[store]] for store, path in writer.paths().items()}
            with transaction.atomic():
                stats = {**_part_stats(totals, time.perf_counter() - started), "files": files}
                rows = writer.rows
                last = _part_done(part, token, rows, stats)
        else:
            with transaction.atomic():
                rows = shared.shared_staging_copy(run.pk, part.seq, batches)
                last = _part_done(part, token, rows, _part_stats(totals, time.perf_counter() - started))
    except _Lost:
        if writer is not None:
            writer.discard()
        return {"part": part_id, "status": "abandoned: the scan is no longer running"}
    except Exception as exc:
        if writer is not None:
            writer.discard()
        if not ScanRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).exists():
            # failed elsewhere meanwhile (its staging table dropped under this copy): not this file's fault
            return {"part": part_id, "status": "abandoned: the scan is no longer running"}
        _part_fail(part, token, f"{part.file_key}: {exc}" if isinstance(exc, StorageError)
                   else f"{part.file_key}: {type(exc).__name__}: {exc}")
        raise
    if last:
        scan_parallel_finish(run.pk)
    return {"part": part_id, "status": "done", "rows": rows, "finished_scan": last}


def _run_files(run: ScanRun) -> bool:
    """Does this run write files (decided where it started, whatever this worker's setting)."""
    return (run.stats or {}).get("parallel", {}).get("object_store") == "files"


_matchers: dict[tuple, object] = {}


def _run_matcher(run: ScanRun):
    """The coverage's matcher, built once per worker process for all the files of one run it takes
    (0.2 CPU s per build for the 3M bench lake's catalog: a twelfth of a file's work)."""
    key = (run.pk, run.started_at)
    if key not in _matchers:
        from reconciliation.services.specs import partition_matcher

        _matchers.clear()
        _matchers[key] = partition_matcher()
    return _matchers[key]


def _run_plan(run: ScanRun) -> ScanPlan:
    """The coordinator's plan, validated again (a source deactivated meanwhile fails the file)."""
    info = run.stats["parallel"]
    plan = scan_plan(**info["args"], manifest_uri=info["report"]["manifest_uri"])
    report_targets(plan, info["report"]["source_bucket"])
    return plan


def _part_report(run: ScanRun, part: ScanPart) -> InventoryReport:
    """The coordinator's report, holding only this part's data file."""
    meta = run.stats["parallel"]["report"]
    return InventoryReport(meta["manifest_uri"], meta["source_bucket"], meta["destination_bucket"],
                           meta["file_format"], meta["file_schema"],
                           [DataFile(part.file_key, part.file_uri, part.file_size, part.file_md5)])


def _part_stats(totals: ScanTotals, seconds: float) -> dict:
    return {"targets": [t.as_dict() for t in totals.targets], "outside": totals.outside,
            "examples": totals.unmatched_examples[:UNMATCHED_EXAMPLES], "seconds": round(seconds, 3)}


def _part_done(part: ScanPart, token: str, rows: int, stats: dict) -> bool:
    """Inside the staging transaction: mark the part done; True if it was the last (it is then
    "finishing"). The run row's lock serialises these marks across workers and hosts."""
    if not ScanRun.objects.select_for_update().filter(pk=part.scan_id, status=RunStatus.RUNNING).exists():
        raise _Lost
    others_left = ScanPart.objects.filter(scan_id=part.scan_id).exclude(pk=part.pk).exclude(status=Part.DONE).exists()
    status = Part.DONE if others_left else Part.FINISHING
    now = timezone.now()
    if not ScanPart.objects.filter(pk=part.pk, token=token, status=Part.RUNNING).update(
            status=status, rows=rows, stats=stats, finished_at=now, lease_until=_lease()):
        raise _Lost
    # Progress: the files still queued get a fresh lease (they wait for a worker, not for a dead one).
    ScanPart.objects.filter(scan_id=part.scan_id, status=Part.PENDING).update(lease_until=_lease())
    return not others_left


def _part_fail(part: ScanPart, token: str, error: str) -> None:
    ScanPart.objects.filter(pk=part.pk, token=token).exclude(status=Part.DONE).update(
        status=Part.FAILED, error=error[:2000], finished_at=timezone.now())
    _run_fail(part.scan_id, error)


# -------------------------------------------------------------------------------------------- finish

def scan_parallel_finish(run_id: int) -> None:
    """Swap the staged rows into the inventory and complete the run, in one transaction."""
    from reconciliation.services.scan import _finish

    run = ScanRun.objects.get(pk=run_id)
    try:
        plan = _run_plan(run)
        parts = list(run.parts.order_by("seq"))
        totals = _totals(plan, parts)
        elapsed = (timezone.now() - run.started_at).total_seconds()
        started = time.perf_counter() - elapsed  # the run's start on this process's clock
        totals.list_seconds = elapsed
        info = {k: v for k, v in run.stats["parallel"].items() if k == "files"}
        swept = run.stats.get("swept")
        t0 = time.perf_counter()

        def mark_complete(swap):
            # inside the swap's transaction: a run failed meanwhile (a lease) rolls the swap back; the
            # counts commit with "completed" (the waiting command reads them as soon as it sees that)
            if not ScanRun.objects.select_for_update().filter(pk=run_id, status=RunStatus.RUNNING).exists():
                raise _Lost
            _finish(run, plan, totals, started, time.perf_counter() - t0)
            run.stats["parallel"] = info
            swap.setdefault("object_store", "rows")
            run.stats["inventory"] = swap
            if swept:
                run.stats["swept"] = swept
            run.save()
            run.parts.filter(status=Part.FINISHING).update(status=Part.DONE)

        regions = [t.region for t in plan.targets]
        if _run_files(run):
            info["object_store"] = "files"
            _files_replace(run_id, parts, regions, mark_complete)
        else:
            shared.shared_staging_replace(run_id, regions, sum(p.rows for p in parts), on_swapped=mark_complete)
        run.stats["timings"]["write"] = round(time.perf_counter() - t0, 3)
        run.duration_ms = int((time.perf_counter() - started) * 1000)
        run.finished_at = timezone.now()
        ScanRun.objects.filter(pk=run_id).update(stats=run.stats, duration_ms=run.duration_ms,
                                                 finished_at=run.finished_at)
    except _Lost:
        return
    except Exception as exc:
        _run_fail(run_id, f"finishing: {type(exc).__name__}: {exc}")
        raise
    finally:
        shared.shared_staging_drop(run_id)


def _files_replace(run_id: int, parts: list[ScanPart], regions, mark_complete) -> None:
    """Files mode: the parts' files, in manifest order, become one snapshot per store (a store of the
    regions no file listed anything in gets an empty file: its inventory there is empty)."""
    new: dict[str, tuple[list, int]] = {}
    for part in parts:
        for store, (path, rows) in part.stats.get("files", {}).items():
            paths, total = new.get(store, ([], 0))
            new[store] = ([*paths, path], total + rows)
    empty = SnapshotWriter(run_id)
    try:
        empty.close([r for r in regions if r.store not in new])
        for store, path in empty.paths().items():
            new[store] = ([path], 0)
        unique = files_keys_unique({store: paths for store, (paths, _rows) in new.items()})
        files_replace({store: (paths, rows, unique[store]) for store, (paths, rows) in new.items()}, regions,
                      run_id, on_swapped=mark_complete)
    except BaseException:
        empty.discard()
        scan_part_files_remove(run_id)
        raise


def _totals(plan: ScanPlan, parts: list[ScanPart]) -> ScanTotals:
    """The parts' counts added up; the unmatched examples are the first ones in manifest order, as a
    sequential scan's are."""
    totals = ScanTotals(targets=[TargetStats(t.location.uri) for t in plan.targets])
    by_uri = {t.uri: t for t in totals.targets}
    for part in parts:
        for d in part.stats.get("targets", []):
            t = by_uri[d["uri"]]
            t.objects, t.bytes = t.objects + d["objects"], t.bytes + d["bytes"]
            t.matched, t.unmatched = t.matched + d["matched"], t.unmatched + d["unmatched"]
            t.seconds += d["seconds"]
        totals.outside += part.stats.get("outside", 0)
        totals.unmatched_examples.extend(part.stats.get("examples", []))
    del totals.unmatched_examples[UNMATCHED_EXAMPLES:]
    return totals


# -------------------------------------------------------------------------------------------- failure, lease, wait

def _run_fail(run_id: int, error: str, status: str = RunStatus.FAILED) -> bool:
    """Fail a running run (once: the first error wins) and drop its staging; the inventory is untouched."""
    run = ScanRun.objects.filter(pk=run_id).only("started_at").first()
    if run is None:
        return False
    now = timezone.now()
    failed = ScanRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
        status=status, error=error[:2000], finished_at=now,
        duration_ms=int((now - run.started_at).total_seconds() * 1000))
    if failed:
        scan_part_files_remove(run_id)  # files mode: no part file is anyone's inventory now
        try:
            shared.shared_staging_drop(run_id)  # waits for workers still copying: they roll back
        except DatabaseError:
            pass  # the finisher of the run drops it, or the next sweep (the table is unlogged)
    return bool(failed)


def scan_parts_expire(run_id: int | None = None) -> int:
    """Fail the running parallel runs with a part past its lease; returns how many were failed."""
    expired = ScanPart.objects.filter(scan__status=RunStatus.RUNNING, lease_until__lt=timezone.now()).exclude(
        status__in=[Part.DONE, Part.FAILED])
    if run_id is not None:
        expired = expired.filter(scan_id=run_id)
    failed = 0
    for part in expired.order_by("scan_id", "seq"):
        what = "finishing the scan" if part.status == Part.FINISHING else part.status
        failed += _run_fail(part.scan_id, f"{part.file_key}: not done within its lease ({what}; "
                                          f"{settings.ADCE_SCAN_PART_LEASE_SECONDS} s): its worker died or "
                                          "no worker serves the queue")
    return failed


def scan_parallel_wait(run_id: int, *, progress: Callable[[str], None] = no_progress,
                       poll_seconds: float = 0.5) -> ScanRun:
    """Wait until the run is no longer running (applying the lease rule meanwhile). Ctrl-C interrupts
    the scan itself, as it does a sequential one."""
    said = None
    try:
        while True:
            scan_parts_expire(run_id)
            run = ScanRun.objects.get(pk=run_id)
            if run.status != RunStatus.RUNNING:
                return run
            done = run.parts.filter(status__in=[Part.DONE, Part.FINISHING]).count()
            if done != said:
                progress(f"scan #{run_id}: {done}/{run.parts.count()} data files staged\n")
                said = done
            time.sleep(poll_seconds)  # polling the database: workers may be on other hosts
    except KeyboardInterrupt:
        _run_fail(run_id, "interrupted", RunStatus.INTERRUPTED)
        raise
