"""events.s3: every delivery shape of an S3 event, as AWS documents it, to the same record payloads."""
import json

import pytest

from events.s3 import S3NotificationError, parse_notification, parse_sqs_body

from .aws_shapes import (
    BUCKET, SUBSCRIPTION_CONFIRMATION, TEST_EVENT, eventbridge, notification, s3_record, sns_envelope,
)

AWKWARD_KEYS = [
    "espn/red flower.jpg",          # space → "+"
    "espn/c++ notes+1.json",        # literal "+" → "%2B"
    "espn/a%2Fb.json",              # a literal "%2F" → "%252F", not a slash
    "espn/café/✓ 東京.json",         # non-ASCII → UTF-8 percent-encoded
    "espn/q?x=1&y=(2).json",
]


def _one(document):
    parsed = parse_notification(document)
    assert parsed.kind == "records" and len(parsed.records) == 1
    return parsed.records[0]


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_url_encoded_keys_decode_the_same_in_every_shape(key):
    direct = _one(notification(s3_record(key)))
    assert direct["key"] == key
    assert _one(sns_envelope(notification(s3_record(key)))) == direct
    bridged = _one(eventbridge(key))
    assert bridged["key"] == key


def test_direct_notification_fields():
    record = _one(notification(s3_record("espn/401.json", size=1024, sequencer="0055aed6dcd90281e5")))
    assert record == {
        "event_name": "ObjectCreated:Put", "bucket": BUCKET, "key": "espn/401.json", "size": 1024,
        "etag": "d41d8cd98f00b204e9800998ecf8427e", "event_time": "2026-11-22T09:00:00.000Z",
        "sequencer": "0055AED6DCD90281E5", "version_id": "096fKKXTRTtl3on89fVO.nfljtsv6qko",
        "region": "us-west-2", "delivery": "notification",
        "dedupe_key": f"s3:{BUCKET}:0055AED6DCD90281E5:espn/401.json",
    }


def test_several_records_in_one_notification():
    parsed = parse_notification(notification(s3_record("a.json", sequencer="0A"),
                                             s3_record("b.json", name="ObjectRemoved:Delete", size=None, sequencer="0B")))
    assert [(r["key"], r["event_name"], r["size"]) for r in parsed.records] == [
        ("a.json", "ObjectCreated:Put", 1024), ("b.json", "ObjectRemoved:Delete", None)]


@pytest.mark.parametrize("name", ["LifecycleExpiration:Delete", "LifecycleExpiration:DeleteMarkerCreated",
                                  "ObjectRemoved:DeleteMarkerCreated"])
def test_lifecycle_and_delete_marker_notifications(name):
    record = _one(notification(s3_record("espn/old.json", name=name, size=None)))
    assert record["event_name"] == name and record["size"] is None


@pytest.mark.parametrize("detail_type, reason, deletion_type, expected", [
    ("Object Created", "PutObject", None, "ObjectCreated:Put"),
    ("Object Created", "CopyObject", None, "ObjectCreated:Copy"),
    ("Object Created", "CompleteMultipartUpload", None, "ObjectCreated:CompleteMultipartUpload"),
    ("Object Created", "POST Object", None, "ObjectCreated:Post"),
    ("Object Deleted", "DeleteObject", "Permanently Deleted", "ObjectRemoved:Delete"),
    ("Object Deleted", "DeleteObject", "Delete Marker Created", "ObjectRemoved:DeleteMarkerCreated"),
    ("Object Deleted", "Lifecycle Expiration", "Permanently Deleted", "LifecycleExpiration:Delete"),
    ("Object Deleted", "Lifecycle Expiration", "Delete Marker Created", "LifecycleExpiration:DeleteMarkerCreated"),
    ("Object Restore Completed", "RestoreObject", None, "EventBridge:Object Restore Completed"),
])
def test_eventbridge_events_map_onto_s3_event_names(detail_type, reason, deletion_type, expected):
    size = 5 if detail_type == "Object Created" else None
    record = _one(eventbridge("espn/401.json", detail_type=detail_type, reason=reason,
                              deletion_type=deletion_type, size=size))
    assert record["event_name"] == expected
    assert record["delivery"] == "eventbridge" and record["detail_type"] == detail_type
    assert record["sequencer"] == "617F08299329D189" and record["region"] == "ca-central-1"
    assert record["event_time"] == "2026-11-22T09:00:00Z" and record["size"] == size


def test_the_same_change_delivered_two_ways_has_one_dedupe_key():
    direct = _one(notification(s3_record("espn/401.json", sequencer="617f08299329d189")))
    bridged = _one(eventbridge("espn/401.json", sequencer="617F08299329D189"))
    assert direct["dedupe_key"] == bridged["dedupe_key"]


def test_records_without_sequencer_dedupe_on_their_content():
    a = _one(notification(s3_record("x.json", sequencer=None)))
    assert a["dedupe_key"] == _one(notification(s3_record("x.json", sequencer=None)))["dedupe_key"]
    assert a["dedupe_key"] != _one(notification(s3_record("x.json", sequencer=None, size=7)))["dedupe_key"]
    b = _one(eventbridge("x.json", sequencer=None, event_id="e-1"))
    assert b["dedupe_key"] != _one(eventbridge("x.json", sequencer=None, event_id="e-2"))["dedupe_key"]


def test_test_event_and_subscription_confirmation():
    assert parse_notification(TEST_EVENT).kind == "test"
    assert parse_notification(sns_envelope(TEST_EVENT)).kind == "test"
    parsed = parse_notification(SUBSCRIPTION_CONFIRMATION)
    assert parsed.kind == "subscription"
    assert parsed.subscription["Token"] == SUBSCRIPTION_CONFIRMATION["Token"]
    assert parsed.subscription["SubscribeURL"].startswith("https://sns.us-west-2.amazonaws.com/")


def test_sqs_bodies_of_each_shape():
    for document in (notification(s3_record("k.json")), sns_envelope(notification(s3_record("k.json"))),
                     eventbridge("k.json"), sns_envelope(eventbridge("k.json"))):
        parsed = parse_sqs_body(json.dumps(document))
        assert parsed.kind == "records" and parsed.records[0]["key"] == "k.json"
    assert parse_sqs_body(json.dumps(TEST_EVENT)).kind == "test"


@pytest.mark.parametrize("document, reason", [
    ("not json", "body: not valid JSON"),
    ("[1]", "body: expected a JSON object"),
    ('{"Records": []}', "Records: required, a non-empty list"),
    (json.dumps(notification(s3_record("k", size=None))), r"Records\[0\].s3.object.size: required for ObjectCreated:Put"),
    (json.dumps(notification(s3_record("k", sequencer="xyz"))), "sequencer: expected a hexadecimal string"),
    (json.dumps(eventbridge("k", size=None)), "detail.object.size: required for 'Object Created'"),
    (json.dumps({**eventbridge("k"), "source": "aws.ec2"}), "source: expected 'aws.s3'"),
    (json.dumps({**eventbridge("k"), "detail": []}), "detail: expected an object"),
    (json.dumps({"Type": "Notification", "Message": "{"}), "Message: not valid JSON"),
    (json.dumps({"Type": "Weird"}), "Type: unsupported SNS message type"),
])
def test_malformed_bodies_name_the_field(document, reason):
    with pytest.raises(S3NotificationError, match=reason):
        parse_sqs_body(document)
