"""Reads of the reconciliation app: task documents (§8 tasks[]), the coverage matrix, gap/task queries.

The documents are JSON-ready (strings, ints, lists), so any caller can dump them as they are.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from adce_site.choices import RunStatus
from adce_site.iterables import chunks
from reconciliation.domain.analysis import estimated_minutes, level_ids
from reconciliation.domain.patterns import public_partition
from reconciliation.choices import GapKind, GapStatus, PatternLevel, ScanMode, TaskStatus
from reconciliation.models import DataType, Gap, ReconcileRun, ScanRun, Source, Task

# Gap statuses that still mean "the partition is not there" (completeness counts both).
LIVE_GAP_STATUSES = (GapStatus.OPEN, GapStatus.IGNORED)
_IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's variable limit


def iso_z(value: dt.datetime | None) -> str | None:
    """UTC ISO-8601 with a trailing Z, second precision (the §8 file's timestamp form)."""
    if value is None:
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --- task documents -------------------------------------------------------------------------------


def task_queue_entry(task: Task, partitions: list[str]) -> dict:
    """A task as one entry of the §8 queue file's `tasks[]`, with its open partitions (in order)."""
    level = task.data_type.level
    if task.gap_kind == GapKind.SHORT:  # §10: no partition to name, only how many are still to find
        missing = sum(Gap.objects.filter(task=task, status=GapStatus.OPEN).values_list("shortfall", flat=True)
                      .exclude(shortfall=None))
        partitions = []
    else:
        partitions = [public_partition(level, p) for p in partitions]
        missing = len(partitions)
    return {
        "id": str(task.pk),
        "priority": task.priority.upper(),
        "gap_type": task.gap_kind.lower(),
        "source": task.source.name,
        "data_type": task.data_type.name,
        "season": task.season or None,
        "scraper": task.scraper,
        "game_ids": level_ids(partitions) if level == PatternLevel.GAME else [],
        "dates": level_ids(partitions) if level == PatternLevel.DATE else [],
        "partitions": partitions,
        "missing_files": missing,
        "estimated_time_minutes": estimated_minutes(missing, task.data_type.minutes_per_file),
        "reason": task.reason,
        "created_at": iso_z(task.created_at),
        "status": task.status,
    }


def _document(task: Task, partitions: list[str]) -> dict:
    """The queue entry plus what a claimer needs: attempts, lease and last error."""
    return {
        **task_queue_entry(task, partitions),
        "attempts": task.attempts,
        "max_attempts": task.max_attempts,
        "claimed_by": task.claimed_by,
        "claimed_at": iso_z(task.claimed_at),
        "lease_expires_at": iso_z(task.lease_expires_at),
        "last_error": task.last_error,
    }


def open_partitions_by_task(task_ids: Iterable) -> dict:
    """{task_id: [partition, …]} of the tasks' still-open gaps, in partition order (game date, then
    partition: game id or ISO date; undated last, as the queue file). One query per 500 tasks."""
    ids = list(task_ids)
    result: dict = defaultdict(list)
    for chunk in chunks(ids, _IN_CHUNK):
        rows = (
            Gap.objects.filter(task_id__in=chunk, status=GapStatus.OPEN)
            .order_by("task_id", F("game_date").asc(nulls_last=True), "partition")
            .values_list("task_id", "partition")
        )
        for task_id, partition in rows.iterator(chunk_size=5000):
            result[task_id].append(partition)
    return result


def task_document(task: Task) -> dict:
    """One task as in the §8 file's tasks[] (plus attempts, lease and last error), with its open
    partitions."""
    return task_documents([task])[0]


def task_documents(tasks: QuerySet | Iterable[Task]) -> list[dict]:
    """Documents of many tasks in their given order: the tasks in one query, their open gaps in one
    more query per 500 tasks."""
    if isinstance(tasks, QuerySet):
        tasks = tasks.select_related("source", "data_type")
    tasks = list(tasks)
    partitions = open_partitions_by_task(t.pk for t in tasks)
    return [_document(t, partitions.get(t.pk, [])) for t in tasks]


# --- task and gap queries -------------------------------------------------------------------------


def tasks_query(*, status: str | None = None, scraper: str | None = None, source: str | None = None) -> QuerySet:
    qs = Task.objects.select_related("source", "data_type").order_by("priority_rank", "created_at", "id")
    if status:
        qs = qs.filter(status=status)
    if scraper:
        qs = qs.filter(scraper=scraper)
    if source:
        qs = qs.filter(source__name=source)
    return qs


def with_open_gap_counts(qs: QuerySet) -> QuerySet:
    """Annotate tasks with `open_gaps`, the number of their still-open partitions."""
    return qs.annotate(open_gaps=Count("gaps", filter=Q(gaps__status=GapStatus.OPEN)))


def gap_expected_objects(gap: Gap) -> list[dict]:
    """For the gap page: under each path pattern of the gap's data type, the key it expects for the
    gap's partition (relative, and as a URI under the source's location) and what the inventory holds
    there now (one indexed lookup per pattern)."""
    from reconciliation.domain.patterns import expected_key
    from reconciliation.object_selectors import object_at
    from reconciliation.storage.locations import LocationError, parse_location

    if gap.kind == GapKind.SHORT:  # §10: a count, not a partition: no key to expect
        return []
    try:
        location = parse_location(gap.source.location)
    except LocationError:
        location = None
    rows = []
    for pattern in gap.data_type.path_patterns or []:
        relative = expected_key(pattern, partition=gap.partition, season=gap.season, day=gap.game_date)
        stored = None
        if location is not None and "{" not in relative:
            found = object_at(location.store, location.prefix + relative)
            stored = found and {"size": found["size"], "last_modified": found["last_modified"]}
        rows.append({"pattern": pattern, "relative": relative,
                     "uri": (location.uri if location else gap.source.location) + relative, "stored": stored})
    return rows


def stored_object_search(queryset: QuerySet, term: str) -> QuerySet:
    """The stored objects whose key starts with `term`, read as any of: a key relative to a source's
    location (`espn_play_by_play/4018`, as the path patterns write it), a full key in its store, or a
    URI (`s3://bucket/key…`, `file:///path…`). Prefix lookups only: each alternative uses the
    (key, store) index, where a substring search would read every row."""
    from reconciliation.object_selectors import search_where, where_q

    # the term's reading is stated once (domain.object_query.search_prefixes), for this and the files' browser
    return queryset.filter(where_q(search_where(term))) if term.strip() else queryset


def known_scrapers() -> set[str]:
    """Scrapers named by a source or by any task."""
    return set(Source.objects.values_list("scraper", flat=True)) | set(
        Task.objects.values_list("scraper", flat=True).distinct()
    )


def scraper_known(scraper: str) -> bool:
    """Whether a source or any task names this scraper (two index-free EXISTS, no full listing)."""
    return Source.objects.filter(scraper=scraper).exists() or Task.objects.filter(scraper=scraper).exists()


def last_completed_scan() -> ScanRun | None:
    """The newest scan that finished completely (sampled scans excluded: they only estimate)."""
    return (ScanRun.objects.filter(status=RunStatus.COMPLETED).exclude(mode=ScanMode.SAMPLE)
            .exclude(finished_at=None).order_by("-finished_at").first())


def last_completed_reconcile() -> ReconcileRun | None:
    return (ReconcileRun.objects.filter(status=RunStatus.COMPLETED, dry_run=False)
            .exclude(finished_at=None).order_by("-finished_at").first())


# --- coverage matrix ------------------------------------------------------------------------------

NO_SEASON = ""  # column key of fixed-key data types
AMBER_BAND = 0.20  # amber: below the threshold by less than 20 points; red below that


@dataclass
class CoverageCell:
    source: str
    source_id: int
    data_type: str
    data_type_id: int
    season: str  # NO_SEASON for fixed keys
    expected: int | None  # None: no reconcile has measured this cell yet
    gaps: int  # live gaps (open + ignored) now
    open_gaps: int
    threshold: float
    not_judged: str = ""  # §10: why the latest reconcile could not judge this cell ("no catalog", …)
    counted: float | None = None  # §10: an open data type's completeness by its declared count

    @property
    def completeness(self) -> float | None:
        """(expected − live gaps) / expected, with `expected` from the latest completed reconcile and
        gaps counted now (so resolutions since then show at once); 1.0 when nothing is expected.
        None when not measured yet or not judged; an open data type's count-based value as measured."""
        if self.expected is None or self.not_judged:
            return None
        if self.counted is not None:
            return self.counted
        if self.expected == 0:
            return 1.0
        return max(0, self.expected - self.gaps) / self.expected

    @property
    def percent(self) -> float | None:
        c = self.completeness
        return None if c is None else round(c * 100, 1)

    @property
    def colour(self) -> str:
        c = self.completeness
        if self.not_judged:
            return "notjudged"
        if c is None:
            return "unknown"
        if c >= self.threshold:
            return "green"
        if c >= self.threshold - AMBER_BAND:
            return "amber"
        return "red"


@dataclass
class CoverageRow:
    source: str
    data_type: str
    data_type_id: int
    threshold: float
    cells: list = field(default_factory=list)  # one per column; None where the type has no such season


@dataclass
class CoverageMatrix:
    seasons: list[str]
    rows: list[CoverageRow]
    run: ReconcileRun | None


def _summary_cells(run: ReconcileRun | None) -> dict[tuple[str, str, str], dict]:
    """{(source, data type, season or ""): {expected, not_judged, counted}} from a reconcile run's summary.

    Accepts `summary["completeness"]` as a list of {source, data_type, season, expected, …} (the
    analysis' CellCompleteness) or nested {source: {type: {season: {expected, …}}}}."""
    if run is None or not isinstance(run.summary, dict):
        return {}
    data = run.summary.get("completeness")
    cells: dict[tuple[str, str, str], dict] = {}
    if isinstance(data, list):
        for item in data:
            if isinstance(item, dict) and "expected" in item:
                key = (str(item.get("source")), str(item.get("data_type")), item.get("season") or NO_SEASON)
                cells[key] = {"expected": int(item["expected"]), "not_judged": str(item.get("not_judged") or ""),
                              "counted": item.get("completeness") if item.get("counted") else None}
    elif isinstance(data, dict):
        for src, types in data.items():
            for name, seasons in (types or {}).items():
                for season, cell in (seasons or {}).items():
                    if isinstance(cell, dict) and "expected" in cell:
                        season_key = NO_SEASON if season in (None, "", "null", "None") else season
                        cells[(src, name, season_key)] = {"expected": int(cell["expected"])}
    return cells


def coverage_matrix() -> CoverageMatrix:
    """Rows (source × data type) × columns (seasons) of completeness cells for the admin page."""
    run = last_completed_reconcile()
    expected = _summary_cells(run)
    live: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: {"gaps": 0, "open": 0})
    for dt_id, season, status, n in (
        Gap.objects.filter(status__in=LIVE_GAP_STATUSES)
        .values_list("data_type_id", "season", "status").annotate(n=Count("id")).order_by()
    ):
        cell = live[(dt_id, season or NO_SEASON)]
        cell["gaps"] += n
        if status == GapStatus.OPEN:
            cell["open"] += n
    types = list(DataType.objects.filter(active=True, source__active=True).select_related("source")
                 .order_by("source__name", "name"))
    seasons: set[str] = set()
    per_type: dict[int, list[str]] = {}
    for t in types:
        if t.level == PatternLevel.FIXED:
            type_seasons = [NO_SEASON]
        else:
            type_seasons = sorted({*(t.seasons or t.source.seasons or [])}
                                  | {s for (src, name, s) in expected if src == t.source.name and name == t.name}
                                  | {s for (dt_id, s) in live if dt_id == t.pk})
        per_type[t.pk] = type_seasons
        seasons.update(type_seasons)
    # Seasons ascending; the fixed-key column last.
    columns = sorted(s for s in seasons if s != NO_SEASON) + ([NO_SEASON] if NO_SEASON in seasons else [])
    rows = []
    for t in types:
        row = CoverageRow(source=t.source.name, data_type=t.name, data_type_id=t.pk,
                          threshold=t.completeness_threshold)
        for season in columns:
            if season not in per_type[t.pk]:
                row.cells.append(None)
                continue
            counts = live.get((t.pk, season), {"gaps": 0, "open": 0})
            measured = expected.get((t.source.name, t.name, season), {})
            row.cells.append(CoverageCell(
                source=t.source.name, source_id=t.source_id, data_type=t.name, data_type_id=t.pk,
                season=season, expected=measured.get("expected"),
                gaps=counts["gaps"], open_gaps=counts["open"], threshold=t.completeness_threshold,
                not_judged=measured.get("not_judged", ""), counted=measured.get("counted"),
            ))
        rows.append(row)
    return CoverageMatrix(seasons=columns, rows=rows, run=run)


def task_status_counts() -> dict[str, int]:
    counts = dict.fromkeys(TaskStatus.values, 0)
    for status, n in Task.objects.values_list("status").annotate(n=Count("id")).order_by():
        counts[status] = n
    return counts
