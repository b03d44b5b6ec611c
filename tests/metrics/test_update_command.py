"""`update`: fresh measurements applied as baselines; critical ones through approval."""
import io
import json

import pytest
from django.core.management import CommandError, call_command

from approvals.models import ApprovalRequest
from metrics.models import MetricDefinition, MetricsSettings, VerificationRun
from metrics.services import baseline_apply

pytestmark = pytest.mark.django_db


def metric(category, name, value, *, baseline=None, critical=False):
    m = MetricDefinition.objects.create(category=category, name=name, kind="sql_scalar", parse_type="integer",
                                        params={"query": f"SELECT {value}", "database": "default"}, critical=critical)
    if baseline is not None:
        baseline_apply(m, baseline, by="test")
    return m


def update(*args):
    out = io.StringIO()
    try:
        call_command("update", *args, stdout=out, stderr=io.StringIO())
        return 0, out.getvalue()
    except SystemExit as exc:
        return exc.code, out.getvalue()


def test_applies_everything_measured_fresh():
    s = MetricsSettings.load()
    s.default_ttl_hours = 24
    s.save()
    a = metric("a", "x", 5, baseline=1)
    b = metric("a", "y", 7)
    code, out = update()
    a.refresh_from_db()
    b.refresh_from_db()
    assert code == 0 and a.baseline_value == 5 and b.baseline_value == 7
    assert VerificationRun.objects.get().update is True
    # cached values are ignored by update
    a.params = {"query": "SELECT 6", "database": "default"}
    a.save()
    update()
    a.refresh_from_db()
    assert a.baseline_value == 6


def test_critical_goes_through_approval():
    c = metric("a", "c", 300, baseline=100, critical=True)
    n = metric("a", "n", 300, baseline=100)
    code, out = update("--json")
    doc = json.loads(out)
    c.refresh_from_db()
    n.refresh_from_db()
    assert code == 1 and c.baseline_value == 100 and n.baseline_value == 300
    req = ApprovalRequest.objects.get(metric=c, status="pending")
    assert {m["metric"]: m["approval_id"] for m in doc["metrics"]} == {"a.c": req.pk, "a.n": None}
    code, _ = update("--metric", "a.c")
    assert code == 1 and ApprovalRequest.objects.filter(metric=c).count() == 1


def test_category_filter():
    a = metric("a", "x", 2, baseline=1)
    b = metric("b", "x", 2, baseline=1)
    update("--category", "b")
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.baseline_value == 1 and b.baseline_value == 2


@pytest.mark.parametrize("args", [["--category", "zz"], ["--metric", "a.zz"]])
def test_bad_input_exits_2(args):
    m = metric("a", "x", 2, baseline=1)
    with pytest.raises(CommandError) as exc:
        call_command("update", *args)
    assert exc.value.returncode == 2
    m.refresh_from_db()
    assert m.baseline_value == 1 and not VerificationRun.objects.exists()
