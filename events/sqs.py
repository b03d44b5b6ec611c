"""S3 event notifications read from an SQS queue (SPEC §12, `manage.py consume_s3_events`).

The queue may receive S3's notifications directly, through SNS (the envelope, or raw message delivery)
or from an EventBridge rule: every body goes through events.s3.parse_sqs_body.

Per message: parse → record its events in one transaction (deduped by S3's sequencer + key, so a
redelivered message records nothing new) → only then delete it from the queue. A message that cannot
be parsed or recorded is logged, counted and *left on the queue*: it comes back after the visibility
timeout, and the queue's redrive policy (maxReceiveCount → dead-letter queue) takes it out of the way.
Nothing a message holds stops the loop.

Receiving is long polling (`WaitTimeSeconds`), batches of up to 10 messages (SQS's maximum).
`once=True` drains: it stops at the first receive that brings nothing new (an empty receive, or only
messages this run already refused — they reappear when a short visibility timeout expires).
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from django.db import transaction

from .s3 import S3NotificationError, parse_sqs_body
from .services import EventError, s3_records_record, sns_subscription_record

logger = logging.getLogger("adce.events.sqs")

BATCH = 10  # SQS's maximum per ReceiveMessage
WAIT_MAX = 20  # SQS's maximum long-polling wait
_REGION = re.compile(r"^https://sqs[.-]([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/")


class QueueError(Exception):
    """The queue cannot be read (does not exist, access denied, endpoint down)."""


@dataclass
class ConsumeStats:
    receives: int = 0
    messages: int = 0          # messages received (a redelivery counts again)
    recorded: int = 0          # events newly recorded
    duplicates: int = 0        # events already recorded (redelivery, the same change sent twice)
    acknowledged: int = 0      # messages that record nothing: s3:TestEvent
    subscriptions: int = 0     # SNS (Un)SubscriptionConfirmation messages kept for the operator
    deleted: int = 0
    malformed: int = 0         # left on the queue for its redrive policy
    failed: int = 0            # could not be recorded (database error…): left on the queue, retried
    delete_failures: int = 0   # recorded but not deleted: redelivered later, recorded once
    receive_errors: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def left_on_queue(self) -> int:
        return self.malformed + self.failed


def sqs_client(queue_url: str):
    """An SQS client for the queue: endpoint and credentials from boto3's own resolution
    (AWS_ENDPOINT_URL works for moto / LocalStack); the region from the queue URL when it is AWS's."""
    import boto3
    from botocore.config import Config

    match = _REGION.match(queue_url)
    session = boto3.session.Session()
    region = match.group(1) if match else (session.region_name or "us-east-1")
    # The long-polling wait must fit in the read timeout.
    config = Config(read_timeout=WAIT_MAX + 15, connect_timeout=10, retries={"mode": "standard", "max_attempts": 5},
                    user_agent_extra="adce-sqs")
    return session.client("sqs", region_name=region, config=config)


