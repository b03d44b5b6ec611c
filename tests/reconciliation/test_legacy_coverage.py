"""SPEC §10 end to end: the original's coverage file (our own, in its shape) imported unchanged, and a lake
built for its patterns reconciled exactly — closed dimensions from the YAML and from dimension catalogs,
open data types with and without a count, two dimensions in one segment, {season}/{game_id} layouts,
{year}, and a source without a catalog."""
import datetime as dt
import io
import json
import os
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.urls import reverse

from reconciliation.models import DataType, DimensionValue, Gap, Source
from reconciliation.selectors import coverage_matrix

FIXTURE = Path(__file__).resolve().parents[1] / "legacy_inventory" / "inventory" / "data_inventory.yaml"
AS_OF = "2025-01-15"
GAMES = {"401": ("2023-24", "2023-11-01"), "402": ("2023-24", "2024-03-01"), "501": ("2024-25", "2024-10-22"),
         "502": ("2024-25", "2024-12-25"), "503": ("2024-25", "2025-01-14")}
OLD = dt.datetime(2024, 12, 1, tzinfo=dt.timezone.utc).timestamp()

pytestmark = pytest.mark.django_db


def seasons(first_end: int, last_end: int) -> list[tuple[str, int]]:
    """(YYYY-YY, end year) of the seasons ending first_end … last_end."""
    return [(f"{y - 1}-{y % 100:02d}", y) for y in range(first_end, last_end + 1)]


ESPN, NBA_API, NBA = seasons(2002, 2025), seasons(1997, 2025), seasons(1946, 2025)


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def fails(*args) -> str:
    with pytest.raises(CommandError) as exc:
        run(*args)
    assert exc.value.returncode == 2 and "\n" not in str(exc.value)
    return str(exc.value)


def lake_keys() -> dict[str, int]:
    """Relative key → size: every partition the coverage expects, minus and plus what is planted below."""
    keys: list[str] = []
    dates = sorted({day.replace("-", "") for _s, day in GAMES.values()})
    for g, (season, _day) in GAMES.items():
        keys += [f"espn/pbp/{g}.json" if g != "401" else "nba_pbp/401.json",  # the old layout counts too
                 f"espn/box_scores/{g}.json", f"espn/shots/{g}.json", f"espn/odds/{g}.json",
                 f"espn/winprob/{g}.json", f"espn/team_box/{g}/home.json", f"espn/team_box/{g}/away.json",
                 f"espn/summary/{season}/{g}.json", f"nba_api/boxscores/advanced/{g}.json",
                 f"nba_api/boxscores/traditional/{g}.json", f"nba_api/hustle/{g}.json", f"nba_api/matchups/{g}.json",
                 f"nba_api/pbp/{season}/{g}.json", f"nba_api/shotchart/{season}/{g}.json"]
    for day in dates:
        keys += [f"espn/schedule/{day}.json", f"espn/injuries/{day}.json"]
        keys += [f"nba_api/tracking/{day}/{t}.json" for t in ("speed", "touches", "drives")]
    for season, year in ESPN:
        keys += [f"espn/rosters/{season}/LAL.json", f"espn/standings/{year}.json"]
    keys += ["espn/rosters/2023-24/SEA.json", "espn/teams.json"]
    for season, year in NBA_API:
        keys += [f"nba_api/leaders/{season}/{s}.json" for s in ("pts", "reb", "ast")]
        keys += [f"nba_api/synergy/{season}/{t}.json" for t in ("speed", "touches", "drives")]
        keys += [f"nba_api/draft/{year}.json", f"nba_api/team_logs/{season}/BOS.json", f"nba_api/lineups/{season}/BOS.json"]
    keys += ["nba_api/team_logs/2024-25/NYK.json", "nba_api/lineups/2024-25/NYK.json", "nba_api/common/all_players.json"]
    keys += [f"nba_api/awards/{a}.json" for a in ("mvp", "roy")]  # dpoy missing
    b = "basketball_reference"
    for season, year in NBA:
        keys += [f"{b}/schedules/{season}.csv", f"{b}/teams/BOS/{year}.html", f"{b}/draft/{year}.html",
                 f"{b}/hoopr/nba_data_{year}.parquet", f"{b}/leaders/{year}/pts.html", f"{b}/leaders/{year}/trb.html"]
    keys += [f"{b}/teams/LAL/2024.html", f"{b}/teams/LAL/2025.html"]
    keys += [f"{b}/gleague/standings/{y}.csv" for _s, y in seasons(2002, 2025)]
    keys += [f"{b}/wnba/standings/{y}.csv" for _s, y in seasons(1997, 2025)]
    keys += [f"{b}/transactions/{y}.html" for _s, y in seasons(2000, 2025)]
    keys += [f"{b}/awards/mvp.html", f"{b}/awards/roy.html", f"{b}/coaches.csv", f"{b}/franchises/BOS.html"]
    # found, never listed: open data types, and a source without a game catalog
    keys += ["espn/players/p1/2024-25.json", "espn/players/p2/2024-25.json", "espn/players/p1/bio.json",
             "espn/players/p2/bio.json", "espn/players/p3/bio.json", "espn/news/20241022/recap.html",
             "nba_api/team_stats/2024-25/pts.json", "nba_api/team_stats/2024-25/reb.json",
             "nba_api/team_stats/2024-25/team_1610612747.json", "nba_api/player_stats/2024-25/2544.json",
             "nba_api/player_stats/2024-25/201939.json", "nba_api/career/2544.json",
             f"{b}/players/jamesle01/2025.html", f"{b}/h2h/lebron_james_kobe_bryant.json", f"{b}/h2h/a_b.json",
             f"{b}/h2h/x\x1ey_z.json",  # holds the separator HAVE's load joins dimension partitions with
             f"{b}/players/index_a.html", f"{b}/box_scores/2024-25/202410220BOS.html", f"{b}/pbp/202410220BOS.html",
             f"{b}/injuries/20241022.csv"]
    sizes = dict.fromkeys(keys, 200)
    for planted in ("espn/pbp/503.json", "espn/team_box/502/away.json", "espn/rosters/2010-11/LAL.json",
                    "espn/summary/2023-24/401.json"):
        del sizes[planted]
    sizes["espn/summary/2024-25/401.json"] = 200   # misfiled: 401 is a 2023-24 game (unmatched)
    sizes["espn/box_scores/401.json"] = 0           # empty
    sizes["espn/players/p3/2023-24.json"] = 0       # an empty stored partition of an open data type
    return sizes


