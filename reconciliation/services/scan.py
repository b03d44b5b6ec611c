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

Decisions are in docs/scan-and-reconcile.md.
"""
from __future__ import annotations

import contextlib
import gc
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from django.utils import timezone

from adce_site.cli import no_progress
from adce_site.runs import run_record

import pyarrow as pa
import pyarrow.compute as pc

from adce_site.choices import RunStatus
from reconciliation.choices import ScanMode
from reconciliation.engine.columnar import ColumnMatcher
from reconciliation.engine.inventory import STAGING_SCHEMA, InventoryStaging, Region
from reconciliation.engine.limits import fit_etags, fit_matches
from reconciliation.models import DataType, ScanRun, Source
from reconciliation.engine.readahead import read_ahead
from reconciliation.storage import Location, LocationError, StorageError, list_objects, parse_location, read_inventory_report
from reconciliation.storage.batches import batches_from_tuples, tuples_from_batch

UNMATCHED_EXAMPLES = 50


class ScanInputError(ValueError):
    """Bad input found before anything was listed or written (unknown source, bad URI, bad rate)."""


class ScanFailed(Exception):
    """The listing failed or was interrupted; `run` is the recorded failed ScanRun (None in dry runs)."""

    def __init__(self, message: str, run: ScanRun | None = None):
        super().__init__(message)
        self.run = run


@dataclass
class Target:
    """One region to inventory. Keys listed under `location` are judged by the matcher as
    `match_store` + `match_prefix` + (key relative to `location`) — the same key unless overridden."""

    location: Location
    match_store: str
    match_prefix: str
    sources: list[str]

    @property
    def region(self) -> Region:
        return Region(self.location.store, self.location.prefix)

    @property
    def rerooted(self) -> bool:
        return (self.match_store, self.match_prefix) != (self.location.store, self.location.prefix)


@dataclass
class ScanPlan:
    sources: list[Source]
    targets: list[Target]
    mode: str
    location_override: str = ""
    manifest_uri: str = ""
    sample_rate: float | None = None
    seed: int | None = None
    allow_empty_report: bool = False  # an inventory report listing no data file may empty the inventory

    @property
    def source_names(self) -> list[str]:
        return [s.name for s in self.sources]


@dataclass
class TargetStats:
    uri: str
    objects: int = 0
    bytes: int = 0
    matched: int = 0
    unmatched: int = 0
    seconds: float = 0.0

    def as_dict(self, rate: float | None = None) -> dict:
        d = {"uri": self.uri, "objects": self.objects, "bytes": self.bytes, "matched": self.matched,
             "unmatched": self.unmatched, "seconds": round(self.seconds, 3)}
        if rate:
            d["estimated_objects"] = round(self.objects / rate)
            d["estimated_bytes"] = round(self.bytes / rate)
        return d


@dataclass
class ScanTotals:
    targets: list[TargetStats]
    unmatched_examples: list[str] = field(default_factory=list)
    outside: int = 0  # inventory-report keys outside every selected location (not taken)
    list_seconds: float = 0.0

    def total(self, attr: str) -> int:
        return sum(getattr(t, attr) for t in self.targets)


# --------------------------------------------------------------------------------------------
# Plan (validation only: nothing is written before it succeeds)


def minimal_locations(locations: Sequence[Location]) -> list[Location]:
    """Drop every location contained in another one of the list (same store, prefix extends)."""
    kept: list[Location] = []
    for loc in sorted(set(locations), key=lambda l: (l.store, len(l.prefix), l.prefix)):
        if not any(k.store == loc.store and loc.prefix.startswith(k.prefix) for k in kept):
            kept.append(loc)
    return kept


def scan_plan(*, sources: Sequence[str] | None = None, location: str | None = None,
              manifest_uri: str | None = None, sample_rate: float | None = None,
              seed: int | None = None, allow_empty_report: bool = False) -> ScanPlan:
    """Validate the scan's arguments against the coverage; ScanInputError names what is wrong."""
    if sample_rate is not None:
        if not (0 < float(sample_rate) <= 1):
            raise ScanInputError(f"--sample-rate: {sample_rate} is not in (0, 1]")
        seed = 0 if seed is None else int(seed)
    elif seed is not None:
        raise ScanInputError("--seed needs --sample-rate")
    if location and (not sources or len(sources) != 1):
        raise ScanInputError("--location needs exactly one --source (the source whose location it replaces)")

    if sources:
        by_name = {s.name: s for s in Source.objects.filter(name__in=list(sources))}
        for name in sources:
            if name not in by_name:
                raise ScanInputError(f"--source: unknown source {name!r}")
            if not by_name[name].active:
                raise ScanInputError(f"--source: source {name!r} is not active (it left the coverage file)")
        selected = [by_name[n] for n in dict.fromkeys(sources)]
    else:
        selected = list(Source.objects.filter(active=True).order_by("name"))
        if not selected:
            raise ScanInputError("no active source to scan: import a coverage file first (import_coverage)")

    configured: dict[str, Location] = {}
    for src in selected:
        try:
            configured[src.name] = parse_location(src.location)
        except LocationError as exc:
            raise ScanInputError(f"source {src.name!r}: location: {exc}") from None

    override = None
    if location:
        try:
            override = parse_location(location)
        except LocationError as exc:
            raise ScanInputError(f"--location: {exc}") from None

    mode = ScanMode.SAMPLE if sample_rate is not None else (ScanMode.INVENTORY_REPORT if manifest_uri else ScanMode.LIST)
    if override is not None:
        src = selected[0]
        home = configured[src.name]
        targets = [Target(override, home.store, home.prefix, [src.name])]
    else:
        targets = []
        for loc in sorted(minimal_locations(configured.values()), key=lambda l: (l.store, l.prefix)):
            names = [n for n, l in configured.items() if l.store == loc.store and l.prefix.startswith(loc.prefix)]
            targets.append(Target(loc, loc.store, loc.prefix, names))
    if manifest_uri:
        try:
            parse_location(manifest_uri)
        except LocationError as exc:
            raise ScanInputError(f"--inventory-manifest: {exc}") from None
        # Which targets lie in the report's bucket is only known once the manifest is read; targets
        # on other stores are dropped then (see _report_targets).
        if any(t.location.scheme != "s3" for t in targets) and override is not None:
            raise ScanInputError("--location: an inventory report lists an S3 bucket; the location must be s3://")
    return ScanPlan(
        sources=selected, targets=targets, mode=str(mode), location_override=override.uri if override else "",
        manifest_uri=manifest_uri or "", sample_rate=float(sample_rate) if sample_rate is not None else None,
        seed=seed, allow_empty_report=allow_empty_report,
    )


