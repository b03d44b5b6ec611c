"""Expected coverage (SPEC §5): parse + validate the YAML (pure), and `coverage_import` (the write).

Every problem is a CoverageError "FILE: key.path: what is wrong" — the first one found, in file
order — and nothing is written. Shapes of the original data_inventory.yaml are accepted: seasons as a
list, a scalar, ints (end years) or "YYYY-YYYY" ranges, or per league (§10); several path_patterns (or
one string); dimensions; the original's extra keys (services.coverage_extras: kept or ignored with one
warning). Other unknown top-level sections (the original's current_inventory, gaps_detected…) are
ignored; other unknown keys inside a source or data type are errors (a typo must not silently fall back
to a default).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.db import transaction
from django.utils import timezone

from adce_site.storable import first_unstorable
from adce_site.yaml_limits import UniqueKeyLoader, read_yaml_text, yaml_limits_problem

from reconciliation.choices import PatternLevel
from reconciliation.models import DataType, ReconciliationSettings, Source
from reconciliation.domain.patterns import PatternError, compile_pattern
from reconciliation.services import coverage_extras as extras
from reconciliation.services.specs import dimension_catalog_names

DEFAULTS = {
    "required": True,
    "freshness_days": 7,
    "completeness_threshold": 0.95,
    "min_size_bytes": 1,
    "minutes_per_file": 2,
}
SETTINGS_DEFAULTS = {"critical_days": 7, "max_items_per_task": 100}
SOURCE_KEYS = {"scraper", "location", "seasons", "data_types", "description", "notes", "dimensions"} | (
    extras.KEPT_KEYS | extras.IGNORED_KEYS)
DATA_TYPE_KEYS = set(DEFAULTS) | {"path_patterns", "description", "notes", "dimensions", "league", "seasons",
                                  *extras.COUNT_KEYS} | extras.KEPT_KEYS | extras.IGNORED_KEYS
NAME_MAX = 100


class CoverageError(ValueError):
    """Bad coverage input; the message is one line naming the file and the key path."""


@dataclass(frozen=True, slots=True)
class DataTypeConfig:
    name: str
    required: bool
    freshness_days: int
    completeness_threshold: float
    min_size_bytes: int
    minutes_per_file: float
    path_patterns: tuple[str, ...]
    level: str
    seasons: tuple[str, ...] = ()              # empty: the source's
    dimensions: tuple[tuple[str, tuple[str, ...]], ...] = ()  # closed values from the YAML (own or source's)
    expected_count: int | None = None
    description: str = ""
    priority: str = ""
    tier: str = ""


@dataclass(frozen=True, slots=True)
class SourceConfig:
    name: str
    scraper: str
    location: str  # canonical URI
    seasons: tuple[str, ...]
    data_types: tuple[DataTypeConfig, ...]


@dataclass(frozen=True, slots=True)
class CoverageConfig:
    sources: tuple[SourceConfig, ...]
    critical_days: int
    max_items_per_task: int
    warnings: tuple[str, ...] = ()


@dataclass(slots=True)
class CoverageImportResult:
    path: str
    dry_run: bool
    sources_created: list[str] = field(default_factory=list)
    sources_updated: list[str] = field(default_factory=list)
    sources_deactivated: list[str] = field(default_factory=list)
    data_types_created: list[str] = field(default_factory=list)
    data_types_updated: list[str] = field(default_factory=list)
    data_types_deactivated: list[str] = field(default_factory=list)
    critical_days: int = 7
    max_items_per_task: int = 100
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        return (
            f"{self.path}: {verb} {len(self.sources_created) + len(self.sources_updated)} sources "
            f"({len(self.sources_created)} new, {len(self.sources_deactivated)} deactivated), "
            f"{len(self.data_types_created) + len(self.data_types_updated)} data types "
            f"({len(self.data_types_created)} new, {len(self.data_types_deactivated)} deactivated); "
            f"critical_days={self.critical_days}, max_items_per_task={self.max_items_per_task}"
        )


# --------------------------------------------------------------------------------------------
# YAML loading: bounded first, duplicate keys are errors (adce_site.yaml_limits)


def _load_yaml(text: str, label: str):
    problem = yaml_limits_problem(text)
    if problem:
        raise CoverageError(f"{label}: refused before parsing: {problem}")
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark else ""
        raise CoverageError(f"{label}: invalid YAML: {where}{exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise CoverageError(f"{label}: invalid YAML: {exc}") from None


# --------------------------------------------------------------------------------------------
# Validation


class _Ctx:
    def __init__(self, label: str, catalog_dimensions: Mapping[str, set[str]] | None = None):
        self.label = label
        self.catalog_dimensions = catalog_dimensions or {}  # source → dimensions with a catalog
        self.ignored: set[str] = set()                     # the original's keys met and ignored
        self.union_seasons: list[str] = []                  # data types given every league's seasons

    def fail(self, path: str, message: str):
        raise CoverageError(f"{self.label}: {path}: {message}")


def _int(ctx: _Ctx, path: str, value, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        ctx.fail(path, f"expected an integer, got {value!r}")
    if value < minimum:
        ctx.fail(path, f"must be at least {minimum}, got {value}")
    return value


def _number(ctx: _Ctx, path: str, value, *, minimum: float, maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        ctx.fail(path, f"expected a number, got {value!r}")
    if value != value or value < minimum or (maximum is not None and value > maximum):  # NaN too
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        ctx.fail(path, f"must be {bound}, got {value}")
    return float(value)


def _name(ctx: _Ctx, path: str, value) -> str:
    if not isinstance(value, str) or not value.strip():
        ctx.fail(path, f"name must be a non-empty string, got {value!r}")
    if len(value) > NAME_MAX:
        ctx.fail(path, f"name longer than {NAME_MAX} characters")
    return value


def _data_type(ctx: _Ctx, path: str, name: str, body, source: dict) -> DataTypeConfig:
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        ctx.fail(path, f"expected a mapping of settings, got {type(body).__name__}")
    for key in body:
        if key not in DATA_TYPE_KEYS:
            ctx.fail(f"{path}.{key}", f"unknown key (expected one of {', '.join(sorted(DATA_TYPE_KEYS))})")
        if key in extras.IGNORED_KEYS:
            ctx.ignored.add(key)
    values = {**DEFAULTS, **{k: v for k, v in body.items() if k in DEFAULTS}}
    if not isinstance(values["required"], bool):
        ctx.fail(f"{path}.required", f"expected true or false, got {values['required']!r}")
    freshness = _int(ctx, f"{path}.freshness_days", values["freshness_days"], minimum=0)
    threshold = _number(ctx, f"{path}.completeness_threshold", values["completeness_threshold"], minimum=0, maximum=1)
    min_size = _int(ctx, f"{path}.min_size_bytes", values["min_size_bytes"], minimum=0)
    minutes = _number(ctx, f"{path}.minutes_per_file", values["minutes_per_file"], minimum=0)

    patterns = body.get("path_patterns")
    if patterns is None:
        ctx.fail(f"{path}.path_patterns", "missing: at least one pattern is required")
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or not patterns:
        ctx.fail(f"{path}.path_patterns", "expected a non-empty list of patterns")
    levels: dict[str, int] = {}
    for i, pattern in enumerate(patterns):
        try:
            cp = compile_pattern(pattern)
        except PatternError as exc:
            ctx.fail(f"{path}.path_patterns[{i}]", str(exc))
        levels.setdefault(cp.level, i)
        if len(levels) > 1:
            first_level, first_i = next(iter(levels.items()))
            ctx.fail(
                f"{path}.path_patterns[{i}]",
                f"{cp.level}-level pattern {pattern!r} mixed with {first_level}-level path_patterns[{first_i}]; "
                "all patterns of a data type must be of the same level",
            )
    if len(set(patterns)) != len(patterns):
        dup = next(p for p in patterns if patterns.count(p) > 1)
        ctx.fail(f"{path}.path_patterns", f"pattern {dup!r} listed twice")
    dims = {**source["dimensions"], **extras.dimensions_of(ctx, f"{path}.dimensions", body.get("dimensions"))}
    extras.check_dimension_sets(ctx, path, patterns, set(dims) | source["catalog_dimensions"])
    seasons, union = extras.data_type_seasons(ctx, path, body, source["leagues"])
    if union and next(iter(levels)) != PatternLevel.FIXED:  # a fixed key takes no season
        ctx.union_seasons.append(f"{source['name']}.{name}")
    used = {d for p in patterns for d in compile_pattern(p).dimensions}
    return DataTypeConfig(
        name=name, required=values["required"], freshness_days=freshness, completeness_threshold=threshold,
        min_size_bytes=min_size, minutes_per_file=minutes, path_patterns=tuple(patterns),
        level=next(iter(levels)), seasons=seasons,
        dimensions=tuple((d, v) for d, v in sorted(dims.items()) if d in used),
        expected_count=extras.count_of(ctx, path, body),
        description=extras.kept_text(ctx, path, body, "description", limit=None),
        priority=extras.kept_text(ctx, path, body, "priority"), tier=extras.kept_text(ctx, path, body, "tier"),
    )


def _source(ctx: _Ctx, path: str, name: str, body, default_location: str | None = None) -> SourceConfig:
    from reconciliation.storage import LocationError, parse_location

    if not isinstance(body, Mapping):
        ctx.fail(path, f"expected a mapping, got {type(body).__name__}")
    for key in body:
        if key not in SOURCE_KEYS:
            ctx.fail(f"{path}.{key}", f"unknown key (expected one of {', '.join(sorted(SOURCE_KEYS))})")
        if key in extras.IGNORED_KEYS or key in ("priority", "tier"):
            ctx.ignored.add(key)
    scraper = body.get("scraper", f"{name}_scraper")
    if not isinstance(scraper, str) or not scraper.strip() or len(scraper) > 150:
        ctx.fail(f"{path}.scraper", f"expected a non-empty name of at most 150 characters, got {scraper!r}")
    if "location" not in body and default_location is None:
        ctx.fail(f"{path}.location", "missing: where this source's keys are (s3://BUCKET/prefix/ or file:///path/; "
                 "or import_coverage --location URI)")
    try:
        location = parse_location(body.get("location", default_location)).uri
    except (LocationError, ValueError, TypeError) as exc:
        ctx.fail(f"{path}.location", str(exc))
    if len(location) > 1024:
        ctx.fail(f"{path}.location", "longer than 1024 characters")
    if "seasons" not in body:
        ctx.fail(f"{path}.seasons", "missing: the seasons this source should cover")
    season_list, leagues = extras.source_seasons(ctx, f"{path}.seasons", body["seasons"])
    context = {"name": name, "leagues": leagues, "catalog_dimensions": ctx.catalog_dimensions.get(name, set()),
               "dimensions": extras.dimensions_of(ctx, f"{path}.dimensions", body.get("dimensions"))}
    types_body = body.get("data_types")
    if not isinstance(types_body, Mapping) or not types_body:
        ctx.fail(f"{path}.data_types", "expected a non-empty mapping of data types")
    data_types = []
    for type_name, type_body in types_body.items():
        type_path = f"{path}.data_types.{type_name}"
        _name(ctx, type_path, type_name)
        data_types.append(_data_type(ctx, type_path, type_name, type_body, context))
    return SourceConfig(name=name, scraper=scraper, location=location, seasons=season_list,
                        data_types=tuple(data_types))


def parse_coverage(data, label: str, *, location: str | None = None,
                   catalog_dimensions: Mapping[str, set[str]] | None = None) -> CoverageConfig:
    """Validate an already-loaded YAML document (`label` names the file in messages). `location` is
    given to every source without one (--location); `catalog_dimensions` (source → dimensions that have
    a dimension catalog) tells closed dimensions from open ones."""
    ctx = _Ctx(label, catalog_dimensions)
    if not isinstance(data, Mapping):
        raise CoverageError(f"{label}: expected a mapping with an 'expected_coverage' section")
    coverage = data.get("expected_coverage")
    if coverage is None:
        ctx.fail("expected_coverage", "missing section")
    if not isinstance(coverage, Mapping) or not coverage:
        ctx.fail("expected_coverage", "expected a non-empty mapping of sources")
    sources = []
    for name, body in coverage.items():
        path = f"expected_coverage.{name}"
        _name(ctx, path, name)
        sources.append(_source(ctx, path, name, body, location))
    settings = data.get("reconciliation")
    if settings is None:
        settings = {}
    if not isinstance(settings, Mapping):
        ctx.fail("reconciliation", f"expected a mapping, got {type(settings).__name__}")
    for key in settings:
        if key not in SETTINGS_DEFAULTS:
            ctx.fail(f"reconciliation.{key}", "unknown key (expected critical_days, max_items_per_task)")
    values = {**SETTINGS_DEFAULTS, **settings}
    warnings = []
    ignored = sorted(ctx.ignored | (set(data) & extras.IGNORED_SECTIONS))
    if ignored:
        warnings.append(f"{label}: warning: ignored the original's keys: {', '.join(ignored)}")
    if ctx.union_seasons:
        warnings.append(f"{label}: warning: seasons given per league and no league: or seasons: in "
                        f"{', '.join(ctx.union_seasons)}; they expect every league's seasons")
    return CoverageConfig(
        sources=tuple(sources),
        critical_days=_int(ctx, "reconciliation.critical_days", values["critical_days"], minimum=0),
        max_items_per_task=_int(ctx, "reconciliation.max_items_per_task", values["max_items_per_task"], minimum=1),
        warnings=tuple(warnings),
    )


def load_yaml_file(path: str | Path):
    """A configuration file's YAML document: bounded before parsing, duplicate keys refused; every
    problem a CoverageError naming the file (the scrapers file is read the same way)."""
    label = str(path)
    try:
        text = read_yaml_text(path)
    except FileNotFoundError:
        raise CoverageError(f"{label}: no such file") from None
    except ValueError as exc:  # UnicodeDecodeError is one too: say which
        if isinstance(exc, UnicodeDecodeError):
            raise CoverageError(f"{label}: cannot read: {exc}") from None
        raise CoverageError(f"{label}: refused before parsing: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CoverageError(f"{label}: cannot read: {exc}") from None
    return _load_yaml(text, label)


def load_coverage(path: str | Path, *, location: str | None = None,
                  catalog_dimensions: Mapping[str, set[str]] | None = None) -> CoverageConfig:
    label = str(path)
    data = load_yaml_file(path)
    bad = first_unstorable(data)
    if bad is not None:
        raise CoverageError(f"{label}: {bad[0]!s:.200}: {bad[1]}")
    return parse_coverage(data, label, location=location, catalog_dimensions=catalog_dimensions)



# --------------------------------------------------------------------------------------------
# The write


def coverage_import(path: str | Path, *, dry_run: bool = False, location: str | None = None) -> CoverageImportResult:
    """Validate the whole file, then in one transaction create/update the sources, data types and
    settings it lists; sources and data types absent from it become inactive (never deleted: their
    gaps and tasks stay as history). A dry run validates and reports without writing. `location`
    is the location of every source that gives none (§10)."""
    config = load_coverage(path, location=location, catalog_dimensions=dimension_catalog_names())
    result = CoverageImportResult(path=str(path), dry_run=dry_run, critical_days=config.critical_days,
                                  max_items_per_task=config.max_items_per_task, warnings=config.warnings)
    with transaction.atomic():
        existing_sources = {s.name: s for s in Source.objects.select_for_update()}
        existing_types = {(d.source.name, d.name): d for d in DataType.objects.select_related("source")}
        listed_types = set()
        for sc in config.sources:
            source = existing_sources.get(sc.name)
            (result.sources_updated if source else result.sources_created).append(sc.name)
            if not dry_run:
                if source is None:
                    source = Source(name=sc.name)
                source.scraper, source.location, source.seasons, source.active = (
                    sc.scraper, sc.location, list(sc.seasons), True)
                source.save()
            for tc in sc.data_types:
                listed_types.add((sc.name, tc.name))
                dtype = existing_types.get((sc.name, tc.name))
                label = f"{sc.name}.{tc.name}"
                (result.data_types_updated if dtype else result.data_types_created).append(label)
                if dry_run:
                    continue
                if dtype is None:
                    dtype = DataType(source=source, name=tc.name)
                for attr in ("required", "freshness_days", "completeness_threshold", "min_size_bytes",
                             "minutes_per_file", "level", "expected_count", "description", "priority", "tier"):
                    setattr(dtype, attr, getattr(tc, attr))
                dtype.path_patterns = list(tc.path_patterns)
                dtype.seasons = list(tc.seasons)
                dtype.dimensions = {d: list(v) for d, v in tc.dimensions}
                dtype.active = True
                dtype.save()
        listed_sources = {sc.name for sc in config.sources}
        for name, source in sorted(existing_sources.items()):
            if name not in listed_sources and source.active:
                result.sources_deactivated.append(name)
        for (sname, tname), dtype in sorted(existing_types.items()):
            if (sname, tname) not in listed_types and dtype.active:
                result.data_types_deactivated.append(f"{sname}.{tname}")
        if not dry_run:
            Source.objects.exclude(name__in=listed_sources).update(active=False)
            for dtype in existing_types.values():
                if (dtype.source.name, dtype.name) not in listed_types and dtype.active:
                    DataType.objects.filter(pk=dtype.pk).update(active=False)
            ReconciliationSettings.objects.update_or_create(pk=1, defaults={
                "critical_days": config.critical_days,
                "max_items_per_task": config.max_items_per_task,
                "source_file": str(Path(path).resolve())[:1024],
                "imported_at": timezone.now(),
            })
    return result

