import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from reconciliation.models import CatalogGame, DataType, ReconciliationSettings, Source

REFERENCE_YAML = Path("/work/shared/reference/data_inventory.example.yaml")
REFERENCE_CSV = Path("/work/shared/reference/catalog_espn.example.csv")

pytestmark = pytest.mark.django_db


def state():
    return (
        list(Source.objects.order_by("pk").values()),
        list(DataType.objects.order_by("pk").values()),
        list(ReconciliationSettings.objects.values()),
        list(CatalogGame.objects.order_by("pk").values()),
    )


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def fails(*args) -> str:
    with pytest.raises(CommandError) as exc:
        run(*args)
    assert exc.value.returncode == 2
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_import_coverage_and_catalog_reference_files():
    out = run("import_coverage", str(REFERENCE_YAML))
    assert "imported 4 sources (4 new, 0 deactivated), 7 data types" in out
    out = run("import_catalog", "--source", "espn", str(REFERENCE_CSV))
    assert "imported 7 games for espn" in out
    assert CatalogGame.objects.count() == 7


def test_import_coverage_dry_run_changes_nothing():
    out = run("import_coverage", str(REFERENCE_YAML), "--dry-run")
    assert "would import 4 sources" in out
    assert state() == ([], [], [], [])


def test_import_coverage_unknown_placeholder_exits_2_and_changes_nothing(tmp_path):
    run("import_coverage", str(REFERENCE_YAML))
    before = state()
    bad = tmp_path / "bad.yaml"
    bad.write_text(REFERENCE_YAML.read_text().replace('"pbp/{game_id}.json"', '"pbp/{1foo}.json"'))
    message = fails("import_coverage", str(bad))
    assert message == f"{bad}: expected_coverage.espn.data_types.play_by_play.path_patterns[1]: invalid placeholder {{1foo}}"
    assert state() == before


@pytest.mark.parametrize(
    ("replace", "by", "fragment"),
    [
        ('"2023-24", "2024-25", "2025-26"]', '"2023-25"]', "expected_coverage.espn.seasons[1]: invalid season '2023-25'"),
        ("location: s3://nba-sim-raw-data-lake/nba_api_comprehensive/", "location: nowhere",
         "expected_coverage.nba_api.location:"),
        ('path_patterns: ["espn_schedules/{date}.json", "schedule/{date}.json"]',
         'path_patterns: ["espn_schedules/{date}.json", "schedule/{game_id}.json"]',
         "expected_coverage.espn.data_types.schedule.path_patterns[1]: game-level pattern"),
        ("max_items_per_task: 100", "max_items_per_task: 0", "reconciliation.max_items_per_task: must be at least 1"),
    ],
)
def test_import_coverage_bad_inputs(tmp_path, replace, by, fragment):
    text = REFERENCE_YAML.read_text()
    assert replace in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(replace, by, 1))
    message = fails("import_coverage", str(bad))
    assert message.startswith(f"{bad}: ") and fragment in message
    assert state() == ([], [], [], [])


def test_import_coverage_missing_file(tmp_path):
    assert "no such file" in fails("import_coverage", str(tmp_path / "nope.yaml"))


def test_import_catalog_unknown_source_exits_2():
    run("import_coverage", str(REFERENCE_YAML))
    before = state()
    assert "unknown source 'cbs'" in fails("import_catalog", "--source", "cbs", str(REFERENCE_CSV))
    assert state() == before


def test_import_catalog_malformed_rows_exit_2_and_keep_the_old_catalog(tmp_path):
    run("import_coverage", str(REFERENCE_YAML))
    run("import_catalog", "--source", "espn", str(REFERENCE_CSV))
    before = state()
    bad = tmp_path / "bad.csv"
    bad.write_text(REFERENCE_CSV.read_text() + "401810002,2025-26,2025-10-22,regular\n999,2025-26,2025-02-30,regular\n")
    message = fails("import_catalog", "--source", "espn", str(bad))
    assert message.startswith(f"{bad}: 2 malformed rows, nothing imported: ")
    assert "line 9: duplicate game_id 401810002 (first on line 8)" in message
    assert "line 10: invalid game_date '2025-02-30'" in message
    assert state() == before


def test_import_catalog_empty_file(tmp_path):
    run("import_coverage", str(REFERENCE_YAML))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert f"{empty}: empty file" in fails("import_catalog", "--source", "espn", str(empty))
    assert not CatalogGame.objects.exists()


def test_help_documents_the_commands():
    from django.core.management import load_command_class

    for name in ("import_coverage", "import_catalog"):
        parser = load_command_class("reconciliation", name).create_parser("manage.py", name)
        assert "exit" in parser.format_help() or "nothing" in parser.format_help()
