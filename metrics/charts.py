"""Server-rendered SVG line charts: a pure function from values to an SVG string.

No JavaScript and no external assets, so the same chart works in the admin, in an HTML report
opened from disk and in a notebook. Every piece of text is XML-escaped.
"""
from __future__ import annotations

import datetime as dt
from typing import Sequence
from xml.sax.saxutils import escape

Number = int | float
Point = tuple[dt.datetime | None, Number]

MAX_MARKERS = 120  # beyond this a marker per point is just noise


def _fmt(value: Number) -> str:
    # Axis labels live in a 64px margin: big numbers are shortened (1.23M), exact values are in
    # the points' tooltips and in the tables beside the chart.
    for limit, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _label_time(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M")


def line_chart_svg(
    points: Sequence[Point],
    *,
    title: str = "",
    width: int = 640,
    height: int = 200,
    errors: Sequence[dt.datetime] = (),
    baseline: Number | None = None,
) -> str:
    """An SVG line chart of `points` ((time or None, number), oldest first).

    x is proportional to time when every point has one, else to the index. `errors` are times of
    failed measurements, drawn as red ticks on the x axis (they have no value). `baseline`, when
    numeric, is drawn as a dashed line."""
    left, right, top, bottom = 64, 12, 24 if title else 10, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" class="adce-chart" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title or 'chart')}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>',
    ]
    if title:
        parts.append(f'<text x="{left}" y="15" font-size="13" font-weight="bold">{escape(title)}</text>')
    parts.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#ccc"/>'
    )

    values = [v for _, v in points]
    if not values:
        parts.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" text-anchor="middle" fill="#888">no data</text>'
        )
        parts.append("</svg>")
        return "".join(parts)

    y_values = values + ([baseline] if baseline is not None else [])
    lo, hi = min(y_values), max(y_values)
    if lo == hi:  # a flat series sits in the middle
        lo, hi = lo - 1, hi + 1

    times = [t for t, _ in points]
    by_time = all(t is not None for t in times) and len(points) > 1 and times[0] != times[-1]
    all_times = list(times) + list(errors)
    if by_time:
        t0 = min(t for t in all_times)
        t1 = max(t for t in all_times)
        span = (t1 - t0).total_seconds() or 1.0

        def x_of(i: int, t: dt.datetime | None) -> float:
            return left + (t - t0).total_seconds() / span * plot_w
    else:
        n = len(points)

        def x_of(i: int, t: dt.datetime | None) -> float:
            return left + (plot_w / 2 if n == 1 else i / (n - 1) * plot_w)

    def y_of(v: Number) -> float:
        return top + (1 - (v - lo) / (hi - lo)) * plot_h

    # y axis: min and max labels with grid lines
    for v in (min(y_values), max(y_values)):
        y = y_of(v)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{escape(_fmt(v))}</text>')
    if baseline is not None:
        y = y_of(baseline)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#999" stroke-dasharray="4 3">'
            f"<title>{escape('baseline ' + _fmt(baseline))}</title></line>"
        )

    coords = [(x_of(i, t), y_of(v)) for i, (t, v) in enumerate(points)]
    parts.append(
        '<polyline fill="none" stroke="#2266cc" stroke-width="2" points="'
        + " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        + '"/>'
    )
    if len(points) <= MAX_MARKERS:
        for (x, y), (t, v) in zip(coords, points):
            label = (_label_time(t) + " " if t else "") + (f"{v:,}" if isinstance(v, int) else repr(v))
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#2266cc"><title>{escape(label)}</title></circle>')

    if by_time:
        for t in errors:
            x = x_of(0, t)
            parts.append(
                f'<line x1="{x:.1f}" y1="{top + plot_h - 6}" x2="{x:.1f}" y2="{top + plot_h}" stroke="#cc2222" stroke-width="2">'
                f"<title>{escape('error at ' + _label_time(t))}</title></line>"
            )

    base_y = top + plot_h + 16
    first_t, last_t = times[0], times[-1]
    if first_t is not None:
        parts.append(f'<text x="{left}" y="{base_y}" fill="#555">{escape(_label_time(first_t))}</text>')
    if last_t is not None and len(points) > 1:
        parts.append(
            f'<text x="{left + plot_w}" y="{base_y}" text-anchor="end" fill="#555">{escape(_label_time(last_t))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def history_chart_svg(history, **kwargs) -> str:
    """Chart of a selectors.History: numeric successes as the line, errors as red ticks."""
    from .selectors import is_number

    baseline = history.baseline if is_number(history.baseline) else None
    return line_chart_svg(
        history.numeric_series(),
        title=kwargs.pop("title", history.metric),
        errors=[p.measured_at for p in history.points if p.is_error],
        baseline=baseline,
        **kwargs,
    )

