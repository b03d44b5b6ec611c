"""The closed loop with the real reconciliation and task services: a scraper uploads a missing
file, S3 notifies, one worker cycle resolves the gap and finishes the task — without a rescan."""
import datetime as dt
import json

import pytest
from django.test import Client

from events.choices import EventStatus
from events.models import Event
from events.tasks import process_event

from .conftest import set_events_config

AUTH = {"HTTP_AUTHORIZATION": "Bearer test-token"}
AS_OF = dt.date(2026, 11, 22)
BIG = "x" * 200


@pytest.fixture
def lake(db, moto_bucket, tmp_path):
    """Coverage + catalog for one source over the moto bucket; game 401 stored, 402 missing; a reconcile
    has opened the gap for 402 and planned its task."""
    from reconciliation.services.catalog import catalog_import
    from reconciliation.services.coverage import coverage_import
    from reconciliation.services.reconcile import reconcile_run

    (tmp_path / "coverage.yaml").write_text(f"""
expected_coverage:
  espn:
    scraper: espn_async_scraper
    location: {moto_bucket.uri}
    seasons: ["2026-27"]
    data_types:
      play_by_play:
        min_size_bytes: 100
        path_patterns: ["espn_play_by_play/{{game_id}}.json"]
""")
    (tmp_path / "catalog.csv").write_text("game_id,season,game_date\n401,2026-27,2026-11-20\n402,2026-27,2026-11-21\n")
    coverage_import(tmp_path / "coverage.yaml")
    catalog_import("espn", tmp_path / "catalog.csv")
    moto_bucket.put("espn_play_by_play/401.json", BIG)
    run = reconcile_run(as_of=AS_OF)
    assert run.status == "completed", run.error
    return moto_bucket


def s3_notification(bucket, key, size, *, name="ObjectCreated:Put", sequencer="0A1B"):
    obj = {"key": key, "eTag": "abc", "sequencer": sequencer}
    if size is not None:
        obj["size"] = size
    return {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": name,
                         "eventTime": "2026-11-22T09:00:00.000Z",
                         "s3": {"bucket": {"name": bucket}, "object": obj}}]}


def post_s3(body):
    r = Client().post("/api/events/s3/", data=json.dumps(body), content_type="application/json", **AUTH)
    assert r.status_code == 202, r.content
    return r.json()["id"]


def test_upload_event_resolves_the_gap_without_a_rescan(lake):
    from reconciliation.models import Gap, ScanRun, StoredObject, Task

    gap = Gap.objects.get(status="open")
    assert gap.partition == "402" and gap.task_id is not None
    scans = ScanRun.objects.count()

    lake.put("espn_play_by_play/402.json", BIG)
    event_id = post_s3(s3_notification(lake.name, "espn_play_by_play/402.json", len(BIG)))
    process_event(event_id)  # one worker cycle

    event = Event.objects.get(pk=event_id)
    assert event.status == EventStatus.DONE, event.error
    assert event.result["inventory"]["action"] == "upsert" and event.result["inventory"]["rejudged"] == 1
    gap.refresh_from_db()
    assert gap.status == "resolved"
    assert ScanRun.objects.count() == scans  # no rescan
    obj = StoredObject.objects.get(store=f"s3://{lake.name}", key="espn_play_by_play/402.json")
    assert obj.size == len(BIG) and obj.partition == "402"
    assert Task.objects.get(pk=gap.task_id).status == "done"


def test_an_empty_upload_does_not_resolve_the_gap(lake):
    from reconciliation.models import Gap

    event_id = post_s3(s3_notification(lake.name, "espn_play_by_play/402.json", 5))
    process_event(event_id)
    assert Gap.objects.get(partition="402").status == "open"


