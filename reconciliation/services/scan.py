"""`scan`: inventory what is stored (SPEC §2, §6, §7).

    scan_run(sources=None, location=None, manifest_uri=None, sample_rate=None, seed=None) -> ScanRun

* Lists the minimal set of locations of the selected sources (all active ones by default): a source
  location inside another selected one is not listed twice. `location` overrides the single selected
  source's location for this scan; its keys are judged as if they were under the source's own location.
* `manifest_uri` reads an S3 Inventory report instead of listing; the report's bucket must hold the
  selected sources' locations, and only keys under those locations are taken.
* Every object is matched (PartitionMatcher) once, and its data type / partition stored with it.
  Objects that match no pattern are counted and the first UNMATCHED_EXAMPLES listed on the run.
* A complete scan replaces the inventory of the regions it covered, in one transaction, at the end.
  A listing that fails (StorageError) or is interrupted leaves the inventory untouched; the run is
  recorded as failed/interrupted with its error, and ScanFailed is raised.
* Sampling (0 < rate ≤ 1) keeps an object when crc32(seed:key) < rate·2³²: stable across runs, no RNG
  state. It only estimates (seen / rate); it never writes the inventory and never feeds gaps.

The plan (arguments validated) is reconciliation.services.scan_plan; listing and matching into
inventory batches is reconciliation.services.scan_stream. This module runs them and records the run.
Decisions are in docs/scan-and-reconcile.md.
"""
from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Callable, Sequence

from django.utils import timezone

from adce_site.choices import RunStatus
from adce_site.cli import no_progress
from adce_site.runs import run_record
from reconciliation.choices import ScanMode
from reconciliation.engine.inventory import InventoryStaging
from reconciliation.engine.object_files import (
    files_keys_unique,
    files_mode,
    files_outside_refusal,
    files_replace,
)
from reconciliation.engine.inventory_snapshot import (
    SnapshotDiff,
    SnapshotSuperseded,
    SnapshotWriter,
    snapshot_apply,
    snapshot_candidates,
    snapshot_files_sweep,
    snapshot_refusal,
    snapshots_enabled,
)
from reconciliation.engine.readahead import read_ahead
from reconciliation.models import ScanRun
from reconciliation.services.scan_parallel import scan_parts_expire
from reconciliation.services.scan_plan import (
    ScanFailed,
    ScanInputError,
    ScanPlan,
    ScanTotals,
    TargetStats,
    scan_plan,
)
from reconciliation.services.scan_stream import iter_batches
from reconciliation.storage import StorageError

logger = logging.getLogger("adce.scan")

