"""Verification by HEAD on S3 (a real moto server over HTTP) and stat on file:// (SPEC §13): found
objects go into the inventory, gaps present by §6 resolve, a failed probe judges nothing."""
import pytest

from reconciliation.choices import GapStatus
from reconciliation.models import Gap, StoredObject, Task
from reconciliation.orchestration.verification import expected_partitions, probe_keys, task_verify
from tests.reconciliation.test_tasks import make_gap, make_source, make_task, make_type
from tests.s3_helpers import BUCKET

pytestmark = pytest.mark.django_db


def s3_task(location: str):
    src = make_source("espn")
    src.location = location
    src.save()
    pbp = make_type(src, "play_by_play")
    pbp.min_size_bytes = 10
    pbp.save()
    task = make_task(pbp)
    for p in ("401", "402", "403"):
        make_gap(pbp, p, task=task)
    return Task.objects.select_related("source", "data_type").get(pk=task.pk)


def test_head_per_expected_key_on_s3(server_bucket):
    task = s3_task(f"s3://{BUCKET}/raw/")
    server_bucket.put("raw/play_by_play/401.json", b"x" * 100)
    server_bucket.put("raw/play_by_play/402.json", b"tiny")  # below min_size_bytes: heals nothing
    StoredObject.objects.create(store=f"s3://{BUCKET}", key="raw/play_by_play/403.json", size=500,
                                last_modified="2024-01-01T00:00:00Z")  # the inventory is stale: 403 is gone
    assert [e.key for e in expected_partitions(task)] == [f"play_by_play/{p}.json" for p in ("401", "402", "403")]
    result = task_verify(task)
    assert (result.expected, result.present, result.resolved, result.found_keys, result.error) == (3, 1, 1, 2, "")
    assert result.missing_partitions == ["402", "403"]
    assert Gap.objects.get(partition="401").status == GapStatus.RESOLVED
    assert set(StoredObject.objects.values_list("key", "size")) == {("raw/play_by_play/401.json", 100),
                                                                    ("raw/play_by_play/402.json", 4)}


def test_a_failed_probe_is_an_error_and_judges_nothing(moto_server):
    task = s3_task("s3://no-such-bucket-here/raw/")
    result = task_verify(task)
    assert result.error.startswith("verification failed: HEAD s3://no-such-bucket-here/"), result.error
    assert result.present == 0 and result.missing == 3
    assert not Gap.objects.filter(status=GapStatus.RESOLVED).exists()


def test_stat_on_file_locations(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "k.json").write_text("{}")
    found = probe_keys(f"file://{tmp_path}/", ["a/k.json", "a/missing.json", "a"])
    assert found["a/k.json"].size == 2 and found["a/missing.json"] is None and found["a"] is None
    assert found["a/k.json"].key == str(tmp_path / "a" / "k.json").lstrip("/")
