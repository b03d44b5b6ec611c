import datetime as dt

import pytest

from metrics.selectors import (
    MetricNotFound,
    SnapshotNotFound,
    current_values,
    histories,
    metric_get,
    metric_history,
    metrics_with_latest,
    series_stats,
    snapshot_diff,
    value_delta,
    value_delta_pct,
)
from metrics.models import Snapshot
from tests.metrics.reports_factories import NOW, make_metric, measure

pytestmark = pytest.mark.django_db

H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)


def test_value_delta_keeps_int_and_cuts_float_noise():
    assert value_delta(3, 5) == 2 and isinstance(value_delta(3, 5), int)
    assert value_delta(0.1, 0.3, 2) == 0.2
    assert value_delta("a", "b") is None
    assert value_delta(True, False) is None  # booleans have no arithmetic
    assert value_delta(None, 5) is None


def test_value_delta_pct_from_zero_is_undefined():
    assert value_delta_pct(200, 250) == 25.0
    assert value_delta_pct(200, 150) == -25.0
    assert value_delta_pct(-200, -150) == 25.0  # relative to |old|
    assert value_delta_pct(0, 5) is None


def test_series_stats_population_stddev():
    s = series_stats([2, 4, 4, 4, 5, 5, 7, 9])
    assert (s.count, s.min, s.max, s.mean, s.stddev) == (8, 2, 9, 5.0, 2.0)  # population σ = 2 (sample would be 2.138)
    assert series_stats([]).count == 0 and series_stats([]).mean is None
    assert series_stats([7]).stddev == 0.0


def test_history_deltas_trend_stats_and_errors_excluded():
    m = make_metric("s3.objects")
    measure(m, 100, NOW - 5 * D)
    measure(m, 110, NOW - 4 * D)
    measure(m, None, NOW - 3 * D, status="error", error="NoSuchBucket: nba")
    measure(m, 99, NOW - 2 * D)
    measure(m, 120, NOW - 1 * D)
    measure(m, 1, NOW - 40 * D)  # outside the window

    h = metric_history("s3.objects", 30, now=NOW)

    assert [p.value for p in h.points] == [100, 110, None, 99, 120]
    assert [p.delta for p in h.points] == [None, 10, None, -11, 21]  # the error is skipped over
    assert h.points[1].delta_pct == 10.0
    assert h.points[3].delta_pct == -10.0
    assert h.points[2].is_error and h.points[2].error == "NoSuchBucket: nba"
    assert (h.trend.first, h.trend.last, h.trend.change, h.trend.change_pct, h.trend.direction) == (100, 120, 20, 20.0, "up")
    s = h.stats
    assert (s.count, s.min, s.max, s.errors) == (4, 99, 120, 1)
    assert s.mean == pytest.approx(107.25)
    assert s.stddev == pytest.approx(8.5257, abs=1e-4)  # population (sample would be 9.8446)
    assert isinstance(s.min, int)


def test_history_window_and_float_precision():
    m = make_metric("lake.size_gb", parse_type="float", precision=2)
    measure(m, 0.1, NOW - 2 * D)
    measure(m, 0.3, NOW - 1 * D)
    h = metric_history(m, 1, now=NOW)
    assert [p.value for p in h.points] == [0.3]
    h = metric_history(m, 3, now=NOW)
    assert h.points[1].delta == 0.2
    assert h.trend.change == 0.2


def test_history_non_numeric_values():
    m = make_metric("git.branch", parse_type="string", kind="shell")
    measure(m, "main", NOW - 2 * D)
    measure(m, "dev", NOW - 1 * D, status="changed", severity="medium")
    h = metric_history(m, 7, now=NOW)
    assert h.trend.change is None and h.trend.direction == "changed"
    assert h.stats.count == 0 and h.stats.mean is None


def test_history_only_errors():
    m = make_metric("s3.broken")
    measure(m, None, NOW - D, status="error", error="timeout")
    h = metric_history(m, 7, now=NOW)
    assert h.trend.first is None and h.trend.direction == "none"
    assert h.stats.count == 0 and h.stats.errors == 1


