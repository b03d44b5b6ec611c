"""Admin review surface: the queue, the review page, and server-side permission enforcement."""
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from approvals.choices import ApprovalStatus
from approvals.models import ApprovalRequest
from metrics.models import MetricDefinition

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:approvals_approvalrequest_changelist"


def review_url(req):
    return reverse("admin:approvals_approvalrequest_review", args=[req.pk])


def client_for(user):
    c = Client()
    c.force_login(user)
    return c


def snapshot(req):
    req = ApprovalRequest.objects.get(pk=req.pk)
    return (req.status, req.reviewer, req.reviewed_at, req.applied,
            MetricDefinition.objects.get(pk=req.metric_id).baseline_value)


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root", "root@example.com", "pw")


@pytest.fixture
def pending(make_metric, open_request):
    return open_request(make_metric(name="total_objects", baseline=1000), 1300, drift_pct=30.0)


# ------------------------------------------------------------------ the queue

def test_changelist_shows_pending_by_severity_then_age_and_history_under_a_filter(make_metric, open_request, superuser):
    high_old = open_request(make_metric(baseline=10), 12, severity="high", drift_pct=20.0)
    crit = open_request(make_metric(baseline=10), 20, severity="critical", drift_pct=100.0)
    medium = open_request(make_metric(baseline=10), 11, severity="medium", drift_pct=10.0)
    high_new = open_request(make_metric(baseline=10), 12, severity="high", drift_pct=20.0)
    done = open_request(make_metric(baseline=10), 30, severity="critical", drift_pct=200.0)
    ApprovalRequest.objects.filter(pk=done.pk).update(status=ApprovalStatus.APPROVED, reviewer="bob")

    c = client_for(superuser)
    resp = c.get(reverse(CHANGELIST))
    assert resp.status_code == 200
    shown = [o.pk for o in resp.context["cl"].result_list]
    assert shown == [crit.pk, high_old.pk, high_new.pk, medium.pk]

    history = c.get(reverse(CHANGELIST), {"status": "all"})
    assert done.pk in [o.pk for o in history.context["cl"].result_list]
    approved = c.get(reverse(CHANGELIST), {"status": "approved"})
    assert [o.pk for o in approved.context["cl"].result_list] == [done.pk]
    by_severity = c.get(reverse(CHANGELIST), {"status": "all", "severity": "high"})
    assert {o.pk for o in by_severity.context["cl"].result_list} == {high_old.pk, high_new.pk}
    assert c.get(reverse(CHANGELIST), {"_facets": "True", "status": "all"}).status_code == 200


def test_no_add_no_edit_no_delete(pending, superuser):
    c = client_for(superuser)
    assert c.get(reverse("admin:approvals_approvalrequest_add")).status_code == 403
    assert c.post(reverse("admin:approvals_approvalrequest_delete", args=[pending.pk]), {"post": "yes"}).status_code == 403
    # The change URL is the review page; a forged edit POST is not a decision and changes nothing.
    before = snapshot(pending)
    c.post(reverse("admin:approvals_approvalrequest_change", args=[pending.pk]),
           {"status": "approved", "proposed_value": "1", "applied": "on"})
    assert snapshot(pending) == before


# ------------------------------------------------------------------ the review page

def test_review_page_shows_the_proposed_change_chart_and_measurements(pending, make_measurement, reviewer_user):
    # A later measurement still past the threshold (one within it would make the request stale).
    make_measurement(pending.metric, 1200, severity="high", status="major", drift_pct=20.0)
    resp = client_for(reviewer_user).get(review_url(pending))
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "s3_storage.total_objects" in html and "1300" in html and "1000" in html and "30.00" in html
    assert "<svg" in html and "<polyline" in html
    assert 'id="recent-measurements"' in html and "1200" in html
    assert 'id="approval-stale"' not in html
    assert 'name="decision" value="approve"' in html and "csrfmiddlewaretoken" in html
    # the change URL serves the same page
    assert client_for(reviewer_user).get(
        reverse("admin:approvals_approvalrequest_change", args=[pending.pk])).status_code == 200


def test_review_page_of_a_stale_request_says_so_and_offers_no_approval(pending, make_measurement, reviewer_user):
    make_measurement(pending.metric, 1020, severity="none", status="ok", drift_pct=2.0)  # back within 15 %
    c = client_for(reviewer_user)
    html = c.get(review_url(pending)).content.decode()
    assert 'id="approval-stale"' in html and "back within the 15 % approval threshold: measured 1020" in html
    assert 'value="approve"' not in html and 'value="reject"' not in html and 'value="close"' in html

    # A forged approve is refused: recorded superseded, nothing applied, and the page says why.
    resp = c.post(review_url(pending), {"decision": "approve"}, follow=True)
    assert "is superseded" in resp.content.decode() and "the baseline is unchanged" in resp.content.decode()
    req = ApprovalRequest.objects.get(pk=pending.pk)
    assert (req.status, req.applied) == ("superseded", False)
    assert MetricDefinition.objects.get(pk=pending.metric_id).baseline_value == 1000
    html = c.get(review_url(pending)).content.decode()
    assert 'id="approval-stale"' in html and "Superseded" in html and 'name="decision"' not in html


