import textwrap
from pathlib import Path

import pytest
import yaml

from reconciliation.services.coverage import CoverageError, coverage_import, load_coverage, parse_coverage
from reconciliation.models import DataType, ReconciliationSettings, Source

REFERENCE = Path("/work/shared/reference/data_inventory.example.yaml")
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "coverage.yaml"


def parse(text, label="cov.yaml"):
    return parse_coverage(yaml.safe_load(textwrap.dedent(text)), label)


MINIMAL = """
expected_coverage:
  espn:
    location: s3://lake/
    seasons: ["2024-25"]
    data_types:
      pbp:
        path_patterns: ["pbp/{game_id}.json"]
"""


def test_defaults():
    cfg = parse(MINIMAL)
    (src,) = cfg.sources
    assert (src.name, src.scraper, src.location, src.seasons) == ("espn", "espn_scraper", "s3://lake/", ("2024-25",))
    (t,) = src.data_types
    assert (t.required, t.freshness_days, t.completeness_threshold, t.min_size_bytes, t.minutes_per_file) == (
        True, 7, 0.95, 1, 2)
    assert t.level == "game" and t.path_patterns == ("pbp/{game_id}.json",)
    assert (cfg.critical_days, cfg.max_items_per_task) == (7, 100)


def test_original_shapes_list_int_range_scalar_seasons_and_several_patterns():
    cfg = parse("""
    expected_coverage:
      a:
        location: s3://lake/a
        seasons: [2023-24, 2025, "2000-2001", 1999-00]
        data_types:
          pbp: {path_patterns: ["new/{game_id}.json", "old/{game_id}.json"]}
      b:
        location: file:///data/lake
        seasons: "2004-2006"
        data_types:
          pbp: {path_patterns: "x/{season_end}.parquet"}
    current_inventory: {ignored: true}
    gaps_detected: {critical: []}
    """)
    a, b = cfg.sources
    assert a.seasons == ("1999-00", "2000-01", "2023-24", "2024-25")  # "2000-2001": end years 2000..2001
    assert a.location == "s3://lake/a/"
    assert a.data_types[0].path_patterns == ("new/{game_id}.json", "old/{game_id}.json")
    assert b.seasons == ("2003-04", "2004-05", "2005-06")
    assert b.location == "file:///data/lake/"
    assert b.data_types[0].level == "season"


def test_the_reference_example_parses():
    cfg = load_coverage(REFERENCE)
    names = {(s.name, t.name): t for s in cfg.sources for t in s.data_types}
    assert len(names) == 7
    hoopr = next(s for s in cfg.sources if s.name == "hoopr")
    assert hoopr.seasons[0] == "2003-04" and hoopr.seasons[-1] == "2025-26" and len(hoopr.seasons) == 23
    br = next(s for s in cfg.sources if s.name == "basketball_reference")
    assert br.seasons == ("2022-23", "2023-24", "2024-25")
    assert names[("espn", "schedule")].level == "date"
    assert names[("espn", "schedule")].minutes_per_file == 0.5


