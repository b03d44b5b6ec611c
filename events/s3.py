"""Parse S3 event notifications, bare (`{"Records": [...]}`) or in their SNS envelope. Pure: no DB.

Each record becomes one `s3_event` payload; its dedupe key is bucket + sequencer + key (S3's own
identity of an object change), so a redelivered notification is processed once.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from .strict_json import parse_json


class S3NotificationError(ValueError):
    """The body is not an S3 notification we understand; the message names the field."""


@dataclass
class ParsedNotification:
    kind: str                                   # "records" | "test" | "subscription"
    records: list[dict] = field(default_factory=list)   # normalised payloads with "dedupe_key"
    subscription: dict | None = None            # SNS (Un)SubscriptionConfirmation fields


def _get(obj, path: str, where: str):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise S3NotificationError(f"{where}.{path}: required")
        cur = cur[part]
    return cur


# S3's bucket naming rules (general purpose buckets): 3–63 characters of lowercase letters, digits,
# dots and hyphens, beginning and ending with a letter or digit, no "..".
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
SIZE_MAX = 2**63 - 1  # what the inventory's size column (bigint) holds; S3's own limit is far below


def check_bucket_and_size(where: str, bucket: str, size) -> None:
    """Refuse at the door what S3 never sends and the worker could not store: a bucket name outside
    S3's rules (`../../tmp`) or a size beyond a bigint (10^30)."""
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise S3NotificationError(f"{where}.s3.bucket.name: {bucket[:80]!r} is not an S3 bucket name "
                                  "(3-63 lowercase letters, digits, dots, hyphens)")
    if size is not None and not (isinstance(size, int) and not isinstance(size, bool) and 0 <= size <= SIZE_MAX):
        raise S3NotificationError(f"{where}.s3.object.size: expected an integer between 0 and {SIZE_MAX}")


def _record(raw, i: int) -> dict:
    where = f"Records[{i}]"
    if not isinstance(raw, dict):
        raise S3NotificationError(f"{where}: expected an object")
    name = _get(raw, "eventName", where)
    bucket = _get(raw, "s3.bucket.name", where)
    key = _get(raw, "s3.object.key", where)
    for label, value in (("eventName", name), ("s3.bucket.name", bucket), ("s3.object.key", key)):
        if not isinstance(value, str) or not value:
            raise S3NotificationError(f"{where}.{label}: expected a non-empty string")
    obj = raw["s3"]["object"]
    size = obj.get("size")
    if name.startswith("ObjectCreated"):
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise S3NotificationError(f"{where}.s3.object.size: required for {name}, a non-negative integer")
    check_bucket_and_size(where, bucket, size)
    event_time = raw.get("eventTime") or ""
    if event_time:
        try:
            dt.datetime.fromisoformat(str(event_time).replace("Z", "+00:00"))
        except ValueError:
            raise S3NotificationError(f"{where}.eventTime: not an ISO-8601 time: {event_time!r}") from None
    sequencer = obj.get("sequencer") or ""
    if not isinstance(sequencer, str):
        raise S3NotificationError(f"{where}.s3.object.sequencer: expected a string")
    payload = {
        "event_name": name,
        "bucket": bucket,
        # Keys arrive URL-encoded (spaces as '+').
        "key": unquote_plus(key),
        "size": size,
        "etag": obj.get("eTag") or obj.get("etag") or "",
        "event_time": event_time,
        "sequencer": sequencer,
        "version_id": obj.get("versionId") or "",
        "region": raw.get("awsRegion") or "",
    }
    if sequencer:
        payload["dedupe_key"] = f"s3:{bucket}:{sequencer}:{payload['key']}"
    else:
        canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"))
        payload["dedupe_key"] = "s3:sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    return payload


def parse_notification(document) -> ParsedNotification:
    if not isinstance(document, dict):
        raise S3NotificationError("body: expected a JSON object")
    sns_type = document.get("Type")
    if sns_type in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        return ParsedNotification(kind="subscription", subscription={
            k: document.get(k) for k in ("Type", "MessageId", "TopicArn", "SubscribeURL", "Timestamp")
        })
    if sns_type == "Notification":
        message = document.get("Message")
        if not isinstance(message, str):
            raise S3NotificationError("Message: required in an SNS Notification, a JSON string")
        try:
            document = parse_json(message)
        except ValueError as exc:
            raise S3NotificationError(f"Message: not valid JSON ({exc})") from None
        if not isinstance(document, dict):
            raise S3NotificationError("Message: expected a JSON object")
    elif sns_type is not None:
        raise S3NotificationError(f"Type: unsupported SNS message type {sns_type!r}")
    if document.get("Event") == "s3:TestEvent" and "Records" not in document:
        return ParsedNotification(kind="test")
    records = document.get("Records")
    if not isinstance(records, list) or not records:
        raise S3NotificationError("Records: required, a non-empty list")
    return ParsedNotification(kind="records", records=[_record(r, i) for i, r in enumerate(records)])
