"""SPEC §5–§6 and §8 on small hand-made cases (pure: no database)."""
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciliation.domain.analysis import (
    AnalysisInput,
    DataTypeSpec,
    PRESENT,
    GameSpec,
    ObjectSummary,
    analyze,
    estimated_minutes,
    is_newer,
    plan_tasks,
)
from reconciliation.domain.verdict import stale_cutoff
from reconciliation.domain.seasons import season_of

UTC = dt.timezone.utc
AS_OF = dt.date(2025, 1, 15)  # current season 2024-25, previous 2023-24


def spec(id=1, name="pbp", level="game", required=True, seasons=("2023-24", "2024-25"), source="espn", **kw):
    values = dict(scraper=f"{source}_scraper", freshness_days=7, completeness_threshold=0.95, min_size_bytes=100,
                  minutes_per_file=2)
    values.update(kw)
    return DataTypeSpec(id=id, source=source, name=name, required=required, level=level, seasons=tuple(seasons),
                        **values)


def obj(key="k", size=500, when=dt.datetime(2025, 1, 14, 12, tzinfo=UTC)):
    return ObjectSummary(key, size, when)


def game(gid, season, day):
    return GameSpec(str(gid), season, day)


def run(specs, games, have=None, as_of=AS_OF, critical_days=7):
    return analyze(AnalysisInput(data_types=specs, catalog={"espn": games}, have=have or {}, as_of=as_of,
                                 critical_days=critical_days))


def by_partition(report):
    return {g.partition: g for g in report.gaps}


def test_estimated_minutes_is_whole_when_it_can_be():
    assert estimated_minutes(3, 2) == 6 and isinstance(estimated_minutes(3, 2.0), int)
    assert estimated_minutes(3, 0.5) == 1.5
    assert estimated_minutes(3, 0.333) == 1.0
    assert estimated_minutes(0, 2) == 0


def test_is_newer_latest_then_larger_then_smaller_key():
    def newer(a, b):
        return is_newer(a.last_modified, a.size, a.key, b)

    old = obj("a", 900, dt.datetime(2025, 1, 1, tzinfo=UTC))
    new = obj("b", 10, dt.datetime(2025, 1, 2, tzinfo=UTC))
    assert newer(new, old) and not newer(old, new)
    small = obj("c", 10, dt.datetime(2025, 1, 2, tzinfo=UTC))
    big = obj("d", 20, dt.datetime(2025, 1, 2, tzinfo=UTC))
    assert newer(big, small) and not newer(small, big)
    twin = obj("e", 20, dt.datetime(2025, 1, 2, tzinfo=UTC))
    assert newer(big, twin) and not newer(twin, big)  # a tie: the smaller key, deterministically


def test_games_after_as_of_are_not_expected_and_never_gaps():
    games = [game(1, "2024-25", AS_OF), game(2, "2024-25", AS_OF + dt.timedelta(days=1))]
    report = run([spec()], games)
    assert set(by_partition(report)) == {"1"}
    cell = next(c for c in report.completeness if c.season == "2024-25")
    assert (cell.expected, cell.present, cell.completeness) == (1, 0, 0.0)


def test_seasons_outside_coverage_are_not_expected():
    games = [game(1, "2021-22", dt.date(2021, 11, 1)), game(2, "2023-24", dt.date(2023, 11, 1))]
    report = run([spec(seasons=("2023-24",))], games)
    assert set(by_partition(report)) == {"2"}
    assert [c.season for c in report.completeness] == ["2023-24"]


def test_present_empty_and_missing():
    games = [game(i, "2023-24", dt.date(2023, 11, i)) for i in (1, 2, 3)]
    have = {(1, "1"): obj(size=100), (1, "2"): obj(size=99)}
    report = run([spec()], games, have)
    gaps = by_partition(report)
    assert set(gaps) == {"2", "3"}
    assert gaps["2"].kind == "empty" and gaps["2"].object.size == 99
    assert gaps["3"].kind == "missing" and gaps["3"].object is None
    cell = next(c for c in report.completeness if c.season == "2023-24")
    assert (cell.expected, cell.present) == (3, 1)
    assert cell.completeness == pytest.approx(1 / 3)


