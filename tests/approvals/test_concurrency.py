"""Two reviewers deciding at the same moment: exactly one wins (PostgreSQL, real row locks)."""
import threading

import pytest
from django.db import close_old_connections, connection

from approvals.choices import ApprovalStatus
from approvals.models import ApprovalRequest
from approvals.services import (ApprovalAlreadyDecided, approval_request_accept, approval_request_open_or_update,
                                approval_request_reject)
from metrics.models import MetricDefinition

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(*calls):
    """Run the callables in threads released together by a barrier; return (results, errors)."""
    barrier = threading.Barrier(len(calls))
    results, errors = [], []
    lock = threading.Lock()

    def worker(fn):
        try:
            barrier.wait()
            out = fn()
            with lock:
                results.append(out)
        except Exception as exc:  # collected and asserted on by the test
            with lock:
                errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=worker, args=(fn,)) for fn in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    close_old_connections()
    return results, errors


@pytest.mark.parametrize("round_", range(5))
def test_accept_and_reject_at_the_same_moment_exactly_one_wins(make_metric, open_request, round_):
    metric = make_metric(baseline=1000)
    req = open_request(metric, 1300, drift_pct=30.0)
    results, errors = race(lambda: approval_request_accept(req.pk, reviewer="alice"),
                           lambda: approval_request_reject(req.pk, reviewer="bob"))
    assert len(results) == 1 and len(errors) == 1, errors
    assert isinstance(errors[0], ApprovalAlreadyDecided)
    winner = results[0]
    final = ApprovalRequest.objects.get(pk=req.pk)
    assert (final.status, final.reviewer) == (winner.status, winner.reviewer)
    baseline = MetricDefinition.objects.get(pk=metric.pk).baseline_value
    assert baseline == (1300 if final.status == ApprovalStatus.APPROVED else 1000)


def test_two_accepts_at_the_same_moment_apply_once(make_metric, open_request):
    metric = make_metric(baseline=1000)
    req = open_request(metric, 1300, drift_pct=30.0)
    results, errors = race(*(lambda name=name: approval_request_accept(req.pk, reviewer=name)
                             for name in ("alice", "bob", "carol", "dave")))
    assert len(results) == 1 and len(errors) == 3
    assert all(isinstance(e, ApprovalAlreadyDecided) for e in errors)
    final = ApprovalRequest.objects.get(pk=req.pk)
    assert final.status == ApprovalStatus.APPROVED and final.reviewer == results[0].reviewer
    assert MetricDefinition.objects.get(pk=metric.pk).baseline_set_by == results[0].reviewer


def test_concurrent_openers_leave_one_pending_request(make_metric):
    metric = make_metric(baseline=1000)

    def opener(value):
        return lambda: approval_request_open_or_update(
            metric=metric, proposed_value=value, baseline_value=1000, drift_pct=(value - 1000) / 10,
            severity="critical")

    results, errors = race(*(opener(v) for v in (1300, 1400, 1500, 1600)))
    assert errors == []
    assert len({r.pk for r in results}) == 1
    pending = ApprovalRequest.objects.get(metric=metric, status=ApprovalStatus.PENDING)
    assert pending.proposed_value in (1300, 1400, 1500, 1600)
    assert ApprovalRequest.objects.filter(metric=metric).count() == 1
