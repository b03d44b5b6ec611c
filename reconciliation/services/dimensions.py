"""Dimension catalogs (SPEC §10): `import_catalog --source S --dimension NAME FILE.csv`.

CSV: a header with `value` and optionally `season` (any §5 season form: "2023-24", an end year, a
range of end years "1947-2025"; blank = every season); other columns are ignored. A value is non-empty
and holds no '/' (it becomes part of a partition id). Every malformed row is reported with its line
number and nothing is imported; re-importing replaces that (source, dimension) atomically.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from reconciliation.domain.dimensions import value_problem
from reconciliation.domain.patterns import PatternError, canonical, is_dimension
from reconciliation.domain.seasons import SeasonError, expand_seasons
from reconciliation.models import DimensionValue
from reconciliation.services.catalog import BATCH_SIZE, CatalogError, csv_rows, fail_rows, read_csv_text, source_named

VALUE_MAX = DimensionValue._meta.get_field("value").max_length


@dataclass(frozen=True, slots=True)
class DimensionImportResult:
    source: str
    dimension: str
    path: str
    imported: int
    replaced: int

    def summary(self) -> str:
        return (f"{self.path}: imported {self.imported} value(s) of dimension {self.dimension} for {self.source} "
                f"(replaced {self.replaced})")


def dimension_name_problem(name: str) -> str | None:
    try:
        if is_dimension(canonical(name)):
            return None
    except PatternError:
        return f"--dimension: {name!r} is not a placeholder name ([A-Za-z_][A-Za-z0-9_]*)"
    return f"--dimension: {{{name}}} is a §5 placeholder, not a dimension"


def parse_dimension_catalog(text: str, label: str) -> list[tuple[str, str | None]]:
    """(value, season or None) rows, de-duplicated in file order; CatalogError on any problem."""
    problems: list[str] = []
    index, records = csv_rows(text, label, ("value",), ("season",), problems)
    rows: dict[tuple[str, str | None], None] = {}
    for line, record in records:
        value = record[index["value"]].strip()
        raw = record[index["season"]].strip() if "season" in index else ""
        errors = []
        problem = value_problem(value)
        if problem:
            errors.append(problem)
        elif len(value) > VALUE_MAX:
            errors.append(f"value longer than {VALUE_MAX} characters")
        seasons: list[str | None] = [None]
        if raw:
            try:
                seasons = list(expand_seasons(raw))
            except SeasonError as exc:
                errors.append(str(exc))
        if errors:
            problems.append(f"line {line}: {', '.join(errors)}")
            continue
        rows.update(dict.fromkeys((value, s) for s in seasons))
    if problems:
        fail_rows(label, problems)
    if not rows:
        raise CatalogError(f"{label}: no values after the header (an empty dimension catalog is not imported)")
    return list(rows)


def dimension_catalog_import(source_name: str, dimension: str, path: str | Path) -> DimensionImportResult:
    """Replace the values of one (source, dimension) with the file's, atomically (all or nothing)."""
    problem = dimension_name_problem(dimension)
    if problem:
        raise CatalogError(problem)
    source = source_named(source_name)
    rows = parse_dimension_catalog(read_csv_text(path), str(path))
    with transaction.atomic():
        replaced, _ = DimensionValue.objects.filter(source=source, dimension=dimension).delete()
        DimensionValue.objects.bulk_create(
            (DimensionValue(source=source, dimension=dimension, value=v, season=s) for v, s in rows),
            batch_size=BATCH_SIZE)
        source.save(update_fields=["updated_at"])  # the inventory's matches may be judged anew (scan cache)
    return DimensionImportResult(source=source.name, dimension=dimension, path=str(path), imported=len(rows),
                                 replaced=replaced)
