"""Seasons (SPEC §5–§6): a season is written "YYYY-YY" and spans 1 July of its start year to
30 June of its end year (end = start + 1).

Accepted spellings (coverage YAML and catalog CSV):

* ``"2023-24"``            the canonical form; "1999-00" is the season ending in 2000;
* ``2024`` / ``"2024"``    an int (or all-digit string): the season *ending* in that year → "2023-24";
* ``"2004-2026"``          (coverage lists only) a range of end years, inclusive → 2003-04 … 2025-26.

Anything else ("2023-25", "24-25", "2023/24") is a SeasonError naming the value.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

_SHORT = re.compile(r"(\d{4})-(\d{2})")
_RANGE = re.compile(r"(\d{4})-(\d{4})")
_YEAR = re.compile(r"\d{4}")

MIN_YEAR, MAX_YEAR = 1000, 9999


class SeasonError(ValueError):
    """A season value that is not one of the accepted spellings."""


def season_from_end_year(end_year: int) -> str:
    if not (MIN_YEAR < end_year <= MAX_YEAR):
        raise SeasonError(f"season end year {end_year} out of range")
    return f"{end_year - 1:04d}-{end_year % 100:02d}"


def season_from_start_year(start_year: int) -> str:
    return season_from_end_year(start_year + 1)


def _check_short(value: str) -> str | None:
    m = _SHORT.fullmatch(value)
    if not m:
        return None
    start = int(m.group(1))
    if (start + 1) % 100 != int(m.group(2)):
        raise SeasonError(f"invalid season {value!r}: the second year must follow the first")
    return value


def normalize_season(value) -> str:
    """One season → "YYYY-YY". Ranges are not a single season (use expand_seasons)."""
    if isinstance(value, bool):  # bool is an int subclass: `true` in YAML is no season
        raise SeasonError(f"invalid season {value!r}")
    if isinstance(value, int):
        return season_from_end_year(value)
    if isinstance(value, str):
        text = value.strip()
        short = _check_short(text)
        if short:
            return short
        if _YEAR.fullmatch(text):
            return season_from_end_year(int(text))
        if _RANGE.fullmatch(text):
            raise SeasonError(f"invalid season {value!r}: a range of end years is not a single season")
    raise SeasonError(f"invalid season {value!r} (expected YYYY-YY, an end year YYYY, or a range YYYY-YYYY)")


def expand_seasons(values: Iterable | str | int) -> list[str]:
    """Coverage `seasons:` → sorted, de-duplicated "YYYY-YY" list. A scalar counts as a one-item list.

    "YYYY-YYYY" is a range of end years (inclusive); the first year must not exceed the second."""
    if isinstance(values, (str, int)):
        values = [values]
    out: set[str] = set()
    for value in values:
        if isinstance(value, str) and _RANGE.fullmatch(value.strip()) and not _SHORT.fullmatch(value.strip()):
            first, last = (int(x) for x in value.strip().split("-"))
            if first > last:
                raise SeasonError(f"invalid season range {value!r}: {first} is after {last}")
            out.update(season_from_end_year(y) for y in range(first, last + 1))
        else:
            out.add(normalize_season(value))
    return sorted(out)


def start_year(season: str) -> int:
    return int(season[:4])


FIRST_MONTH = 7  # a season spans 1 July of its start year to 30 June of its end year


def season_of(day: dt.date) -> str:
    """The season whose span contains `day`."""
    start = day.year if day.month >= FIRST_MONTH else day.year - 1
    return season_from_start_year(start)


def season_days(season: str) -> tuple[dt.date, dt.date]:
    """The first and the last day of a season's span: the days season_of places in it."""
    start = start_year(season)
    return dt.date(start, FIRST_MONTH, 1), dt.date(start + 1, FIRST_MONTH, 1) - dt.timedelta(days=1)


def current_season(as_of: dt.date) -> str:
    return season_of(as_of)


def previous_season(as_of: dt.date) -> str:
    return season_from_start_year(start_year(season_of(as_of)) - 1)
