"""Fuzzing the YAML configs (metrics and coverage) and the catalog CSV through their commands:
each run either succeeds or exits 2 with one line (no traceback), and a failed run changes nothing."""
import csv
import io
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import event, given
from hypothesis import strategies as st

from metrics.models import MetricDefinition, MetricsSettings
from reconciliation.models import CatalogGame, DataType, ReconciliationSettings, Source

from .helpers import FUZZ, JSONISH, NASTY, TEXT, mutated, run_command

pytestmark = pytest.mark.django_db

REFERENCE = Path("/work/shared/reference")
METRICS_REF = (REFERENCE / "config.example.yaml").read_text()
COVERAGE_REF = (REFERENCE / "data_inventory.example.yaml").read_text()
CATALOG_REF = (REFERENCE / "catalog_espn.example.csv").read_text()


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative metric paths resolve here


def metrics_state():
    return (sorted(MetricDefinition.objects.values_list("category", "name", "kind", "params", "enabled", "critical",
                                                        "parse_type", "precision", "volatility")),
            list(MetricsSettings.objects.values_list("minor_drift_pct", "moderate_drift_pct", "major_drift_pct",
                                                     "default_ttl_hours", "events_config", "critical_patterns")))


def coverage_state():
    return (sorted(Source.objects.values_list("name", "scraper", "location", "seasons", "active")),
            sorted(DataType.objects.values_list("source__name", "name", "path_patterns", "level", "active",
                                                "required", "min_size_bytes")),
            list(ReconciliationSettings.objects.values_list("critical_days", "max_items_per_task")))


def catalog_state():
    return sorted(CatalogGame.objects.values_list("source__name", "game_id", "season", "game_date", "season_type"))


def dump(document) -> str:
    try:
        return yaml.safe_dump(document, allow_unicode=True)
    except (yaml.YAMLError, ValueError):
        return repr(document)


def check(command_args, text, suffix, state):
    before = state()
    error = run_command(*command_args, file_text=text, suffix=suffix)
    event("imported" if error is None else "refused (exit 2)")
    if error is not None:
        assert state() == before, f"failed ({error}) but changed the database"


# --- metrics YAML ------------------------------------------------------------------------------------

METRIC_BODY = st.fixed_dictionaries({}, optional={
    "kind": st.one_of(st.sampled_from(["file_count", "dir_size", "line_count", "s3_object_count", "expression",
                                       "sql_scalar", "gap_count", "shell", "nope"]), TEXT),
    "path": TEXT, "glob": TEXT, "location": st.one_of(TEXT, st.just("s3://b/p/"), st.just("file:///tmp/")),
    "expression": st.one_of(TEXT, st.just("a.b + 1"), st.just("1/0")), "query": TEXT, "command": TEXT,
    "parse_type": st.one_of(st.sampled_from(["integer", "float", "string", "boolean"]), TEXT),
    "precision": JSONISH, "volatility": JSONISH, "critical": JSONISH, "ttl_hours": JSONISH, "enabled": JSONISH,
    "description": JSONISH, "unit": TEXT, "extra": JSONISH,
})
METRICS_DOC = st.fixed_dictionaries({}, optional={
    "verification": st.one_of(JSONISH, st.fixed_dictionaries({"thresholds": st.dictionaries(
        st.sampled_from(["minor_drift_pct", "moderate_drift_pct", "major_drift_pct", "x"]), JSONISH)})),
    "approval": st.one_of(JSONISH, st.fixed_dictionaries({}, optional={
        "enabled": JSONISH, "require_approval_threshold": JSONISH, "critical_metrics": JSONISH})),
    "cache": JSONISH,
    "events": st.one_of(JSONISH, st.fixed_dictionaries({"hooks": st.lists(st.dictionaries(
        st.sampled_from(["name", "trigger", "metrics", "reconcile"]), JSONISH), max_size=3)})),
    "metrics": st.one_of(JSONISH, st.dictionaries(st.one_of(TEXT, st.just("cat")),
                                                  st.dictionaries(st.one_of(TEXT, st.just("m")), METRIC_BODY,
                                                                  max_size=3), max_size=3)),
})


@FUZZ
@given(doc=METRICS_DOC)
def test_import_metrics_random_documents(doc):
    check(["import_metrics"], dump(doc), ".yaml", metrics_state)


@FUZZ
@given(text=mutated(METRICS_REF))
def test_import_metrics_mutated_reference(text):
    check(["import_metrics"], text, ".yaml", metrics_state)


