"""`manage.py approve` — CLI parity with the admin, exit codes and --json (SPEC §7)."""
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from approvals.choices import ApprovalStatus
from approvals.models import ApprovalRequest
from metrics.models import MetricDefinition

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("approve", *args, stdout=out, stderr=err)
    return out.getvalue()


def state():
    """Everything a refused command must leave untouched."""
    return (list(ApprovalRequest.objects.order_by("pk").values_list("pk", "status", "reviewer", "reviewed_at", "notes", "applied")),
            list(MetricDefinition.objects.order_by("pk").values_list("pk", "baseline_value", "baseline_set_by")))


@pytest.fixture
def queue(make_metric, open_request):
    """Three pending requests of mixed severity/age and one decided request."""
    old_high = open_request(make_metric(name="old_high", baseline=100), 120, drift_pct=20.0, severity="high")
    crit = open_request(make_metric(name="crit", baseline=1000), 2000, drift_pct=100.0, severity="critical")
    new_high = open_request(make_metric(name="new_high", baseline=10), 12, drift_pct=20.0, severity="high")
    decided = open_request(make_metric(name="decided", baseline=5), 9, drift_pct=80.0, severity="critical")
    ApprovalRequest.objects.filter(pk=decided.pk).update(status=ApprovalStatus.REJECTED, reviewer="bob")
    return {"old_high": old_high, "crit": crit, "new_high": new_high, "decided": decided}


def test_list_json_is_one_document_of_pending_requests_critical_first_then_oldest(queue):
    doc = json.loads(run("list", "--json"))
    assert doc["count"] == 3
    assert [r["id"] for r in doc["requests"]] == [queue["crit"].pk, queue["old_high"].pk, queue["new_high"].pk]
    first = doc["requests"][0]
    assert first["metric"] == "s3_storage.crit" and first["status"] == "pending" and first["severity"] == "critical"
    assert first["baseline"] == 1000 and first["proposed"] == 2000 and first["drift_pct"] == 100.0
    assert first["raised_by"] == "system" and first["run_id"] == queue["crit"].run_id


def test_list_all_includes_the_decided_history(queue):
    doc = json.loads(run("list", "--all", "--json"))
    assert doc["count"] == 4
    assert {r["status"] for r in doc["requests"]} == {"pending", "rejected"}


def test_list_text(queue):
    out = run("list")
    lines = out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith(f"#{queue['crit'].pk}") and "critical" in lines[0]
    assert "1000 -> 2000" in lines[0]


def test_list_empty(db):
    assert "no pending approval requests" in run("list")
    assert json.loads(run("list", "--json")) == {"status": "pending", "count": 0, "requests": []}


def test_review_shows_the_request_and_recent_measurements(queue):
    req = queue["crit"]
    doc = json.loads(run("review", "--id", str(req.pk), "--json"))
    assert doc["request"]["id"] == req.pk and doc["request"]["proposed"] == 2000
    assert [m["value"] for m in doc["recent_measurements"]] == [2000]
    out = run("review", "--id", str(req.pk))
    assert "s3_storage.crit" in out and "proposed" in out and "2000" in out


def test_reject_from_the_shell(queue):
    req = queue["crit"]
    out = run("reject", "--id", str(req.pk), "--reviewer", "carol", "--notes", "bad scrape")
    assert f"#{req.pk} rejected by carol" in out
    req.refresh_from_db()
    assert (req.status, req.reviewer, req.notes, req.applied) == ("rejected", "carol", "bad scrape", False)
    assert MetricDefinition.objects.get(pk=req.metric_id).baseline_value == 1000


def test_accept_from_the_shell_applies_the_typed_value(queue):
    req = queue["crit"]
    out = run("accept", "--id", str(req.pk), "--reviewer", "carol")
    assert f"#{req.pk} approved by carol" in out
    metric = MetricDefinition.objects.get(pk=req.metric_id)
    assert metric.baseline_value == 2000 and type(metric.baseline_value) is int
    assert ApprovalRequest.objects.get(pk=req.pk).status == "approved"


@pytest.mark.parametrize("args, message", [
    (["accept", "--id", "99999", "--reviewer", "carol"], "#99999 does not exist"),
    (["reject", "--id", "99999", "--reviewer", "carol"], "#99999 does not exist"),
    (["review", "--id", "99999"], "#99999 does not exist"),
    (["accept", "--id", "abc", "--reviewer", "carol"], "--id: not an integer"),
    (["accept", "--reviewer", "carol"], "--id is required"),
    (["review"], "--id is required"),
    (["accept", "--id", "{crit}"], "--reviewer is required"),
    (["reject", "--id", "{crit}", "--reviewer", " "], "--reviewer is required"),
    (["accept", "--id", "{decided}", "--reviewer", "carol"], "is already rejected by bob"),
    (["reject", "--id", "{decided}", "--reviewer", "carol"], "is already rejected by bob"),
    (["accept", "--id", "{crit}", "--reviewer", "system"], "reserved for automatic raises"),
])
def test_refusals_exit_2_with_one_line_and_change_nothing(queue, args, message):
    args = [a.format(**{k: v.pk for k, v in queue.items()}) for a in args]
    before = state()
    with pytest.raises(CommandError) as exc:
        run(*args)
    assert exc.value.returncode == 2
    assert message in str(exc.value) and "\n" not in str(exc.value)
    assert state() == before


def test_the_raiser_cannot_decide_from_the_shell(make_metric, open_request):
    req = open_request(make_metric(baseline=1), 5, raised_by="dave")
    before = state()
    for verb in ("accept", "reject"):
        with pytest.raises(CommandError) as exc:
            run(verb, "--id", str(req.pk), "--reviewer", "dave")
        assert exc.value.returncode == 2 and "raised by dave" in str(exc.value)
    assert state() == before


def test_help_documents_the_subcommands():
    from approvals.management.commands.approve import Command

    text = Command().create_parser("manage.py", "approve").format_help()
    for word in ("list", "review", "accept", "reject"):
        assert word in text
