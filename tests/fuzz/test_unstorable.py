"""Regressions found by the fuzz suite: input that parses but that no database can store (NUL
characters, lone surrogates, NaN/Infinity, absurd nesting) is refused as bad input, not a crash
(on PostgreSQL these were 500s / tracebacks: "text fields cannot contain NUL (0x00) bytes")."""
import datetime as dt
import gzip
import json
import os

import pytest
from django.test import Client

from events.models import Event
from reconciliation.models import CatalogGame, Source
from reconciliation.storage import StorageError
from reconciliation.storage import inventory_report as ir
from bench.inventory_writer import write_csv_inventory_report
from reconciliation.storage.inventory_report import read_inventory_report

from .helpers import run_command

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    import django_q.tasks

    monkeypatch.setattr(django_q.tasks, "async_task", lambda *a, **k: "task-id")


@pytest.mark.parametrize("path,body,error", [
    ("/api/events/", b'{"type": "x", "source": "a\\u0000b"}', "source: contains a NUL character"),
    ("/api/events/", b'{"type": "x", "payload": {"a": "\\u0000"}}', "payload.a: contains a NUL character"),
    ("/api/events/", b'{"type": "x", "payload": {"\\u0000": 1}}', "NUL character"),
    ("/api/events/", b'{"type": "x", "id": "a\\u0000"}', "id: contains a NUL character"),
    ("/api/events/", b'{"type": "x", "id": "' + b"\\ud800" * 200 + b'"}', "id: contains an unpaired surrogate"),
    ("/api/events/", b'{"type": "x", "payload": {"a": "\\ud800"}}', "unpaired surrogate"),
    ("/api/events/", b'{"type": "x", "payload": {"a": NaN}}', "NaN is not a JSON number"),
    ("/api/events/", b'{"type": "x", "payload": {"a": -Infinity}}', "not a JSON number"),
    ("/api/events/", b'{"type": "x", "payload": {"a": 1e999}}', "out of range"),
    ("/api/events/", b'{"type": "x", "payload": ' + b"[" * 100000 + b"]" * 100000 + b"}", "nested too deeply"),
    ("/api/events/s3/", json.dumps({"Records": [{"eventName": "ObjectRemoved:Delete", "s3": {
        "bucket": {"name": "b" * 200}, "object": {"key": "k"}}}]}).encode(), "is not an S3 bucket name"),
    ("/api/events/s3/", json.dumps({"Records": [
        {"eventName": "ObjectRemoved:Delete", "s3": {"bucket": {"name": "lake"}, "object": {"key": "ok"}}},
        {"eventName": "ObjectRemoved:Delete", "s3": {"bucket": {"name": "lake"}, "object": {"key": "a%00b"}}}]}).encode(),
     "NUL character"),
    ("/api/events/s3/", json.dumps({"Type": "Notification", "Message": '{"Records": [{"x": NaN}]}'}).encode(),
     "not a JSON number"),
    ("/api/tasks/claim/", b'{"scraper": "\\u0000"}', "scraper: contains a NUL character"),
    ("/api/tasks/claim/", b'{"scraper": "s", "worker": "\\ud800"}', "worker: contains an unpaired surrogate"),
])
def test_http_refuses_what_cannot_be_stored(path, body, error):
    r = Client().post(path, data=body, content_type="application/json", HTTP_AUTHORIZATION="Bearer test-token")
    assert r.status_code == 400 and error in r.json()["error"], r.content[:300]
    assert Event.objects.count() == 0  # one bad S3 record refuses the whole request


def test_task_fail_refuses_a_nul_reason():
    from tests.events.conftest import make_task

    task = make_task(task_status="claimed")
    r = Client().post(f"/api/tasks/{task.pk}/fail/", data=b'{"error": "bad\\u0000"}', content_type="application/json",
                      HTTP_AUTHORIZATION="Bearer test-token")
    assert r.status_code == 400
    task.refresh_from_db()
    assert task.status == "claimed" and task.last_error == ""


