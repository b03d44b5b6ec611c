"""Parse the original DIMS files (pure: reads files, touches no database).

The original kept its state in YAML beside its config:

* `inventory/metrics.yaml` — the accepted value of every metric ("SSOT"):

      metadata: {version: 1.0.0, last_updated: '2025-10-25T17:31:35Z', ...}
      s3_storage:
        total_objects: {value: 172726, last_verified: '2025-10-21T14:00:00Z', verification_method: aws_cli, ...}
        total_size_gb: {value: 118.26, ...}
      prediction_system:
        scripts: {fetch_upcoming_games: {lines: 303, path: ...}, ...}    # informational, no `value`

* `inventory/historical/YYYY-MM-DD.yaml` — a copy of metrics.yaml taken by `snapshot` on that date.

Entries without a `value` key are the original's informational blocks (per-file line counts, component
breakdowns): they are not metrics and are skipped. A bare scalar under a category (`name: 123`) is
accepted as a value too. Values are typed later, against the new metric's parse_type (`type_value`):
the original re-typed values as strings ("172,726", "118.26 GB"), so thousands separators and a unit
word are tolerated; anything else that does not read as the metric's type is an error.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from adce_site.yaml_limits import UniqueKeyLoader  # refuses duplicate keys, like import_metrics
from metrics.drift import CoercionError, coerce

HISTORICAL_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})\.ya?ml$")
# Size units convert when the metric declares a `unit` (1 KB = 1024 B, as in metrics/probes).
SIZE_UNITS = {"b": 1, "byte": 1, "bytes": 1, "kb": 1024, "kib": 1024, "mb": 1024 ** 2, "mib": 1024 ** 2,
              "gb": 1024 ** 3, "gib": 1024 ** 3, "tb": 1024 ** 4, "tib": 1024 ** 4}
METRIC_UNITS = {"bytes": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}
# Words the original printed after a number; they carry no conversion and are dropped.
PLAIN_WORDS = {"%", "objects", "object", "files", "file", "lines", "line", "commits", "games", "hours", "h",
               "days", "d", "usd"}
_NUMBER_WITH_WORD = re.compile(r"^\$?\s*([-+]?[0-9][0-9,_]*(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z%]+)?$")
_THOUSANDS = re.compile(r"^[-+]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?$")


class LegacyError(ValueError):
    """One line: "FILE: key.path: problem"."""


@dataclass(frozen=True)
class LegacyValue:
    name: str                      # dotted category.name
    raw: Any                       # as written in the file
    key: str                       # key path in the file, for messages
    last_verified: dt.datetime | None = None


@dataclass
class LegacyFile:
    path: str
    values: dict[str, LegacyValue] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)     # informational entries (no `value`)
    last_updated: dt.datetime | None = None               # metadata.last_updated
    date: dt.date | None = None                           # historical files: from the file name


def _load(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LegacyError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise LegacyError(f"{path}: {where}invalid YAML: {' '.join(str(problem).split())}") from None


def parse_timestamp(value: Any, where: str) -> dt.datetime | None:
    """An ISO timestamp (quoted or as YAML parsed it) → aware UTC datetime; None stays None."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        stamp = value
    elif isinstance(value, dt.date):
        stamp = dt.datetime.combine(value, dt.time.min)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            stamp = dt.datetime.fromisoformat(text)
        except ValueError:
            raise LegacyError(f"{where}: invalid timestamp {value!r} (expected ISO 8601)") from None
    else:
        raise LegacyError(f"{where}: invalid timestamp {value!r} (expected ISO 8601)")
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.astimezone(dt.timezone.utc)


def parse_metrics_document(path: str | Path) -> LegacyFile:
    """metrics.yaml (or one historical copy of it) → its metric values, not yet typed."""
    path = Path(path)
    doc = _load(path)
    result = LegacyFile(path=str(path))
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise LegacyError(f"{path}: the document must be a mapping of category -> metric -> value")
    metadata = doc.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise LegacyError(f"{path}: metadata: must be a mapping")
        result.last_updated = parse_timestamp(metadata.get("last_updated"), f"{path}: metadata.last_updated")
    for category, entries in doc.items():
        if category == "metadata":
            continue
        if not isinstance(category, str) or not category:
            raise LegacyError(f"{path}: {category!r}: a category must be a name")
        if entries is None:
            continue
        if not isinstance(entries, dict):
            raise LegacyError(f"{path}: {category}: must be a mapping of metric name -> value")
        for name, body in entries.items():
            key = f"{category}.{name}"
            if not isinstance(name, str) or not name:
                raise LegacyError(f"{path}: {category}.{name!r}: a metric must have a name")
            if isinstance(body, dict):
                if "value" not in body:
                    result.skipped.append(key)  # the original's informational blocks
                    continue
                raw = body["value"]
                last = parse_timestamp(body.get("last_verified"), f"{path}: {key}.last_verified")
                vkey = f"{key}.value"
            elif isinstance(body, (int, float, str)) or body is None:
                raw, last, vkey = body, None, key
            else:
                raise LegacyError(f"{path}: {key}: must be a mapping with `value:` or a single value, "
                                  f"got a {type(body).__name__}")
            if isinstance(raw, (dict, list)):
                raise LegacyError(f"{path}: {vkey}: must be a single value, got a {type(raw).__name__}")
            if raw is None:
                result.skipped.append(key)  # never measured by the original: nothing to import
                continue
            result.values[key] = LegacyValue(key, raw, vkey, last)
    return result


