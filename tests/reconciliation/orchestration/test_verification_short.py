"""Verification of `short` tasks (SPEC §10 open data types, §13): no key to probe, so the data type's
region is listed, the inventory there replaced by the listing, and the short gap re-judged by the
reconcile's own analysis."""
import datetime as dt

import pytest

from reconciliation.choices import GapStatus, TaskStatus
from reconciliation.models import Gap, StoredObject, Task
from reconciliation.orchestration.verification import short_regions, task_verify
from reconciliation.services.reconcile import reconcile_run
from tests.s3_helpers import BUCKET

from ..test_scanning import file_uri, make_source, put_file

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2024, 11, 25)
PATTERN = "player_box/{season}/{player_id}.json"


def test_regions_are_the_literal_folders_of_the_patterns():
    assert short_regions([PATTERN]) == ["player_box/"]
    assert short_regions(["a/b/{season}/{x}.json", "a/{season}/{x}.json", "c/d{season}.json"]) == ["a/", "c/"]
    assert short_regions(["{season}/{x}.json", "a/{x}.json"]) == [""]


def short_task(location: str, *, make=None) -> Task:
    make_source("hoopr", location, {"player_box": {"path_patterns": [PATTERN], "expected_count": 3,
                                                    "min_size_bytes": 10}})
    if make:
        make("player_box/2024-25/p1.json")
    reconcile_run(as_of=AS_OF)
    gap = Gap.objects.get(kind="short", status=GapStatus.OPEN)
    assert gap.shortfall == (2 if make else 3)
    return Task.objects.select_related("source", "data_type").get(pk=gap.task_id)


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "lake"
    root.mkdir()
    return root


def test_a_filled_season_resolves_the_short_gap_and_finishes_the_task(root):
    task = short_task(file_uri(root), make=lambda rel: put_file(root, rel))
    put_file(root, "player_box/2024-25/p2.json")
    put_file(root, "player_box/2024-25/p3.json")
    result = task_verify(task)
    assert (result.error, result.expected, result.present, result.resolved) == ("", 1, 1, 1)
    assert Gap.objects.get(kind="short").status == GapStatus.RESOLVED
    assert Task.objects.get(pk=task.pk).status == TaskStatus.DONE
    assert sorted(k.rsplit("/", 1)[1] for k in StoredObject.objects.values_list("key", flat=True)) == [
        "p1.json", "p2.json", "p3.json"]


def test_still_short_keeps_the_gap_and_counts_only_what_is_there(root):
    task = short_task(file_uri(root), make=lambda rel: put_file(root, rel))
    put_file(root, "player_box/2024-25/p2.json")
    put_file(root, "player_box/2024-25/p3.json", data=b"tiny")  # below min_size_bytes: does not count
    (root / "player_box/2024-25/p1.json").unlink()  # gone since the scan: the inventory must forget it
    result = task_verify(task)
    assert (result.error, result.present, result.resolved, result.missing_partitions) == ("", 0, 0, ["/2024-25"])
    assert Gap.objects.get(kind="short").status == GapStatus.OPEN
    assert sorted(k.rsplit("/", 1)[1] for k in StoredObject.objects.values_list("key", flat=True)) == [
        "p2.json", "p3.json"]


def test_a_data_type_folder_not_made_yet_is_empty_not_an_error(root):
    task = short_task(file_uri(root))
    result = task_verify(task)
    assert (result.error, result.present, result.resolved) == ("", 0, 0)


def test_on_s3_the_region_is_listed_over_http(server_bucket):
    task = short_task(f"s3://{BUCKET}/raw/", make=lambda rel: server_bucket.put("raw/" + rel, b"x" * 100))
    for p in ("p2", "p3"):
        server_bucket.put(f"raw/player_box/2024-25/{p}.json", b"x" * 100)
    result = task_verify(task)
    assert (result.error, result.present, result.resolved) == ("", 1, 1)
    assert Gap.objects.get(kind="short").status == GapStatus.RESOLVED


def test_a_failed_listing_judges_nothing_and_changes_nothing(root, moto_server):
    task = short_task(file_uri(root), make=lambda rel: put_file(root, rel))
    task.source.location = "s3://no-such-bucket-here/raw/"  # the region cannot be listed
    task.source.save()
    before = list(StoredObject.objects.values_list("key", flat=True))
    result = task_verify(task)
    assert result.error.startswith("verification failed:"), result.error
    assert (result.present, result.missing) == (0, 1)
    assert Gap.objects.get(kind="short").status == GapStatus.OPEN
    assert list(StoredObject.objects.values_list("key", flat=True)) == before


SHORT_SCRAPER = '''
import json, os, sys
task = json.load(open(sys.argv[1]))
root = task["location"][len("file://"):]
for n in range(int(sys.argv[2])):
    path = os.path.join(root, "player_box", task["season"], f"new{n}.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").write("x" * 50)
'''


@pytest.mark.parametrize("writes, status", [(2, "succeeded"), (1, "failed")])
def test_the_loop_closes_a_short_task_only_when_the_count_is_reached(root, tmp_path, writes, status):
    import sys

    from reconciliation.orchestration.dispatch import dispatch_once
    from reconciliation.orchestration.services import scrapers_import

    from .conftest import scrapers_yaml

    task = short_task(file_uri(root), make=lambda rel: put_file(root, rel))
    script = tmp_path / "short_scraper.py"
    script.write_text(SHORT_SCRAPER)
    argv = ", ".join(f'"{a}"' for a in (sys.executable, str(script), "{task_file}", str(writes)))
    scrapers_import(scrapers_yaml(tmp_path / "scrapers.yaml", {"hoopr_scraper": f"    command: [{argv}]\n"
                                                                                 "    backoff_minutes: [60]\n"}))
    _, [run] = dispatch_once()
    assert run.status == status and run.task_id == task.pk
    gap = Gap.objects.get(kind="short")
    if status == "succeeded":
        assert (gap.status, Task.objects.get(pk=task.pk).status) == (GapStatus.RESOLVED, TaskStatus.DONE)
    else:
        assert gap.status == GapStatus.OPEN and run.reason == "1 of 1 partitions still missing"
        assert Task.objects.get(pk=task.pk).status == TaskStatus.PENDING
