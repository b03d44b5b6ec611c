"""HAVE vs SHOULD as a pure function (SPEC §5, §6, §8). No database access here.

    report = analyze(AnalysisInput(data_types, catalog, have, as_of, critical_days))
    plans = plan_tasks(gaps_not_in_open_tasks, specs_by_id, max_items_per_task)

The reconcile service builds the input with reconciliation.services.specs (selectors), runs `analyze`, opens /
resolves / re-prioritises Gap rows from `report.gaps`, then calls `plan_tasks` with only the gaps
that no open (pending or claimed) task already covers — so a gap is never queued twice.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from reconciliation.choices import GapKind, PatternLevel, Priority
from reconciliation.domain.patterns import public_partition
from reconciliation.domain.seasons import current_season, previous_season, start_year
from reconciliation.domain.expectation import catalog_expectation
from reconciliation.domain.verdict import partition_verdict, verdict_rule


@dataclass(frozen=True, slots=True)
class ObjectSummary:
    key: str
    size: int
    last_modified: dt.datetime  # tz-aware UTC


class _Present:
    """The type of PRESENT."""

    __slots__ = ()

    def __repr__(self):
        return "PRESENT"


# A HAVE value meaning "present, and its newest object is neither empty nor stale": a loader that knows
# the specs and as_of (engine.have.load_have) gives it to the partitions that cannot be gaps, so that
# it never builds an ObjectSummary for them (most of a million).
PRESENT = _Present()


def is_newer(last_modified, size: int, key: str, than: ObjectSummary) -> bool:
    """Whether an object (given by its raw values, as loaders read them) decides its partition over
    `than`: the latest LastModified; on a tie, the larger; then the smaller key, only so that the
    choice is deterministic."""
    if last_modified != than.last_modified:
        return last_modified > than.last_modified
    if size != than.size:
        return size > than.size
    return key < than.key


@dataclass(frozen=True, slots=True)
class DataTypeSpec:
    id: int
    source: str
    name: str
    scraper: str
    required: bool
    freshness_days: int
    completeness_threshold: float
    min_size_bytes: int
    minutes_per_file: float
    level: str                  # PatternLevel value
    seasons: tuple[str, ...]    # the data type's normalised coverage seasons (its league's, its own, or the source's)
    dimensions: tuple = ()      # reconciliation.domain.dimensions objects, in partition order
    expected_count: int | None = None  # §10: expected_per_season / expected_count (open data types)
    labelled: bool = False      # its patterns disagree on their dimensions (all open): partitions `name=value`

    @property
    def open_dimension(self) -> str | None:
        """The first open dimension's name (the data type cannot list its partitions), else None."""
        return next((d.name for d in self.dimensions if d.is_open), None)


@dataclass(frozen=True, slots=True)
class GameSpec:
    game_id: str
    season: str
    game_date: dt.date


@dataclass(slots=True)
class AnalysisInput:
    data_types: Sequence[DataTypeSpec]
    catalog: Mapping[str, Sequence[GameSpec]]                 # source name → its games
    # (data_type_id, partition) → its newest object, or PRESENT when that object is known to be neither
    # empty nor stale for these data types as of `as_of`; absent = missing
    have: Mapping[tuple[int, str], ObjectSummary | _Present]
    as_of: dt.date
    critical_days: int = 7


@dataclass(frozen=True, slots=True)
class GapFinding:
    data_type_id: int
    source: str
    data_type: str
    season: str | None
    partition: str              # game id, ISO date, "YYYY-YY", "" (fixed)
    game_date: dt.date | None   # game date (game level) or the date (date level)
    kind: str                   # GapKind value
    priority: str               # Priority value
    object: ObjectSummary | None  # the deciding object for empty/stale
    shortfall: int | None = None  # a short gap (§10): partitions still to find

    @property
    def priority_rank(self) -> int:
        return Priority(self.priority).rank

    @property
    def sort_key(self) -> tuple:
        """Partition order of §8: game date, then partition (game id); undated partitions last."""
        return (self.game_date is None, self.game_date or dt.date.min, self.partition)


@dataclass(frozen=True, slots=True)
class CellCompleteness:
    source: str
    data_type: str
    season: str | None
    expected: int
    present: int
    completeness: float | None  # None: not judged (§10), see reason
    reason: str = ""            # why not judged: "no catalog", "open dimension NAME"
    counted: bool = False       # an open data type judged by its declared count (not by its gaps)


@dataclass(slots=True)
class AnalysisReport:
    gaps: list[GapFinding] = field(default_factory=list)
    completeness: list[CellCompleteness] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Expected partitions


def season_started_on(season: str, games: Sequence[GameSpec]) -> dt.date:
    """When a season counts as started: its first catalog game, or 1 October of its start year
    when the source's catalog has no game of that season."""
    dates = [g.game_date for g in games if g.season == season]
    return min(dates) if dates else dt.date(start_year(season), 10, 1)


Expected = tuple[dt.date | None, str]  # (game date / date, or None for season and fixed partitions; partition)


