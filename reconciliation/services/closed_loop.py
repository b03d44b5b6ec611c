"""The closed loop: single objects and finished scrapers move gaps and tasks between reconciles.

    s3_object_created(store, info) / s3_object_removed(store, key)   # an S3 event, already ordered
    gaps_rejudge(pairs)                                               # after an upload or a verification
    short_gaps_rejudge(data_type_id)                                  # after a verification listed its region
    scraper_tasks_complete(scraper=…, task_ids=…)                    # a scraper says it finished

The events app records, authenticates and orders the deliveries (events.services); the inventory,
gap and task work is here. Nothing here opens a gap: that needs the catalog and a complete scan.
"""
from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from reconciliation.choices import GapKind, GapStatus, TaskStatus
from reconciliation.domain.verdict import partition_verdict
from reconciliation.engine.have import have_from_rows
from reconciliation.engine.inventory_objects import objects_delete, objects_upsert
from reconciliation.models import DataType, Gap, Source, Task
from reconciliation.object_selectors import partition_objects
from reconciliation.services.task_queue import tasks_finish_resolved

UTC = dt.timezone.utc


def s3_object_created(store: str, info) -> dict:
    """An uploaded object (ObjectInfo) into the inventory, matched and fitted as a scan would, then its
    partition's gap re-judged."""
    partitions = sorted(objects_upsert(store, [info]))
    rejudged = gaps_rejudge(partitions) if partitions else None
    return {"action": "upsert", "store": store, "key": info.key, "partitions": [list(p) for p in partitions],
            "rejudged": rejudged}


def s3_object_removed(store: str, key: str) -> dict:
    """A removed object out of the inventory. Removal alone opens no gap (an event is not a complete
    scan): the next reconcile does."""
    partitions = sorted(objects_delete(store, [key]))
    return {"action": "remove", "store": store, "key": key, "partitions": [list(p) for p in partitions]}


def gaps_rejudge(data_type_partitions, *, as_of: dt.date | None = None, now: dt.datetime | None = None) -> int:
    """Re-judge single partitions after objects_upsert (an S3 upload, a verification): resolve their
    open gaps when the newest object now passes the verdict (present, not empty, not stale) and finish
    tasks left with no open gap. Returns the number of gaps resolved."""
    now = now or timezone.now()
    as_of = as_of or now.astimezone(UTC).date()
    pairs = {(int(d), str(p)) for d, p in data_type_partitions if d is not None}
    if not pairs:
        return 0
    types = {t.pk: t for t in DataType.objects.filter(pk__in={d for d, _ in pairs})}
    # Judge first, outside the write: on SQLite a transaction that reads and then writes fails at once
    # ("database is locked", no busy wait) when another process wrote in between; one that starts with
    # its write waits its turn. The update stays conditional on the gap still being open.
    passing = []
    for dt_id, partition in sorted(pairs):
        spec = types.get(dt_id)
        gap = Gap.objects.filter(data_type_id=dt_id, partition=partition, status=GapStatus.OPEN).first()
        if spec is None or gap is None:
            continue
        rows = partition_objects(dt_id, [partition])  # every store, held in rows or in files
        newest = have_from_rows(rows).get((dt_id, partition))
        if partition_verdict(spec, partition, newest, as_of) is None:
            passing.append(gap.pk)
    if not passing:
        return 0
    with transaction.atomic():
        resolved = Gap.objects.filter(pk__in=passing, status=GapStatus.OPEN).update(
            status=GapStatus.RESOLVED, resolved_at=now)
        if resolved:
            tasks_finish_resolved(now=now)
    return resolved


def short_gaps_rejudge(data_type_id: int, *, as_of: dt.date | None = None, now: dt.datetime | None = None) -> int:
    """Re-judge the open `short` gaps (§10) of one open data type by the analysis reconcile runs (its
    stored partitions from the inventory, its source's catalog), after a verification refreshed the
    inventory of its region: a season that is no longer short resolves its gap. A season still short
    keeps its gap; the next reconcile updates its shortfall. Returns the number of gaps resolved."""
    from reconciliation.domain.analysis import AnalysisInput, analyze
    from reconciliation.engine.have import have_snapshot, load_have
    from reconciliation.services.specs import catalog_specs, data_type_specs, reconciliation_settings

    now = now or timezone.now()
    as_of = as_of or now.astimezone(UTC).date()
    open_short = Gap.objects.filter(data_type_id=data_type_id, kind=GapKind.SHORT, status=GapStatus.OPEN)
    spec = next((s for s in data_type_specs(active_only=False) if s.id == data_type_id), None)
    if spec is None or not open_short.exists():
        return 0
    with have_snapshot():
        have = load_have([spec], as_of)
    report = analyze(AnalysisInput(data_types=[spec], catalog=catalog_specs(sources=[spec.source]), have=have,
                                   as_of=as_of, critical_days=reconciliation_settings().critical_days))
    still_short = [g.partition for g in report.gaps if g.kind == GapKind.SHORT]
    with transaction.atomic():
        resolved = open_short.exclude(partition__in=still_short).update(status=GapStatus.RESOLVED, resolved_at=now)
        if resolved:
            tasks_finish_resolved(now=now)
    return resolved


def scraper_tasks_complete(*, scraper: str = "", task_ids=(), source: str = "") -> dict:
    """Complete the claimed tasks (of `task_ids`, else of `scraper`, else of `source`'s scraper) whose
    gaps are all resolved; the others stay claimed (their data is not seen yet) until a later event,
    reconcile or lease expiry."""
    if not scraper and not task_ids and source:
        scraper = Source.objects.filter(name=source).values_list("scraper", flat=True).first() or ""
    claimed = Task.objects.filter(status=TaskStatus.CLAIMED)
    if task_ids:
        claimed = claimed.filter(pk__in=[str(t) for t in task_ids])
    elif scraper:
        claimed = claimed.filter(scraper=scraper)
    else:
        return {"scraper": "", "completed": [], "waiting": [], "note": "no scraper or task ids to complete"}
    candidates = [str(pk) for pk in claimed.values_list("pk", flat=True)]
    completed = {str(pk) for pk in tasks_finish_resolved(candidates)}
    return {"scraper": scraper, "completed": [t for t in candidates if t in completed],
            "waiting": [t for t in candidates if t not in completed]}
