"""manage.py scan: --json, every bad input → exit 2 with one line, nothing changed."""
from __future__ import annotations

import io
import json
import os

import pytest
from django.core.management import CommandError, call_command

from reconciliation.models import ScanRun, StoredObject

from .test_scanning import file_uri, make_source, put_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def lake(tmp_path):
    root = tmp_path / "lake"
    make_source("espn", file_uri(root), {"pbp": ["pbp/{game_id}.json"]})
    put_file(root, "pbp/1.json")
    put_file(root, "odd/thing.txt")
    return root


def run_json(*args) -> dict:
    out, err = io.StringIO(), io.StringIO()
    call_command("scan", *args, "--json", stdout=out, stderr=err)
    return json.loads(out.getvalue())


def test_scan_json(lake):
    doc = run_json()
    assert doc["status"] == "completed" and doc["mode"] == "list"
    assert (doc["objects"], doc["matched"], doc["unmatched"]) == (2, 1, 1)
    assert doc["unmatched_examples"][0].endswith("odd/thing.txt")
    assert doc["per_location"][0]["uri"] == file_uri(lake)
    assert doc["estimated_objects"] is None and doc["id"] == ScanRun.objects.get().pk
    assert {"duration_ms", "bytes", "timings"} <= set(doc)


def test_scan_sample_json(lake):
    doc = run_json("--sample-rate", "1", "--seed", "4")
    assert doc["mode"] == "sample" and doc["estimated_objects"] == 2
    assert StoredObject.objects.count() == 0


def test_scan_text_output(lake):
    out = io.StringIO()
    call_command("scan", stdout=out, stderr=io.StringIO())
    assert "completed" in out.getvalue() and "unmatched: file:///" in out.getvalue()