@pytest.mark.parametrize(
    ("fragment", "message"),
    [
        ('path_patterns: ["pbp/{game_id}.json", "pbp/{1foo}.json"]',
         "cov.yaml: expected_coverage.espn.data_types.pbp.path_patterns[1]: invalid placeholder {1foo}"),
        ('path_patterns: ["pbp/{game_id}.json", "sched/{date}.json"]',
         "cov.yaml: expected_coverage.espn.data_types.pbp.path_patterns[1]: date-level pattern"),
        ("path_patterns: []", "expected_coverage.espn.data_types.pbp.path_patterns: expected a non-empty list"),
        ("required: yes-please\n        path_patterns: [a.json]", "data_types.pbp.required: expected true or false"),
        ("freshness_days: -1\n        path_patterns: [a.json]", "data_types.pbp.freshness_days: must be at least 0"),
        ("freshness_days: 1.5\n        path_patterns: [a.json]", "data_types.pbp.freshness_days: expected an integer"),
        ("completeness_threshold: 1.5\n        path_patterns: [a.json]", "completeness_threshold: must be between 0"),
        ("min_size_bytes: x\n        path_patterns: [a.json]", "min_size_bytes: expected an integer"),
        ("minutes_per_file: -2\n        path_patterns: [a.json]", "minutes_per_file: must be at least 0"),
        ("freshnes_days: 3\n        path_patterns: [a.json]", "data_types.pbp.freshnes_days: unknown key"),
        ('path_patterns: ["a/{game_id}", "a/{game_id}"]', "listed twice"),
    ],
)
def test_bad_data_type_settings_name_file_and_key_path(fragment, message):
    text = f"""
expected_coverage:
  espn:
    location: s3://lake/
    seasons: ["2024-25"]
    data_types:
      pbp:
        {fragment}
"""
    with pytest.raises(CoverageError) as exc:
        parse_coverage(yaml.safe_load(text), "cov.yaml")
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("source_body", "message"),
    [
        ('location: s3://lake/\n    seasons: ["2023-25"]\n    data_types: {p: {path_patterns: [a]}}',
         "expected_coverage.espn.seasons[0]: invalid season '2023-25'"),
        ('location: s3://lake/\n    seasons: ["2026-2004"]\n    data_types: {p: {path_patterns: [a]}}',
         "expected_coverage.espn.seasons[0]: invalid season range"),
        ('location: ftp://lake/\n    seasons: []\n    data_types: {p: {path_patterns: [a]}}',
         "expected_coverage.espn.location: "),
        ('seasons: []\n    data_types: {p: {path_patterns: [a]}}', "expected_coverage.espn.location: missing"),
        ('location: s3://lake/\n    data_types: {p: {path_patterns: [a]}}', "expected_coverage.espn.seasons: missing"),
        ('location: s3://lake/\n    seasons: []', "expected_coverage.espn.data_types: expected a non-empty mapping"),
        ('location: s3://lake/\n    seasons: []\n    scraperr: x\n    data_types: {p: {path_patterns: [a]}}',
         "expected_coverage.espn.scraperr: unknown key"),
        ('location: s3://lake/\n    seasons: []\n    scraper: ""\n    data_types: {p: {path_patterns: [a]}}',
         "expected_coverage.espn.scraper: expected a non-empty name"),
    ],
)
def test_bad_source_settings(source_body, message):
    text = f"expected_coverage:\n  espn:\n    {source_body}\n"
    with pytest.raises(CoverageError, match=None) as exc:
        parse_coverage(yaml.safe_load(text), "cov.yaml")
    assert message in str(exc.value), str(exc.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "cov.yaml: expected a mapping"),
        ("other: 1", "cov.yaml: expected_coverage: missing section"),
        ("expected_coverage: {}", "expected_coverage: expected a non-empty mapping"),
        (MINIMAL + "reconciliation: {critical_days: -1}", "reconciliation.critical_days: must be at least 0"),
        (MINIMAL + "reconciliation: {max_items_per_task: 0}", "reconciliation.max_items_per_task: must be at least 1"),
        (MINIMAL + "reconciliation: {max_items: 5}", "reconciliation.max_items: unknown key"),
    ],
)
def test_bad_top_level(text, message):
    with pytest.raises(CoverageError) as exc:
        parse_coverage(yaml.safe_load(text), "cov.yaml")
    assert message in str(exc.value)


def test_invalid_yaml_and_duplicate_keys_name_the_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("expected_coverage:\n  espn: [unclosed\n")
    with pytest.raises(CoverageError, match=r"bad\.yaml: invalid YAML: line \d+"):
        load_coverage(bad)
    dup = tmp_path / "dup.yaml"
    dup.write_text(MINIMAL + "  espn:\n    location: s3://x/\n")
    with pytest.raises(CoverageError, match=r"dup\.yaml: invalid YAML: .*duplicate key 'espn'"):
        load_coverage(dup)
    with pytest.raises(CoverageError, match="no such file"):
        load_coverage(tmp_path / "missing.yaml")


# --- the import service ---------------------------------------------------------------------------


