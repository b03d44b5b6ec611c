"""Parse S3 event notifications in every shape AWS delivers them (SPEC §9, §12). Pure: no DB.

One function per delivery shape, all ending in the same normalised record payloads:

* `_from_notification` — the S3 notification itself, `{"Records": [...]}` (a direct webhook, SQS with
  S3 as the sender, SNS raw message delivery), or S3's `s3:TestEvent`;
* `_from_sns` — its SNS envelope (`Type: Notification`, the notification as a JSON string in
  `Message`), or an SNS (Un)SubscriptionConfirmation (kept with its Token, never confirmed);
* `_from_eventbridge` — an EventBridge event (`source: aws.s3`, `detail-type: Object Created |
  Object Deleted | …`), POSTed by an API destination or read from SQS.

`parse_notification(document)` takes any of them; `parse_sqs_body(text)` an SQS message body.

A record payload: event_name (S3's vocabulary, e.g. "ObjectCreated:Put", "ObjectRemoved:Delete",
"LifecycleExpiration:DeleteMarkerCreated"; EventBridge events are mapped onto it), bucket, key
(URL-decoded), size, etag, event_time, sequencer (upper-case hex), version_id, region, delivery
("notification" | "eventbridge"), and its dedupe key: bucket + sequencer + key, S3's own identity of an
object change, the same whichever way it was delivered.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from .strict_json import parse_json

SIZE_MAX = 2**63 - 1  # what the inventory's size column (bigint) holds; S3's own limit is far below
SEQUENCER_MAX = 128  # hex digits; AWS sends ~16-18
_HEX = re.compile(r"^[0-9A-Fa-f]+$")

# EventBridge "Object Created" reason → the S3 notification event name
_CREATED_REASONS = {"PutObject": "Put", "POST Object": "Post", "CopyObject": "Copy",
                    "CompleteMultipartUpload": "CompleteMultipartUpload"}


class S3NotificationError(ValueError):
    """The body is not an S3 notification we understand; the message names the field."""


@dataclass
class ParsedNotification:
    kind: str                                   # "records" | "test" | "subscription"
    records: list[dict] = field(default_factory=list)   # normalised payloads with "dedupe_key"
    subscription: dict | None = None            # SNS (Un)SubscriptionConfirmation fields (with Token)


def _get(obj, path: str, where: str):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise S3NotificationError(f"{where}.{path}: required")
        cur = cur[part]
    return cur


def _text(value, where: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise S3NotificationError(f"{where}: expected a non-empty string")
    return value


def _event_time(value, where: str) -> str:
    if not value:
        return ""
    try:
        dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise S3NotificationError(f"{where}: not an ISO-8601 time: {value!r}") from None
    return str(value)


def _sequencer(value, where: str) -> str:
    """S3's sequencer: a hexadecimal string (compared right-padded with zeros, see services)."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not _HEX.match(value) or len(value) > SEQUENCER_MAX:
        raise S3NotificationError(f"{where}: expected a hexadecimal string of at most {SEQUENCER_MAX} digits")
    return value.upper()


def _size(value, where: str, name: str, *, required: bool):
    """A record's object size: required for a creation; an integer from 0 to what the inventory's bigint
    holds (10^30 would be accepted here and fail in the worker)."""
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SIZE_MAX:
        raise S3NotificationError(f"{where}: required for {name}, an integer between 0 and {SIZE_MAX}")
    return value


def _payload(*, name, bucket, raw_key, size, etag, event_time, sequencer, version_id, region, delivery,
             identity) -> dict:
    """The normalised record payload and its dedupe key (`identity` when S3 sent no sequencer)."""
    # Keys arrive URL-encoded as HTML forms do: a space as "+", a literal "+" as "%2B".
    key = unquote_plus(raw_key)
    payload = {
        "event_name": name, "bucket": bucket, "key": key, "size": size, "etag": etag or "",
        "event_time": event_time, "sequencer": sequencer, "version_id": version_id or "",
        "region": region or "", "delivery": delivery,
    }
    if sequencer:
        payload["dedupe_key"] = f"s3:{bucket}:{sequencer}:{key}"
    else:
        payload["dedupe_key"] = "s3:sha256:" + hashlib.sha256(identity.encode()).hexdigest()
    return payload


# --- S3 notification ({"Records": [...]}) ------------------------------------------------------------


# S3's bucket naming rules (general purpose buckets): 3–63 characters of lowercase letters, digits,
# dots and hyphens, beginning and ending with a letter or digit, no "..".
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def check_bucket(field: str, bucket: str) -> None:
    """Refuse at the door a bucket name S3 never sends (`../../tmp`)."""
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise S3NotificationError(f"{field}: {bucket[:80]!r} is not an S3 bucket name "
                                  "(3-63 lowercase letters, digits, dots, hyphens)")


def _record(raw, i: int) -> dict:
    where = f"Records[{i}]"
    if not isinstance(raw, dict):
        raise S3NotificationError(f"{where}: expected an object")
    name = _text(_get(raw, "eventName", where), f"{where}.eventName")
    bucket = _text(_get(raw, "s3.bucket.name", where), f"{where}.s3.bucket.name")
    key = _text(_get(raw, "s3.object.key", where), f"{where}.s3.object.key")
    obj = raw["s3"]["object"]
    size = _size(obj.get("size"), f"{where}.s3.object.size", name, required=name.startswith("ObjectCreated"))
    check_bucket(f"{where}.s3.bucket.name", bucket)
    return _payload(
        name=name, bucket=bucket, raw_key=key, size=size, etag=obj.get("eTag") or obj.get("etag") or "",
        event_time=_event_time(raw.get("eventTime"), f"{where}.eventTime"),
        sequencer=_sequencer(obj.get("sequencer"), f"{where}.s3.object.sequencer"),
        version_id=obj.get("versionId"), region=raw.get("awsRegion"), delivery="notification",
        identity=json.dumps(raw, sort_keys=True, separators=(",", ":")),
    )