# --------------------------------------------------------------------------------------------
# The object stream (shared by scan_run and reconcile's in-memory dry run)


def _sampler(rate: float | None, seed: int | None) -> Callable[[str], bool] | None:
    if rate is None or rate >= 1:
        return None
    threshold = int(rate * 2**32)
    start = zlib.crc32(f"{seed}:".encode())
    crc32 = zlib.crc32
    return lambda key: crc32(key.encode("utf-8", "surrogatepass"), start) < threshold


def iter_batches(plan: ScanPlan, matcher, *, scan_id: int | None, totals: ScanTotals,
                 progress: Callable[[str], None] = no_progress) -> Iterator[pa.RecordBatch]:
    """The plan's (sampled) objects as inventory batches (inventory.STAGING_SCHEMA), counted into `totals`.

    Raises StorageError as the storage layer does; whatever was yielded before is then void.
    Every database query happens before the first batch (the scan reads ahead on another thread)."""
    started = time.perf_counter()
    context = _MatchContext.load(plan, matcher, scan_id)
    try:
        if plan.manifest_uri:
            progress(f"scan: reading inventory report {plan.manifest_uri}\n")
            report = read_inventory_report(plan.manifest_uri, progress=progress,
                                           allow_empty=plan.allow_empty_report)
            targets = _report_targets(plan, report.source_bucket)
            totals.targets[:] = [TargetStats(t.location.uri) for t in targets]
            # Reading (gzip, CSV) on a thread of its own, ahead of matching: both run in Arrow, off the GIL.
            yield from _batches(context, totals, list(zip(targets, totals.targets)), read_ahead(report.iter_arrow(), depth=1))
        else:
            for target, stats in zip(plan.targets, totals.targets):
                t0 = time.perf_counter()
                try:
                    objects = _announced(list_objects(target.location, progress=progress), progress,
                                         f"scan: listing {target.location.uri}\n")
                    listing = batches_from_tuples(_tuples(objects))
                    yield from _batches(context, totals, [(target, stats)], listing)
                finally:
                    stats.seconds = time.perf_counter() - t0
    finally:
        totals.list_seconds = time.perf_counter() - started