@pytest.mark.parametrize("args, message", [
    (["--source", "nope"], "unknown source 'nope'"),
    (["--location", "file:///tmp/"], "--location needs exactly one --source"),
    (["--source", "espn", "--location", "gopher://x/"], "unsupported scheme"),
    (["--sample-rate", "abc"], "--sample-rate: 'abc' is not a number"),
    (["--sample-rate", "0"], "not in (0, 1]"),
    (["--sample-rate", "0.5", "--seed", "x"], "--seed: 'x' is not an integer"),
    (["--seed", "3"], "--seed needs --sample-rate"),
    (["--inventory-manifest", "nope://x"], "--inventory-manifest"),
])
def test_bad_input_exit_2_nothing_changed(lake, args, message):
    with pytest.raises(CommandError) as exc:
        call_command("scan", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert exc.value.returncode == 2
    assert message in str(exc.value) and "\n" not in str(exc.value)
    assert ScanRun.objects.count() == 0 and StoredObject.objects.count() == 0


def test_unreachable_location_exit_2_inventory_unchanged(lake, tmp_path):
    call_command("scan", stdout=io.StringIO(), stderr=io.StringIO())
    before = sorted(StoredObject.objects.values_list("key", "size"))
    with pytest.raises(CommandError) as exc:
        call_command("scan", "--source", "espn", "--location", file_uri(tmp_path / "gone"),
                     stdout=io.StringIO(), stderr=io.StringIO())
    assert exc.value.returncode == 2 and "does not exist" in str(exc.value) and "\n" not in str(exc.value)
    assert sorted(StoredObject.objects.values_list("key", "size")) == before
    failed = ScanRun.objects.order_by("-pk").first()
    assert failed.status == "failed" and "does not exist" in failed.error  # recorded for the operator


def test_scan_starts_without_loading_the_admin_or_its_export_libraries(tmp_path):
    """Start-up is part of every scheduled scan's time: the data commands skip Django's system checks
    (which import the URLconf and so every admin module, import_export and openpyxl)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}", "ADCE_VAR_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-X", "importtime", "manage.py", "scan", "--source", "nope"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0  # an empty database: the command itself got to run and refused
    loaded = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "reconciliation.services.scan" in loaded
    assert not {"adce_site.urls", "reconciliation.interfaces.admin", "import_export.admin", "openpyxl"} & loaded


# --- SPEC §12: a versioned ORC report found from its configuration folder; a bad manifest.checksum ------

def _versioned_orc_lake(tmp_path):
    import datetime as dt

    from bench.inventory_writer import write_columnar_inventory_report

    make_source("espn", "s3://nba-lake/", {"pbp": ["pbp/{game_id}.json"]})
    when = dt.datetime(2024, 11, 1, tzinfo=dt.timezone.utc)
    rows = [("pbp/1.json", 10, when, "e1", True, False, "v2"), ("pbp/1.json", 9, when, "e0", False, False, "v1"),
            ("pbp/2.json", 0, when, "", True, True, "v5"), ("pbp/2.json", 8, when, "e", False, False, "v4")]
    for stamp in ("2024-11-01T00-00Z", "2024-11-02T00-00Z"):
        write_columnar_inventory_report(str(tmp_path), source_bucket="nba-lake", rows=rows, fmt="ORC", stamp=stamp,
                                        with_version_columns=True, config_id="cfg")
    # a newer report still being written: no manifest.checksum yet
    write_columnar_inventory_report(str(tmp_path), source_bucket="nba-lake", rows=rows[:1], fmt="ORC",
                                    stamp="2024-11-03T00-00Z", checksum=False, config_id="cfg")
    return tmp_path / "inventory/nba-lake/cfg"


def test_scan_of_a_versioned_orc_report_from_its_configuration_folder(tmp_path):
    folder = _versioned_orc_lake(tmp_path)
    doc = run_json("--inventory-manifest", f"file://{folder}/")
    assert doc["status"] == "completed" and doc["mode"] == "inventory-report"
    assert doc["objects"] == 1  # pbp/1.json's latest version; pbp/2.json is deleted (a delete marker)
    assert sorted(StoredObject.objects.values_list("key", "size")) == [("pbp/1.json", 10)]


def test_scan_with_a_bad_manifest_checksum_exits_2_naming_the_file(tmp_path):
    folder = _versioned_orc_lake(tmp_path)
    checksum = folder / "2024-11-02T00-00Z" / "manifest.checksum"
    checksum.write_text("f" * 32)
    with pytest.raises(CommandError) as exc:
        call_command("scan", "--inventory-manifest", f"file://{folder}/", stdout=io.StringIO(), stderr=io.StringIO())
    assert exc.value.returncode == 2 and "\n" not in str(exc.value)
    assert f"file://{checksum}: MD5 {'f' * 32} does not match manifest.json" in str(exc.value)
    assert StoredObject.objects.count() == 0


def test_scan_of_a_missing_location_says_one_line(lake, tmp_path):
    """The error is all the operator reads: no "listing …" progress line before it (manage.py prints
    the CommandError as the one line on stderr)."""
    err = io.StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("scan", "--source", "espn", "--location", file_uri(tmp_path / "gone"),
                     stdout=io.StringIO(), stderr=err)
    assert err.getvalue() == ""
    assert str(exc.value).count("\n") == 0 and "gone" in str(exc.value)
    # A location that answers still announces its listing.
    err = io.StringIO()
    call_command("scan", stdout=io.StringIO(), stderr=err)
    assert f"scan: listing {file_uri(lake)}" in err.getvalue()


# --- issue 15 item 5: an empty manifest never empties the inventory by accident ----------------------

def _empty_manifest(tmp_path, bucket="lake"):
    """The report of a bucket with an empty file list ("files": []) beside a real one."""
    from .test_scanning import write_report

    real = write_report(tmp_path / "reports", bucket, [("espn/pbp/1.json", 100, "2024-11-01T10:00:00.000Z"),
                                                       ("espn/pbp/2.json", 50, "2024-11-02T10:00:00.000Z")])
    path = real[len("file://"):]
    manifest = json.loads(open(path).read())
    manifest["files"] = []
    empty_dir = tmp_path / "reports-empty" / bucket / "inv" / "2024-11-26T01-00Z"
    empty_dir.mkdir(parents=True)
    (empty_dir / "manifest.json").write_text(json.dumps(manifest))
    return real, f"file://{empty_dir / 'manifest.json'}"


def test_an_empty_manifest_is_refused_and_the_inventory_kept(tmp_path, db):
    make_source("espn", "s3://lake/espn/", {"pbp": ["pbp/{game_id}.json"]})
    real, empty = _empty_manifest(tmp_path)
    call_command("scan", "--inventory-manifest", real, stdout=io.StringIO(), stderr=io.StringIO())
    before = list(StoredObject.objects.order_by("pk").values())
    assert len(before) == 2
    with pytest.raises(CommandError) as exc:
        call_command("scan", "--inventory-manifest", empty, stdout=io.StringIO(), stderr=io.StringIO())
    message = str(exc.value)
    assert exc.value.returncode == 2 and "\n" not in message
    assert "lists no data file" in message and "--allow-empty-inventory" in message
    assert list(StoredObject.objects.order_by("pk").values()) == before
    assert ScanRun.objects.order_by("-pk").first().status == "failed"


def test_allow_empty_inventory_says_the_bucket_really_is_empty(tmp_path, db):
    make_source("espn", "s3://lake/espn/", {"pbp": ["pbp/{game_id}.json"]})
    real, empty = _empty_manifest(tmp_path)
    call_command("scan", "--inventory-manifest", real, stdout=io.StringIO(), stderr=io.StringIO())
    doc = run_json("--inventory-manifest", empty, "--allow-empty-inventory")
    assert doc["status"] == "completed" and doc["objects"] == 0
    assert StoredObject.objects.count() == 0
