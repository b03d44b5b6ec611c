"""Which catalog games a game- or date-level data type expects as of a day, as data (SPEC §5).

    rule = catalog_expectation(spec, as_of)     # None: the data type's partitions are not catalog rows
    rule.expects(game) -> bool                  # the filter, on one GameSpec

Like domain.verdict's rule, this is data so that the one rule runs in two places without being written
twice: analysis.expected_partitions applies it to GameSpec objects, engine.gaps_sql compiles it to SQL
over the catalog table (the anti-join of issue 23). A property test holds both to the same answers.

* game level: one partition per game (its game id, on its game date) of a covered season played by as_of;
* date level: one partition per date (ISO) of such games, in the smallest covered season holding that date.

Season- and fixed-level types expect a handful of partitions, not catalog rows: they have none. (With
dimensions, §10, each of these partitions is then combined with the dimensions' values.)
Pure: no database access.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from reconciliation.choices import PatternLevel


@dataclass(frozen=True, slots=True)
class CatalogExpectation:
    seasons: tuple[str, ...]  # the covered seasons
    until: dt.date            # games played on or before this day
    per_date: bool            # date level: one partition per date (ISO), else one per game (its id)

    def expects(self, game) -> bool:
        return game.game_date <= self.until and game.season in self.seasons


def catalog_expectation(spec, as_of: dt.date) -> CatalogExpectation | None:
    """The rule of a game- or date-level data type (its partitions are its catalog's games or dates);
    None for the other levels."""
    if spec.level not in (PatternLevel.GAME, PatternLevel.DATE):
        return None
    return CatalogExpectation(tuple(spec.seasons), as_of, spec.level == PatternLevel.DATE)