def test_removal_leaves_the_inventory_and_out_of_order_delivery_is_ignored(lake):
    from reconciliation.models import StoredObject

    key = "espn_play_by_play/401.json"
    store = f"s3://{lake.name}"
    assert StoredObject.objects.filter(store=store, key=key).exists()
    removed = post_s3(s3_notification(lake.name, key, None, name="ObjectRemoved:Delete", sequencer="0B00"))
    process_event(removed)
    assert Event.objects.get(pk=removed).result["inventory"]["action"] == "remove"
    assert not StoredObject.objects.filter(store=store, key=key).exists()
    # an older PUT of the same key delivered late must not bring it back
    late = post_s3(s3_notification(lake.name, key, len(BIG), sequencer="0A"))
    process_event(late)
    assert Event.objects.get(pk=late).result["inventory"]["action"] == "superseded"
    assert not StoredObject.objects.filter(store=store, key=key).exists()


def test_scraper_complete_runs_its_hooks_and_completes_the_claimed_task(lake, settings):
    """scraper_complete → reconcile (hook `reconcile: true`) → verify data_gaps.* → the claimed task
    whose data is now seen is done. All real services."""
    from metrics.models import MetricDefinition
    from reconciliation.models import Gap, Task
    from reconciliation.services.task_queue import task_claim

    set_events_config({"hooks": [{"name": "scraper_complete", "trigger": "scraper_complete",
                                  "metrics": ["data_gaps.*"], "reconcile": True}]})
    MetricDefinition.objects.create(category="data_gaps", name="open", kind="gap_count", params={},
                                    parse_type="integer")
    task = task_claim(scraper="espn_async_scraper", worker="scraper-1")
    assert task is not None
    lake.put("espn_play_by_play/402.json", BIG)  # uploaded, but no S3 notification configured

    r = Client().post("/api/events/", data=json.dumps({"type": "scraper_complete", "source": "espn", "id": "job-7",
                                                       "payload": {"scraper": "espn_async_scraper"}}),
                      content_type="application/json", **AUTH)
    assert r.status_code == 202
    process_event(r.json()["id"])
    event = Event.objects.get(pk=r.json()["id"])
    assert event.status == EventStatus.DONE, event.error
    assert event.reconcile_run.status == "completed"
    assert event.verification_run.status == "completed"
    assert event.verification_run.measurements.get().value == 0  # measured after the reconcile
    assert Gap.objects.get(partition="402").status == "resolved"
    assert Task.objects.get(pk=task.pk).status == "done"


# --- SPEC §12: every way S3 says an object is gone, in sequencer order, one key at a time -----------------

def _apply(body) -> dict:
    event_id = post_s3(body)
    process_event(event_id)
    event = Event.objects.get(pk=event_id)
    assert event.status == EventStatus.DONE, event.error
    return event.result["inventory"]


def _present(lake, key) -> bool:
    from reconciliation.models import StoredObject

    return StoredObject.objects.filter(store=f"s3://{lake.name}", key=key).exists()


@pytest.mark.parametrize("name", ["LifecycleExpiration:Delete", "LifecycleExpiration:DeleteMarkerCreated",
                                  "ObjectRemoved:DeleteMarkerCreated"])
def test_lifecycle_expiration_and_delete_markers_remove_the_object(lake, name):
    from reconciliation.models import StoredObject

    key = "espn_play_by_play/401.json"
    others = StoredObject.objects.exclude(key=key).count()
    assert _apply(s3_notification(lake.name, key, None, name=name))["action"] == "remove"
    assert not _present(lake, key)
    assert StoredObject.objects.exclude(key=key).count() == others  # an event changes only its own key


@pytest.mark.parametrize("reason, deletion_type", [("DeleteObject", "Permanently Deleted"),
                                                   ("DeleteObject", "Delete Marker Created"),
                                                   ("Lifecycle Expiration", "Delete Marker Created")])
def test_eventbridge_object_deleted_removes_the_object(lake, reason, deletion_type):
    from .aws_shapes import eventbridge

    key = "espn_play_by_play/401.json"
    body = eventbridge(key, bucket=lake.name, detail_type="Object Deleted", reason=reason,
                       deletion_type=deletion_type, size=None, sequencer="0C00")
    assert _apply(body)["action"] == "remove" and not _present(lake, key)


