"""Issue 6 item 7: a staff user without approvals.review_approvalrequest cannot approve — not
through the bulk action, not through the review URL — and nothing changes."""
import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from approvals.choices import ApprovalStatus
from approvals.models import ApprovalRequest
from metrics.models import MetricDefinition

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:approvals_approvalrequest_changelist"


def state(req):
    req = ApprovalRequest.objects.get(pk=req.pk)
    metric = MetricDefinition.objects.get(pk=req.metric_id)
    return (req.status, req.reviewer, req.reviewed_at, req.applied, metric.baseline_value,
            metric.baseline_set_by)


@pytest.fixture
def staff(db):
    """Staff with every approvals and metrics permission except the review one."""
    user = User.objects.create_user("mallory", password="pw", is_staff=True)
    perms = Permission.objects.filter(content_type__app_label__in=["approvals", "metrics"]).exclude(
        codename="review_approvalrequest")
    user.user_permissions.add(*perms)
    client = Client()
    client.force_login(User.objects.get(pk=user.pk))
    return client


@pytest.fixture
def pending(make_metric, open_request):
    return open_request(make_metric(name="total_objects", baseline=1000), 1300, drift_pct=30.0)


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_review_url_post_is_403_and_changes_nothing(staff, pending, decision):
    before = state(pending)
    url = reverse("admin:approvals_approvalrequest_review", args=[pending.pk])
    assert staff.post(url, {"decision": decision, "notes": "let me"}).status_code == 403
    # The change URL is the same review page.
    change = reverse("admin:approvals_approvalrequest_change", args=[pending.pk])
    assert staff.post(change, {"decision": decision}).status_code == 403
    assert state(pending) == before and before[0] == ApprovalStatus.PENDING


@pytest.mark.parametrize("action", ["approve_selected", "reject_selected"])
def test_bulk_action_is_403_and_changes_nothing(staff, pending, action):
    before = state(pending)
    r = staff.post(reverse(CHANGELIST), {"action": action, "_selected_action": [pending.pk], "index": 0})
    assert r.status_code == 403
    assert state(pending) == before


def test_the_actions_are_not_even_offered(staff, pending):
    r = staff.get(reverse(CHANGELIST))
    assert r.status_code == 200
    assert b"approve_selected" not in r.content and b"reject_selected" not in r.content


def test_baseline_cannot_be_edited_around_the_approval(staff, pending):
    """The metric's change form does not accept a baseline (read-only field)."""
    metric = pending.metric
    url = reverse("admin:metrics_metricdefinition_change", args=[metric.pk])
    staff.post(url, {"baseline_value": "1300", "volatility": metric.volatility, "description": "",
                     "ttl_hours": "", "enabled": "on", "critical": "on"})
    assert MetricDefinition.objects.get(pk=metric.pk).baseline_value == 1000


def test_non_staff_with_the_permission_is_sent_to_login(db, pending):
    user = User.objects.create_user("eve", password="pw", is_staff=False)
    user.user_permissions.add(Permission.objects.get(codename="review_approvalrequest"))
    client = Client()
    client.force_login(user)
    before = state(pending)
    r = client.post(reverse("admin:approvals_approvalrequest_review", args=[pending.pk]), {"decision": "approve"})
    assert r.status_code == 302 and "/login/" in r["Location"]
    assert state(pending) == before