def historical_files(directory: str | Path) -> tuple[list[tuple[dt.date, Path]], list[str]]:
    """(dated files in date order, names of other files that were ignored). An impossible date
    in a YYYY-MM-DD name is an error."""
    directory = Path(directory)
    if not directory.is_dir():
        raise LegacyError(f"{directory}: not a folder")
    dated, ignored = [], []
    for path in sorted(directory.iterdir()):
        match = HISTORICAL_NAME.match(path.name)
        if not match or not path.is_file():
            ignored.append(path.name)
            continue
        try:
            date = dt.date.fromisoformat(match.group(1))
        except ValueError:
            raise LegacyError(f"{path}: invalid date {match.group(1)!r} in the file name") from None
        dated.append((date, path))
    dupes = {d for d, _ in dated if sum(1 for e, _ in dated if e == d) > 1}
    if dupes:
        d = min(dupes)
        names = ", ".join(p.name for e, p in dated if e == d)
        raise LegacyError(f"{directory}: two snapshots of {d.isoformat()}: {names}")
    dated.sort(key=lambda item: item[0])
    return dated, ignored


def parse_historical(date: dt.date, path: Path) -> LegacyFile:
    parsed = parse_metrics_document(path)
    parsed.date = date
    return parsed


def type_value(value: LegacyValue, *, parse_type: str, precision: int, unit: str | None, path: str):
    """The legacy value typed as the metric's parse_type. Raises LegacyError naming file and key."""
    raw = value.raw
    where = f"{path}: {value.key}"
    try:
        if parse_type in ("integer", "float"):
            number, converted = _legacy_number(raw, unit)
            if parse_type == "integer" and isinstance(number, float):
                if converted:
                    number = round(number)  # e.g. "118.26 GB" into a metric counted in bytes
                elif not number.is_integer():
                    raise CoercionError(f"{raw!r} is not a whole number")
                number = int(number)
            return coerce(number, parse_type, precision)
        if parse_type == "boolean":
            return coerce(raw, "boolean")
        return coerce(raw, "string")
    except CoercionError as exc:
        raise LegacyError(f"{where}: cannot read as {parse_type}: {exc}") from None


def _legacy_number(raw: Any, unit: str | None) -> tuple[int | float, bool]:
    """(number, whether a size unit was converted to the metric's unit)."""
    if isinstance(raw, bool):
        raise CoercionError(f"{raw!r} is not a number")
    if isinstance(raw, (int, float)):
        if isinstance(raw, float) and (math.isnan(raw) or math.isinf(raw)):
            raise CoercionError(f"{raw!r} is not a finite number")
        return raw, False
    if not isinstance(raw, str):
        raise CoercionError(f"{raw!r} is not a number")
    match = _NUMBER_WITH_WORD.match(raw.strip())
    if not match:
        raise CoercionError(f"{raw!r} is not a number")
    digits, word = match.group(1), match.group(2)
    if "," in digits and not _THOUSANDS.match(digits):
        raise CoercionError(f"{raw!r}: misplaced thousands separator")
    text = digits.replace(",", "").replace("_", "")
    number: int | float = float(text) if any(c in text for c in ".eE") else int(text)
    if word is None:
        return number, False
    lower = word.lower()
    if lower in SIZE_UNITS:
        if unit is None or SIZE_UNITS[lower] == METRIC_UNITS[unit]:
            return number, False  # no declared unit (read as written) or the same unit
        return number * SIZE_UNITS[lower] / METRIC_UNITS[unit], True
    if lower in PLAIN_WORDS:
        return number, False
    raise CoercionError(f"{raw!r}: unknown unit {word!r}")