def test_eventbridge_object_created_resolves_the_gap(lake):
    from reconciliation.models import Gap

    from .aws_shapes import eventbridge

    lake.put("espn_play_by_play/402.json", BIG)
    result = _apply(eventbridge("espn_play_by_play/402.json", bucket=lake.name, size=len(BIG)))
    assert result["action"] == "upsert" and result["rejudged"] == 1
    assert Gap.objects.get(partition="402").status == "resolved"


def test_a_late_older_delete_never_undoes_a_newer_upload(lake):
    from reconciliation.models import StoredObject

    key = "espn_play_by_play/402.json"
    assert _apply(s3_notification(lake.name, key, len(BIG), sequencer="0B"))["action"] == "upsert"
    late = _apply(s3_notification(lake.name, key, None, name="ObjectRemoved:Delete", sequencer="0A"))
    assert late["action"] == "superseded" and _present(lake, key)
    # the same change delivered again, even in another body (another configuration), is the same event
    first = Event.objects.get(payload__sequencer="0B").pk
    again = s3_notification(lake.name, key, 5, sequencer="0b")
    again["Records"][0]["eventTime"] = "2026-11-22T10:00:00.000Z"
    assert post_s3(again) == first
    assert StoredObject.objects.get(key=key).size == len(BIG)


def test_sequencers_compare_right_padded_as_aws_documents(lake):
    """"0A2" is newer than "0A10": padded to the same width, "0A20" > "0A10" (as numbers it would not be)."""
    key = "espn_play_by_play/402.json"
    assert _apply(s3_notification(lake.name, key, None, name="ObjectRemoved:Delete", sequencer="0A2"))["action"] == "remove"
    assert _apply(s3_notification(lake.name, key, len(BIG), sequencer="0A10"))["action"] == "superseded"
    assert not _present(lake, key)
    assert _apply(s3_notification(lake.name, key, len(BIG), sequencer="0a21"))["action"] == "upsert"
    assert _present(lake, key)


def test_ordering_is_per_key(lake):
    a, b = "espn_play_by_play/402.json", "espn_play_by_play/403.json"
    assert _apply(s3_notification(lake.name, a, len(BIG), sequencer="FF"))["action"] == "upsert"
    assert _apply(s3_notification(lake.name, b, len(BIG), sequencer="01"))["action"] == "upsert"  # other key
    assert _present(lake, a) and _present(lake, b)


def test_duplicate_delivery_is_one_event(lake):
    body = s3_notification(lake.name, "espn_play_by_play/402.json", len(BIG), sequencer="0D")
    first, second = post_s3(body), post_s3(body)
    assert first == second and Event.objects.filter(type="s3_event").count() == 1


def test_an_event_stores_an_over_long_partition_and_etag_as_a_scan_does(lake):
    """The scan's rule for what the inventory's columns hold (engine.limits) applies to events too: a
    65-character {game_id} is no partition (unmatched), a 100-character ETag is cut to the column. On
    PostgreSQL the insert failed before (varchar(64))."""
    from reconciliation.engine.limits import ETAG_MAX, PARTITION_MAX
    from reconciliation.models import StoredObject

    key = f"espn_play_by_play/{'9' * (PARTITION_MAX + 1)}.json"
    body = s3_notification(lake.name, key, len(BIG))
    body["Records"][0]["s3"]["object"]["eTag"] = "e" * 100
    event_id = post_s3(body)
    process_event(event_id)

    event = Event.objects.get(pk=event_id)
    assert event.status == EventStatus.DONE, event.error
    assert event.result["inventory"]["partitions"] == [] and event.result["inventory"]["rejudged"] is None
    obj = StoredObject.objects.get(store=f"s3://{lake.name}", key=key)
    assert (obj.data_type_id, obj.partition, obj.etag) == (None, "", "e" * ETAG_MAX)
