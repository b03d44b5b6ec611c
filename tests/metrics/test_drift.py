"""SPEC §4 drift classification, table-driven over the band boundaries, both volatilities."""
import pytest

from metrics.drift import CoercionError, Thresholds, classify, coerce, drift_pct, severity_for, status_for

TH = Thresholds(5, 15, 25)

# (baseline, actual, status, volatile severity, stable severity)
BANDS = [
    (100, 100, "ok", "none", "none"),
    (100, 104.99, "minor", "low", "medium"),          # just below 5
    (100, 105, "moderate", "medium", "high"),         # at 5
    (100, 95, "moderate", "medium", "high"),          # at 5, downwards
    (100, 114.99, "moderate", "medium", "high"),      # just below 15
    (100, 115, "major", "high", "critical"),          # at 15
    (100, 124.99, "major", "high", "critical"),       # just below 25
    (100, 125, "critical", "critical", "critical"),   # at 25
    (100, 75, "critical", "critical", "critical"),
    (100, 400, "critical", "critical", "critical"),
    (0, 0, "ok", "none", "none"),                     # baseline 0, equal
    (0, 1, "critical", "critical", "critical"),       # baseline 0, different -> 100 %
    (-200, -210, "moderate", "medium", "high"),       # |baseline| in the denominator
]


@pytest.mark.parametrize("baseline,actual,status,sev_volatile,sev_stable", BANDS)
@pytest.mark.parametrize("volatility", ["volatile", "stable"])
def test_bands(baseline, actual, status, sev_volatile, sev_stable, volatility):
    j = classify(actual=actual, baseline=baseline, has_baseline=True, parse_type="float", precision=2,
                 volatility=volatility, thresholds=TH)
    assert j.status == status
    assert j.severity == (sev_volatile if volatility == "volatile" else sev_stable)
    if status == "ok":
        assert j.drift_pct == 0


def test_drift_pct_formula():
    assert drift_pct(200, 150) == 25.0
    assert drift_pct(0, 0) == 0.0
    assert drift_pct(0, -3) == 100.0
    assert drift_pct(-4, -5) == 25.0


def test_status_for_uses_configured_thresholds():
    th = Thresholds(1, 2, 3)
    assert [status_for(p, th) for p in (0, 0.5, 1, 2, 3)] == ["ok", "minor", "moderate", "major", "critical"]


def test_integer_band_and_tiny_drift_is_minor_not_ok():
    j = classify(actual=1_000_001, baseline=1_000_000, has_baseline=True, parse_type="integer", precision=2,
                 volatility="volatile", thresholds=TH)
    assert (j.status, j.severity) == ("minor", "low")
    assert 0 < j.drift_pct < 0.001


@pytest.mark.parametrize("baseline,actual,precision,status", [
    (1.234, 1.2349, 2, "ok"),       # equal within 2 decimals
    (1.23, 1.24, 2, "minor"),
    (1.2, 1.24, 1, "ok"),           # 1.2 == 1.2 at one decimal
    (10.0, 10.04, 1, "ok"),
    (10.0, 10.06, 1, "minor"),
])
def test_precision_equality(baseline, actual, precision, status):
    actual = coerce(actual, "float", precision)
    j = classify(actual=actual, baseline=baseline, has_baseline=True, parse_type="float", precision=precision,
                 volatility="stable", thresholds=TH)
    assert j.status == status


def test_new_changed_error():
    assert classify(actual=5, baseline=None, has_baseline=False, parse_type="integer", precision=2,
                    volatility="stable").status == "new"
    new = classify(actual=5, baseline=None, has_baseline=False, parse_type="integer", precision=2, volatility="stable")
    assert new.severity == "none" and new.drift_pct is None
    ch = classify(actual="v2", baseline="v1", has_baseline=True, parse_type="string", precision=2, volatility="volatile")
    assert (ch.status, ch.severity, ch.drift_pct) == ("changed", "medium", None)
    same = classify(actual=True, baseline=True, has_baseline=True, parse_type="boolean", precision=2, volatility="stable")
    assert (same.status, same.severity) == ("ok", "none")
    err = classify(actual=None, baseline=3, has_baseline=True, parse_type="integer", precision=2,
                   volatility="volatile", error="boom")
    assert (err.status, err.severity, err.drift_pct) == ("error", "high", None)


def test_baseline_of_another_type_is_changed():
    j = classify(actual=3, baseline="three", has_baseline=True, parse_type="integer", precision=2, volatility="stable")
    assert (j.status, j.severity) == ("changed", "medium")


def test_baseline_zero_is_a_baseline():
    j = classify(actual=0, baseline=0, has_baseline=True, parse_type="integer", precision=2, volatility="stable")
    assert j.status == "ok"


@pytest.mark.parametrize("raw,parse_type,expected", [
    ("42\n", "integer", 42),
    (" 1,234 ", "integer", 1234),
    (7.0, "integer", 7),
    (2.6, "integer", 3),
    (3, "float", 3.0),
    ("2.345678", "float", 2.35),
    ("yes", "boolean", True),
    ("0", "boolean", False),
    (1, "boolean", True),
    ("  text ", "string", "text"),
    (12, "string", "12"),
])
def test_coerce(raw, parse_type, expected):
    value = coerce(raw, parse_type, 2)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("raw,parse_type", [("abc", "integer"), ("", "float"), ("maybe", "boolean"),
                                            (None, "integer"), (float("nan"), "float"), (True, "float")])
def test_coerce_refuses(raw, parse_type):
    with pytest.raises(CoercionError):
        coerce(raw, parse_type, 2)


def test_severity_words_are_lower_case():
    for status in ("ok", "minor", "moderate", "major", "critical", "new", "changed", "error"):
        for volatility in ("volatile", "stable"):
            sev = severity_for(status, volatility)
            assert sev == sev.lower() and sev in ("none", "low", "medium", "high", "critical")