def write(tmp_path, text, name="cov.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.django_db
def test_import_reference_example():
    result = coverage_import(REFERENCE)
    assert sorted(result.sources_created) == ["basketball_reference", "espn", "hoopr", "nba_api"]
    assert DataType.objects.count() == 7
    espn = Source.objects.get(name="espn")
    assert espn.scraper == "espn_async_scraper" and espn.location == "s3://nba-sim-raw-data-lake/"
    assert espn.seasons == ["2022-23", "2023-24", "2024-25", "2025-26"]
    pbp = DataType.objects.get(source=espn, name="play_by_play")
    assert pbp.path_patterns == ["espn_play_by_play/{game_id}.json", "pbp/{game_id}.json"]
    assert (pbp.level, pbp.min_size_bytes, pbp.required) == ("game", 100, True)
    settings = ReconciliationSettings.objects.get(pk=1)
    assert (settings.critical_days, settings.max_items_per_task) == (7, 100)
    assert settings.source_file.endswith("data_inventory.example.yaml") and settings.imported_at


@pytest.mark.django_db
def test_fixture_is_importable():
    coverage_import(FIXTURE)
    assert Source.objects.filter(active=True).count() == 4


@pytest.mark.django_db
def test_reimport_updates_and_deactivates_without_deleting(tmp_path):
    coverage_import(write(tmp_path, """
    expected_coverage:
      espn:
        location: s3://lake/
        seasons: ["2024-25"]
        data_types:
          pbp: {path_patterns: ["pbp/{game_id}.json"]}
          box: {path_patterns: ["box/{game_id}.json"]}
      old:
        location: s3://lake/old/
        seasons: [2024]
        data_types:
          x: {path_patterns: ["x.json"]}
    reconciliation: {critical_days: 3, max_items_per_task: 10}
    """))
    result = coverage_import(write(tmp_path, """
    expected_coverage:
      espn:
        scraper: espn_async
        location: s3://lake/
        seasons: ["2023-24", "2024-25"]
        data_types:
          pbp: {required: false, path_patterns: ["espn_pbp/{game_id}.json"]}
    """, "cov2.yaml"))
    assert result.sources_deactivated == ["old"]
    assert result.data_types_deactivated == ["espn.box", "old.x"]
    assert result.sources_updated == ["espn"] and result.data_types_updated == ["espn.pbp"]
    espn = Source.objects.get(name="espn")
    assert espn.active and espn.scraper == "espn_async" and espn.seasons == ["2023-24", "2024-25"]
    pbp = DataType.objects.get(source=espn, name="pbp")
    assert pbp.active and not pbp.required and pbp.path_patterns == ["espn_pbp/{game_id}.json"]
    assert not DataType.objects.get(source=espn, name="box").active
    assert not Source.objects.get(name="old").active
    assert not DataType.objects.get(source__name="old", name="x").active
    settings = ReconciliationSettings.objects.get(pk=1)
    assert (settings.critical_days, settings.max_items_per_task) == (7, 100)  # section absent: defaults
    # coming back reactivates
    coverage_import(write(tmp_path, MINIMAL.replace("espn", "old"), "cov3.yaml"))
    assert Source.objects.get(name="old").active and not Source.objects.get(name="espn").active


@pytest.mark.django_db
def test_dry_run_writes_nothing(tmp_path):
    result = coverage_import(write(tmp_path, MINIMAL), dry_run=True)
    assert result.dry_run and result.sources_created == ["espn"] and result.data_types_created == ["espn.pbp"]
    assert not Source.objects.exists() and not DataType.objects.exists()
    assert not ReconciliationSettings.objects.exists()


@pytest.mark.django_db
def test_bad_file_changes_nothing(tmp_path):
    coverage_import(write(tmp_path, MINIMAL))
    before = list(Source.objects.values()), list(DataType.objects.values())
    bad = write(tmp_path, MINIMAL + "  other:\n    location: s3://l/\n    seasons: []\n    data_types:\n"
                "      t: {path_patterns: ['{no-pe}']}\n", "bad.yaml")
    with pytest.raises(CoverageError, match=r"bad\.yaml: expected_coverage\.other\.data_types\.t\.path_patterns\[0\]"):
        coverage_import(bad)
    assert (list(Source.objects.values()), list(DataType.objects.values())) == before
