"""An open dimension: no values anywhere. Its data type's partitions cannot be listed, only found."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OpenDimension:
    name: str
    is_open = True

    def values_for(self, season: str | None) -> tuple[str, ...]:
        raise ValueError(f"open dimension {self.name} has no values")