# --- coverage YAML -------------------------------------------------------------------------------------

DATA_TYPE = st.fixed_dictionaries({}, optional={
    "required": JSONISH, "freshness_days": JSONISH, "completeness_threshold": JSONISH, "min_size_bytes": JSONISH,
    "minutes_per_file": JSONISH, "extra": JSONISH,
    "path_patterns": st.one_of(JSONISH, st.lists(st.one_of(TEXT, st.sampled_from(
        ["x/{game_id}.json", "d/{date}.json", "s/{season}.json", "f.json", "{game_id}", "../{game_id}",
         "a/{season_start}-{season_end}/x", "/abs/{game_id}"])), max_size=3)),
})
COVERAGE_DOC = st.fixed_dictionaries({}, optional={
    "expected_coverage": st.one_of(JSONISH, st.dictionaries(st.one_of(TEXT, st.just("espn")), st.fixed_dictionaries(
        {}, optional={
            "scraper": JSONISH,
            "location": st.one_of(TEXT, st.sampled_from(["s3://b/", "s3://B_/x", "file:///tmp/x/", "file://rel",
                                                         "s3:///", "s3://b/../../etc/"])),
            "seasons": st.one_of(JSONISH, st.lists(st.one_of(TEXT, st.integers(1900, 2100), st.sampled_from(
                ["2023-24", "2024", "2020-2024", "2024-2020", "2023-25"])), max_size=3)),
            "data_types": st.one_of(JSONISH, st.dictionaries(TEXT, DATA_TYPE, max_size=3)),
        }), max_size=3)),
    "reconciliation": st.one_of(JSONISH, st.dictionaries(
        st.sampled_from(["critical_days", "max_items_per_task", "x"]), JSONISH)),
})


@FUZZ
@given(doc=COVERAGE_DOC)
def test_import_coverage_random_documents(doc):
    check(["import_coverage"], dump(doc), ".yaml", coverage_state)


@FUZZ
@given(text=mutated(COVERAGE_REF))
def test_import_coverage_mutated_reference(text):
    check(["import_coverage"], text, ".yaml", coverage_state)


@FUZZ
@given(data=st.binary(max_size=300))
def test_import_coverage_random_bytes(data):
    check(["import_coverage"], data, ".yaml", coverage_state)


# --- catalog CSV ---------------------------------------------------------------------------------------

@pytest.fixture
def espn(db):
    """A source with a catalog already in place: a failed import must leave it as it was."""
    source = Source.objects.create(name="espn", scraper="espn_scraper", location="s3://lake/", seasons=["2024-25"])
    run_command("import_catalog", "--source", "espn", file_text=CATALOG_REF, suffix=".csv")
    assert CatalogGame.objects.filter(source=source).count() == 7
    return source


CELL = st.one_of(NASTY, TEXT, st.sampled_from(["401584689", "2023-24", "2024", "2023-10-24", "regular", "20231024",
                                               "2024-W01-1", "2023-02-30", " 2023-10-24 "]))


@st.composite
def catalog_csv(draw):
    header = draw(st.one_of(st.just(["game_id", "season", "game_date", "season_type"]),
                            st.permutations(["game_id", "season", "game_date"]).map(list),
                            st.lists(st.one_of(CELL, st.sampled_from(["game_id", "season", "game_date"])),
                                     max_size=5)))
    rows = draw(st.lists(st.lists(CELL, min_size=0, max_size=len(header) + 1), max_size=6))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


@FUZZ
@given(text=catalog_csv())
def test_import_catalog_random_csv(espn, text):
    check(["import_catalog", "--source", "espn"], text, ".csv", catalog_state)


@FUZZ
@given(text=mutated(CATALOG_REF))
def test_import_catalog_mutated_reference(espn, text):
    check(["import_catalog", "--source", "espn"], text, ".csv", catalog_state)


@FUZZ
@given(data=st.binary(max_size=200))
def test_import_catalog_random_bytes(espn, data):
    check(["import_catalog", "--source", "espn"], data, ".csv", catalog_state)


def test_import_catalog_unknown_source_and_missing_file(espn):
    before = catalog_state()
    assert run_command("import_catalog", "--source", "nope", file_text=CATALOG_REF, suffix=".csv") is not None
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError) as exc:
        call_command("import_catalog", "--source", "espn", os.devnull + "/missing.csv")
    assert exc.value.returncode == 2
    assert catalog_state() == before