def test_present_marker_is_present_and_never_a_gap():
    # PRESENT: the loader vouches that the newest object is neither empty nor stale
    games = [game(i, "2024-25", dt.date(2024, 11, i)) for i in (1, 2)]
    report = run([spec(), spec(id=2, name="season_file", level="season", seasons=("2024-25",))], games,
                 {(1, "1"): PRESENT, (2, "2024-25"): PRESENT})
    assert [(g.data_type_id, g.partition) for g in report.gaps] == [(1, "2")]
    cells = {(c.data_type, c.season): (c.expected, c.present) for c in report.completeness}
    assert cells[("pbp", "2024-25")] == (2, 1) and cells[("season_file", "2024-25")] == (1, 1)


def test_gaps_in_partition_order_whatever_the_catalog_order():
    games = [game(3, "2024-25", dt.date(2024, 11, 2)), game(2, "2024-25", dt.date(2024, 11, 1)),
             game(1, "2024-25", dt.date(2024, 11, 2))]
    assert [g.partition for g in run([spec()], games).gaps] == ["2", "1", "3"]


def test_completeness_is_one_when_nothing_expected_and_never_negative():
    report = run([spec(level="season", seasons=("2030-31",))], [])  # a season not started yet
    assert {c.completeness for c in report.completeness} == {1.0}
    assert all(c.expected == 0 for c in report.completeness)
    # a game-level type whose source has no catalog at all is not judged (§10), never 100 %
    report = run([spec()], [])
    assert {(c.completeness, c.reason) for c in report.completeness} == {(None, "no catalog")}
    # objects for partitions nobody expects do not push completeness above 1 or below 0
    have = {(1, str(i)): obj() for i in range(50)}
    report = run([spec()], [game(1, "2024-25", dt.date(2024, 11, 1))], have)
    assert all(0.0 <= c.completeness <= 1.0 for c in report.completeness)


def test_date_level_expects_distinct_catalog_dates():
    games = [game(1, "2024-25", dt.date(2024, 11, 1)), game(2, "2024-25", dt.date(2024, 11, 1)),
             game(3, "2024-25", dt.date(2024, 11, 2)), game(4, "2024-25", AS_OF + dt.timedelta(days=3))]
    report = run([spec(level="date")], games, {(1, "2024-11-02"): obj()})
    assert set(by_partition(report)) == {"2024-11-01"}
    cell = next(c for c in report.completeness if c.season == "2024-25")
    assert (cell.expected, cell.present) == (2, 1)


def test_season_level_expects_started_seasons():
    games = [game(1, "2024-25", dt.date(2024, 10, 22)), game(2, "2025-26", dt.date(2025, 10, 21))]
    s = spec(level="season", seasons=("2023-24", "2024-25", "2025-26"))
    # 2023-24 has no catalog games: started on 1 October 2023; 2025-26 starts after as_of
    report = run([s], games)
    assert set(by_partition(report)) == {"2023-24", "2024-25"}


def test_season_level_without_catalog_starts_on_first_october():
    s = spec(level="season", seasons=("2024-25",))
    assert run([s], [], as_of=dt.date(2024, 9, 30)).gaps == []
    assert [g.partition for g in run([s], [], as_of=dt.date(2024, 10, 1)).gaps] == ["2024-25"]


def test_fixed_partition_high_if_required_else_low_never_stale():
    req = spec(id=1, name="teams", level="fixed")
    opt = spec(id=2, name="arenas", level="fixed", required=False)
    report = run([req, opt], [])
    assert sorted((g.data_type, g.partition, g.season, g.priority) for g in report.gaps) == [
        ("arenas", "", None, "LOW"), ("teams", "", None, "HIGH")]
    ancient = obj(when=dt.datetime(2000, 1, 1, tzinfo=UTC))
    assert run([req], [], {(1, ""): ancient}).gaps == []
    cell = run([req], [], {(1, ""): ancient}).completeness
    assert [(c.season, c.expected, c.present) for c in cell] == [(None, 1, 1)]


# --- stale ------------------------------------------------------------------------------------


