"""The review queue order and the chart series."""
import pytest

from approvals.models import ApprovalRequest
from approvals.selectors import approval_requests_pending, metric_history_points

pytestmark = pytest.mark.django_db


def test_queue_is_critical_first_then_oldest_and_only_pending(make_metric, open_request):
    low = open_request(make_metric(), 2000, severity="low")
    crit_old = open_request(make_metric(), 2000, severity="critical")
    medium = open_request(make_metric(), 2000, severity="medium")
    crit_new = open_request(make_metric(), 2000, severity="critical")
    odd = open_request(make_metric(), 2000, severity="unheard-of")
    closed = open_request(make_metric(), 2000, severity="critical")
    ApprovalRequest.objects.filter(pk=closed.pk).update(status="superseded")
    assert [r.pk for r in approval_requests_pending()] == [crit_old.pk, crit_new.pk, medium.pk, low.pk, odd.pk]


def test_history_points_are_numeric_successes_oldest_first_with_error_times(make_metric, make_measurement):
    metric = make_metric()
    a = make_measurement(metric, 10, status="ok", severity="none")
    make_measurement(metric, None, status="error", severity="high")
    make_measurement(metric, "n/a", status="changed", severity="medium")
    c = make_measurement(metric, 12.5, status="minor", severity="low")
    points, errors = metric_history_points(metric)
    assert [v for _, v in points] == [10, 12.5]
    assert points[0][0] == a.measured_at and points[-1][0] == c.measured_at
    assert len(errors) == 1
