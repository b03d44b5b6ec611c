"""A closed dimension fed by a dimension catalog (`import_catalog --dimension`): (value, season) rows,
a row without a season belonging to every season."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CatalogDimension:
    name: str
    rows: tuple[tuple[str, str | None], ...]  # (value, season or None), in value order
    is_open = False

    def values_for(self, season: str | None) -> tuple[str, ...]:
        """The season's values plus the season-less ones; the fixed level (season None) takes only
        the season-less ones (§10)."""
        return tuple(dict.fromkeys(v for v, s in self.rows if s is None or (season is not None and s == season)))