def test_stale_cutoff_is_midnight_utc():
    assert stale_cutoff(AS_OF, 7) == dt.datetime(2025, 1, 8, tzinfo=UTC)


def test_stale_boundary_at_midnight_utc_of_as_of_minus_freshness():
    s = spec(level="season", seasons=("2024-25",))
    games = [game(1, "2024-25", dt.date(2024, 10, 22))]
    just_before = obj(when=dt.datetime(2025, 1, 7, 23, 59, 59, tzinfo=UTC))
    at_midnight = obj(when=dt.datetime(2025, 1, 8, 0, 0, tzinfo=UTC))
    gaps = run([s], games, {(1, "2024-25"): just_before}).gaps
    assert [(g.kind, g.priority) for g in gaps] == [("stale", "CRITICAL")]
    assert run([s], games, {(1, "2024-25"): at_midnight}).gaps == []


def test_stale_only_for_the_current_season():
    s = spec(level="season", seasons=("2023-24", "2024-25"))
    ancient = obj(when=dt.datetime(2020, 1, 1, tzinfo=UTC))
    games = [game(1, "2023-24", dt.date(2023, 10, 24)), game(2, "2024-25", dt.date(2024, 10, 22))]
    gaps = run([s], games, {(1, "2023-24"): ancient, (1, "2024-25"): ancient}).gaps
    assert [(g.partition, g.kind) for g in gaps] == [("2024-25", "stale")]


def test_game_level_is_never_stale():
    ancient = obj(when=dt.datetime(2020, 1, 1, tzinfo=UTC))
    assert run([spec()], [game(1, "2024-25", dt.date(2024, 11, 1))], {(1, "1"): ancient}).gaps == []


def test_empty_wins_over_stale():
    s = spec(level="season", seasons=("2024-25",))
    tiny_old = obj(size=5, when=dt.datetime(2020, 1, 1, tzinfo=UTC))
    gaps = run([s], [game(1, "2024-25", dt.date(2024, 10, 22))], {(1, "2024-25"): tiny_old}).gaps
    assert [g.kind for g in gaps] == ["empty"]


def test_stale_of_an_optional_type_is_low():
    s = spec(level="season", seasons=("2024-25",), required=False)
    old = obj(when=dt.datetime(2020, 1, 1, tzinfo=UTC))
    gaps = run([s], [game(1, "2024-25", dt.date(2024, 10, 22))], {(1, "2024-25"): old}).gaps
    assert [(g.kind, g.priority) for g in gaps] == [("stale", "LOW")]


# --- priority -----------------------------------------------------------------------------------


def test_critical_days_window_excludes_as_of_minus_critical_days_and_includes_as_of():
    days = {"edge": AS_OF - dt.timedelta(days=7), "inside": AS_OF - dt.timedelta(days=6), "today": AS_OF}
    games = [game(name, "2024-25", day) for name, day in days.items()]
    # plenty of present games keep the cell above its threshold so that the edge game is MEDIUM
    games += [game(f"ok{i}", "2024-25", dt.date(2024, 11, 1)) for i in range(100)]
    have = {(1, f"ok{i}"): obj() for i in range(100)}
    gaps = by_partition(run([spec()], games, have))
    assert gaps["today"].priority == "CRITICAL"
    assert gaps["inside"].priority == "CRITICAL"
    assert gaps["edge"].priority == "MEDIUM"


def test_critical_applies_to_any_required_season_and_date_partitions():
    # a game of the previous season within the last critical_days (as_of early July)
    as_of = dt.date(2025, 7, 3)
    games = [game(1, "2024-25", dt.date(2025, 6, 30))]
    assert by_partition(run([spec()], games, as_of=as_of))["1"].priority == "CRITICAL"
    date_gaps = by_partition(run([spec(level="date")], games, as_of=as_of))
    assert date_gaps["2025-06-30"].priority == "CRITICAL"


def test_optional_recent_game_is_low():
    games = [game(1, "2024-25", AS_OF)]
    assert by_partition(run([spec(required=False)], games))["1"].priority == "LOW"


