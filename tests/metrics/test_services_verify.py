"""verification_run / metric_update / baseline_apply: history, drift, the approval rule, cache, typing."""
import boto3
import pytest
from moto import mock_aws

from approvals.models import ApprovalRequest
from metrics.models import CacheEntry, Measurement, MetricDefinition, MetricsSettings, VerificationRun
from metrics.probes import ProbeContext
from metrics.services import MetricSelectionError, baseline_apply, metric_update, verification_run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_cache():
    s = MetricsSettings.load()
    s.default_ttl_hours = 0
    s.save()
    return s


def metric(name, value, *, baseline=None, category="t", critical=False, volatility="stable",
           parse_type="integer", precision=2, **extra):
    m = MetricDefinition.objects.create(
        category=category, name=name, kind="sql_scalar", parse_type=parse_type, precision=precision,
        params={"query": f"SELECT {value}", "database": "default"}, critical=critical, volatility=volatility, **extra)
    if baseline is not None:
        baseline_apply(m, baseline, by="test")
    return m


def set_value(m, value):
    m.params = {"query": f"SELECT {value}", "database": "default"}
    m.save()


def results(run):
    return {r.metric: r for r in run.results}


def test_new_then_update_sets_typed_first_baseline():
    m = metric("n", 42)
    run = verification_run()
    r = results(run)["t.n"]
    assert (r.status, r.severity, r.baseline, r.actual) == ("new", "none", None, 42)
    m.refresh_from_db()
    assert m.baseline_value is None and not m.has_baseline

    verification_run(update=True)
    m.refresh_from_db()
    assert m.baseline_value == 42 and type(m.baseline_value) is int
    assert m.baseline_set_by.startswith("system")
    stored = Measurement.objects.filter(metric=m).order_by("-pk").first()
    assert stored.value == 42 and type(stored.value) is int and stored.applied


@pytest.mark.parametrize("volatility,actual,status,severity", [
    ("volatile", 100, "ok", "none"),
    ("volatile", 104, "minor", "low"),
    ("stable", 104, "minor", "medium"),
    ("volatile", 110, "moderate", "medium"),
    ("stable", 110, "moderate", "high"),
    ("volatile", 120, "major", "high"),
    ("stable", 120, "major", "critical"),
    ("volatile", 150, "critical", "critical"),
])
def test_measurement_records_drift(volatility, actual, status, severity):
    m = metric("d", actual, baseline=100, volatility=volatility)
    run = verification_run(trigger="schedule")
    meas = Measurement.objects.get(run=run, metric=m)
    assert (meas.status, meas.severity, meas.value, meas.baseline_value) == (status, severity, actual, 100)
    assert meas.drift_pct == pytest.approx(abs(actual - 100))
    run.refresh_from_db()
    assert run.trigger == "schedule" and run.status == "completed" and run.finished_at and run.duration_ms is not None
    assert run.summary["total"] == 1 and run.summary[status] == 1
    assert run.summary["unresolved"] == (0 if status == "ok" else 1)


def test_failed_probe_is_error_never_zero():
    m = metric("e", 1, baseline=10)
    m.params = {"query": "SELECT COUNT(*) FROM missing_table", "database": "default"}
    m.save()
    run = verification_run(update=True)
    meas = Measurement.objects.get(run=run)
    assert (meas.status, meas.severity, meas.value) == ("error", "high", None)
    assert "missing_table" in meas.error
    m.refresh_from_db()
    assert m.baseline_value == 10  # an error never moves the baseline
    assert run.summary["error"] == 1 and run.summary["unresolved"] == 1


def test_float_precision_and_typing():
    metric("f", "1.004", baseline=1.0, parse_type="float", precision=2)
    r = results(verification_run())["t.f"]
    assert r.status == "ok" and r.actual == 1.0 and type(r.actual) is float


def test_string_changed():
    metric("s", "'v2'", baseline="v1", parse_type="string")
    r = results(verification_run())["t.s"]
    assert (r.status, r.severity, r.drift_pct) == ("changed", "medium", None)