def iter_rows(plan: ScanPlan, matcher, *, scan_id: int | None, totals: ScanTotals,
              progress: Callable[[str], None] = no_progress) -> Iterator[tuple]:
    """iter_batches as tuples in inventory.STAGING_COLUMNS order (last_modified an aware datetime)."""
    for batch in iter_batches(plan, matcher, scan_id=scan_id, totals=totals, progress=progress):
        yield from tuples_from_batch(batch)


def _announced(objects, progress, message: str):
    """`objects`, saying `message` once the listing answered: a location that does not exist or cannot
    be read fails on its first page, and then the error is the only line the operator sees."""
    it = iter(objects)
    first = next(it, None)
    progress(message)
    if first is not None:
        yield first
        yield from it


def _tuples(objects) -> Iterator[tuple]:
    for o in objects:
        yield (o.key, o.size, o.last_modified, o.etag)


@dataclass
class _MatchContext:
    """What matching a scan's batches needs from the database, read once."""

    scan_id: int | None
    sampled: Callable[[str], bool] | None
    columns: ColumnMatcher
    type_ids: pa.Array
    type_sources: pa.Array
    source_ids: dict
    owners: list

    @classmethod
    def load(cls, plan: ScanPlan, matcher, scan_id) -> _MatchContext:
        types = list(DataType.objects.values_list("id", "source_id"))
        # Unmatched keys belong to the source whose location holds them, the longest location first
        # (applied shortest first, so the longest wins; among equal ones, the first listed).
        owners = sorted(((parse_location(loc), n, sid) for n, (sid, loc) in
                         enumerate(Source.objects.filter(active=True).values_list("id", "location")) if _parses(loc)),
                        key=lambda o: (len(o[0].prefix), -o[1]))
        return cls(scan_id=scan_id, sampled=_sampler(plan.sample_rate, plan.seed), columns=ColumnMatcher(matcher),
                   type_ids=pa.array([t[0] for t in types], pa.int64()),
                   type_sources=pa.array([t[1] for t in types], pa.int64()),
                   source_ids={s.name: s.pk for s in plan.sources}, owners=owners)


def _batches(context: _MatchContext, totals: ScanTotals, targets: list, batches) -> Iterator[pa.RecordBatch]:
    """Column by column, per batch of objects: route each key to its target (targets are disjoint),
    sample, match, and build the inventory batch. The same rules as PartitionMatcher.match one key
    at a time (reconciliation.engine.columnar), at C speed: this runs over every object of the lake."""
    sampled = context.sampled
    examples = totals.unmatched_examples
    for batch in batches:
        for target, stats in targets:
            prefix = target.location.prefix
            if prefix:
                inside = pc.starts_with(batch.column(0), prefix)
                part, batch = batch.filter(inside), batch.filter(pc.invert(inside))
            else:
                part, batch = batch, batch.slice(0, 0)
            if sampled is not None and part.num_rows:
                part = part.filter(pa.array([sampled(k) for k in part.column(0).to_pylist()], pa.bool_()))
            if part.num_rows:
                yield _inventory_batch(part, target, stats, context, examples)
            if not batch.num_rows:
                break
        totals.outside += batch.num_rows


