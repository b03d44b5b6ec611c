"""The §10 parts of the coverage file: seasons per league, dimensions, the original's keys, --location."""
import io

import pytest
import yaml
from django.core.management import CommandError, call_command

from reconciliation.models import DataType, DimensionValue, Source
from reconciliation.services.coverage import CoverageError, parse_coverage

pytestmark = pytest.mark.django_db


def parse(text, **kw):
    return parse_coverage(yaml.safe_load(text), "cov.yaml", **kw)


LEAGUES = """
expected_coverage:
  bbref:
    seasons: {nba: "2020-2022", gleague: "2021-2022"}
    data_types:
      nba_box: {league: nba, path_patterns: ["nba/{season}.json"]}
      own: {seasons: ["2019-20"], path_patterns: ["own/{season}.json"]}
      every: {path_patterns: ["all/{season}.json"]}
      also: {path_patterns: ["also/{season}.json"]}
"""


def test_seasons_per_league_and_one_warning_naming_the_types_without_one():
    config = parse(LEAGUES, location="s3://lake/")
    source = config.sources[0]
    assert source.seasons == ("2019-20", "2020-21", "2021-22")
    types = {t.name: t for t in source.data_types}
    assert types["nba_box"].seasons == ("2019-20", "2020-21", "2021-22")
    assert types["own"].seasons == ("2019-20",)
    assert types["every"].seasons == ()  # the source's: the union of its leagues
    assert config.warnings == ("cov.yaml: warning: seasons given per league and no league: or seasons: in "
                               "bbref.every, bbref.also; they expect every league's seasons",)


@pytest.mark.parametrize(
    ("fragment", "message"),
    [
        ("{league: wnba, path_patterns: ['x/{season}.json']}", "bbref.data_types.t.league: unknown league 'wnba'"),
        ("{seasons: ['2023-25'], path_patterns: ['x/{season}.json']}", "bbref.data_types.t.seasons[0]: invalid season"),
        ("{path_patterns: ['x/{team}.json'], dimensions: {team: [LA/L]}}",
         "bbref.data_types.t.dimensions.team[0]: dimension value 'LA/L' contains '/'"),
        ("{path_patterns: ['x/{team}.json'], dimensions: {team: []}}", "dimensions.team: expected a non-empty list"),
        ("{path_patterns: ['x/{team}.json'], expected_per_season: 0}", "expected_per_season: expected a positive integer"),
        ("{path_patterns: ['x/{team}.json'], prority: high}", "bbref.data_types.t.prority: unknown key"),
        ("{path_patterns: ['a/{team}.json', 'b/{player}.json'], dimensions: {team: [LAL]}}",
         "bbref.data_types.t.path_patterns[1]: pattern 'b/{player}.json' has dimensions ['player'] but "
         "path_patterns[0] 'a/{team}.json' has ['team']; patterns of a data type must share their dimensions "
         "unless all are open (closed: team)"),
    ],
)
def test_bad_input_names_the_key(fragment, message):
    text = f"""
expected_coverage:
  bbref:
    seasons: {{nba: "2020-2022"}}
    data_types:
      t: {fragment}
"""
    with pytest.raises(CoverageError) as exc:
        parse(text, location="s3://lake/")
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_patterns_may_disagree_on_dimensions_only_when_all_are_open():
    text = """
expected_coverage:
  nba_api:
    seasons: [2024]
    data_types:
      team_stats: {path_patterns: ["ts/{stat_type}.json", "ts/team_{team_id}.json"], expected_per_season: 30}
"""
    assert parse(text, location="s3://lake/").sources[0].data_types[0].expected_count == 30
    with pytest.raises(CoverageError, match=r"closed: team_id"):
        parse(text, location="s3://lake/", catalog_dimensions={"nba_api": {"team_id"}})


def test_the_originals_keys_are_kept_or_ignored_with_one_warning():
    text = """
version: "2.0"
last_updated: "2025-10-01"
metadata: {owner: x}
expected_game_counts: {nba: 1230}
quality_requirements: {}
current_inventory: {}
expected_coverage:
  espn:
    estimated_records: 5
    dimensions: {side: [home, away]}
    seasons: [2024]
    data_types:
      box:
        description: Box scores
        priority: critical
        tier: 1
        expected_years: [2024]
        expected_file_counts: {2024: 1230}
        path_patterns: ["box/{game_id}/{side}.json"]
"""
    config = parse(text, location="s3://lake/")
    box = config.sources[0].data_types[0]
    assert (box.description, box.priority, box.tier) == ("Box scores", "critical", "1")
    assert box.dimensions == (("side", ("home", "away")),)  # the source's values
    assert config.warnings == ("cov.yaml: warning: ignored the original's keys: estimated_records, "
                               "expected_file_counts, expected_game_counts, expected_years, last_updated, "
                               "metadata, quality_requirements, version",)


def test_import_coverage_location_for_sources_without_one(tmp_path):
    path = tmp_path / "cov.yaml"
    path.write_text(LEAGUES + "  espn:\n    location: s3://other/\n    seasons: [2024]\n    data_types:\n"
                    "      pbp: {path_patterns: ['pbp/{game_id}.json']}\n")
    err = io.StringIO()
    call_command("import_coverage", str(path), "--location", "s3://lake/raw/", stdout=io.StringIO(), stderr=err)
    assert dict(Source.objects.values_list("name", "location")) == {"bbref": "s3://lake/raw/", "espn": "s3://other/"}
    assert "they expect every league's seasons" in err.getvalue()
    assert DataType.objects.get(name="nba_box").seasons == ["2019-20", "2020-21", "2021-22"]
    with pytest.raises(CommandError) as exc:
        call_command("import_coverage", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert exc.value.returncode == 2
    assert str(exc.value).startswith(f"{path}: expected_coverage.bbref.location: missing")


def test_a_dimension_catalog_closes_a_dimension_for_the_import(tmp_path):
    text = """
expected_coverage:
  espn:
    location: s3://lake/
    seasons: [2024]
    data_types:
      t: {path_patterns: ["a/{team}.json", "b/{player}.json"]}
"""
    path = tmp_path / "cov.yaml"
    path.write_text(text)
    call_command("import_coverage", str(path), stdout=io.StringIO())
    DimensionValue.objects.create(source=Source.objects.get(), dimension="team", value="LAL")
    before = list(DataType.objects.values())
    with pytest.raises(CommandError) as exc:
        call_command("import_coverage", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert exc.value.returncode == 2 and "unless all are open (closed: team)" in str(exc.value)
    assert list(DataType.objects.values()) == before