def _from_notification(document: dict) -> ParsedNotification:
    if document.get("Event") == "s3:TestEvent" and "Records" not in document:
        return ParsedNotification(kind="test")
    records = document.get("Records")
    if not isinstance(records, list) or not records:
        raise S3NotificationError("Records: required, a non-empty list")
    return ParsedNotification(kind="records", records=[_record(r, i) for i, r in enumerate(records)])


# --- EventBridge ----------------------------------------------------------------------------------------

def _is_eventbridge(document: dict) -> bool:
    return "detail-type" in document and "detail" in document


def _eventbridge_name(detail_type: str, detail: dict) -> str:
    """The S3 notification event name of an EventBridge S3 event."""
    reason = detail.get("reason") if isinstance(detail.get("reason"), str) else ""
    if detail_type == "Object Created":
        return "ObjectCreated:" + _CREATED_REASONS.get(reason, reason or "Put")
    if detail_type == "Object Deleted":
        # Whatever the reason or deletion-type, the object is gone (SPEC §12); the name keeps both.
        marker = detail.get("deletion-type") == "Delete Marker Created"
        family = "LifecycleExpiration" if reason == "Lifecycle Expiration" else "ObjectRemoved"
        return f"{family}:{'DeleteMarkerCreated' if marker else 'Delete'}"
    return "EventBridge:" + detail_type  # restore, tagging, ACL…: recorded, inventory unchanged


def _from_eventbridge(event: dict) -> ParsedNotification:
    source = event.get("source")
    if source != "aws.s3":
        raise S3NotificationError(f"source: expected 'aws.s3' for an EventBridge S3 event, got {source!r}")
    detail_type = _text(event.get("detail-type"), "detail-type")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise S3NotificationError("detail: expected an object")
    bucket = _text(_get(detail, "bucket.name", "detail"), "detail.bucket.name")
    key = _text(_get(detail, "object.key", "detail"), "detail.object.key")
    obj = detail["object"]
    name = _eventbridge_name(detail_type, detail)
    size = _size(obj.get("size"), "detail.object.size", f"{detail_type!r}", required=detail_type == "Object Created")
    check_bucket("detail.bucket.name", bucket)
    identity = event.get("id") if isinstance(event.get("id"), str) and event.get("id") else \
        json.dumps(event, sort_keys=True, separators=(",", ":"))
    payload = _payload(
        name=name, bucket=bucket, raw_key=key, size=size, etag=obj.get("etag") or "",
        event_time=_event_time(event.get("time"), "time"),
        sequencer=_sequencer(obj.get("sequencer"), "detail.object.sequencer"),
        version_id=obj.get("version-id"), region=event.get("region"), delivery="eventbridge",
        identity="eventbridge:" + identity,
    )
    payload["detail_type"] = detail_type
    for extra in ("reason", "deletion-type"):
        if isinstance(detail.get(extra), str):
            payload[extra.replace("-", "_")] = detail[extra]
    return ParsedNotification(kind="records", records=[payload])


# --- SNS envelope ---------------------------------------------------------------------------------------

_SUBSCRIPTION_FIELDS = ("Type", "MessageId", "Token", "TopicArn", "SubscribeURL", "Timestamp", "Message")


def _from_sns(envelope: dict) -> ParsedNotification:
    sns_type = envelope.get("Type")
    if sns_type in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        return ParsedNotification(kind="subscription", subscription={
            k: envelope.get(k) for k in _SUBSCRIPTION_FIELDS if envelope.get(k) is not None
        })
    if sns_type != "Notification":
        raise S3NotificationError(f"Type: unsupported SNS message type {sns_type!r}")
    message = envelope.get("Message")
    if not isinstance(message, str):
        raise S3NotificationError("Message: required in an SNS Notification, a JSON string")
    inner = _json_object(message, "Message")
    # SNS may carry an S3 notification or (an EventBridge rule with an SNS target) an EventBridge event.
    return _from_eventbridge(inner) if _is_eventbridge(inner) else _from_notification(inner)


# --- entry points ---------------------------------------------------------------------------------------

def parse_notification(document) -> ParsedNotification:
    """Any delivery shape (see the module docstring) → ParsedNotification; S3NotificationError naming
    the field otherwise."""
    if not isinstance(document, dict):
        raise S3NotificationError("body: expected a JSON object")
    if "Type" in document:
        return _from_sns(document)
    if _is_eventbridge(document):
        return _from_eventbridge(document)
    return _from_notification(document)


def parse_sqs_body(body) -> ParsedNotification:
    """An SQS message body: the bare notification, its SNS envelope or an EventBridge event, as JSON."""
    if not isinstance(body, str):
        raise S3NotificationError("body: expected a JSON string")
    return parse_notification(_json_object(body, "body"))


def _json_object(text: str, where: str) -> dict:
    try:
        document = parse_json(text)
    except ValueError as exc:
        raise S3NotificationError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise S3NotificationError(f"{where}: expected a JSON object")
    return document
