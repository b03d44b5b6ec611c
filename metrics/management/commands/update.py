from django.core.management.base import BaseCommand

from adce_site.cli import StderrProgress, bad_input
from events.notifications import notify_verification
from metrics.services import MetricSelectionError, metric_update

from ._verify_output import run_report


class Command(BaseCommand):
    help = ("Measure the enabled metrics fresh (never from the cache) and apply the values as new baselines. "
            "Critical metrics drifting by at least the approval threshold are not applied: a pending approval "
            "request is opened or refreshed instead. Exit 0 when everything was applied, 1 when something is "
            "pending approval or in error, 2 on bad input.")

    def add_arguments(self, parser):
        parser.add_argument("--category", help="update only this category")
        parser.add_argument("--metric", help="update only this metric (category.name)")
        parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
        parser.add_argument("--quiet", action="store_true", help="print only problems and the summary")

    def handle(self, *args, **o):
        progress = StderrProgress(self.stderr, quiet=o["quiet"] or o["json"])
        try:
            run = metric_update(category=o["category"], metric=o["metric"], progress=progress)
        except MetricSelectionError as exc:
            raise bad_input(str(exc)) from None
        notify_verification(run.pk)  # critical severity → email/webhook; never fails the run
        run_report(self, run, as_json=o["json"], quiet=o["quiet"])
        if run.summary.get("unresolved"):
            raise SystemExit(1)
