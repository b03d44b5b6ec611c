"""manage.py history METRIC --days N [--json] — a metric's values over time with statistics."""
from django.core.management.base import BaseCommand

from adce_site.cli import bad_input, emit_json, parse_int_option
from metrics.management.commands._text import fmt_value
from metrics.selectors import MetricNotFound, metric_get, metric_history

DEFAULT_DAYS = 30


def _signed(value) -> str:
    if value is None:
        return "-"
    return f"+{value}" if value > 0 else str(value)

MAX_DAYS = 36600  # a century; far beyond any retention, and no datetime overflow


class Command(BaseCommand):
    help = (
        "Show a metric's measurements of the last N days with the change from the previous successful "
        "measurement, the overall trend (first to last) and min/max/mean/stddev (population standard "
        "deviation). Failed measurements are listed as errors and left out of every statistic."
    )

    def add_arguments(self, parser):
        parser.add_argument("metric", help="dotted metric name, CATEGORY.NAME")
        parser.add_argument("--days", metavar="N", default=str(DEFAULT_DAYS), help=f"window in days, at least 1 (default {DEFAULT_DAYS})")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args, **options):
        days = parse_int_option(options["days"], "--days", minimum=1, maximum=MAX_DAYS)
        try:
            metric = metric_get(options["metric"])
        except MetricNotFound as exc:
            raise bad_input(f"METRIC: {exc}") from None
        history = metric_history(metric, days)
        if options["json"]:
            emit_json(self.stdout, history.as_dict())
            return
        w = self.stdout.write
        w(f"{history.metric} — last {days} days ({len(history.points)} measurements, {history.stats.errors} errors)")
        for p in history.points:
            when = p.measured_at.strftime("%Y-%m-%d %H:%M:%S")
            if p.is_error:
                w(f"  {when}  ERROR  {p.error}")
            else:
                pct = "" if p.delta_pct is None else f" ({p.delta_pct:+.2f}%)"
                w(f"  {when}  {fmt_value(p.value):>16}  {_signed(p.delta):>12}{pct}  {p.status}")
        t, s = history.trend, history.stats
        pct = "" if t.change_pct is None else f" ({t.change_pct:+.2f}%)"
        w(f"trend: {fmt_value(t.first)} -> {fmt_value(t.last)}  change {_signed(t.change)}{pct}  [{t.direction}]")
        w(f"min {fmt_value(s.min)}  max {fmt_value(s.max)}  mean {fmt_value(s.mean)}  stddev {fmt_value(s.stddev)} (population, n={s.count})")