@contextlib.contextmanager
def paused_gc():
    """Pause the cyclic garbage collector around a million-object loop. The objects built there (tuples,
    small records) form no cycles, so reference counting frees them all the same; without the pause,
    the collector re-walks the growing heap again and again (it tripled the time of loading HAVE)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --------------------------------------------------------------------------------------------
# The service


def scan_run(*, sources: Sequence[str] | None = None, location: str | None = None, manifest_uri: str | None = None,
             sample_rate: float | None = None, seed: int | None = None, trigger: str = "manual",
             progress: Callable[[str], None] = no_progress, allow_empty_report: bool = False) -> ScanRun:
    """Run a scan and record it. ScanInputError: nothing was done. ScanFailed: the failed run is recorded
    (status failed/interrupted, error) and the inventory is untouched."""
    from reconciliation.services.specs import partition_matcher

    if isinstance(sources, str):
        sources = [sources]
    plan = scan_plan(sources=sources, location=location, manifest_uri=manifest_uri,
                     sample_rate=sample_rate, seed=seed, allow_empty_report=allow_empty_report)
    matcher = partition_matcher()
    return scan_execute(plan, matcher, trigger=trigger, progress=progress)


def scan_execute(plan: ScanPlan, matcher, *, trigger: str = "manual",
                 progress: Callable[[str], None] = no_progress) -> ScanRun:
    started = time.perf_counter()
    scan_parts_expire()  # a scale-out scan whose worker died is failed here too
    if plan.mode != ScanMode.SAMPLE and not files_mode():
        # before a listing that its swap would refuse (the swap checks again: snapshots_supersede)
        refusal = files_outside_refusal([t.region for t in plan.targets])
        if refusal:
            raise ScanInputError(refusal)
    # The run holds its advisory lock while it runs: if the process dies, the next scan's sweep marks
    # this row failed (adce_site.runs).
    with run_record(ScanRun, mode=plan.mode, trigger=trigger, sources=plan.source_names,
                    locations=[t.location.uri for t in plan.targets], location_override=plan.location_override,
                    manifest_uri=plan.manifest_uri, sample_rate=plan.sample_rate, seed=plan.seed) as run:
        totals = ScanTotals(targets=[TargetStats(t.location.uri) for t in plan.targets])
        swept = snapshot_files_sweep()  # what a killed run left in the snapshot folder (its run is failed now)
        try:
            _scan(run, plan, matcher, totals, started, progress)
            if swept["entries"]:
                run.stats["swept"] = swept
                ScanRun.objects.filter(pk=run.pk).update(stats=run.stats)
        except StorageError as exc:
            _fail(run, plan, totals, started, RunStatus.FAILED, str(exc))
            raise ScanFailed(str(exc), run) from exc
        except KeyboardInterrupt:
            _fail(run, plan, totals, started, RunStatus.INTERRUPTED, "interrupted")
            raise
        except Exception as exc:
            _fail(run, plan, totals, started, RunStatus.FAILED, f"{type(exc).__name__}: {exc}")
            raise
    return run


def _scan(run: ScanRun, plan: ScanPlan, matcher, totals: ScanTotals, started: float, progress) -> None:
    with paused_gc():
        batches = iter_batches(plan, matcher, scan_id=run.pk, totals=totals, progress=progress)
        if plan.mode == ScanMode.SAMPLE:
            for _ in batches:
                pass
            _finish(run, plan, totals, started, 0.0)
            run.save()
            return
        snapshot = SnapshotWriter(run.pk) if snapshots_enabled() or files_mode() else None
        try:
            t0 = _store(run, plan, totals, started, progress, batches, snapshot)
        except BaseException:
            if snapshot is not None:
                snapshot.discard()  # the inventory, its snapshot row and file are as they were
            raise
        run.stats["timings"]["write"] = round(time.perf_counter() - t0, 3)
        # The run's duration and finish include the commit of the swap (a bulk load's
        # commit is a good part of its write).
        run.duration_ms = int((time.perf_counter() - started) * 1000)
        run.finished_at = timezone.now()
        ScanRun.objects.filter(pk=run.pk).update(stats=run.stats, duration_ms=run.duration_ms,
                                                 finished_at=run.finished_at)


def _store(run: ScanRun, plan: ScanPlan, totals: ScanTotals, started: float, progress, batches,
           snapshot: SnapshotWriter | None) -> float:
    """Make the scan's rows the inventory of its regions; returns when its write began.

    With a snapshot of the stores (the last scan's rows), the rows only stream into the new snapshot
    files, and the swap applies DuckDB's diff of the two (reconciliation.engine.inventory_snapshot).
    Without one, or when it turns out not to fit, the rows are staged and diffed in the database.
    In files mode (ADCE_OBJECT_STORE=files) the files themselves become the inventory: `_store_files`."""
    if files_mode():
        return _store_files(run, plan, totals, started, progress, batches, snapshot)
    previous = snapshot_candidates(t.location.store for t in plan.targets) if snapshot is not None else {}
    refusal = "no snapshot" if snapshot is not None else "snapshots off"
    timer = {"t0": time.perf_counter()}

    def mark_complete(swap, unique=None):
        # inside the swap's transaction: the inventory, its counts, "completed" and the store's
        # snapshot commit together
        swap["object_store"] = "rows"
        swap.setdefault("diff", "staged")
        if swap["diff"] == "staged":
            swap["snapshot_refused"] = refusal
        _finish(run, plan, totals, started, time.perf_counter() - timer["t0"])
        run.stats["inventory"] = swap
        run.save()
        if snapshot is not None:
            if swap.get("bulk_load") and swap["written"] == swap["staged"]:  # the unique index took every row
                unique = {store: True for store in snapshot.paths()}
            snapshot.record(regions(), unique)

    def regions():
        return [t.region for t in plan.targets]  # the report's bucket narrows plan.targets while it is read

    streamed_to_files = bool(previous)
    if streamed_to_files:
        for batch in read_ahead(batches):
            snapshot.write(batch)
        snapshot.close(regions())
        progress(f"scan: {totals.total('objects')} objects listed; comparing with the last scan's snapshot\n")
        timer["t0"] = time.perf_counter()
        # The report's bucket may have narrowed the scan to fewer stores than were looked up.
        previous = {store: snap for store, snap in previous.items() if store in {r.store for r in regions()}}
        refusal = snapshot_refusal(previous, regions())
        if refusal is None:
            swap = _swap_by_snapshot(run, previous, regions(), snapshot, mark_complete)
            if isinstance(swap, dict):
                return timer["t0"]
            refusal = swap
        progress(f"scan: {refusal}; writing the inventory by the staged diff\n")
        batches = snapshot.iter_batches()
    # An inventory report is a bounded, fast read: the first ingest may bulk-load it.
    with InventoryStaging(bulk=plan.mode == ScanMode.INVENTORY_REPORT) as staging:
        for batch in (batches if streamed_to_files else read_ahead(batches)):
            if snapshot is not None and not streamed_to_files:
                snapshot.write(batch)
            staging.add_batch(batch)
        if snapshot is not None and not streamed_to_files:
            snapshot.close(regions())
        progress(f"scan: {totals.total('objects')} objects listed; writing the inventory\n")
        if not streamed_to_files:
            timer["t0"] = time.perf_counter()
        staging.replace(regions(), on_swapped=mark_complete)
    return timer["t0"]


def _store_files(run: ScanRun, plan: ScanPlan, totals: ScanTotals, started: float, progress, batches,
                 writer: SnapshotWriter) -> float:
    """Files mode: the matched batches stream into one Parquet file per store and nothing else (no
    staging, no diff, no StoredObject row); then one transaction makes them the inventory of their
    stores, with what the stores' files held outside the regions carried over, and records the run
    completed (reconciliation.engine.object_files.files_replace). Returns when that write began."""
    for batch in read_ahead(batches):
        writer.write(batch)
    regions = [t.region for t in plan.targets]  # after the listing: the report's bucket narrows them
    writer.close(regions)
    progress(f"scan: {totals.total('objects')} objects listed into files; making them the inventory\n")
    t0 = time.perf_counter()
    paths, counts = writer.paths(), writer.counts()
    unique = files_keys_unique({store: [path] for store, path in paths.items()})

    def mark_complete(swap):  # inside the swap's transaction, as rows mode's
        _finish(run, plan, totals, started, time.perf_counter() - t0)
        run.stats["inventory"] = swap
        run.save()

    files_replace({store: ([path], counts[store], unique[store]) for store, path in paths.items()}, regions,
                  run.pk, on_swapped=mark_complete)
    return t0


def _swap_by_snapshot(run: ScanRun, previous: dict, regions, snapshot: SnapshotWriter, mark_complete) -> dict | str:
    """The rescan's swap by the snapshot diff, or why it did not happen (nothing written): DuckDB could
    not diff the files, or another scan swapped the store meanwhile."""
    new = snapshot.paths()
    pairs = {store: (snap.path, new[store]) for store, snap in previous.items()}
    t0 = time.perf_counter()
    with SnapshotDiff(pairs, {s: p.unique_keys for s, p in previous.items()}, run.pk) as diff:
        try:
            diff.run()
        except diff.error as exc:  # a corrupt or truncated old file shows here, not in its footer
            logger.warning("scan #%s: snapshot diff failed (%s); staging every row instead", run.pk, exc)
            # the reason on the run page and in --json: a bare "failed" hid a memory cap too small at 30M
            return "the snapshot diff failed: " + (str(exc).splitlines() or [type(exc).__name__])[0][:300]
        took = time.perf_counter() - t0
        try:
            with InventoryStaging() as staging:
                for batch in diff.changed_batches():
                    staging.add_batch(batch, count=False)
                swap = snapshot_apply(staging, diff, previous, regions, snapshot.rows,
                                      on_swapped=lambda swap: mark_complete(swap, diff.unique))
        except SnapshotSuperseded as exc:  # rolled back: nothing written, the staged path decides
            logger.warning("scan #%s: %s; staging every row instead", run.pk, exc)
            return str(exc)
    run.stats["timings"]["diff"] = round(took, 3)  # DuckDB's part of "write"
    # key-hash passes of the join, and how many times a pass ran out of memory (passes doubled)
    run.stats["snapshot_diff"] = {"passes": diff.passes, "out_of_memory": diff.retries}
    return swap


def _finish(run: ScanRun, plan: ScanPlan, totals: ScanTotals, started: float, write_seconds: float) -> None:
    run.status = RunStatus.COMPLETED
    _fill(run, plan, totals, started)
    run.stats["timings"] = {"list": round(totals.list_seconds, 3), "write": round(write_seconds, 3)}


def _fill(run: ScanRun, plan: ScanPlan, totals: ScanTotals, started: float) -> None:
    run.sources = plan.source_names
    run.locations = [t.location.uri for t in plan.targets]
    run.finished_at = timezone.now()
    run.duration_ms = int((time.perf_counter() - started) * 1000)
    run.objects_seen = totals.total("objects")
    run.bytes_seen = totals.total("bytes")
    run.matched_count = totals.total("matched")
    run.unmatched_count = totals.total("unmatched")
    run.unmatched_examples = list(totals.unmatched_examples)
    rate = plan.sample_rate
    if plan.mode == ScanMode.SAMPLE:
        run.estimated_objects = round(run.objects_seen / rate)
        run.estimated_bytes = round(run.bytes_seen / rate)
    run.stats = {
        "locations": [t.as_dict(rate if plan.mode == ScanMode.SAMPLE else None) for t in totals.targets],
        "outside_locations": totals.outside,
    }
    if plan.mode == ScanMode.SAMPLE:
        run.stats["estimated_matched"] = round(run.matched_count / rate)
        run.stats["estimated_unmatched"] = round(run.unmatched_count / rate)


def _fail(run: ScanRun, plan: ScanPlan, totals: ScanTotals, started: float, status: str, error: str) -> None:
    """Record the failure (run_record saves it); counts stay as far as the listing got (the run says
    failed, so they are never mistaken for a complete inventory)."""
    _fill(run, plan, totals, started)
    run.fail(error, status)
    run.estimated_objects = run.estimated_bytes = None


def scan_summary(run: ScanRun) -> dict:
    """The --json document of one scan run."""
    return {
        "id": run.pk,
        "status": run.status,
        "mode": run.mode,
        "trigger": run.trigger,
        "sources": run.sources,
        "locations": run.locations,
        "location_override": run.location_override or None,
        "manifest_uri": run.manifest_uri or None,
        "sample_rate": run.sample_rate,
        "seed": run.seed,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_ms": run.duration_ms,
        "objects": run.objects_seen,
        "bytes": run.bytes_seen,
        "matched": run.matched_count,
        "unmatched": run.unmatched_count,
        "unmatched_examples": run.unmatched_examples,
        "estimated_objects": run.estimated_objects,
        "estimated_bytes": run.estimated_bytes,
        "per_location": (run.stats or {}).get("locations", []),
        "outside_locations": (run.stats or {}).get("outside_locations", 0),
        "timings": (run.stats or {}).get("timings", {}),
        "inventory": (run.stats or {}).get("inventory"),
        "snapshot_diff": (run.stats or {}).get("snapshot_diff"),
        "swept": (run.stats or {}).get("swept"),  # what a killed run had left in the snapshot folder
        "error": run.error or None,
    }