def _inventory_batch(part, target: Target, stats: TargetStats, context: _MatchContext, examples) -> pa.RecordBatch:
    keys, n = part.column(0), part.num_rows
    stats.objects += n
    stats.bytes += pc.sum(part.column(1)).as_py() or 0
    if target.rerooted:  # judged as if under the source's own location (a --location override: rare)
        cut, reroot = len(target.location.prefix), target.match_prefix
        match_keys = pa.array([reroot + k[cut:] for k in keys.to_pylist()], pa.string())
    else:
        match_keys = keys
    data_types, partitions = context.columns.match(target.match_store, match_keys)
    data_types, partitions = fit_matches(data_types, partitions)
    matched = pc.is_valid(data_types)
    hits = pc.sum(matched).as_py() or 0
    stats.matched += hits
    stats.unmatched += n - hits
    owner = pa.repeat(pa.scalar(context.source_ids.get(target.sources[0]), pa.int64()), n)
    if hits < n:
        for loc, _n, sid in context.owners:
            if loc.store == target.match_store:
                owner = pc.if_else(pc.starts_with(match_keys, loc.prefix), pa.scalar(sid, pa.int64()), owner)
        if len(examples) < UNMATCHED_EXAMPLES:
            missed = keys.filter(pc.invert(matched)).slice(0, UNMATCHED_EXAMPLES - len(examples)).to_pylist()
            examples.extend(f"{target.location.store}/{k}" for k in missed)
    sources = pc.if_else(matched, context.type_sources.take(pc.index_in(data_types, value_set=context.type_ids)), owner)
    etags = fit_etags(part.column(3))
    store = pa.repeat(pa.scalar(target.location.store, pa.string()), n)
    scans = pa.repeat(pa.scalar(context.scan_id, pa.int64()), n)
    return pa.RecordBatch.from_arrays(
        [store, keys, part.column(1), part.column(2), etags, sources, data_types, partitions, scans],
        schema=STAGING_SCHEMA)


def _parses(uri: str) -> bool:
    try:
        parse_location(uri)
        return True
    except LocationError:
        return False


def _report_targets(plan: ScanPlan, bucket: str) -> list[Target]:
    store = f"s3://{bucket}"
    targets = [t for t in plan.targets if t.location.store == store]
    if not targets:
        wanted = ", ".join(t.location.uri for t in plan.targets)
        raise StorageError(f"{plan.manifest_uri}: the report lists bucket {bucket!r}, which holds none of the "
                           f"scanned locations ({wanted})")
    plan.targets = targets
    plan.sources = [s for s in plan.sources if any(s.name in t.sources for t in targets)]
    return targets


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
    # The run holds its advisory lock while it runs: if the process dies, the next scan's sweep marks
    # this row failed (adce_site.runs).
    with run_record(ScanRun, mode=plan.mode, trigger=trigger, sources=plan.source_names,
                    locations=[t.location.uri for t in plan.targets], location_override=plan.location_override,
                    manifest_uri=plan.manifest_uri, sample_rate=plan.sample_rate, seed=plan.seed) as run:
        totals = ScanTotals(targets=[TargetStats(t.location.uri) for t in plan.targets])
        try:
            _scan(run, plan, matcher, totals, started, progress)
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
        # An inventory report is a bounded, fast read: the first ingest may bulk-load it.
        with InventoryStaging(bulk=plan.mode == ScanMode.INVENTORY_REPORT) as staging:
            for batch in read_ahead(batches):
                staging.add_batch(batch)
            progress(f"scan: {totals.total('objects')} objects listed; writing the inventory\n")
            t0 = time.perf_counter()

            def mark_complete():
                # inside the swap's transaction: the inventory and "completed" commit together
                _finish(run, plan, totals, started, time.perf_counter() - t0)
                run.save()

            swap = staging.replace([t.region for t in plan.targets], on_swapped=mark_complete)
            run.stats["inventory"] = swap
            run.stats["timings"]["write"] = round(time.perf_counter() - t0, 3)
            # The run's duration and finish include the commit of the swap (a bulk load's
            # commit is a good part of its write).
            run.duration_ms = int((time.perf_counter() - started) * 1000)
            run.finished_at = timezone.now()
            ScanRun.objects.filter(pk=run.pk).update(stats=run.stats, duration_ms=run.duration_ms,
                                                     finished_at=run.finished_at)


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
        "error": run.error or None,
    }
