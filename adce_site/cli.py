"""Small helpers shared by every management command (SPEC §7 conventions).

* Bad input → `raise bad_input("file.yaml: metrics.s3.x.kind: unknown kind 'foo'")`: exit 2, the
  one-line reason on stderr, no traceback. Commands must validate *before* writing anything, or do
  their writes in one transaction, so that bad input changes nothing.
* `--json` prints exactly one JSON document on stdout (`emit_json`); progress goes to stderr.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from django.core.management.base import CommandError


def bad_input(message: str) -> CommandError:
    """A CommandError that exits 2 with a single-line message."""
    return CommandError(" ".join(str(message).split()), returncode=2)


def parse_iso_date(value: str, flag: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise bad_input(f"{flag}: invalid date {value!r} (expected YYYY-MM-DD)") from None


def parse_int_option(value, flag: str, *, minimum: int, maximum: int) -> int:
    """An integer option within [minimum, maximum], else bad input naming the flag."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise bad_input(f"{flag}: {value!r} is not an integer") from None
    if number < minimum:
        raise bad_input(f"{flag}: must be at least {minimum}, got {number}")
    if number > maximum:
        raise bad_input(f"{flag}: at most {maximum}, got {number}")
    return number


def _default(obj: Any):
    if isinstance(obj, (dt.datetime, dt.date)):
        return obj.isoformat()
    if isinstance(obj, Decimal):
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    if hasattr(obj, "hex") and type(obj).__name__ == "UUID":
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def to_json(document: Any, *, indent: int | None = 2) -> str:
    return json.dumps(document, default=_default, indent=indent, ensure_ascii=False)


def emit_json(stdout, document: Any) -> None:
    """Write one JSON document to the command's stdout."""
    stdout.write(to_json(document))


class StderrProgress:
    """Progress reporter injected into services: services never print."""

    def __init__(self, stream, *, quiet: bool = False):
        self.stream = stream
        self.quiet = quiet

    def __call__(self, message: str) -> None:
        if not self.quiet:
            self.stream.write(message)


def no_progress(message: str) -> None:  # the default for services called from code
    return None
