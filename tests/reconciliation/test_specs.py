import datetime as dt
from pathlib import Path

import pytest

from reconciliation.domain.analysis import AnalysisInput, analyze
from reconciliation.services.catalog import catalog_import
from reconciliation.services.coverage import coverage_import
from reconciliation.models import Source
from reconciliation.domain.matcher import Match
from reconciliation.services.specs import (catalog_specs, data_type_specs, matcher_specs, partition_matcher,
                                           reconciliation_settings)

REFERENCE_YAML = Path("/work/shared/reference/data_inventory.example.yaml")
REFERENCE_CSV = Path("/work/shared/reference/catalog_espn.example.csv")
BUCKET = "s3://nba-sim-raw-data-lake"

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported():
    coverage_import(REFERENCE_YAML)
    catalog_import("espn", REFERENCE_CSV)


def test_settings_default_without_any_import():
    s = reconciliation_settings()
    assert (s.critical_days, s.max_items_per_task) == (7, 100)


def test_specs_from_the_reference_files(imported):
    specs = {(s.source, s.name): s for s in data_type_specs()}
    assert len(specs) == 7
    pbp = specs[("espn", "play_by_play")]
    assert pbp.scraper == "espn_async_scraper" and pbp.level == "game" and "2024-25" in pbp.seasons
    games = catalog_specs()
    assert [g.game_id for g in games["espn"]][:2] == ["401584689", "401584690"]
    assert data_type_specs(sources=["hoopr"])[0].level == "season"


def test_inactive_types_are_left_out(imported, tmp_path):
    Source.objects.filter(name="hoopr").update(active=False)
    assert ("hoopr" not in {s.source for s in data_type_specs()})
    assert "hoopr" in {s.source for s in data_type_specs(active_only=False)}
    assert all(m.source != "hoopr" for m in matcher_specs())


def test_matcher_from_db_routes_overlapping_locations(imported):
    m = partition_matcher()
    ids = {(s.source, s.name): s.id for s in data_type_specs()}
    assert m.match(BUCKET, "pbp/401584689.json") == Match(ids[("espn", "play_by_play")], "401584689", None)
    assert m.match(BUCKET, "nba_api_comprehensive/boxscores_advanced/advanced_1.json") == Match(
        ids[("nba_api", "boxscores_advanced")], "1", None)
    assert m.match(BUCKET, "hoopr_parquet/play_by_play/nba_data_2024.parquet") == Match(
        ids[("hoopr", "play_by_play")], "2023-24", "2023-24")
    assert m.match(BUCKET, "espn_schedules/20231024.json").partition == "2023-10-24"
    assert m.match(BUCKET, "nba_api_comprehensive/unknown.json") is None


def test_end_to_end_analysis_of_the_reference_files(imported):
    specs = data_type_specs(sources=["espn"])
    report = analyze(AnalysisInput(data_types=specs, catalog=catalog_specs(), have={}, as_of=dt.date(2025, 10, 21),
                                   critical_days=7))
    # 7 catalog games, all ≤ as_of, 3 game-level types; 4 distinct dates for the schedule
    assert len(report.gaps) == 7 * 3 + 4
    assert {g.priority for g in report.gaps if g.game_date == dt.date(2025, 10, 21) and g.data_type != "team_stats"} == {"CRITICAL"}


def test_catalog_specs_per_source_in_date_season_game_order():
    from .test_scanning import add_games, make_source

    espn, hoopr = make_source("espn", "file:///e/", {}), make_source("hoopr", "file:///h/", {})
    add_games(espn, [("g3", "2024-25", "2024-11-02"), ("g10", "2024-25", "2024-11-01"), ("g2", "2024-25", "2024-11-01"),
                     ("g1", "2023-24", "2024-11-01")])
    add_games(hoopr, [("h1", "2024-25", "2024-11-01")])
    games = catalog_specs()
    assert [(g.game_id, g.season, g.game_date.isoformat()) for g in games["espn"]] == [
        ("g1", "2023-24", "2024-11-01"), ("g10", "2024-25", "2024-11-01"), ("g2", "2024-25", "2024-11-01"),
        ("g3", "2024-25", "2024-11-02")]
    assert [g.game_id for g in games["hoopr"]] == ["h1"]
    assert set(catalog_specs(sources=["hoopr"])) == {"hoopr"} and catalog_specs(sources=[]) == {}