def test_close_a_stale_request_as_superseded(pending, make_measurement, reviewer_user):
    make_measurement(pending.metric, 1020, severity="none", status="ok", drift_pct=2.0)
    resp = client_for(reviewer_user).post(review_url(pending), {"decision": "close"})
    assert resp.status_code == 302
    req = ApprovalRequest.objects.get(pk=pending.pk)
    assert req.status == "superseded" and req.notes.startswith("superseded: s3_storage.total_objects is back within")
    assert MetricDefinition.objects.get(pk=pending.metric_id).baseline_value == 1000


def test_close_is_refused_for_a_request_that_is_not_stale(pending, reviewer_user):
    before = snapshot(pending)
    resp = client_for(reviewer_user).post(review_url(pending), {"decision": "close"}, follow=True)
    assert "is not stale" in resp.content.decode()
    assert snapshot(pending) == before


def test_review_page_is_read_only_without_the_permission(pending, staff_without_perm):
    resp = client_for(staff_without_perm).get(review_url(pending))
    assert resp.status_code == 200
    assert 'name="decision"' not in resp.content.decode()


def test_approve_via_the_review_page(pending, reviewer_user):
    resp = client_for(reviewer_user).post(review_url(pending), {"decision": "approve", "notes": "expected"})
    assert resp.status_code == 302
    req = ApprovalRequest.objects.get(pk=pending.pk)
    assert (req.status, req.reviewer, req.reviewer_user_id, req.notes, req.applied) == (
        "approved", "rita", reviewer_user.pk, "expected", True)
    assert MetricDefinition.objects.get(pk=pending.metric_id).baseline_value == 1300


def test_reject_via_the_review_page(pending, reviewer_user):
    client_for(reviewer_user).post(review_url(pending), {"decision": "reject", "notes": "no"})
    req = ApprovalRequest.objects.get(pk=pending.pk)
    assert (req.status, req.reviewer, req.applied) == ("rejected", "rita", False)
    assert MetricDefinition.objects.get(pk=pending.metric_id).baseline_value == 1000


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_post_without_the_permission_is_403_and_changes_nothing(pending, staff_without_perm, decision):
    before = snapshot(pending)
    resp = client_for(staff_without_perm).post(review_url(pending), {"decision": decision})
    assert resp.status_code == 403
    assert snapshot(pending) == before


def test_post_by_the_raiser_is_403_and_changes_nothing(make_metric, open_request, reviewer_user):
    req = open_request(make_metric(baseline=1000), 1300, raised_by="rita")
    before = snapshot(req)
    c = client_for(reviewer_user)
    assert 'name="decision"' not in c.get(review_url(req)).content.decode()
    assert c.post(review_url(req), {"decision": "approve"}).status_code == 403
    assert snapshot(req) == before


def test_post_on_a_decided_request_changes_nothing(pending, reviewer_user):
    c = client_for(reviewer_user)
    c.post(review_url(pending), {"decision": "reject"})
    before = snapshot(pending)
    resp = c.post(review_url(pending), {"decision": "approve"}, follow=True)
    assert "already rejected" in resp.content.decode()
    assert snapshot(pending) == before


def test_post_needs_a_csrf_token(pending, reviewer_user):
    c = Client(enforce_csrf_checks=True)
    c.force_login(reviewer_user)
    before = snapshot(pending)
    assert c.post(review_url(pending), {"decision": "approve"}).status_code == 403
    assert snapshot(pending) == before


def test_anonymous_is_sent_to_login(pending):
    before = snapshot(pending)
    resp = Client().post(review_url(pending), {"decision": "approve"})
    assert resp.status_code == 302 and "/login/" in resp["Location"]
    assert snapshot(pending) == before


# ------------------------------------------------------------------ bulk actions

def _action(client, action, *reqs):
    return client.post(reverse(CHANGELIST), {"action": action, "_selected_action": [r.pk for r in reqs], "index": 0})


def test_approve_selected_action(make_metric, open_request, reviewer_user):
    a = open_request(make_metric(baseline=10), 20)
    b = open_request(make_metric(baseline=1.5, parse_type="float"), 2.25)
    resp = _action(client_for(reviewer_user), "approve_selected", a, b)
    assert resp.status_code == 302
    assert set(ApprovalRequest.objects.filter(pk__in=[a.pk, b.pk]).values_list("status", flat=True)) == {"approved"}
    assert MetricDefinition.objects.get(pk=b.metric_id).baseline_value == 2.25


def test_reject_selected_skips_requests_the_user_raised(make_metric, open_request, reviewer_user):
    mine = open_request(make_metric(baseline=10), 20, raised_by="rita")
    other = open_request(make_metric(baseline=10), 20)
    resp = _action(client_for(reviewer_user), "reject_selected", mine, other)
    assert resp.status_code == 302
    assert ApprovalRequest.objects.get(pk=mine.pk).status == "pending"
    assert ApprovalRequest.objects.get(pk=other.pk).status == "rejected"


@pytest.mark.parametrize("action", ["approve_selected", "reject_selected"])
def test_actions_without_the_permission_are_403_and_change_nothing(pending, staff_without_perm, action):
    c = client_for(staff_without_perm)
    page = c.get(reverse(CHANGELIST))
    assert page.status_code == 200 and action not in page.content.decode()  # not offered
    before = snapshot(pending)
    assert _action(c, action, pending).status_code == 403  # and refused when forged
    assert snapshot(pending) == before
