"""ColumnMatcher must give, key for key, exactly what PartitionMatcher.match gives."""
import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciliation.engine.columnar import ColumnMatcher, catalog_lookup, row_numbers
from reconciliation.domain.patterns import MatcherSpec, PartitionMatcher

S3 = "s3://lake"
CATALOG = {"401": ("2023-24", dt.date(2024, 1, 5)), "402": ("2022-23", dt.date(2023, 1, 5))}

SPECS = [
    # the reference layout: espn at the bucket root with old and new layouts ...
    MatcherSpec(1, S3, "", ("espn_play_by_play/{game_id}.json", "pbp/{game_id}.json")),
    MatcherSpec(2, S3, "", ("espn_schedules/{date}.json",)),
    # ... sources nested below it
    MatcherSpec(3, S3, "nba_api/", ("boxscores/advanced_{game_id}.json",)),
    MatcherSpec(4, S3, "hoopr/", ("pbp/nba_data_{season_end}.parquet",)),
    MatcherSpec(5, S3, "bbref/", ("box/{season_end}/{game_id}.json",), catalog=CATALOG),
    # a placeholder first (filed under the location itself), a repeat, a fixed key, mixed placeholders
    MatcherSpec(6, S3, "wild/", ("{game_id}.json", "{game_id}/{game_id}.txt")),
    MatcherSpec(7, S3, "", ("teams/all.json", "x/{season_start}-{season_end}/{game_id}.csv")),
    MatcherSpec(8, S3, "deep/a/b/", ("c/{game_id}.bin", "c/{season}/{date}.bin")),
    # another store with the same keys
    MatcherSpec(9, "file://", "data/", ("pbp/{game_id}.json",)),
    # §10 dimensions: two in one segment, after a game id, at season level, fixed, {year}, patterns that
    # disagree on their dimensions (open), a dimension before the game id in the partition order
    MatcherSpec(10, S3, "dim/", ("h2h/{player1}_{player2}.json",)),
    MatcherSpec(11, S3, "dim/", ("box/{game_id}/{side}.json", "box2/{side}-{game_id}.json")),
    MatcherSpec(12, S3, "dim/", ("teams/{season}/{team}.json", "teams/{team}/{year}.csv")),
    MatcherSpec(13, S3, "dim/", ("awards/{award_type}/{stat_type}_x.json",)),
    MatcherSpec(14, S3, "dim/", ("ts/{stat_type}.json", "ts/team_{team_id}.json")),
    MatcherSpec(15, S3, "dim/", ("hoopr/nba_data_{year}.parquet",)),
    MatcherSpec(16, S3, "dim/", ("d/{date}/{team}.json",)),
    MatcherSpec(17, S3, "dim/", ("g/{team}/{game_id}/{team}.json",)),
]

EXAMPLES = [
    "espn_play_by_play/401.json", "pbp/401.json", "pbp/401.json.bak", "PBP/401.json", "pbp/a/b.json",
    "pbp/.json", "espn_schedules/20240105.json", "espn_schedules/20240231.json",
    "nba_api/boxscores/advanced_9.json", "nba_api/boxscores/advanced_.json", "nba_api/pbp/1.json",
    "hoopr/pbp/nba_data_2024.parquet", "hoopr/pbp/nba_data_٢٠٢٤.parquet", "hoopr/pbp/nba_data_24.parquet",
    "bbref/box/2024/401.json", "bbref/box/2023/401.json", "bbref/box/2023/402.json", "bbref/box/2024/999.json",
    "bbref/box/٢٠٢٤/401.json", "wild/7.json", "wild/7/7.txt", "wild/7/8.txt", "teams/all.json",
    "x/2023-2024/g.csv", "x/2023-2025/g.csv", "deep/a/b/c/1.bin", "deep/a/b/c/2023-24/20240105.bin",
    "deep/a/b/c/2023-24/20250105.bin", "/pbp/401.json", "pbp/4\n01.json", "pbp/é.json", "", "pbp",
    "pbp/401.json\n", "pbp/%2F.json", "nba_api/", "wild/.json",
    "dim/h2h/a_b.json", "dim/h2h/a_b_c.json", "dim/h2h/_b.json", "dim/h2h/a_.json", "dim/h2h/__.json",
    "dim/h2h/ab.json", "dim/box/401/home.json", "dim/box/401/.json", "dim/box2/home-401.json",
    "dim/box2/a-b-c.json", "dim/teams/2023-24/LAL.json", "dim/teams/2023-25/LAL.json", "dim/teams/LAL/2024.csv",
    "dim/awards/mvp/pts_x.json", "dim/awards/mvp/pts_x_x.json", "dim/ts/x.json", "dim/ts/team_5.json",
    "dim/hoopr/nba_data_2024.parquet", "dim/d/20240105/BOS.json", "dim/d/20240231/BOS.json",
    "dim/g/BOS/401/BOS.json", "dim/g/BOS/401/LAL.json", "dim/ts/é_ü.json",
]


def python_answers(matcher, store, keys):
    found = [matcher.match(store, k) for k in keys]
    return [m.data_type_id if m else None for m in found], [m.partition if m else "" for m in found]


def columnar_answers(matcher, store, keys):
    dt_ids, parts = ColumnMatcher(matcher).match(store, pa.array(keys, pa.string()))
    return dt_ids.to_pylist(), parts.to_pylist()


