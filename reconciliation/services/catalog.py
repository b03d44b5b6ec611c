"""The game catalog (SPEC §5): CSV parsing (pure) and `catalog_import` (atomic replace per source).

CSV: a header with game_id, season, game_date (ISO) and optionally season_type, in any order;
other columns are ignored. Every malformed row is collected with its line number (physical line
of the file); if any, nothing is imported and the error lists them (the first MAX_REPORTED, plus a
count). Seasons are normalised like coverage seasons ("2024" → "2023-24").
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from reconciliation.models import CatalogGame, Source
from reconciliation.domain.seasons import SeasonError, normalize_season

REQUIRED_COLUMNS = ("game_id", "season", "game_date")
OPTIONAL_COLUMNS = ("season_type",)
MAX_REPORTED = 20
GAME_ID_MAX, SEASON_TYPE_MAX = 64, 32
BATCH_SIZE = 5000
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class CatalogError(ValueError):
    """Bad catalog input; one line naming the file and the offending lines."""


@dataclass(frozen=True, slots=True)
class CatalogRow:
    line: int
    game_id: str
    season: str
    game_date: dt.date
    season_type: str = ""


@dataclass(frozen=True, slots=True)
class CatalogImportResult:
    source: str
    path: str
    imported: int
    replaced: int  # rows the previous catalog of this source had

    def summary(self) -> str:
        return f"{self.path}: imported {self.imported} games for {self.source} (replaced {self.replaced})"


def fail_rows(label: str, problems: list[str]):
    shown = "; ".join(problems[:MAX_REPORTED])
    more = f" (and {len(problems) - MAX_REPORTED} more)" if len(problems) > MAX_REPORTED else ""
    noun = "row" if len(problems) == 1 else "rows"
    raise CatalogError(f"{label}: {len(problems)} malformed {noun}, nothing imported: {shown}{more}")


def csv_rows(text: str, label: str, required: tuple[str, ...], optional: tuple[str, ...], problems: list[str]):
    """(index of each column by header name, iterator of (line, record)) over a CSV with a header:
    BOM dropped, NUL refused, blank lines skipped, a row of the wrong width or a CSV syntax error added
    to `problems` with its physical line number. CatalogError for a missing header or column."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:  # PostgreSQL cannot store it; csv would take it as data
        raise CatalogError(f"{label}: line {text.count(chr(10), 0, text.index(chr(0))) + 1}: NUL character, nothing imported")
    shape = ",".join(required) + "".join(f"[,{c}]" for c in optional)
    if not text.strip():
        raise CatalogError(f"{label}: empty file (expected a header {shape})")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except csv.Error as exc:
        raise CatalogError(f"{label}: line 1: {exc}") from None
    names = [h.strip().lower() for h in header]
    missing = [c for c in required if c not in names]
    if missing:
        raise CatalogError(f"{label}: line 1: header lacks column(s) {', '.join(missing)} (expected {shape})")
    dup_cols = sorted({n for n in names if n and names.count(n) > 1})
    if dup_cols:
        raise CatalogError(f"{label}: line 1: column(s) {', '.join(dup_cols)} appear more than once in the header")

    def records():
        while True:
            start = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                problems.append(f"line {start}: {exc}")
                return
            if not record or all(not cell.strip() for cell in record):
                continue  # blank lines are not rows
            if len(record) != len(names):
                problems.append(f"line {start}: expected {len(names)} columns, got {len(record)}")
                continue
            yield start, record

    return {n: i for i, n in enumerate(names)}, records()


def parse_catalog(text: str, label: str) -> list[CatalogRow]:
    """Parse and validate the whole CSV text; CatalogError on any problem."""
    problems: list[str] = []
    index, records = csv_rows(text, label, REQUIRED_COLUMNS, OPTIONAL_COLUMNS, problems)
    rows: list[CatalogRow] = []
    first_line: dict[str, int] = {}
    for line, record in records:
        game_id = record[index["game_id"]].strip()
        season_raw = record[index["season"]].strip()
        date_raw = record[index["game_date"]].strip()
        season_type = record[index["season_type"]].strip() if "season_type" in index else ""
        errors = []
        if not game_id:
            errors.append("empty game_id")
        elif len(game_id) > GAME_ID_MAX:
            errors.append(f"game_id longer than {GAME_ID_MAX} characters")
        elif "/" in game_id:
            errors.append(f"game_id {game_id!r} contains '/'")
        try:
            season = normalize_season(season_raw)
        except SeasonError:
            errors.append(f"invalid season {season_raw!r}")
            season = ""
        try:
            if not _ISO_DATE.fullmatch(date_raw):  # fromisoformat also takes 20240101 and 2024-W01-1
                raise ValueError
            game_date = dt.date.fromisoformat(date_raw)
        except ValueError:
            errors.append(f"invalid game_date {date_raw!r} (expected YYYY-MM-DD)")
            game_date = None
        if len(season_type) > SEASON_TYPE_MAX:
            errors.append(f"season_type longer than {SEASON_TYPE_MAX} characters")
        if game_id:
            if game_id in first_line:
                errors.append(f"duplicate game_id {game_id} (first on line {first_line[game_id]})")
            else:
                first_line[game_id] = line
        if errors:
            problems.append(f"line {line}: {', '.join(errors)}")
            continue
        rows.append(CatalogRow(line, game_id, season, game_date, season_type))
    if problems:
        fail_rows(label, problems)
    if not rows:
        raise CatalogError(f"{label}: no games after the header (an empty catalog is not imported)")
    return rows


def read_csv_text(path: str | Path) -> str:
    """The file's text; CatalogError naming the file when it cannot be read."""
    label = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(f"{label}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{label}: cannot read: {exc}") from None


def load_catalog(path: str | Path) -> list[CatalogRow]:
    return parse_catalog(read_csv_text(path), str(path))


def source_named(source_name: str) -> Source:
    """The source called `source_name`; CatalogError naming the known ones otherwise."""
    source = Source.objects.filter(name=source_name).first()
    if source is None:
        known = ", ".join(Source.objects.order_by("name").values_list("name", flat=True)) or "none imported yet"
        raise CatalogError(f"--source: unknown source {source_name!r} (known: {known})")
    return source


def catalog_import(source_name: str, path: str | Path) -> CatalogImportResult:
    """Replace the catalog of one source with the file's games, atomically (all or nothing)."""
    source = source_named(source_name)
    rows = load_catalog(path)
    with transaction.atomic():
        replaced, _ = CatalogGame.objects.filter(source=source).delete()
        CatalogGame.objects.bulk_create(
            (CatalogGame(source=source, game_id=r.game_id, season=r.season, game_date=r.game_date,
                         season_type=r.season_type) for r in rows),
            batch_size=BATCH_SIZE,
        )
    return CatalogImportResult(source=source.name, path=str(path), imported=len(rows), replaced=replaced)
