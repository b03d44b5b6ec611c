"""The S3 closed loop's event side: apply one recorded `s3_event` to the inventory, in S3's own order.

Deliveries arrive out of order and more than once (SQS, SNS, EventBridge); each key keeps the sequencer
of the last change applied to it (`S3KeySequence`), so an older or repeated record changes nothing.
The inventory, gap and task work itself is reconciliation's (reconciliation.services.closed_loop).
"""
from __future__ import annotations

import datetime as dt
import hashlib

from django.db import transaction
from django.utils import timezone

from reconciliation.services.closed_loop import s3_object_created, s3_object_removed
from reconciliation.storage import ObjectInfo

from .models import Event, S3KeySequence

SEQUENCER_WIDTH = 128


def sequencer_sort_key(sequencer: str) -> str:
    """S3 sequencers compare as AWS documents: upper-case hex, the shorter right-padded with zeros,
    then lexicographically. Padding every one to the same width makes that a plain string order."""
    return (sequencer or "").upper().ljust(SEQUENCER_WIDTH, "0")


def _key_digest(bucket: str, key: str) -> str:
    return hashlib.sha256(f"{bucket}\n{key}".encode("utf-8", "surrogatepass")).hexdigest()


def s3_key_claim(event: Event) -> str | None:
    """Inside a transaction: lock the key's sequence row and say whether this event may change the key.
    Returns None when it may (the row then records this event's sequencer), or "superseded" /
    "duplicate" when an event as new or newer was already applied to the key. Events without a
    sequencer cannot be ordered and always apply."""
    p = event.payload
    if not p.get("sequencer"):
        return None
    bucket, key = p.get("bucket", ""), p.get("key", "")
    mine = sequencer_sort_key(p["sequencer"])
    digest = _key_digest(bucket, key)
    # Insert-if-absent, then lock: two workers on one key serialise here (PostgreSQL row lock; SQLite
    # holds one writer at a time anyway).
    S3KeySequence.objects.bulk_create([S3KeySequence(digest=digest, bucket=bucket, key=key, sequencer="")],
                                      ignore_conflicts=True)
    row = S3KeySequence.objects.select_for_update().get(pk=digest)
    if row.sequencer and row.sequencer >= mine:
        return "duplicate" if row.sequencer == mine else "superseded"
    S3KeySequence.objects.filter(pk=digest).update(sequencer=mine, event=event, applied_at=timezone.now())
    return None


def removes_object(event_name: str) -> bool:
    """ObjectRemoved:* (a delete or a delete marker) and LifecycleExpiration:* (S3 expired it)."""
    return event_name.startswith(("ObjectRemoved", "LifecycleExpiration"))


def _parse_event_time(value) -> dt.datetime:
    if not value:
        return timezone.now()
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


def s3_event_apply(event: Event) -> dict:
    """Apply one S3 notification record to the inventory (its own key only, in sequencer order) and
    re-judge the affected gaps (reconciliation.services.closed_loop), in one transaction with the claim."""
    p = event.payload
    bucket, key, name = p.get("bucket", ""), p.get("key", ""), p.get("event_name", "")
    store = f"s3://{bucket}"
    creates, removes = name.startswith("ObjectCreated"), removes_object(name)
    if not (creates or removes):
        return {"action": "ignored", "reason": f"event name {name!r} does not change the inventory"}
    with transaction.atomic():
        refused = s3_key_claim(event)
        if refused:
            return {"action": refused, "store": store, "key": key, "sequencer": p.get("sequencer", "")}
        if removes:
            return s3_object_removed(store, key)
        info = ObjectInfo(key=key, size=int(p["size"]), last_modified=_parse_event_time(p.get("event_time")),
                          etag=(p.get("etag") or "").strip('"'))
        return s3_object_created(store, info)
