"""Enumerations of the events app."""
from django.db import models


class EventStatus(models.TextChoices):
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    # The event's own bookkeeping ran (inventory update, task completion) but its hooks did not
    # fire because the same (type, source) fired less than cooldown_seconds ago.
    SKIPPED_COOLDOWN = "skipped_cooldown", "skipped (cooldown)"
    FAILED = "failed"
    # Recorded for the audit trail only, never processed (e.g. an SNS SubscriptionConfirmation).
    IGNORED = "ignored"


FINISHED_STATUSES = (EventStatus.DONE, EventStatus.SKIPPED_COOLDOWN, EventStatus.FAILED, EventStatus.IGNORED)


class EventType:
    """Event types with built-in behaviour besides hooks (any other type may be emitted)."""

    GIT_POST_COMMIT = "git_post_commit"
    S3_EVENT = "s3_event"                # one S3 notification record (ObjectCreated / ObjectRemoved)
    SCRAPER_COMPLETE = "scraper_complete"
    SNS_SUBSCRIPTION = "sns_subscription_confirmation"


BUILTIN_TYPES = (EventType.S3_EVENT, EventType.SCRAPER_COMPLETE)
