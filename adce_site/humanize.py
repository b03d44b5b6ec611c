"""Numbers as an operator reads them on the admin pages (never in files or APIs, which keep raw units)."""
from __future__ import annotations


def size_label(n: int | float | None) -> str:
    """Bytes in decimal units, as S3 and `du --si` count them: 4,755,152 → "4.8 MB"."""
    if n is None:
        return "—"
    n = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{int(n):,} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} PB"  # pragma: no cover - unreachable


def duration_label(seconds: float | None) -> str:
    """0.0042 → "4 ms", 1.25 → "1.2 s", 95 → "1 min 35 s", 7300 → "2 h 1 min"."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def when_label(value) -> str:
    """A moment in UTC, short and sortable by eye: "2026-12-06 20:03"."""
    if value is None:
        return "—"
    import datetime as dt

    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M")


def when_html(value):
    """when_label for a table cell: date and time never broken inside, but the time may go to a second
    line when the column must be narrow."""
    from django.utils.html import format_html

    if value is None:
        return "—"
    day, _, clock = when_label(value).partition(" ")
    return format_html('<span class="adce-nw">{}</span> <span class="adce-nw">{}</span>', day, clock)


def duration_ms_label(ms: int | None) -> str:
    return "—" if ms is None else duration_label(ms / 1000)
