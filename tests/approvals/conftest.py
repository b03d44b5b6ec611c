"""Fixtures of the approval tests: metric rows are created directly (no YAML import needed)."""
import itertools

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from metrics.models import MetricDefinition, Measurement, VerificationRun

_seq = itertools.count(1)


@pytest.fixture
def make_metric(db):
    def make(*, name=None, category="s3_storage", parse_type="integer", baseline=1000, precision=2,
             critical=True, enabled=True, kind="s3_object_count"):
        return MetricDefinition.objects.create(
            category=category, name=name or f"metric_{next(_seq)}", kind=kind, parse_type=parse_type,
            precision=precision, critical=critical, enabled=enabled, params={"location": "file:///tmp/x/"},
            baseline_value=baseline, baseline_set_by="seed" if baseline is not None else "",
            baseline_set_at=None if baseline is None else timezone.now(),
        )
    return make


@pytest.fixture
def make_measurement(db):
    def make(metric, value, *, run=None, drift_pct=None, severity="critical", status="critical"):
        return Measurement.objects.create(
            metric=metric, run=run, value=value, baseline_value=metric.baseline_value,
            status=status, severity=severity, drift_pct=drift_pct)
    return make


@pytest.fixture
def make_run(db):
    def make(trigger="manual"):
        return VerificationRun.objects.create(trigger=trigger, update=True)
    return make


@pytest.fixture
def open_request(make_measurement, make_run):
    """Open (or update) the pending request of `metric` the way verify does."""
    from approvals.services import approval_request_open_or_update

    def make(metric, proposed, *, drift_pct=None, severity="critical", raised_by="system"):
        run = make_run()
        m = make_measurement(metric, proposed, run=run, drift_pct=drift_pct, severity=severity)
        return approval_request_open_or_update(
            metric=metric, proposed_value=proposed, baseline_value=metric.baseline_value,
            drift_pct=drift_pct, severity=severity, measurement=m, run=run, raised_by=raised_by)
    return make


@pytest.fixture
def reviewer_user(db):
    user = User.objects.create_user("rita", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="review_approvalrequest"))
    return User.objects.get(pk=user.pk)  # fresh instance: no stale permission cache


@pytest.fixture
def staff_without_perm(db):
    user = User.objects.create_user("sam", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="approvals", codename__in=["view_approvalrequest", "change_approvalrequest"]))
    return User.objects.get(pk=user.pk)
