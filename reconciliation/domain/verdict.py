"""The one rule that judges a partition from its newest object: missing, empty, stale or fine (SPEC §6).

    rule = verdict_rule(spec, as_of)             # the thresholds of one data type as of a day, as data
    partition_verdict(spec, partition, obj, as_of) -> GapKind value or None

The rule is data — clauses of (field, operator, value) conditions — so that the one judgement runs in
two places without being written twice: here on an object in Python (analysis.gap_kind, the S3-event
re-judge), and compiled to SQL by reconciliation.engine.have (the HAVE loader's pre-filter), which
never restates a threshold. A property test holds both to the same answers.

Pure: no database access.
"""
from __future__ import annotations

import datetime as dt
import operator
from dataclasses import dataclass

from reconciliation.choices import GapKind, PatternLevel
from reconciliation.domain.patterns import compile_pattern
from reconciliation.domain.seasons import current_season

# The fields a condition may test, all of them columns of the stored inventory (StoredObject).
FIELDS = ("partition", "size", "last_modified")
OPERATORS = {"<": operator.lt, "=": operator.eq, "LIKE": lambda value, pattern: value.startswith(pattern[:-1])}

Condition = tuple[str, str, object]  # (field, operator, value)


@dataclass(frozen=True, slots=True)
class VerdictRule:
    """When a partition's newest object makes it a gap: the kind of the first clause whose conditions
    all hold (clauses in order: empty wins over stale), else none. A partition without an object is
    missing whatever the clauses say."""

    clauses: tuple[tuple[str, tuple[Condition, ...]], ...]

    def kind(self, partition: str, size: int, last_modified: dt.datetime) -> str | None:
        values = (partition, size, last_modified)
        for kind, conditions in self.clauses:
            if all(OPERATORS[op](values[FIELDS.index(name)], value) for name, op, value in conditions):
                return kind
        return None


def stale_cutoff(as_of: dt.date, freshness_days: int) -> dt.datetime:
    """00:00 UTC of the day as_of − freshness_days: an object modified before it is stale."""
    day = as_of - dt.timedelta(days=freshness_days)
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


def verdict_rule(spec, as_of: dt.date) -> VerdictRule:
    """The rule of a data type (anything with level, min_size_bytes, freshness_days: a DataTypeSpec or
    the DataType row) as of `as_of`.

    Empty: smaller than min_size_bytes. Stale: only a season-level type's partition of the current
    season (its partition *is* the season), modified before the stale cutoff."""
    clauses: list = [(GapKind.EMPTY, (("size", "<", spec.min_size_bytes),))]
    if spec.level == PatternLevel.SEASON:
        # §10: with dimensions a season-level partition is "<season>/<values>" (LIKE: a prefix, "…%")
        season = (("partition", "LIKE", current_season(as_of) + "/%") if _has_dimensions(spec)
                  else ("partition", "=", current_season(as_of)))
        clauses.append((GapKind.STALE, (season, ("last_modified", "<", stale_cutoff(as_of, spec.freshness_days)))))
    return VerdictRule(tuple(clauses))


def _has_dimensions(spec) -> bool:
    patterns = getattr(spec, "path_patterns", None)
    if patterns is not None:  # a DataType row (its `dimensions` hold only the YAML's values)
        return any(compile_pattern(p).dimensions for p in patterns)
    return bool(spec.dimensions)


def partition_verdict(spec, partition: str, obj, as_of: dt.date, rule: VerdictRule | None = None) -> str | None:
    """The gap kind of a partition whose newest object is `obj` (None: no object), or None when it
    is fine. `obj` has size and last_modified (an ObjectSummary); `rule` saves rebuilding
    verdict_rule(spec, as_of) for every partition of one data type."""
    if obj is None:
        return GapKind.MISSING
    rule = rule or verdict_rule(spec, as_of)
    return rule.kind(partition, obj.size, obj.last_modified)
