"""Strict JSON for request bodies: what json.loads accepts but no database can store is refused."""
from __future__ import annotations

import json


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _finite(literal: str) -> float:
    value = float(literal)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{literal[:20]} is out of range")
    return value


def parse_json(text):
    """json.loads, strict: NaN/Infinity, numbers that overflow to infinity and nesting too deep for
    the parser (RecursionError) are ValueErrors."""
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError:
        raise ValueError("nested too deeply") from None