class TestApprovalRule:
    def test_critical_over_threshold_opens_request_and_keeps_baseline(self):
        m = metric("c", 120, baseline=100, critical=True)
        run = verification_run(update=True)
        r = results(run)["t.c"]
        m.refresh_from_db()
        assert m.baseline_value == 100
        req = ApprovalRequest.objects.get(metric=m)
        assert req.status == "pending" and req.proposed_value == 120 and req.baseline_value == 100
        assert req.drift_pct == pytest.approx(20) and req.run_id == run.pk and req.raised_by == "system"
        assert r.approval_id == req.pk and not r.applied and r.unresolved
        assert run.summary["pending_approval"] == 1

        # a later measurement updates the same pending request
        set_value(m, 130)
        run2 = metric_update()
        assert ApprovalRequest.objects.filter(metric=m).count() == 1
        req.refresh_from_db()
        assert req.proposed_value == 130 and req.run_id == run2.pk
        assert results(run2)["t.c"].approval_id == req.pk
        m.refresh_from_db()
        assert m.baseline_value == 100

        # plain verify reports the pending request and stays unresolved
        r3 = results(verification_run())["t.c"]
        assert r3.approval_id == req.pk and r3.unresolved

    @pytest.mark.parametrize("update", [False, True], ids=["verify", "verify --update"])
    def test_a_metric_back_within_the_threshold_supersedes_its_pending_request(self, update):
        m = metric("c", 130, baseline=100, critical=True)
        verification_run(update=True)
        req = ApprovalRequest.objects.get(metric=m, status="pending")
        set_value(m, 105)  # the folder came back: 5 % from the baseline, under the 15 % threshold
        r = results(verification_run(update=update))["t.c"]
        req.refresh_from_db()
        assert req.status == "superseded" and not req.applied and req.reviewer == ""
        assert "back within the 15 % approval threshold: measured 105 (drift 5.00 %)" in req.notes
        assert r.approval_id is None
        m.refresh_from_db()
        assert m.baseline_value == (105 if update else 100)  # update applies the small drift as usual

    def test_a_measurement_still_over_the_threshold_keeps_the_request_pending(self):
        m = metric("c", 130, baseline=100, critical=True)
        verification_run(update=True)
        set_value(m, 125)
        verification_run()
        assert ApprovalRequest.objects.get(metric=m).status == "pending"

    def test_critical_below_threshold_is_applied(self):
        m = metric("c", 110, baseline=100, critical=True)
        r = results(verification_run(update=True))["t.c"]
        m.refresh_from_db()
        assert m.baseline_value == 110 and r.applied and r.approval_id is None and not r.unresolved
        assert not ApprovalRequest.objects.exists()

    def test_exactly_at_threshold_needs_approval(self):
        m = metric("c", 115, baseline=100, critical=True)
        verification_run(update=True)
        m.refresh_from_db()
        assert m.baseline_value == 100 and ApprovalRequest.objects.filter(status="pending").count() == 1

    def test_applying_below_threshold_supersedes_stale_request(self):
        m = metric("c", 150, baseline=100, critical=True)
        verification_run(update=True)
        set_value(m, 101)
        verification_run(update=True)
        m.refresh_from_db()
        assert m.baseline_value == 101
        assert ApprovalRequest.objects.get(metric=m).status == "superseded"

    def test_non_critical_big_drift_is_applied(self):
        m = metric("n", 500, baseline=100)
        verification_run(update=True)
        m.refresh_from_db()
        assert m.baseline_value == 500

    def test_plain_verify_never_opens_requests_or_moves_baselines(self):
        m = metric("c", 500, baseline=100, critical=True)
        run = verification_run()
        m.refresh_from_db()
        assert m.baseline_value == 100 and not ApprovalRequest.objects.exists()
        assert results(run)["t.c"].status == "critical" and run.summary["unresolved"] == 1

    def test_critical_first_baseline_needs_no_approval(self):
        m = metric("c", 7, critical=True)
        verification_run(update=True)
        m.refresh_from_db()
        assert m.baseline_value == 7 and not ApprovalRequest.objects.exists()

    def test_approval_disabled_applies(self, no_cache):
        no_cache.approval_enabled = False
        no_cache.save()
        m = metric("c", 500, baseline=100, critical=True)
        verification_run(update=True)
        m.refresh_from_db()
        assert m.baseline_value == 500

    def test_changed_string_on_critical_needs_approval(self):
        m = metric("s", "'new'", baseline="old", parse_type="string", critical=True)
        verification_run(update=True)
        m.refresh_from_db()
        assert m.baseline_value == "old"
        assert ApprovalRequest.objects.get(metric=m).proposed_value == "new"

    def test_accepting_applies_typed_value(self):
        from approvals.services import approval_request_accept

        m = metric("c", 200, baseline=100, critical=True)
        run = verification_run(update=True)
        approval_request_accept(results(run)["t.c"].approval_id, reviewer="alice")
        m.refresh_from_db()
        assert m.baseline_value == 200 and type(m.baseline_value) is int and m.baseline_set_by == "alice"


def test_expression_after_its_dependencies_across_categories():
    metric("num", 50, category="a")
    metric("den", 200, category="b")
    MetricDefinition.objects.create(category="c", name="ratio", kind="expression", parse_type="float",
                                    params={"expression": "a.num / b.den * 100"})
    r = results(verification_run())
    assert r["c.ratio"].actual == 25.0


def test_single_expression_measures_dependencies_without_recording_them():
    metric("num", 1, category="a")
    metric("den", 4, category="a")
    MetricDefinition.objects.create(category="c", name="ratio", kind="expression", parse_type="float",
                                    params={"expression": "a.num / a.den"})
    run = verification_run(metric="c.ratio")
    assert [r.metric for r in run.results] == ["c.ratio"] and run.results[0].actual == 0.25
    assert Measurement.objects.filter(run=run).count() == 1