@pytest.fixture
def lake(tmp_path):
    return build_lake(tmp_path)


def build_lake(tmp_path):
    root = tmp_path / "lake"
    for key, size in lake_keys().items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
    os.utime(root / "espn/standings/2025.json", (OLD, OLD))  # the current season's file, stale
    os.utime(root / "espn/rosters/2024-25/LAL.json", (OLD, OLD))  # stale too: a season level with a dimension
    catalog = tmp_path / "games.csv"
    catalog.write_text("game_id,season,game_date\n" + "".join(f"{g},{s},{d}\n" for g, (s, d) in GAMES.items()))
    dims = {"espn_team": "value,season\nLAL,\nSEA,2023-24\n", "nba_team": "value,season\nBOS,\nNYK,2025\n",
            "bbref_team": "value,season\nBOS,\nLAL,2024-2025\n", "bbref_award": "value\nmvp\nroy\n"}
    for name, text in dims.items():
        (tmp_path / f"{name}.csv").write_text(text)
    return tmp_path


def test_the_coverage_file_imports_unchanged_with_its_warnings_and_nothing_dropped(tmp_path):
    before = FIXTURE.read_bytes()
    out, err = run("import_coverage", str(FIXTURE), "--location", f"file://{tmp_path}/")
    assert "imported 3 sources (3 new, 0 deactivated), 49 data types (49 new, 0 deactivated)" in out
    assert err.splitlines() == [
        f"{FIXTURE}: warning: ignored the original's keys: estimated_records, expected_file_counts, "
        "expected_game_counts, expected_years, last_updated, metadata, priority_rules, quality_requirements, "
        "reconciliation_config, version",
        f"{FIXTURE}: warning: seasons given per league and no league: or seasons: in "
        "basketball_reference.player_stats, basketball_reference.injuries; they expect every league's seasons",
    ]
    assert FIXTURE.read_bytes() == before
    original = yaml.safe_load(before)["expected_coverage"]
    stored = {(d.source.name, d.name): d for d in DataType.objects.select_related("source")}
    assert set(stored) == {(s, t) for s, body in original.items() for t in body["data_types"]}
    for (source, name), d in stored.items():
        body = original[source]["data_types"][name]
        assert d.path_patterns == body["path_patterns"] and d.active
        assert (d.priority, d.tier) == (body["priority"], str(body["tier"]))
    assert stored[("basketball_reference", "schedules")].seasons[0] == "1945-46"
    assert stored[("basketball_reference", "transactions")].seasons == [s for s, _y in seasons(2000, 2025)]
    assert stored[("nba_api", "team_stats")].expected_count == 30