def expected_partitions(spec: DataTypeSpec, games: Sequence[GameSpec], as_of: dt.date) -> dict[str | None, list[Expected]]:
    """Season (None for fixed) → expected (day, partition) pairs as of `as_of`, for the seasons in
    coverage, in partition order (day, then partition)."""
    if spec.level == PatternLevel.FIXED:
        return {None: [(None, "")]}
    out: dict[str | None, list[Expected]] = {s: [] for s in spec.seasons}
    rule = catalog_expectation(spec, as_of)
    if rule is not None and not rule.per_date:
        for g in games:
            if rule.expects(g):
                out[g.season].append((g.game_date, g.game_id))
    elif rule is not None:
        first: dict[dt.date, str] = {}  # a date's smallest season
        for g in games:
            if rule.expects(g) and (g.game_date not in first or g.season < first[g.game_date]):
                first[g.game_date] = g.season
        for day, season in first.items():
            out[season].append((day, day.isoformat()))
    elif spec.level == PatternLevel.SEASON:
        by_season: dict[str, list[GameSpec]] = defaultdict(list)
        for g in games:
            by_season[g.season].append(g)
        for season in spec.seasons:
            if season_started_on(season, by_season.get(season, ())) <= as_of:
                out[season].append((None, season))
    else:
        raise ValueError(f"unknown level {spec.level!r}")
    for parts in out.values():
        parts.sort()  # the days of one level are all dates or all None, never compared with each other
    return out


# --------------------------------------------------------------------------------------------
# Priority


def priority_of(
    spec: DataTypeSpec,
    *,
    kind: str,
    season: str | None,
    day: dt.date | None,
    cell_completeness: float,
    as_of: dt.date,
    critical_days: int,
) -> str:
    """§6: the first rule that holds. Fixed partitions (season None): HIGH if required, else LOW."""
    if spec.level == PatternLevel.FIXED or season is None:
        return Priority.HIGH if spec.required else Priority.LOW
    if not spec.required:
        return Priority.LOW
    if kind == GapKind.STALE:
        return Priority.CRITICAL
    if day is not None and as_of - dt.timedelta(days=critical_days) < day <= as_of:
        return Priority.CRITICAL
    current = current_season(as_of)
    if season == current and cell_completeness < spec.completeness_threshold:
        return Priority.HIGH
    if season in (current, previous_season(as_of)):
        return Priority.MEDIUM
    return Priority.LOW


def analyze(inp: AnalysisInput) -> AnalysisReport:
    report = AnalysisReport()
    get, as_of = inp.have.get, inp.as_of
    # The source's game-level types (and its other types of one level) expect the same partitions
    expected: dict[tuple, dict[str | None, list[Expected]]] = {}
    specs = sorted(inp.data_types, key=lambda s: (s.source, s.name))
    stored = open_types.stored_of(inp.have, {s.id for s in specs if s.open_dimension or s.labelled})
    for spec in specs:
        games = inp.catalog.get(spec.source, ())
        reason = open_types.not_judged_reason(spec, games)
        if reason == "no catalog":
            report.completeness.extend(CellCompleteness(spec.source, spec.name, season, 0, 0, None, reason)
                                       for season in spec.seasons)
            continue
        if reason:
            open_types.analyze_open(spec, games, stored.get(spec.id, ()), inp, report, reason)
            continue
        key = (spec.source, spec.level, spec.seasons, spec.dimensions)
        if key not in expected:
            expected[key] = open_types.expand_dimensions(spec, expected_partitions(spec, games, as_of))
        dt_id, rule = spec.id, verdict_rule(spec, as_of)
        for season, parts in expected[key].items():
            judged = []
            for day, partition in parts:
                obj = get((dt_id, partition))
                if obj is not PRESENT:  # the common case, decided without a call
                    kind = partition_verdict(spec, partition, obj, as_of, rule)
                    if kind is not None:
                        judged.append((day, partition, kind, obj))
            judge_cell(spec, season, len(parts), judged, inp.as_of, inp.critical_days, report)
    return report


def judge_cell(spec: DataTypeSpec, season: str | None, expected: int, judged: Sequence[tuple], as_of: dt.date,
               critical_days: int, report: AnalysisReport) -> None:
    """One (data type, season) cell into the report: its completeness, then its gaps with their
    priorities. `judged`: (day, partition, kind, newest object or None) of the expected partitions that
    are gaps, in partition order; every other expected partition is present. Also the step of the
    database's anti-join (engine.gaps_sql), which finds `judged` without loading HAVE."""
    present = expected - len(judged)
    completeness = present / expected if expected else 1.0
    report.completeness.append(CellCompleteness(spec.source, spec.name, season, expected, present, completeness))
    for day, partition, kind, obj in judged:
        priority = priority_of(spec, kind=kind, season=season, day=day, cell_completeness=completeness,
                               as_of=as_of, critical_days=critical_days)
        report.gaps.append(GapFinding(
            data_type_id=spec.id, source=spec.source, data_type=spec.name, season=season,
            partition=partition, game_date=day, kind=str(kind), priority=str(priority),
            object=None if kind == GapKind.MISSING else obj,
        ))


# --------------------------------------------------------------------------------------------
# Task planning (§8)