def _error_text(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    err = response.get("Error") or {}
    code, message = err.get("Code"), err.get("Message")
    if code:
        return f"{code}: {message}" if message else str(code)
    return f"{type(exc).__name__}: {exc}"


def queue_check(queue_url: str, client) -> None:
    """QueueError unless the queue exists and can be read (a bad URL fails before the loop starts)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    except (ClientError, BotoCoreError, ValueError) as exc:
        raise QueueError(f"{queue_url}: cannot read the queue ({_error_text(exc)})") from None


def sqs_message_record(body) -> tuple[str, int, int]:
    """Record what one message body holds. Returns (kind, new events, duplicates); kind is "records",
    "test" or "subscription". Raises S3NotificationError / EventError when the body is malformed."""
    parsed = parse_sqs_body(body)
    if parsed.kind == "test":
        return "test", 0, 0
    with transaction.atomic():
        if parsed.kind == "subscription":
            sns_subscription_record(parsed.subscription)
            return "subscription", 0, 0
        events, created = s3_records_record(parsed.records)
    return "records", created, len(events) - created


def _handle(message: dict, stats: ConsumeStats) -> bool:
    """True when the message may be deleted (its events are recorded)."""
    message_id = message.get("MessageId", "?")
    try:
        kind, created, dupes = sqs_message_record(message.get("Body"))
    except (S3NotificationError, EventError) as exc:
        stats.malformed += 1
        logger.warning("SQS message %s is malformed, left on the queue for its redrive policy: %s", message_id, exc)
        return False
    except Exception as exc:  # database down, …: never crash the loop; the message comes back
        stats.failed += 1
        logger.error("SQS message %s could not be recorded (left on the queue): %s: %s", message_id,
                     type(exc).__name__, exc)
        return False
    if kind == "test":
        stats.acknowledged += 1
    elif kind == "subscription":
        stats.subscriptions += 1
    stats.recorded += created
    stats.duplicates += dupes
    return True


def _delete(client, queue_url: str, messages: list[dict], stats: ConsumeStats) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    if not messages:
        return
    entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
    try:
        response = client.delete_message_batch(QueueUrl=queue_url, Entries=entries)
    except (ClientError, BotoCoreError) as exc:
        stats.delete_failures += len(entries)
        logger.error("SQS delete of %d recorded messages failed (they will be redelivered and recorded once): %s",
                     len(entries), _error_text(exc))
        return
    failed = response.get("Failed") or []
    stats.deleted += len(response.get("Successful") or [])
    stats.delete_failures += len(failed)
    for f in failed:
        logger.error("SQS delete failed for entry %s: %s", f.get("Id"), f.get("Message") or f.get("Code"))


def s3_queue_consume(queue_url: str, *, once: bool = False, wait_seconds: int = WAIT_MAX, client=None,
                     stop: Callable[[], bool] = lambda: False, max_receives: int | None = None,
                     progress: Callable[[str], None] | None = None) -> ConsumeStats:
    """Receive, record and delete S3 event messages from `queue_url` (see the module docstring).

    Runs until `stop()` is true (or, with `once`, until nothing new arrives; or after `max_receives`).
    Raises QueueError when the queue cannot be read at the start, or (with `once`) when a receive
    fails; the long-running loop logs receive failures and retries with a growing pause."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = client or sqs_client(queue_url)
    queue_check(queue_url, client)
    stats = ConsumeStats()
    refused: set[str] = set()   # message ids this run left on the queue
    started = time.monotonic()
    pause = 1.0
    while not stop() and (max_receives is None or stats.receives < max_receives):
        try:
            response = client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=BATCH,
                                              WaitTimeSeconds=wait_seconds, AttributeNames=["ApproximateReceiveCount"])
        except (ClientError, BotoCoreError) as exc:
            stats.receive_errors += 1
            if once:
                raise QueueError(f"{queue_url}: receive failed ({_error_text(exc)})") from None
            logger.error("SQS receive failed, retrying in %.0fs: %s", pause, _error_text(exc))
            time.sleep(pause)  # a real outage: back off (up to a minute) instead of spinning
            pause = min(pause * 2, 60.0)
            continue
        pause = 1.0
        stats.receives += 1
        messages = response.get("Messages") or []
        # Draining (`once`), a message this run refused and sees again means nothing new is left; the
        # long-running loop handles it again (a database outage may have passed).
        fresh = [m for m in messages if m.get("MessageId") not in refused] if once else messages
        if not fresh:
            if once:
                break
            continue
        stats.messages += len(fresh)
        done = []
        for message in fresh:
            if _handle(message, stats):
                done.append(message)
            elif once:
                refused.add(message.get("MessageId"))
        _delete(client, queue_url, done, stats)
        if progress is not None:
            progress(f"consume_s3_events: {stats.messages} messages, {stats.recorded} events recorded, "
                     f"{stats.malformed} malformed\n")
    stats.seconds = round(time.monotonic() - started, 3)
    return stats
