import datetime as dt

import pytest

from reconciliation.domain.patterns import PatternError, compile_pattern, expected_key


@pytest.mark.parametrize(
    ("pattern", "level"),
    [
        ("pbp/{game_id}.json", "game"),
        ("box/{season_end}/{game_id}.json", "game"),
        ("schedule/{date}.json", "date"),
        ("schedule/{season}/{date}.json", "date"),
        ("pbp/nba_data_{season_end}.parquet", "season"),
        ("x/{season_start}-{season_end}.csv", "season"),
        ("x/{season}.csv", "season"),
        ("teams/all.json", "fixed"),
        ("hoopr/nba_data_{year}.parquet", "season"),
        ("box/{game_id}/{side}.json", "game"),
        ("teams/{season}/{team}.json", "season"),
        ("awards/{award_type}.json", "fixed"),
    ],
)
def test_levels(pattern, level):
    assert compile_pattern(pattern).level == level


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("pbp/{1st}.json", "invalid placeholder {1st}"),
        ("pbp/{team-id}.json", "invalid placeholder {team-id}"),
        ("pbp/{}.json", "invalid placeholder {}"),
        ("pbp/{game_id.json", "stray brace"),
        ("pbp/game_id}.json", "stray brace"),
        ("", "non-empty"),
        ("/abs/{game_id}", "relative"),
    ],
)
def test_bad_patterns(pattern, message):
    with pytest.raises(PatternError, match=message.replace("{", r"\{").replace("}", r"\}")):
        compile_pattern(pattern)


def test_literal_parts_are_escaped():
    cp = compile_pattern("a.b/(x)+{game_id}.json")
    assert cp.regex.match("a.b/(x)+1.json")
    assert not cp.regex.match("aXb/(x)+1.json")
    assert not cp.regex.match("a.b/xx1.json")


@pytest.mark.parametrize("pattern, partition, season, day, expected", [
    ("espn_play_by_play/{game_id}.json", "401", "2025-26", dt.date(2025, 11, 2), "espn_play_by_play/401.json"),
    ("bref/{season_end}/{date}/{game_id}.html", "2025110", "2025-26", dt.date(2025, 11, 2),
     "bref/2026/20251102/2025110.html"),
    ("schedule/{date}.json", "2025-11-02", "2025-26", None, "schedule/20251102.json"),
    ("hoopr/pbp_{season_start}.parquet", "2025-26", "2025-26", None, "hoopr/pbp_2025.parquet"),
    ("teams.json", "", None, None, "teams.json"),
    ("x/{season}/{game_id}.json", "7", None, None, "x/{season}/7.json"),  # unknown value: left as written
])
def test_expected_key_inverts_a_pattern(pattern, partition, season, day, expected):
    from reconciliation.domain.patterns import compile_pattern, expected_key

    key = expected_key(pattern, partition=partition, season=season, day=day)
    assert key == expected
    if "{" not in key:
        assert compile_pattern(pattern).regex.match(key)  # the key the matcher would accept


# --- §10: dimensions -----------------------------------------------------------------------


def test_any_other_placeholder_is_a_dimension_in_order_of_first_appearance():
    cp = compile_pattern("players/{player_slug}/{season}/{stat_type}_{player_slug}.json")
    assert cp.dimensions == ("player_slug", "stat_type")
    assert compile_pattern("h/{year}.json").placeholders == ("season_end",)


def test_expected_key_fills_dimensions():
    assert expected_key("teams/{season}/{team}.json", partition="2023-24/LAL", season="2023-24",
                        day=None) == "teams/2023-24/LAL.json"
    assert expected_key("box/{side}/{game_id}.json", partition="401/home", season=None,
                        day=None) == "box/home/401.json"
    assert expected_key("nba_data_{year}.parquet", partition="2023-24", season="2023-24",
                        day=None) == "nba_data_2024.parquet"