@dataclass(slots=True)
class TaskPlan:
    source: str
    data_type: str
    data_type_id: int
    season: str | None
    priority: str
    gap_kind: str
    scraper: str
    gaps: list[GapFinding]
    minutes: float
    reason: str
    level: str = ""

    @property
    def partitions(self) -> list[str]:
        """The §10 partition ids (a short task has none)."""
        if self.gap_kind == GapKind.SHORT:
            return []
        return [public_partition(self.level, g.partition) for g in self.gaps]

    @property
    def game_ids(self) -> list[str]:
        return level_ids(self.partitions) if self.level == PatternLevel.GAME else []

    @property
    def dates(self) -> list[str]:
        return level_ids(self.partitions) if self.level == PatternLevel.DATE else []

    @property
    def missing_files(self) -> int:
        """Partitions to fetch: a short task's shortfall (§10), else its partitions."""
        return sum(g.shortfall or 0 for g in self.gaps) if self.gap_kind == GapKind.SHORT else len(self.gaps)

    @property
    def priority_rank(self) -> int:
        return Priority(self.priority).rank


_WHY = {
    Priority.CRITICAL: "required data for games within the last critical_days",
    Priority.HIGH: "required data; the current season is below its completeness threshold",
    Priority.MEDIUM: "required data of the current or previous season",
    Priority.LOW: "older season or optional data type",
}
_UNIT = {PatternLevel.GAME: "game", PatternLevel.DATE: "date", PatternLevel.SEASON: "season file",
         PatternLevel.FIXED: "file"}


def task_reason(spec: DataTypeSpec, season: str | None, priority: str, kind: str, count: int,
                critical_days: int | None = None) -> str:
    if kind == GapKind.SHORT:
        where = f" {season}" if season else ""
        return (f"{count} partition{'' if count == 1 else 's'} short of {spec.source}/{spec.name}{where}: "
                f"{spec.expected_count} expected (open dimension {spec.open_dimension})")
    unit = _UNIT.get(spec.level, "partition")
    what = f"{count} {kind} {unit}{'' if count == 1 else 's'} of {spec.source}/{spec.name}"
    what += f" {season}" if season else " (fixed key)"
    if kind == GapKind.STALE:
        why = f"the current season's file is older than {spec.freshness_days} days"
    elif spec.level == PatternLevel.FIXED:
        why = "required fixed key" if spec.required else "optional fixed key"
    elif priority == Priority.CRITICAL and critical_days is not None:
        why = f"required data for games of the last {critical_days} days"
    else:
        why = _WHY[Priority(priority)]
    return f"{what}: {why}"


def level_ids(partitions: Sequence[str]) -> list[str]:
    """The distinct level ids (game ids, dates) of partition ids, in order: "401/home", "401/away" → "401"."""
    return list(dict.fromkeys(p.split("/", 1)[0] for p in partitions))


def estimated_minutes(partitions: int, minutes_per_file: float) -> int | float:
    """partitions × minutes_per_file; an int when whole (the usual case), else rounded to 2 decimals."""
    value = partitions * float(minutes_per_file)
    return int(value) if value.is_integer() else round(value, 2)


def plan_tasks(
    gaps: Iterable[GapFinding],
    specs_by_id: Mapping[int, DataTypeSpec],
    max_items_per_task: int,
    *,
    critical_days: int | None = None,
) -> list[TaskPlan]:
    """Group gaps by (source, data type, season, priority, kind) into tasks of at most
    `max_items_per_task` partitions, in partition order, in as few tasks as that allows.

    Pass only the gaps that no open task already covers. Tasks come out most urgent first, then by
    source, data type, season (fixed keys last) and gap kind."""
    if max_items_per_task < 1:
        raise ValueError("max_items_per_task must be at least 1")
    groups: dict[tuple, list[GapFinding]] = defaultdict(list)
    for g in gaps:
        groups[(g.source, g.data_type, g.data_type_id, g.season, g.priority, g.kind)].append(g)

    def order(key):
        source, data_type, _id, season, priority, kind = key
        return (Priority(priority).rank, source, data_type, season is None, season or "", kind)

    plans: list[TaskPlan] = []
    for key in sorted(groups, key=order):
        source, data_type, dt_id, season, priority, kind = key
        spec = specs_by_id[dt_id]
        members = sorted(groups[key], key=lambda g: g.sort_key)
        # a short gap is a task of its own (§10)
        step = 1 if kind == GapKind.SHORT else max_items_per_task
        for i in range(0, len(members), step):
            plan = TaskPlan(
                source=source, data_type=data_type, data_type_id=dt_id, season=season, priority=priority,
                gap_kind=kind, scraper=spec.scraper, gaps=members[i:i + step], minutes=0, reason="",
                level=spec.level,
            )
            plan.minutes = estimated_minutes(plan.missing_files, spec.minutes_per_file)
            plan.reason = task_reason(spec, season, priority, kind, plan.missing_files, critical_days)
            plans.append(plan)
    return plans


# The §10 cases (open data types, dimensions): after the definitions they use (a module-level cycle).
from reconciliation.domain import open_types  # noqa: E402
