"""Drift and severity (SPEC §4) and typing of values by parse_type. Pure: no database.

    drift_pct = |actual − baseline| / |baseline| × 100      (baseline 0: 0 if equal, else 100)

| drift_pct   | status   | volatile | stable   |
| 0 / equal   | ok       | none     | none     |
| < minor     | minor    | low      | medium   |
| < moderate  | moderate | medium   | high     |
| < major     | major    | high     | critical |
| ≥ major     | critical | critical | critical |

No baseline → new (severity none). Non-numeric values that differ → changed (medium).
A failed probe → error (high).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .choices import DriftStatus as S
from .choices import ParseType, Severity, Volatility

NUMERIC = (ParseType.INTEGER, ParseType.FLOAT)
PARSE_TYPES = tuple(ParseType)
VOLATILITIES = tuple(Volatility)

_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}


class CoercionError(ValueError):
    pass


@dataclass(frozen=True)
class Thresholds:
    minor: float = 5.0
    moderate: float = 15.0
    major: float = 25.0


@dataclass(frozen=True)
class Judgement:
    status: str
    severity: str
    drift_pct: float | None


_SEVERITY = {
    # status: (volatile, stable)
    S.MINOR: (Severity.LOW, Severity.MEDIUM),
    S.MODERATE: (Severity.MEDIUM, Severity.HIGH),
    S.MAJOR: (Severity.HIGH, Severity.CRITICAL),
    S.CRITICAL: (Severity.CRITICAL, Severity.CRITICAL),
}


def coerce(value: Any, parse_type: str, precision: int = 2):
    """Type a raw probe value (int, float, Decimal, str from a shell…) as the metric's parse_type.

    integer: ints, integral floats and numeric strings; a non-integral number is rounded half-even
    (an expression declared integer). float: rounded to `precision` decimals. boolean: true/false,
    yes/no, on/off, 1/0. string: the text, stripped. Anything else raises CoercionError.
    """
    if value is None:
        raise CoercionError("no value")
    if parse_type == ParseType.INTEGER:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        number = _number(value)
        if isinstance(number, int):
            return number
        if math.isnan(number) or math.isinf(number):
            raise CoercionError(f"{value!r} is not a finite number")
        return int(round(number))
    if parse_type == ParseType.FLOAT:
        if isinstance(value, bool):
            raise CoercionError(f"{value!r} is not a number")
        number = float(_number(value))
        if math.isnan(number) or math.isinf(number):
            raise CoercionError(f"{value!r} is not a finite number")
        return round(number, precision)
    if parse_type == ParseType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise CoercionError(f"{value!r} is not a boolean")
    if parse_type == ParseType.STRING:
        return str(value).strip()
    raise CoercionError(f"unknown parse_type {parse_type!r}")


def _number(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if hasattr(value, "as_integer_ratio") and not isinstance(value, bool):  # Decimal
        return int(value) if value == int(value) else float(value)
    text = str(value).strip().replace(",", "") if isinstance(value, str) else None
    if not text:
        raise CoercionError(f"{value!r} is not a number")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise CoercionError(f"{value!r} is not a number") from None


def drift_pct(baseline: float, actual: float) -> float:
    if baseline == 0:
        return 0.0 if actual == 0 else 100.0
    return abs(actual - baseline) / abs(baseline) * 100.0


def values_equal(baseline, actual, parse_type: str, precision: int) -> bool:
    if parse_type == ParseType.FLOAT:
        return round(float(baseline), precision) == round(float(actual), precision)
    return baseline == actual


def status_for(pct: float, thresholds: Thresholds) -> str:
    if pct == 0:
        return S.OK
    if pct < thresholds.minor:
        return S.MINOR
    if pct < thresholds.moderate:
        return S.MODERATE
    if pct < thresholds.major:
        return S.MAJOR
    return S.CRITICAL


def severity_for(status: str, volatility: str) -> str:
    if status in _SEVERITY:
        return _SEVERITY[status][0 if volatility == Volatility.VOLATILE else 1]
    return {S.OK: Severity.NONE, S.NEW: Severity.NONE, S.CHANGED: Severity.MEDIUM, S.ERROR: Severity.HIGH}[status]


def classify(*, actual, baseline, has_baseline: bool, parse_type: str, precision: int, volatility: str,
             thresholds: Thresholds = Thresholds(), error: str | None = None) -> Judgement:
    """Judge a typed `actual` against the typed `baseline` (both per parse_type)."""
    if error is not None:
        return Judgement(S.ERROR, Severity.HIGH, None)
    if not has_baseline:
        return Judgement(S.NEW, Severity.NONE, None)
    if parse_type in NUMERIC:
        try:
            base = coerce(baseline, parse_type, precision)
        except CoercionError:
            base = None  # a baseline of another type (parse_type changed): it differs
        if base is None:
            return Judgement(S.CHANGED, Severity.MEDIUM, None)
        if values_equal(base, actual, parse_type, precision):
            return Judgement(S.OK, Severity.NONE, 0.0)
        pct = drift_pct(base, actual)
        status = status_for(pct, thresholds)
        if status == S.OK:  # a difference too small to show as a percentage is still a difference
            status = S.MINOR
        return Judgement(status, severity_for(status, volatility), round(pct, 4))
    if baseline == actual:
        return Judgement(S.OK, Severity.NONE, None)
    return Judgement(S.CHANGED, Severity.MEDIUM, None)