def _cell_games(n_present, n_total, season="2024-25", start=dt.date(2024, 11, 1)):
    games = [game(i, season, start) for i in range(n_total)]
    have = {(1, str(i)): obj() for i in range(n_present)}
    return games, have


def test_high_when_current_season_strictly_below_threshold():
    games, have = _cell_games(18, 20)  # 0.9 < 0.95
    assert {g.priority for g in run([spec()], games, have).gaps} == {"HIGH"}


def test_medium_when_current_season_exactly_at_threshold():
    games, have = _cell_games(19, 20)  # 0.95 is not strictly below 0.95
    assert {g.priority for g in run([spec()], games, have).gaps} == {"MEDIUM"}


def test_previous_season_is_medium_even_when_far_below_threshold():
    games, have = _cell_games(0, 5, season="2023-24", start=dt.date(2023, 11, 1))
    assert {g.priority for g in run([spec()], games, have).gaps} == {"MEDIUM"}


def test_older_seasons_are_low():
    games, have = _cell_games(0, 3, season="2022-23", start=dt.date(2022, 11, 1))
    gaps = run([spec(seasons=("2022-23",))], games, have).gaps
    assert {g.priority for g in gaps} == {"LOW"}


@pytest.mark.parametrize(
    ("as_of", "priority"),
    [
        (dt.date(2025, 6, 30), "HIGH"),    # 2024-25 is still the current season
        (dt.date(2025, 7, 1), "MEDIUM"),   # 2024-25 became the previous season
        (dt.date(2026, 7, 1), "LOW"),      # two seasons back
    ],
)
def test_season_boundaries_first_of_july(as_of, priority):
    games = [game(i, "2024-25", dt.date(2024, 11, 1)) for i in range(3)]
    assert {g.priority for g in run([spec()], games, as_of=as_of).gaps} == {priority}


def test_critical_days_zero_disables_the_date_rule():
    gaps = run([spec()], [game(1, "2024-25", AS_OF)], critical_days=0).gaps
    assert gaps[0].priority == "HIGH"


# --- several sources / specs --------------------------------------------------------------------


def test_each_source_uses_its_own_catalog():
    espn = spec(id=1, source="espn")
    nba = spec(id=2, source="nba_api")
    inp = AnalysisInput(
        data_types=[espn, nba],
        catalog={"espn": [game("e1", "2024-25", dt.date(2024, 11, 1))],
                 "nba_api": [game("n1", "2024-25", dt.date(2024, 11, 1))]},
        have={(1, "n1"): obj()}, as_of=AS_OF, critical_days=7,
    )
    assert sorted((g.source, g.partition) for g in analyze(inp).gaps) == [("espn", "e1"), ("nba_api", "n1")]


# --- task planning ------------------------------------------------------------------------------


def test_tasks_group_by_source_type_season_priority_kind_and_split_at_max_items():
    s = spec()
    games = [game(f"g{i:02d}", "2023-24", dt.date(2023, 11, 1) + dt.timedelta(days=i % 3)) for i in range(7)]
    games += [game("r1", "2024-25", AS_OF)]
    have = {(1, "g00"): obj(size=1)}  # one empty file
    report = run([s], games, have)
    plans = plan_tasks(report.gaps, {1: s}, max_items_per_task=3, critical_days=7)
    summary = [(p.priority, p.season, p.gap_kind, p.partitions, p.minutes) for p in plans]
    assert summary == [
        ("CRITICAL", "2024-25", "missing", ["r1"], 2),
        ("MEDIUM", "2023-24", "empty", ["g00"], 2),
        # partition order: game date, then game id; three per task, as few tasks as possible
        ("MEDIUM", "2023-24", "missing", ["g03", "g06", "g01"], 6),
        ("MEDIUM", "2023-24", "missing", ["g04", "g02", "g05"], 6),
    ]
    assert plans[0].game_ids == ["r1"] and plans[0].dates == []
    assert plans[0].scraper == "espn_scraper"
    assert "1 missing game of espn/pbp 2024-25" in plans[0].reason
    assert "7 days" in plans[0].reason


