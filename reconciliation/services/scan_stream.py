"""The scan's object stream: list (or read an S3 Inventory report), sample and match into inventory batches.

    iter_batches(plan, matcher, scan_id=..., totals=...) -> RecordBatch, …  (inventory_sql.STAGING_SCHEMA)

Apart from the scan service (reconciliation.services.scan) because it writes nothing: the scan stages
these batches, and reconcile's in-memory dry run consumes the same stream as rows. Every database
query happens before the first batch, so the stream can be read ahead on another thread.
"""
from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from adce_site.cli import no_progress
from reconciliation.engine.arrow_memory import use_returning_pool
from reconciliation.engine.columnar import ColumnMatcher
from reconciliation.engine.inventory_sql import STAGING_SCHEMA
from reconciliation.engine.limits import fit_etags, fit_matches
from reconciliation.engine.readahead import read_ahead
from reconciliation.models import DataType, Source
from reconciliation.services.scan_plan import ScanPlan, ScanTotals, Target, TargetStats
from reconciliation.storage import LocationError, StorageError, list_objects, parse_location, read_inventory_report
from reconciliation.storage.batches import batches_from_tuples, tuples_from_batch

UNMATCHED_EXAMPLES = 50


def _sampler(rate: float | None, seed: int | None) -> Callable[[str], bool] | None:
    if rate is None or rate >= 1:
        return None
    threshold = int(rate * 2**32)
    start = zlib.crc32(f"{seed}:".encode())
    crc32 = zlib.crc32
    return lambda key: crc32(key.encode("utf-8", "surrogatepass"), start) < threshold


def iter_batches(plan: ScanPlan, matcher, *, scan_id: int | None, totals: ScanTotals,
                 progress: Callable[[str], None] = no_progress, report=None) -> Iterator[pa.RecordBatch]:
    """The plan's (sampled) objects as inventory batches (inventory_sql.STAGING_SCHEMA), counted into `totals`.

    `report`: the plan's inventory report already read (a scale-out scan's worker passes one holding
    only its data file). Raises StorageError as the storage layer does; whatever was yielded before is
    then void. Every database query happens before the first batch (the scan reads ahead on another thread)."""
    started = time.perf_counter()
    use_returning_pool()  # freed batches go back to the OS, not into the allocator's reserve
    context = _MatchContext.load(plan, matcher, scan_id)
    try:
        if plan.manifest_uri:
            if report is None:
                progress(f"scan: reading inventory report {plan.manifest_uri}\n")
                report = read_inventory_report(plan.manifest_uri, progress=progress,
                                               allow_empty=plan.allow_empty_report)
            targets = report_targets(plan, report.source_bucket)
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
    """iter_batches as tuples in inventory_sql.STAGING_COLUMNS order (last_modified an aware datetime)."""
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


def report_targets(plan: ScanPlan, bucket: str) -> list[Target]:
    store = f"s3://{bucket}"
    targets = [t for t in plan.targets if t.location.store == store]
    if not targets:
        wanted = ", ".join(t.location.uri for t in plan.targets)
        raise StorageError(f"{plan.manifest_uri}: the report lists bucket {bucket!r}, which holds none of the "
                           f"scanned locations ({wanted})")
    plan.targets = targets
    plan.sources = [s for s in plan.sources if any(s.name in t.sources for t in targets)]
    return targets
