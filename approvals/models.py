"""Requests for a human decision before a critical metric's baseline moves (SPEC §4)."""
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .choices import ApprovalStatus

SYSTEM_RAISER = "system"


class ApprovalRequest(models.Model):
    metric = models.ForeignKey("metrics.MetricDefinition", on_delete=models.CASCADE, related_name="approval_requests")
    baseline_value = models.JSONField(null=True, blank=True, help_text="Baseline when the request was (last) raised.")
    proposed_value = models.JSONField(null=True, blank=True)
    drift_pct = models.FloatField(null=True, blank=True)
    severity = models.CharField(max_length=10)
    measurement = models.ForeignKey("metrics.Measurement", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    run = models.ForeignKey("metrics.VerificationRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="approval_requests")
    raised_by = models.CharField(max_length=150, default=SYSTEM_RAISER)
    raised_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    status = models.CharField(max_length=12, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING)
    reviewer = models.CharField(max_length=150, blank=True)
    reviewer_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)
    applied = models.BooleanField(default=False)

    class Meta:
        ordering = ["-raised_at"]
        permissions = [("review_approvalrequest", "Can review approval requests")]
        constraints = [
            # At most one pending request per metric; a later measurement updates it.
            models.UniqueConstraint(fields=["metric"], condition=Q(status=ApprovalStatus.PENDING), name="approval_one_pending_per_metric"),
        ]
        indexes = [models.Index(fields=["status", "-raised_at"], name="approval_status_time")]

    def __str__(self):
        return f"Approval #{self.pk} {self.metric} → {self.proposed_value!r} ({self.status})"
