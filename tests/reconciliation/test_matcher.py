import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciliation.domain.matcher import Match, MatcherSpec, PartitionMatcher
from reconciliation.domain.patterns import dimension_order, public_partition
from reconciliation.domain.seasons import season_of
from tests.reconciliation.matcher_helpers import spec_at

S3 = "s3://lake"


def matcher(*specs):
    return PartitionMatcher(list(specs))


def test_exact_whole_key_case_sensitive_matching():
    m = matcher(MatcherSpec(1, S3, "", ("x/{game_id}.json",)))
    assert m.match(S3, "x/401.json") == Match(1, "401", None)
    for key in ["x/401.json.bak", "X/401.json", "x/401.JSON", "y/x/401.json", "x/401.json/", "x/a/401.json", "x/.json"]:
        assert m.match(S3, key) is None, key
    assert m.match("s3://other", "x/401.json") is None


def test_several_patterns_old_and_new_layout_map_to_the_same_partition():
    m = matcher(MatcherSpec(1, S3, "", ("espn_play_by_play/{game_id}.json", "pbp/{game_id}.json")))
    assert m.match(S3, "espn_play_by_play/401.json") == Match(1, "401", None)
    assert m.match(S3, "pbp/401.json") == Match(1, "401", None)


def test_date_partitions_are_iso_dates_and_must_be_real():
    m = matcher(MatcherSpec(4, S3, "", ("espn_schedules/{date}.json",)))
    assert m.match(S3, "espn_schedules/20241022.json") == Match(4, "2024-10-22", "2024-25")
    assert m.match(S3, "espn_schedules/20240231.json") is None
    assert m.match(S3, "espn_schedules/2024102.json") is None


def test_season_partitions_and_invalid_seasons():
    m = matcher(
        MatcherSpec(6, S3, "hoopr/", ("play_by_play/nba_data_{season_end}.parquet",)),
        MatcherSpec(7, S3, "other/", ("s/{season}.csv", "r/{season_start}_{season_end}.csv")),
    )
    assert m.match(S3, "hoopr/play_by_play/nba_data_2000.parquet") == Match(6, "1999-00", "1999-00")
    assert m.match(S3, "other/s/2023-24.csv") == Match(7, "2023-24", "2023-24")
    assert m.match(S3, "other/s/2023-25.csv") is None
    assert m.match(S3, "other/r/2023_2024.csv") == Match(7, "2023-24", "2023-24")
    assert m.match(S3, "other/r/2023_2025.csv") is None


def test_fixed_keys():
    m = matcher(MatcherSpec(9, S3, "ref/", ("teams.json",)))
    assert m.match(S3, "ref/teams.json") == Match(9, "", None)
    assert m.match(S3, "ref/teams.json.bak") is None


def test_repeated_placeholder_must_repeat_the_same_value():
    m = matcher(MatcherSpec(1, S3, "", ("g/{game_id}/{game_id}.json",)))
    assert m.match(S3, "g/5/5.json") == Match(1, "5", None)
    assert m.match(S3, "g/5/6.json") is None


def test_overlapping_locations_go_to_the_most_specific_source():
    m = matcher(
        MatcherSpec(1, S3, "", ("box_scores/{game_id}.json", "{game_id}.json")),
        MatcherSpec(2, S3, "nba_api_comprehensive/", ("boxscores_advanced/advanced_{game_id}.json",)),
        MatcherSpec(3, S3, "basketball_reference/", ("box_scores/{season_end}/{game_id}.json",)),
    )
    assert m.match(S3, "box_scores/1.json") == Match(1, "1", None)
    assert m.match(S3, "7.json") == Match(1, "7", None)
    assert m.match(S3, "nba_api_comprehensive/boxscores_advanced/advanced_7.json") == Match(2, "7", None)
    assert m.match(S3, "basketball_reference/box_scores/2024/9.json") == Match(3, "9", "2023-24")
    assert m.match(S3, "nba_api_comprehensive/other/7.json") is None


def test_shorter_location_is_tried_when_the_longer_one_has_no_matching_pattern():
    m = matcher(
        MatcherSpec(1, S3, "", ("nba_api_comprehensive/legacy/{game_id}.json",)),
        MatcherSpec(2, S3, "nba_api_comprehensive/", ("boxscores_advanced/advanced_{game_id}.json",)),
    )
    assert m.match(S3, "nba_api_comprehensive/legacy/3.json") == Match(1, "3", None)


def test_game_key_whose_season_disagrees_with_the_catalog_does_not_match():
    catalog = {"9": ("2023-24", dt.date(2023, 11, 1))}
    m = matcher(MatcherSpec(3, S3, "br/", ("box_scores/{season_end}/{game_id}.json",), catalog=catalog))
    assert m.match(S3, "br/box_scores/2024/9.json") == Match(3, "9", "2023-24")
    assert m.match(S3, "br/box_scores/2025/9.json") is None
    # a game the catalog does not know keeps the season of its key
    assert m.match(S3, "br/box_scores/2025/10.json") == Match(3, "10", "2024-25")