def test_task_split_exactly_at_max_items():
    s = spec()
    games = [game(f"g{i}", "2023-24", dt.date(2023, 11, 1)) for i in range(6)]
    gaps = run([s], games).gaps
    assert [len(p.gaps) for p in plan_tasks(gaps, {1: s}, 3)] == [3, 3]
    assert [len(p.gaps) for p in plan_tasks(gaps, {1: s}, 6)] == [6]
    assert [len(p.gaps) for p in plan_tasks(gaps, {1: s}, 5)] == [5, 1]
    with pytest.raises(ValueError):
        plan_tasks(gaps, {1: s}, 0)


def test_date_tasks_list_dates_ascending_and_fractional_minutes():
    s = spec(level="date", minutes_per_file=0.5)
    games = [game(i, "2023-24", dt.date(2023, 12, 3 - i)) for i in range(3)]
    plans = plan_tasks(run([s], games).gaps, {1: s}, 100)
    assert len(plans) == 1
    assert plans[0].dates == ["2023-12-01", "2023-12-02", "2023-12-03"] and plans[0].game_ids == []
    assert plans[0].minutes == 1.5


def test_season_and_fixed_tasks_have_no_ids():
    season = spec(id=1, name="pbp", level="season", seasons=("2024-25",))
    fixed = spec(id=2, name="teams", level="fixed")
    report = run([season, fixed], [game(1, "2024-25", dt.date(2024, 10, 22))])
    plans = plan_tasks(report.gaps, {1: season, 2: fixed}, 100)
    assert [(p.data_type, p.season, p.game_ids, p.dates, p.priority) for p in plans] == [
        ("pbp", "2024-25", [], [], "HIGH"), ("teams", None, [], [], "HIGH")]


# --- invariants over random inputs --------------------------------------------------------------

_days = st.dates(min_value=dt.date(2022, 7, 1), max_value=dt.date(2026, 6, 30))


@settings(max_examples=150, deadline=None)
@given(
    level=st.sampled_from(["game", "date", "season", "fixed"]),
    game_days=st.lists(_days, max_size=25),
    present=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 300), st.integers(0, 2000)), max_size=30),
    as_of=_days,
    critical_days=st.integers(0, 10),
    required=st.booleans(),
    max_items=st.integers(1, 7),
)
def test_invariants(level, game_days, present, as_of, critical_days, required, max_items):
    s = spec(level=level, required=required, seasons=("2022-23", "2023-24", "2024-25", "2025-26"))
    games = [game(i, season_of(day), day) for i, day in enumerate(game_days)]
    partitions = sorted({g.game_id for g in games} | {g.game_date.isoformat() for g in games}
                        | {g.season for g in games} | {""})
    have = {}
    for idx, size, age in present:
        part = partitions[idx % len(partitions)]
        have[(1, part)] = obj(size=size, when=dt.datetime(2026, 7, 1, tzinfo=UTC) - dt.timedelta(days=age))
    report = run([s], games, have, as_of=as_of, critical_days=critical_days)
    gaps_per_cell = {}
    for g in report.gaps:
        gaps_per_cell[g.season] = gaps_per_cell.get(g.season, 0) + 1
        if g.game_date is not None:
            assert g.game_date <= as_of  # games after as_of are never gaps
        if g.priority == "CRITICAL":
            assert required
        if not required:
            assert g.priority == "LOW"
    for c in report.completeness:
        if c.completeness is None:  # §10: a game or date level without any catalog game
            assert level in ("game", "date") and not games and c.reason == "no catalog"
            continue
        assert 0.0 <= c.completeness <= 1.0
        assert c.present == c.expected - gaps_per_cell.get(c.season, 0) >= 0
        assert c.completeness == (c.present / c.expected if c.expected else 1.0)
    plans = plan_tasks(report.gaps, {1: s}, max_items)
    assert sum(len(p.gaps) for p in plans) == len(report.gaps)
    assert all(1 <= len(p.gaps) <= max_items for p in plans)
    groups = {}
    for g in report.gaps:
        key = (g.season, g.priority, g.kind)
        groups[key] = groups.get(key, 0) + 1
    assert len(plans) == sum(-(-n // max_items) for n in groups.values())  # as few tasks as possible