def test_expression_with_failed_dependency_is_error():
    bad = metric("bad", 1, category="a")
    bad.params = {"query": "SELECT nope FROM nowhere", "database": "default"}
    bad.save()
    MetricDefinition.objects.create(category="c", name="x", kind="expression", parse_type="float",
                                    params={"expression": "a.bad + 1"})
    r = results(verification_run())
    assert r["c.x"].status == "error" and "a.bad failed" in r["c.x"].error


def test_selection():
    metric("x", 1, category="a")
    metric("y", 1, category="b")
    metric("off", 1, category="b", enabled=False)
    assert [r.metric for r in verification_run(category="b").results] == ["b.y"]
    assert [r.metric for r in verification_run(metric="a.x").results] == ["a.x"]
    assert [r.metric for r in verification_run(metric="y").results] == ["b.y"]
    assert [r.metric for r in verification_run(patterns=["a.*"]).results] == ["a.x"]
    before = VerificationRun.objects.count()
    for kwargs in ({"category": "zzz"}, {"metric": "a.zzz"}, {"metric": "b.off"}, {"metric": "x", "category": "b"}):
        with pytest.raises(MetricSelectionError):
            verification_run(**kwargs)
    assert VerificationRun.objects.count() == before


class TestCache:
    def test_values_within_ttl_are_reused(self, no_cache):
        no_cache.default_ttl_hours = 24
        no_cache.save()
        m = metric("c", 5)
        verification_run()
        set_value(m, 6)
        r = results(verification_run())["t.c"]
        assert r.actual == 5 and r.from_cache
        assert Measurement.objects.filter(from_cache=True).count() == 1
        assert results(verification_run(use_cache=False))["t.c"].actual == 6
        assert CacheEntry.objects.get(metric=m).value == 6

    def test_update_always_measures_fresh(self, no_cache):
        no_cache.default_ttl_hours = 24
        no_cache.save()
        m = metric("c", 5, baseline=5)
        verification_run()
        set_value(m, 6)
        r = results(metric_update())["t.c"]
        assert r.actual == 6 and not r.from_cache

    def test_metric_ttl_zero_and_errors_are_not_cached(self, no_cache):
        no_cache.default_ttl_hours = 24
        no_cache.save()
        metric("zero", 1, ttl_hours=0)
        bad = metric("bad", 1)
        bad.params = {"query": "SELECT x FROM nowhere", "database": "default"}
        bad.save()
        verification_run()
        assert not CacheEntry.objects.exists()


def test_one_listing_per_location_in_a_run(tmp_path):
    for i in range(5):
        (tmp_path / f"{i}.json").write_text("x" * i)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.json").write_text("a")
    loc = f"file://{tmp_path}/"
    for name, kind, extra in (("n", "s3_object_count", {}), ("b", "s3_total_bytes", {}),
                              ("small", "s3_small_object_count", {"below_bytes": 2}),
                              ("sub", "s3_object_count", {"location": f"{loc}sub/"})):
        MetricDefinition.objects.create(category="l", name=name, kind=kind, parse_type="integer",
                                        params={"location": loc, **extra})
    MetricDefinition.objects.create(category="l", name="sync", kind="sync_diff", parse_type="integer",
                                    params={"left": loc, "right": f"{loc}sub/"})
    ctx = ProbeContext()
    run = verification_run(context=ctx)
    r = results(run)
    assert (r["l.n"].actual, r["l.b"].actual, r["l.small"].actual, r["l.sub"].actual) == (6, 11, 3, 1)
    assert ctx.listings_made == 1 and run.summary["listings"] == 1


def test_s3_metrics_share_listing_calls(aws_env):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="lake")
        for p in ("a", "b"):
            for i in range(20):
                s3.put_object(Bucket="lake", Key=f"{p}/{i}.json", Body=b"xx")
        for i, (p, kind) in enumerate([("a", "s3_object_count"), ("a", "s3_total_bytes"), ("a", "s3_newest_age_hours"),
                                       ("b", "s3_object_count"), ("b", "s3_total_bytes")]):
            MetricDefinition.objects.create(category="s3", name=f"m{i}", kind=kind, parse_type="float",
                                            params={"location": f"s3://lake/{p}/"})
        calls = []
        client = boto3.client("s3", region_name="us-east-1")
        client.meta.events.register("before-call.s3.ListObjectsV2", lambda **kw: calls.append(1))
        bare_calls = []
        bare = boto3.client("s3", region_name="us-east-1")
        bare.meta.events.register("before-call.s3.ListObjectsV2", lambda **kw: bare_calls.append(1))
        from reconciliation.storage import list_objects

        for p in ("a", "b"):
            list(list_objects(f"s3://lake/{p}/", client=bare))
        run = verification_run(context=ProbeContext(client=client))
        assert results(run)["s3.m0"].actual == 20.0
        assert len(calls) == len(bare_calls) == run.summary["s3_list_calls"]
        assert run.summary["listings"] == 2
