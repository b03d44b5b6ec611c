from django.core.management.base import BaseCommand

from metrics.services import metric_update

from ._verify_output import run_and_report


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
        run_and_report(self, o, lambda progress: metric_update(category=o["category"], metric=o["metric"],
                                                                progress=progress))
