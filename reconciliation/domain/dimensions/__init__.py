"""Dimensions (SPEC §10): one interface, one module per kind of value source.

A dimension is a placeholder beyond §5's ({team}, {award_type}, …). Its values for a season come from,
in this order: the YAML (`dimensions:` of the data type, else of the source: StaticDimension), a
dimension catalog imported for the source (CatalogDimension), or nowhere (OpenDimension: the data type
cannot list its partitions). Pure: the selectors (reconciliation.services.specs) build them.

    dim.is_open                    → True only for OpenDimension
    dim.values_for(season)         → the values expected in that season (None: the fixed level, which
                                     takes only the values that belong to no particular season)
"""
from __future__ import annotations

from typing import Protocol

from reconciliation.domain.dimensions.catalog import CatalogDimension
from reconciliation.domain.dimensions.open import OpenDimension
from reconciliation.domain.dimensions.static import StaticDimension


class Dimension(Protocol):
    name: str

    @property
    def is_open(self) -> bool: ...

    def values_for(self, season: str | None) -> tuple[str, ...]: ...


def value_problem(value) -> str | None:
    """Why `value` cannot be a dimension value (§10: non-empty, no '/'), or None."""
    if not isinstance(value, str) or not value:
        return f"a dimension value must be a non-empty string, got {value!r}"
    if "/" in value:
        return f"dimension value {value!r} contains '/'"
    return None


def dimension_for(name: str, static: dict[str, tuple[str, ...]],
                  catalogs: dict[str, tuple[tuple[str, str | None], ...]]) -> Dimension:
    """The dimension `name` of a data type: its YAML values, else its source's catalog, else open."""
    if name in static:
        return StaticDimension(name, static[name])
    if name in catalogs:
        return CatalogDimension(name, catalogs[name])
    return OpenDimension(name)


__all__ = ["CatalogDimension", "Dimension", "OpenDimension", "StaticDimension", "dimension_for", "value_problem"]
