import datetime as dt

import pytest

from reconciliation.domain.seasons import (
    SeasonError,
    current_season,
    expand_seasons,
    normalize_season,
    previous_season,
    season_of,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-24", "2023-24"),
        ("1999-00", "1999-00"),
        (2024, "2023-24"),
        (2000, "1999-00"),
        ("2024", "2023-24"),
        (" 2024-25 ", "2024-25"),
    ],
)
def test_normalize_season_accepts_the_documented_spellings(value, expected):
    assert normalize_season(value) == expected


@pytest.mark.parametrize("value", ["2023-25", "24-25", "2023/24", "", "abcd-ef", True, None, 3.5, "2004-2026", "1999-01"])
def test_normalize_season_rejects_anything_else(value):
    with pytest.raises(SeasonError):
        normalize_season(value)


def test_expand_seasons_mixes_lists_ints_and_ranges():
    assert expand_seasons(["2023-24", 2023, "1998-2000"]) == ["1997-98", "1998-99", "1999-00", "2022-23", "2023-24"]
    assert expand_seasons("2004-2006") == ["2003-04", "2004-05", "2005-06"]
    assert expand_seasons(2025) == ["2024-25"]
    assert expand_seasons([]) == []


def test_expand_seasons_rejects_a_backwards_range():
    with pytest.raises(SeasonError, match="after"):
        expand_seasons(["2026-2004"])


@pytest.mark.parametrize(
    ("day", "current", "previous"),
    [
        (dt.date(2025, 6, 30), "2024-25", "2023-24"),
        (dt.date(2025, 7, 1), "2025-26", "2024-25"),
        (dt.date(2026, 1, 15), "2025-26", "2024-25"),
        (dt.date(2000, 3, 1), "1999-00", "1998-99"),
    ],
)
def test_current_and_previous_season_switch_on_first_of_july(day, current, previous):
    assert current_season(day) == current
    assert previous_season(day) == previous
    assert season_of(day) == current
