"""SPEC §10 in the analysis (pure): dimension combinations, open data types, cells not judged, short gaps."""
import datetime as dt

from reconciliation.domain.analysis import PRESENT, plan_tasks
from reconciliation.domain.dimensions import CatalogDimension, OpenDimension, StaticDimension
from tests.reconciliation.test_analysis import game, obj, run, spec

GAMES = [game(401, "2024-25", dt.date(2024, 11, 1)), game(402, "2024-25", dt.date(2025, 1, 14)),
         game(301, "2023-24", dt.date(2023, 11, 1))]


def cells(report):
    return {(c.data_type, c.season): (c.expected, c.present, c.completeness, c.reason) for c in report.completeness}


def test_closed_dimensions_multiply_the_level_partitions():
    side = StaticDimension("side", ("home", "away"))
    report = run([spec(dimensions=(side,))], GAMES, {(1, "401/home"): PRESENT, (1, "301/away"): PRESENT})
    assert sorted(g.partition for g in report.gaps) == ["301/home", "401/away", "402/away", "402/home"]
    assert cells(report)[("pbp", "2024-25")] == (4, 1, 0.25, "")
    by = {g.partition: g for g in report.gaps}
    assert by["402/home"].priority == "CRITICAL" and by["402/home"].game_date == dt.date(2025, 1, 14)


def test_season_level_catalog_values_per_season_and_the_fixed_level_takes_season_less_values():
    team = CatalogDimension("team", (("LAL", None), ("SEA", "2023-24"), ("OKC", "2024-25")))
    season = spec(level="season", dimensions=(team,))
    fixed = spec(id=2, name="awards", level="fixed", dimensions=(team,))
    stale = obj(when=dt.datetime(2024, 12, 1, tzinfo=dt.timezone.utc))
    report = run([season, fixed], GAMES, {(1, "2023-24/LAL"): PRESENT, (1, "2024-25/LAL"): stale})
    gaps = sorted((g.data_type, g.partition, g.kind) for g in report.gaps)
    assert gaps == [("awards", "LAL", "missing"), ("pbp", "2023-24/SEA", "missing"),
                    ("pbp", "2024-25/LAL", "stale"), ("pbp", "2024-25/OKC", "missing")]


def test_open_data_type_without_a_count_is_not_judged_but_empties_are_gaps():
    s = spec(level="season", dimensions=(OpenDimension("player_slug"),))
    have = {(1, "2024-25/lebron"): PRESENT, (1, "2024-25/kobe"): obj(size=3), (1, "2019-20/old"): PRESENT}
    report = run([s], GAMES, have)
    assert cells(report) == {("pbp", "2023-24"): (0, 0, None, "open dimension player_slug"),
                             ("pbp", "2024-25"): (0, 1, None, "open dimension player_slug")}
    assert [(g.partition, g.kind) for g in report.gaps] == [("2024-25/kobe", "empty")]


def test_open_data_type_with_a_count_is_short_by_what_is_missing():
    s = spec(level="game", dimensions=(OpenDimension("player_id"),), expected_count=3, minutes_per_file=5)
    have = {(1, "401/p1"): PRESENT, (1, "402/p2"): PRESENT, (1, "301/p1"): PRESENT, (1, "301/p2"): PRESENT,
            (1, "301/p3"): PRESENT, (1, "301/p4"): PRESENT, (1, "999/p9"): PRESENT}  # 999: not in the catalog
    report = run([s], GAMES, have)
    assert cells(report) == {("pbp", "2023-24"): (3, 3, 1.0, ""), ("pbp", "2024-25"): (3, 2, 2 / 3, "")}
    [short] = report.gaps
    assert (short.kind, short.season, short.shortfall, short.priority) == ("short", "2024-25", 1, "HIGH")
    [task] = plan_tasks(report.gaps, {1: s}, 100)
    assert (task.gap_kind, task.partitions, task.missing_files, task.minutes) == ("short", [], 1, 5)
    assert task.reason.startswith("1 partition short of espn/pbp 2024-25")


def test_fixed_open_with_expected_count_and_no_catalog():
    awards = spec(level="fixed", dimensions=(OpenDimension("award_type"),), expected_count=2)
    report = run([awards], [], {(1, "mvp"): PRESENT})
    assert cells(report) == {("pbp", None): (2, 1, 0.5, "")}
    assert [(g.partition, g.kind, g.shortfall, g.priority) for g in report.gaps] == [("/", "short", 1, "HIGH")]
    # a game-level data type whose source has no catalog at all: never 100 %
    report = run([spec(dimensions=(OpenDimension("x"),)), spec(id=2, name="sched", level="date")], [])
    assert set(cells(report).values()) == {(0, 0, None, "no catalog")}
    assert report.gaps == []


def test_several_short_tasks_never_share_a_task():
    s = spec(level="season", dimensions=(OpenDimension("team"),), expected_count=30, seasons=("2023-24", "2024-25"))
    report = run([s], GAMES, {})
    plans = plan_tasks(report.gaps, {1: s}, 100)
    assert [(p.season, p.missing_files) for p in plans] == [("2024-25", 30), ("2023-24", 30)]