@pytest.mark.parametrize("command,text,suffix,error", [
    (["import_metrics"], 'metrics:\n  a:\n    b: {kind: file_count, path: "x\\0y"}\n', ".yaml",
     "metrics.a.b.path: contains a NUL character"),
    (["import_metrics"], 'metrics:\n  a:\n    b: {kind: file_count, path: x, description: "\\ud800"}\n', ".yaml",
     "metrics.a.b.description: contains an unpaired surrogate"),
    (["import_coverage"], 'expected_coverage:\n  espn:\n    scraper: "a\\0b"\n    location: "s3://b/"\n'
                          '    seasons: ["2024-25"]\n    data_types:\n      pbp: {path_patterns: ["x/{game_id}.json"]}\n',
     ".yaml", "expected_coverage.espn.scraper: contains a NUL character"),
    (["import_catalog", "--source", "espn"], "game_id,season,game_date\n401,2024-25,2024-11-01\n4\x001,2024-25,2024-11-01\n",
     ".csv", "line 3: NUL character"),
])
def test_imports_refuse_what_cannot_be_stored(tmp_path, monkeypatch, command, text, suffix, error):
    monkeypatch.chdir(tmp_path)
    Source.objects.create(name="espn", scraper="s", location="s3://b/", seasons=["2024-25"])
    exc = run_command(*command, file_text=text, suffix=suffix)
    assert exc is not None and error in str(exc), exc
    assert CatalogGame.objects.count() == 0 and Source.objects.get().scraper == "s"


@pytest.mark.parametrize("arrow", [True, False], ids=["arrow", "python"])
def test_inventory_report_refuses_a_nul_key(tmp_path, monkeypatch, arrow):
    monkeypatch.setattr(ir, "ARROW_CSV", arrow)
    t0 = dt.datetime(2024, 11, 1, tzinfo=dt.timezone.utc)
    manifest = write_csv_inventory_report(str(tmp_path), source_bucket="lake", rows=[("ok", 1, t0, "e")])
    data = next(tmp_path.rglob("*.csv.gz"))
    data.write_bytes(gzip.compress(b'"lake","ok",1,2024-11-01T00:00:00.000Z,"e","S"\n'
                                   b'"lake","a%00b",1,2024-11-01T00:00:00.000Z,"e","S"\n'))
    mpath = manifest[len("file://"):]
    doc = json.load(open(mpath))
    for f in doc["files"]:
        f.pop("MD5checksum", None)
        f.pop("size", None)
    json.dump(doc, open(mpath, "w"))
    os.remove(os.path.join(os.path.dirname(mpath), "manifest.checksum"))  # the manifest was edited by hand
    with pytest.raises(StorageError, match="line 2: key 'a%00b' contains a NUL character"):
        list(read_inventory_report(manifest).iter_rows())


def test_scan_of_a_folder_with_a_non_utf8_file_name_fails_cleanly(tmp_path):
    """A local file whose name is not UTF-8 used to crash the scan with UnicodeEncodeError while
    storing the inventory; the listing now refuses it: the scan fails with the reason, exit 2."""
    import io
    import os

    from django.core.management import CommandError, call_command

    from reconciliation.models import ScanRun, StoredObject

    lake = tmp_path / "lake"
    (lake / "pbp").mkdir(parents=True)
    (lake / "pbp" / "401.json").write_text("x" * 200)
    os.close(os.open(os.path.join(os.fsencode(lake / "pbp"), b"\xff\xfe.json"), os.O_CREAT | os.O_WRONLY))
    cov = tmp_path / "cov.yaml"
    cov.write_text(f"expected_coverage:\n  espn:\n    location: file://{lake}/\n    seasons: ['2024-25']\n"
                   "    data_types:\n      pbp: {path_patterns: ['pbp/{game_id}.json']}\n")
    call_command("import_coverage", str(cov), stdout=io.StringIO())
    with pytest.raises(CommandError) as exc:
        call_command("scan", "--json", stdout=io.StringIO(), stderr=io.StringIO())
    assert exc.value.returncode == 2 and "not valid UTF-8" in str(exc.value) and "\n" not in str(exc.value)
    assert StoredObject.objects.count() == 0
    run = ScanRun.objects.get()
    assert run.status == "failed" and "not valid UTF-8" in run.error
