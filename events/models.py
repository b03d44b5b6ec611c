"""Events received (git hooks, S3 notifications, scrapers, schedules) and their cooldowns.

Every event is a row before any work happens, so an event is never lost between the HTTP answer
and the worker, and its outcome (status, error, the runs it caused) stays visible."""
from django.db import models
from django.utils import timezone

from .choices import EventStatus


class Event(models.Model):
    type = models.CharField(max_length=100, db_index=True)
    source = models.CharField(max_length=150, blank=True, default="")
    payload = models.JSONField(default=dict, blank=True)
    # Deliveries with the same key are one event (NULLs never collide). S3 records use
    # "s3:<bucket>:<sequencer>:<key>"; keys longer than the column are hashed.
    dedupe_key = models.CharField(max_length=255, null=True, blank=True, unique=True)
    received_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=20, choices=EventStatus.choices, default=EventStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # What processing did: hooks matched, metric patterns, inventory changes, tasks completed…
    result = models.JSONField(default=dict, blank=True)
    verification_run = models.ForeignKey(
        "metrics.VerificationRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    reconcile_run = models.ForeignKey(
        "reconciliation.ReconcileRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["status", "received_at"], name="event_status_received"),
            models.Index(fields=["type", "source", "-received_at"], name="event_type_source"),
        ]

    def __str__(self):
        return f"Event #{self.pk} {self.type} from {self.source or '-'} ({self.status})"


class Cooldown(models.Model):
    """When hooks last fired for a (type, source): shared by every process through the database.

    Firing takes the cooldown with one conditional UPDATE (`last_fired_at` older than the window),
    so two workers racing on the same (type, source) cannot both fire."""

    event_type = models.CharField(max_length=100)
    source = models.CharField(max_length=150, blank=True, default="")
    last_fired_at = models.DateTimeField(null=True, blank=True)
    last_event = models.ForeignKey(Event, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["event_type", "source"]
        constraints = [models.UniqueConstraint(fields=["event_type", "source"], name="cooldown_unique_type_source")]

    def __str__(self):
        return f"cooldown {self.event_type}/{self.source or '-'}"


class SignatureSeen(models.Model):
    """An accepted signed request (X-ADCE-Signature) on an event endpoint, remembered so that
    the same signed request sent again (a replay) is refused with 409 (docs/events.md).

    `digest` is sha256(path + signature): the signature itself is an HMAC of the body, so an
    identical body sent to the same endpoint has the same digest. Rows older than the history
    retention are deleted with the events (`events_history_cleanup`)."""

    digest = models.CharField(max_length=64, primary_key=True)
    path = models.CharField(max_length=200)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self):
        return f"signature {self.digest[:12]}… on {self.path} at {self.seen_at:%Y-%m-%d %H:%M:%S}"


class S3KeySequence(models.Model):
    """The newest S3 change applied to one object key (SPEC §12): its `sequencer`, so that a late,
    older notification of the same key never undoes a newer one, even when the newer one removed the
    object (this row outlives the inventory row).

    `sequencer` is S3's hex sequencer upper-cased and right-padded with zeros to 128 digits, as AWS
    documents ("right pad the shorter value with zeros, then compare lexicographically"), so that the
    database compares two of them correctly as plain strings. `digest` = sha256(bucket + "\\n" + key)
    (keys may be 1 KiB, too long for a unique index everywhere)."""

    digest = models.CharField(max_length=64, primary_key=True)
    bucket = models.CharField(max_length=255)
    key = models.TextField()
    sequencer = models.CharField(max_length=128)
    event = models.ForeignKey(Event, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    applied_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"s3://{self.bucket}/{self.key} @ {self.sequencer.rstrip('0') or '0'}"
