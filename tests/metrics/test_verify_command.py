"""`verify`: --json document, human output, exit codes 0/1/2, flags."""
import io
import json

import pytest
from django.core.management import CommandError, call_command

from approvals.models import ApprovalRequest
from metrics.models import Measurement, MetricDefinition, MetricsSettings, VerificationRun
from metrics.services import baseline_apply

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def settings_row():
    s = MetricsSettings.load()
    s.default_ttl_hours = 0
    s.save()
    return s


def metric(category, name, query, *, baseline=None, critical=False, parse_type="integer"):
    m = MetricDefinition.objects.create(category=category, name=name, kind="sql_scalar", parse_type=parse_type,
                                        params={"query": query, "database": "default"}, critical=critical)
    if baseline is not None:
        baseline_apply(m, baseline, by="test")
    return m


def verify(*args):
    """(exit code, stdout, stderr)"""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_json_document_exact_shape():
    metric("a", "ok", "SELECT 10", baseline=10)
    metric("a", "drift", "SELECT 12", baseline=10)
    metric("b", "fresh", "SELECT 3")
    metric("b", "broken", "SELECT x FROM nowhere", baseline=1)
    code, out, err = verify("--json")
    doc = json.loads(out)  # exactly one JSON document on stdout
    assert set(doc) == {"run", "summary", "metrics"}
    assert doc["run"] == VerificationRun.objects.get().pk
    assert doc["summary"]["total"] == 4 and doc["summary"]["error"] == 1 and doc["summary"]["major"] == 1
    rows = {m["metric"]: m for m in doc["metrics"]}
    assert list(rows) == ["a.drift", "a.ok", "b.broken", "b.fresh"]
    for row in rows.values():
        assert set(row) == {"metric", "status", "severity", "baseline", "actual", "drift_pct", "approval_id", "error"}
    assert rows["a.ok"] == {"metric": "a.ok", "status": "ok", "severity": "none", "baseline": 10, "actual": 10,
                            "drift_pct": 0.0, "approval_id": None, "error": None}
    assert rows["a.drift"]["status"] == "major" and rows["a.drift"]["severity"] == "critical"
    assert rows["a.drift"]["drift_pct"] == 20.0 and rows["a.drift"]["actual"] == 12
    assert rows["b.fresh"]["status"] == "new" and rows["b.fresh"]["baseline"] is None
    assert rows["b.broken"]["status"] == "error" and rows["b.broken"]["severity"] == "high"
    assert rows["b.broken"]["actual"] is None and "nowhere" in rows["b.broken"]["error"]
    assert '"actual": 10,' in out  # an integer stays an integer in the JSON
    assert code == 1


def test_exit_0_when_all_ok_or_new():
    metric("a", "x", "SELECT 1", baseline=1)
    metric("a", "y", "SELECT 1")
    code, out, _ = verify()
    assert code == 0
    assert "a.x" in out and "ok" in out and "run #" in out


def test_exit_1_on_drift_then_0_after_update():
    m = metric("a", "x", "SELECT 11", baseline=10)
    assert verify()[0] == 1
    code, out, _ = verify("--update")
    assert code == 0 and "applied" in out
    m.refresh_from_db()
    assert m.baseline_value == 11
    assert verify()[0] == 0


def test_exit_1_when_pending_approval():
    m = metric("a", "c", "SELECT 200", baseline=100, critical=True)
    code, out, _ = verify("--update", "--json")
    doc = json.loads(out)
    req = ApprovalRequest.objects.get(metric=m)
    assert code == 1 and doc["metrics"][0]["approval_id"] == req.pk and doc["summary"]["pending_approval"] == 1
    m.refresh_from_db()
    assert m.baseline_value == 100


def test_exit_1_on_error():
    metric("a", "broken", "SELECT x FROM nowhere")
    assert verify()[0] == 1


def test_quiet_prints_only_problems_and_summary():
    metric("a", "fine", "SELECT 1", baseline=1)
    metric("a", "bad", "SELECT 2", baseline=1)
    code, out, err = verify("--quiet")
    assert "a.bad" in out and "a.fine" not in out and "run #" in out and err == ""


def test_category_metric_trigger_flags():
    metric("a", "x", "SELECT 1", baseline=1)
    metric("b", "y", "SELECT 1", baseline=1)
    code, out, _ = verify("--category", "b", "--trigger", "git_post_commit", "--json")
    doc = json.loads(out)
    assert [m["metric"] for m in doc["metrics"]] == ["b.y"]
    assert VerificationRun.objects.get(pk=doc["run"]).trigger == "git_post_commit"
    code, out, _ = verify("--metric", "a.x", "--json")
    assert [m["metric"] for m in json.loads(out)["metrics"]] == ["a.x"]


@pytest.mark.parametrize("args,expected", [
    (["--category", "nope"], "unknown category 'nope'"),
    (["--metric", "a.nope"], "unknown metric 'a.nope'"),
    (["--metric", "nope"], "unknown metric 'nope'"),
    (["--trigger", ""], "--trigger"),
])
def test_bad_input_exits_2_and_records_nothing(args, expected):
    metric("a", "x", "SELECT 1", baseline=1)
    with pytest.raises(CommandError) as exc:
        call_command("verify", *args)
    assert exc.value.returncode == 2 and expected in str(exc.value)
    assert not VerificationRun.objects.exists() and not Measurement.objects.exists()


def test_cached_values_and_no_cache(settings_row):
    settings_row.default_ttl_hours = 24
    settings_row.save()
    m = metric("a", "x", "SELECT 1", baseline=1)
    verify()
    m.params = {"query": "SELECT 2", "database": "default"}
    m.save()
    code, out, _ = verify("--json")
    row = json.loads(out)["metrics"][0]
    assert row["actual"] == 1 and code == 0 and json.loads(out)["summary"]["from_cache"] == 1
    code, out, _ = verify("--json", "--no-cache")
    assert json.loads(out)["metrics"][0]["actual"] == 2 and code == 1


def test_progress_goes_to_stderr_not_stdout_with_json():
    metric("a", "x", "SELECT 1", baseline=1)
    code, out, err = verify("--json")
    json.loads(out)
    code, out, err = verify()
    assert "[1/1] a.x" in err