@pytest.fixture(scope="module")
def matcher():
    return PartitionMatcher(SPECS)


@pytest.mark.parametrize("store", [S3, "file://", "s3://elsewhere"])
def test_examples_agree_with_the_reference_matcher(matcher, store):
    keys = EXAMPLES + ["data/" + k for k in EXAMPLES]
    assert columnar_answers(matcher, store, keys) == python_answers(matcher, store, keys)


def test_the_examples_cover_every_way_of_deciding(matcher):
    dt_ids, parts = columnar_answers(matcher, S3, EXAMPLES)
    got = dict(zip(EXAMPLES, zip(dt_ids, parts)))
    assert got["pbp/401.json"] == (1, "401")                       # {game_id} only: decided in C
    assert got["bbref/box/2024/401.json"] == (5, "401")            # season agrees with the catalog
    assert got["bbref/box/2023/401.json"] == (None, "")            # ... and disagrees: unmatched
    assert got["bbref/box/2024/999.json"] == (5, "999")            # a game the catalog does not know
    assert got["hoopr/pbp/nba_data_٢٠٢٤.parquet"] == (4, "2023-24")  # Unicode digits, as Python's \d
    assert got["wild/7/7.txt"] == (6, "7") and got["wild/7/8.txt"] == (None, "")  # a repeat must agree
    assert got["espn_schedules/20240231.json"] == (None, "")        # not a date
    assert got["pbp/4\n01.json"] == (1, "4\n01")                   # [^/] takes a newline, as in Python
    assert got["pbp/401.json\n"] == (None, "")                     # the whole key, to its very end
    assert got["/pbp/401.json"] == (None, "")
    assert got["dim/h2h/a_b_c.json"] == (10, "a/b_c")                 # leftmost-shortest, in C
    assert got["dim/box2/home-401.json"] == (11, "401/home")          # level id first, then the dimensions
    assert got["dim/teams/LAL/2024.csv"] == (12, "2023-24/LAL")       # {year} = {season_end}
    assert got["dim/ts/team_5.json"] == (14, "team_id=5")             # patterns disagree: labelled
    assert got["dim/g/BOS/401/LAL.json"] == (None, "")                # a repeated dimension must agree
    assert got["dim/d/20240105/BOS.json"] == (16, "2024-01-05/BOS")


def test_empty_column(matcher):
    dt_ids, parts = ColumnMatcher(matcher).match(S3, pa.array([], pa.string()))
    assert dt_ids.to_pylist() == [] and parts.to_pylist() == []


def test_row_numbers():
    assert row_numbers(4).to_pylist() == [0, 1, 2, 3]
    assert row_numbers(0).to_pylist() == []


PIECES = st.sampled_from(["pbp", "espn_play_by_play", "nba_api", "boxscores", "advanced_", "hoopr", "nba_data_",
                          "bbref", "box", "wild", "deep", "a", "b", "c", "x", "teams", "all", "data", "espn_schedules",
                          "2024", "2023", "٢٠٢٤", "20240105", "2023-24", "2023-2024", "401", "402", ".json", ".parquet",
                          ".txt", ".bin", ".csv", "/", "/", "/", "-", "_", "\n", "é", "%", "",
                          "dim", "h2h", "box2", "home", "ts", "team_", "awards", "_x", "g", "d", "LAL"])
KEYS = st.lists(PIECES, max_size=9).map("".join)


@settings(max_examples=300, deadline=None)
@given(keys=st.lists(KEYS, max_size=40), store=st.sampled_from([S3, "file://"]))
def test_any_keys_agree_with_the_reference_matcher(matcher, keys, store):
    assert columnar_answers(matcher, store, keys) == python_answers(matcher, store, keys)


def reference_lookup(game_ids, catalog):
    """The season of each id's first catalog entry (None when unknown or None), one id at a time."""
    first = {}
    for game_id, season in catalog:
        first.setdefault(game_id, season)
    return [first.get(g) if g is not None else None for g in game_ids]


def lookup(game_ids, catalog):
    ids = pa.array([c[0] for c in catalog], pa.string())
    seasons = pa.array([c[1] for c in catalog], pa.string())
    return catalog_lookup(pa.array(game_ids, pa.string()), ids, seasons).to_pylist()


CATALOG_ROWS = [("401", "2023-24"), ("402", "2023-24"), ("9", "2022-23"), ("401", "2019-20"), ("77", "2024-25")]


@pytest.mark.parametrize("game_ids", [
    ["401", "402", "999", None, "401", "9"],            # more keys than games: the keys are probed
    ["77", None],                                       # fewer keys than games: the catalog is probed
    ["401"], ["nope"], [None], [],
])
def test_catalog_lookup_either_way_round(game_ids):
    # "401" is listed twice: its first entry wins, as pc.index_in answers
    assert lookup(game_ids, CATALOG_ROWS) == reference_lookup(game_ids, CATALOG_ROWS)


@settings(max_examples=300, deadline=None)
@given(game_ids=st.lists(st.one_of(st.none(), st.sampled_from(["1", "2", "3", "4", "é", ""])), max_size=12),
       catalog=st.lists(st.tuples(st.sampled_from(["1", "2", "3", "é", ""]), st.sampled_from(["2023-24", "2024-25"])),
                        max_size=12))
def test_catalog_lookup_agrees_with_a_dict(game_ids, catalog):
    assert lookup(game_ids, catalog) == reference_lookup(game_ids, catalog)