def test_history_unknown_metric_and_bad_days():
    with pytest.raises(MetricNotFound):
        metric_get("no.such")
    with pytest.raises(MetricNotFound):
        metric_get("nodot")
    m = make_metric("a.b")
    with pytest.raises(ValueError):
        metric_history(m, 0)


def test_histories_matches_single_history():
    a, b = make_metric("a.one"), make_metric("a.two")
    for i, v in enumerate([5, 7, 6]):
        measure(a, v, NOW - (3 - i) * H)
        measure(b, v * 10, NOW - (3 - i) * H)
    many = histories([a, b], 1, now=NOW)
    assert many[a.pk].as_dict() == metric_history(a, 1, now=NOW).as_dict()
    assert [p.value for p in many[b.pk].points] == [50, 70, 60]


def test_current_values_latest_success_else_null():
    ok = make_metric("m.ok")
    measure(ok, 1, NOW - 2 * H)
    measure(ok, 2, NOW - H)
    failed = make_metric("m.failed")
    measure(failed, 5, NOW - 2 * H)
    measure(failed, None, NOW - H, status="error", error="boom")
    make_metric("m.never")
    make_metric("m.disabled", enabled=False)
    assert current_values() == {"m.failed": None, "m.never": None, "m.ok": 2}


def test_current_values_as_of_ignores_later_measurements():
    from tests.metrics.reports_factories import backdate

    m = make_metric("m.x")  # created "now" (after NOW - D) but with history from before
    measure(m, 1, NOW - 2 * D)
    measure(m, 2, NOW)
    later = make_metric("m.later")  # created after, measured only after: not part of the past
    measure(later, 5, NOW)
    assert current_values(as_of=NOW - D) == {"m.x": 1}
    backdate(later, NOW - 10 * D)  # existed back then, never measured: null
    assert current_values(as_of=NOW - D) == {"m.later": None, "m.x": 1}


def test_metrics_with_latest_annotations_are_typed():
    m = make_metric("t.int")
    measure(m, 41, NOW - H)
    measure(m, 42, NOW, status="minor", severity="low", drift_pct=2.5)
    row = metrics_with_latest().get(pk=m.pk)
    assert row.latest_value == 42 and isinstance(row.latest_value, int)
    assert (row.latest_status, row.latest_severity, row.latest_drift_pct) == ("minor", "low", 2.5)


def test_snapshot_diff_rows_added_removed_changed():
    a = make_metric("d.a")
    measure(a, 120, NOW)
    b = make_metric("d.b")
    measure(b, 7, NOW)
    c = make_metric("d.c", parse_type="float")
    measure(c, None, NOW, status="error", error="x")
    Snapshot.objects.create(date=dt.date(2026, 11, 1), values={"d.a": 100, "d.b": 7, "d.c": 1.5, "d.gone": 3})

    diff = snapshot_diff(dt.date(2026, 11, 1))
    rows = {r.metric: r for r in diff.rows}
    assert (rows["d.a"].then, rows["d.a"].now, rows["d.a"].delta, rows["d.a"].delta_pct, rows["d.a"].change) == (100, 120, 20, 20.0, "changed")
    assert rows["d.b"].change == "unchanged" and rows["d.b"].delta == 0
    assert rows["d.c"].now is None and rows["d.c"].delta is None and rows["d.c"].change == "changed"
    assert diff.removed == ["d.gone"]
    assert diff.added == []
    a2 = make_metric("d.new")
    measure(a2, 1, NOW)
    assert snapshot_diff(dt.date(2026, 11, 1)).added == ["d.new"]


def test_snapshot_diff_missing_date_names_nearest():
    for day in (1, 5, 9):
        Snapshot.objects.create(date=dt.date(2026, 11, day), values={})
    with pytest.raises(SnapshotNotFound) as exc:
        snapshot_diff(dt.date(2026, 11, 6))
    assert "2026-11-06" in str(exc.value)
    assert exc.value.nearest == [dt.date(2026, 11, 1), dt.date(2026, 11, 5), dt.date(2026, 11, 9)]