def import_lake(lake) -> None:
    """The original's coverage file over the built lake, its game catalogs and dimension catalogs."""
    run("import_coverage", str(FIXTURE), "--location", f"file://{lake}/lake/")
    for source in ("espn", "nba_api"):
        run("import_catalog", "--source", source, str(lake / "games.csv"))
    for source, dim, name in (("espn", "team", "espn_team"), ("nba_api", "team", "nba_team"),
                              ("basketball_reference", "team", "bbref_team"),
                              ("basketball_reference", "award_type", "bbref_award")):
        run("import_catalog", "--source", source, "--dimension", dim, str(lake / f"{name}.csv"))


def test_a_lake_built_for_its_patterns_reconciles_exactly(lake):
    import_lake(lake)
    out, _err = run("reconcile", "--json", "--as-of", AS_OF, "--output", str(lake / "gaps.json"))
    summary = json.loads(out)

    # every data type has a completeness cell, judged or with the reason it is not
    cells = summary["completeness"]
    assert {(c["source"], c["data_type"]) for c in cells} == set(
        DataType.objects.values_list("source__name", "name"))
    not_judged = {(c["source"], c["data_type"], c["not_judged"]) for c in cells if c["completeness"] is None}
    assert not_judged == {
        ("basketball_reference", "box_scores", "no catalog"), ("basketball_reference", "pbp", "no catalog"),
        ("basketball_reference", "injuries", "no catalog"), ("basketball_reference", "player_index", "open dimension file"),
        ("espn", "player_game_logs", "open dimension player_id"), ("espn", "news", "open dimension file"),
        ("nba_api", "player_career", "open dimension player_id"),
    }
    assert all(c["completeness"] is not None for c in cells if "not_judged" not in c)

    gaps = {(g.source.name, g.data_type.name, g.partition, g.kind, g.priority)
            for g in Gap.objects.select_related("source", "data_type").exclude(kind="short")}
    assert gaps == {
        ("espn", "play_by_play", "503", "missing", "CRITICAL"),
        ("espn", "team_box", "502/away", "missing", "HIGH"),
        ("espn", "game_summary", "401", "missing", "MEDIUM"),        # its only key is misfiled under 2024-25
        ("espn", "team_rosters", "2010-11/LAL", "missing", "LOW"),
        ("espn", "box_scores", "401", "empty", "MEDIUM"),
        ("espn", "standings", "2024-25", "stale", "CRITICAL"),
        ("espn", "team_rosters", "2024-25/LAL", "stale", "CRITICAL"),
        ("espn", "player_game_logs", "2023-24/p3", "empty", "MEDIUM"),
        ("nba_api", "awards", "dpoy", "missing", "HIGH"),
    }
    shorts = {(g.source.name, g.data_type.name, g.season): g.shortfall for g in Gap.objects.filter(kind="short")
              .select_related("source", "data_type")}
    expected_shorts = {("espn", "player_bios", None): 497, ("basketball_reference", "head_to_head", None): 97}
    for season, _y in NBA_API:
        expected_shorts[("nba_api", "team_stats", season)] = 27 if season == "2024-25" else 30
        expected_shorts[("nba_api", "player_stats", season)] = 448 if season == "2024-25" else 450
    for season, _y in NBA:  # the union of its leagues' seasons (the warning above)
        expected_shorts[("basketball_reference", "player_stats", season)] = 399 if season == "2024-25" else 400
    assert shorts == expected_shorts
    cell = {(c["source"], c["data_type"], c["season"]): c for c in cells}
    assert cell[("nba_api", "team_stats", "2024-25")]["completeness"] == 0.1
    assert cell[("basketball_reference", "team_stats", "2024-25")]["expected"] == 2   # BOS + LAL
    assert cell[("basketball_reference", "team_stats", "1990-91")]["expected"] == 1   # BOS only
    assert cell[("basketball_reference", "franchise_index", None)]["expected"] == 1   # season-less values only
    assert cell[("espn", "team_box", "2024-25")] | {"completeness": None} == {
        "source": "espn", "data_type": "team_box", "season": "2024-25", "expected": 6, "present": 5,
        "completeness": None}

    queue = json.loads((lake / "gaps.json").read_text())
    tasks = {(t["source"], t["data_type"], t["season"], t["gap_type"]): t for t in queue["tasks"]}
    box = tasks[("espn", "team_box", "2024-25", "missing")]
    assert (box["partitions"], box["game_ids"], box["missing_files"]) == (["502/away"], ["502"], 1)
    assert tasks[("espn", "team_rosters", "2010-11", "missing")]["partitions"] == ["LAL"]
    short = tasks[("nba_api", "team_stats", "2024-25", "short")]
    assert (short["partitions"], short["game_ids"], short["missing_files"], short["estimated_time_minutes"]) == (
        [], [], 27, 54)
    assert {(n["source"], n["data_type"], n["reason"]) for n in queue["not_judged"]} == not_judged