def test_game_key_with_a_date_must_agree_with_the_catalog_date():
    catalog = {"9": ("2023-24", dt.date(2023, 11, 1))}
    m = matcher(MatcherSpec(3, S3, "", ("g/{date}/{game_id}.json",), catalog=catalog))
    assert m.match(S3, "g/20231101/9.json") == Match(3, "9", None)  # season only from season placeholders
    assert m.match(S3, "g/20231102/9.json") is None


def test_a_rejected_value_falls_back_to_a_later_pattern():
    m = matcher(
        MatcherSpec(1, S3, "", ("d/{date}.json",)),
        MatcherSpec(2, S3, "", ("d/{game_id}.json",)),
    )
    assert m.match(S3, "d/20240101.json") == Match(1, "2024-01-01", "2023-24")
    assert m.match(S3, "d/20241399.json") == Match(2, "20241399", None)


def test_file_store_keys():
    m = matcher(spec_at(1, "file:///data/lake/", ["pbp/{game_id}.json"]))
    assert m.match("file://", "data/lake/pbp/1.json") == Match(1, "1", None)
    assert m.match("file://", "data/lake2/pbp/1.json") is None


_ids = st.text(alphabet=st.characters(blacklist_characters="/", blacklist_categories=("Cs",)), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(game_id=_ids, day=st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2090, 1, 1)))
def test_generated_keys_round_trip_and_mutations_do_not_match(game_id, day):
    m = matcher(
        MatcherSpec(1, S3, "", ("pbp/{game_id}.json", "espn_play_by_play/{game_id}.json")),
        MatcherSpec(2, S3, "", ("sched/{date}.json",)),
        MatcherSpec(3, S3, "nba/", ("adv/advanced_{game_id}.json",)),
    )
    assert m.match(S3, f"pbp/{game_id}.json") == Match(1, game_id, None)
    assert m.match(S3, f"nba/adv/advanced_{game_id}.json") == Match(3, game_id, None)
    stamp = day.strftime("%Y%m%d")
    assert m.match(S3, f"sched/{stamp}.json") == Match(2, day.isoformat(), season_of(day))
    assert m.match(S3, f"pbp/{game_id}.json.bak") is None
    assert m.match(S3, f"PBP/{game_id}.json") is None
    assert m.match(S3, f"sched/{stamp}.JSON") is None


# --- §10: dimensions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "partition"),
    [
        ("h2h/a_b.json", "a/b"),
        ("h2h/a_b_c.json", "a/b_c"),        # leftmost-shortest: the first dimension as short as it can be
        ("h2h/lebron_james_kobe.json", "lebron/james_kobe"),
    ],
)
def test_two_dimensions_in_one_segment_match_leftmost_shortest(key, partition):
    m = PartitionMatcher([MatcherSpec(1, S3, "", ("h2h/{player1}_{player2}.json",))])
    assert m.match(S3, key) == Match(1, partition, None)


@pytest.mark.parametrize("key", ["h2h/_b.json", "h2h/a_.json", "h2h/ab.json", "h2h/a/b_c.json"])
def test_a_dimension_takes_one_or_more_characters_other_than_slash(key):
    m = PartitionMatcher([MatcherSpec(1, S3, "", ("h2h/{player1}_{player2}.json",))])
    assert m.match(S3, key) is None


def test_partition_ids_are_the_level_id_then_the_dimensions_in_the_first_patterns_order():
    m = PartitionMatcher([
        MatcherSpec(1, S3, "", ("box/{game_id}/{side}.json", "box2/{side}-{game_id}.json")),
        MatcherSpec(2, S3, "", ("teams/{season}/{team}.json", "t/{team}/{year}.csv")),
        MatcherSpec(3, S3, "", ("awards/{award_type}.json",)),
        MatcherSpec(4, S3, "", ("sched/{date}/{team}.json",)),
    ])
    assert m.match(S3, "box/401585001/home.json") == Match(1, "401585001/home", None)
    assert m.match(S3, "box2/home-401585001.json") == Match(1, "401585001/home", None)
    # a season-level partition keeps its season in the stored id (one per season); its §10 id is "LAL"
    assert m.match(S3, "teams/2023-24/LAL.json") == Match(2, "2023-24/LAL", "2023-24")
    assert m.match(S3, "t/LAL/2024.csv") == Match(2, "2023-24/LAL", "2023-24")
    assert m.match(S3, "awards/mvp.json") == Match(3, "mvp", None)
    assert m.match(S3, "sched/20240105/BOS.json") == Match(4, "2024-01-05/BOS", "2023-24")
    assert public_partition("season", "2023-24/LAL") == "LAL"
    assert public_partition("season", "2023-24") == ""
    assert public_partition("game", "401585001/home") == "401585001/home"


def test_patterns_that_disagree_on_dimensions_keep_their_partitions_apart():
    m = PartitionMatcher([MatcherSpec(1, S3, "", ("ts/{stat_type}.json", "ts/team_{team_id}.json"))])
    assert m.match(S3, "ts/pts.json") == Match(1, "stat_type=pts", None)
    assert m.match(S3, "ts/team_5.json") == Match(1, "team_id=5", None)
    assert dimension_order(["ts/{stat_type}.json", "ts/team_{team_id}.json"]) is None
    assert dimension_order(["a/{x}/{y}", "b/{y}_{x}"]) == ("x", "y")
