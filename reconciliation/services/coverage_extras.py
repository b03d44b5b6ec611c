"""The §10 parts of the coverage file (pure): seasons per league, dimensions, the original's extra keys.

Used by reconciliation.services.coverage, whose _Ctx.fail raises the one-line CoverageError.
"""
from __future__ import annotations

from collections.abc import Mapping

from reconciliation.domain.dimensions import value_problem
from reconciliation.domain.patterns import PatternError, canonical, compile_pattern, is_dimension
from reconciliation.domain.seasons import SeasonError, expand_seasons

# The original's keys: kept (and shown in the admin) …
KEPT_KEYS = {"description", "priority", "tier"}
# … or accepted and ignored, with one warning line listing those met.
IGNORED_KEYS = {"estimated_records", "expected_years", "expected_file_counts"}
IGNORED_SECTIONS = {"expected_game_counts", "quality_requirements", "priority_rules", "reconciliation_config",
                    "metadata", "version", "last_updated"}
COUNT_KEYS = ("expected_per_season", "expected_count")
TEXT_MAX = 40


def seasons_of(ctx, path: str, raw) -> tuple[str, ...]:
    """One §5 seasons value (a list, a scalar, end years, ranges) → sorted "YYYY-YY" seasons."""
    if raw is None:
        return ()
    if isinstance(raw, (list, tuple)):
        seasons: set[str] = set()
        for i, value in enumerate(raw):
            try:
                seasons.update(expand_seasons([value]))
            except SeasonError as exc:
                ctx.fail(f"{path}[{i}]", str(exc))
        return tuple(sorted(seasons))
    try:
        return tuple(expand_seasons(raw))
    except SeasonError as exc:
        ctx.fail(path, str(exc))


def source_seasons(ctx, path: str, raw) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]] | None]:
    """(every season of the source, {league: seasons} when `seasons` is a mapping of leagues, else None)."""
    if isinstance(raw, Mapping):
        leagues = {}
        for league, value in raw.items():
            if not isinstance(league, str) or not league:
                ctx.fail(path, f"league names must be non-empty strings, got {league!r}")
            leagues[league] = seasons_of(ctx, f"{path}.{league}", value)
        return tuple(sorted({s for v in leagues.values() for s in v})), leagues
    return seasons_of(ctx, path, raw), None


def data_type_seasons(ctx, path: str, body: Mapping, leagues: dict | None) -> tuple[tuple[str, ...], bool]:
    """(the data type's own seasons, empty = the source's; True when it falls back to the union of leagues)."""
    if "league" in body:
        league = body["league"]
        if leagues is None:
            ctx.fail(f"{path}.league", "the source's seasons are not given per league")
        if league not in leagues:
            ctx.fail(f"{path}.league", f"unknown league {league!r} (the source has {', '.join(sorted(leagues))})")
        return leagues[league], False
    if "seasons" in body:
        return seasons_of(ctx, f"{path}.seasons", body["seasons"]), False
    return (), leagues is not None


def dimensions_of(ctx, path: str, raw) -> dict[str, tuple[str, ...]]:
    """`dimensions: {name: [values]}` → {name: values}; ints are written as text."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        ctx.fail(path, f"expected a mapping of dimension names to value lists, got {type(raw).__name__}")
    out = {}
    for name, values in raw.items():
        try:
            ok = isinstance(name, str) and is_dimension(canonical(name))
        except PatternError:
            ok = False
        if not ok:
            ctx.fail(f"{path}.{name}", "not a dimension name (a placeholder beyond §5's, [A-Za-z_][A-Za-z0-9_]*)")
        if not isinstance(values, list) or not values:
            ctx.fail(f"{path}.{name}", "expected a non-empty list of values")
        texts = []
        for i, value in enumerate(values):
            text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
            problem = value_problem(text)
            if problem:
                ctx.fail(f"{path}.{name}[{i}]", problem)
            texts.append(text)
        out[name] = tuple(dict.fromkeys(texts))
    return out


def check_dimension_sets(ctx, path: str, patterns: list[str], closed: set[str]) -> None:
    """§10: all patterns of a data type have the same dimensions, unless every dimension involved is open."""
    sets = [set(compile_pattern(p).dimensions) for p in patterns]
    for i, dims in enumerate(sets[1:], start=1):
        if dims != sets[0]:
            involved = set().union(*sets)
            shut = sorted(involved & closed)
            if shut:
                ctx.fail(f"{path}.path_patterns[{i}]",
                         f"pattern {patterns[i]!r} has dimensions {sorted(dims)} but path_patterns[0] "
                         f"{patterns[0]!r} has {sorted(sets[0])}; patterns of a data type must share their "
                         f"dimensions unless all are open (closed: {', '.join(shut)})")


def count_of(ctx, path: str, body: Mapping) -> int | None:
    given = [k for k in COUNT_KEYS if k in body]
    if len(given) > 1:
        ctx.fail(f"{path}.{given[1]}", f"give either {' or '.join(COUNT_KEYS)}, not both")
    if not given:
        return None
    value = body[given[0]]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        ctx.fail(f"{path}.{given[0]}", f"expected a positive integer, got {value!r}")
    return value


def kept_text(ctx, path: str, body: Mapping, key: str, limit: int | None = TEXT_MAX) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        ctx.fail(f"{path}.{key}", f"expected a text, got {type(value).__name__}")
    text = str(value)
    if limit is not None and len(text) > limit:
        ctx.fail(f"{path}.{key}", f"longer than {limit} characters")
    return text