def test_the_admin_shows_not_judged_cells_apart_and_short_gaps_by_their_shortfall(lake, admin_client, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    run("import_coverage", str(FIXTURE), "--location", f"file://{lake}/lake/")
    run("import_catalog", "--source", "espn", str(lake / "games.csv"))
    run("reconcile", "--as-of", AS_OF)
    apart = [c for row in coverage_matrix().rows for c in row.cells if c is not None and c.not_judged]
    assert {c.not_judged for c in apart} >= {"no catalog", "open dimension player_id", "open dimension team"}
    assert all(c.completeness is None and c.colour == "notjudged" for c in apart)
    page = admin_client.get(reverse("admin:reconciliation_coverage")).content.decode()
    assert page.count("<strong>not judged</strong>") == len(apart)
    assert "<small>no catalog</small>" in page and "<small>open dimension player_id</small>" in page
    gaps = admin_client.get(reverse("admin:reconciliation_gap_changelist") + "?kind__exact=short").content.decode()
    assert "497 short" in gaps


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ("dimensions: {side: [home, away]}", "dimensions: {side: [home, a/way]}",
         "expected_coverage.espn.data_types.team_box.dimensions.side[1]: dimension value 'a/way' contains '/'"),
        ('path_patterns: ["espn/team_box/{game_id}/{side}.json"]',
         'path_patterns: ["espn/team_box/{game_id}/{side}.json", "espn/tb/{game_id}.json"]',
         "expected_coverage.espn.data_types.team_box.path_patterns[1]: pattern 'espn/tb/{game_id}.json' has "
         "dimensions [] but path_patterns[0] 'espn/team_box/{game_id}/{side}.json' has ['side']"),
        ("        priority: low\n        tier: 3\n        path_patterns: [\"espn/teams.json\"]",
         "        prioritty: low\n        tier: 3\n        path_patterns: [\"espn/teams.json\"]",
         "expected_coverage.espn.data_types.teams.prioritty: unknown key"),
    ],
)
def test_bad_input_exits_2_in_one_line_and_changes_nothing(tmp_path, replace, by, message):
    run("import_coverage", str(FIXTURE), "--location", f"file://{tmp_path}/")
    before = list(DataType.objects.order_by("pk").values())
    text = FIXTURE.read_text()
    assert replace in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(replace, by, 1))
    assert fails("import_coverage", str(bad), "--location", f"file://{tmp_path}/").startswith(f"{bad}: {message}")
    assert list(DataType.objects.order_by("pk").values()) == before


def test_a_dimension_catalog_with_a_bad_season_on_line_n_changes_nothing(tmp_path):
    run("import_coverage", str(FIXTURE), "--location", f"file://{tmp_path}/")
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text("value,season\nLAL,\n")
    bad.write_text("value,season\nLAL,\nBOS,2024\nNYK,2024-26\n")
    run("import_catalog", "--source", "espn", "--dimension", "team", str(good))
    message = fails("import_catalog", "--source", "espn", "--dimension", "team", str(bad))
    assert message.startswith(f"{bad}: 1 malformed row, nothing imported: line 4: invalid season '2024-26'")
    assert list(DimensionValue.objects.values_list("value", "season")) == [("LAL", None)]
    assert Source.objects.count() == 3
