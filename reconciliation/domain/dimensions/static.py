"""A closed dimension from the coverage YAML: the same values every season (and at the fixed level)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StaticDimension:
    name: str
    values: tuple[str, ...]
    is_open = False

    def values_for(self, season: str | None) -> tuple[str, ...]:
        return self.values
