from django.core.management.base import BaseCommand

from adce_site.cli import bad_input
from metrics.services import verification_run

from ._verify_output import run_and_report


class Command(BaseCommand):
    help = ("Measure the enabled metrics, compare with their baselines, classify drift (SPEC §4) and record "
            "history. --update applies drift as new baselines, except critical metrics drifting by at least "
            "the approval threshold, which open/refresh a pending approval request instead. Values measured "
            "within their TTL are reused from the cache unless --no-cache. Exit 0 when nothing verified is "
            "left drifted, pending approval or in error; 1 otherwise; 2 on bad input.")

    def add_arguments(self, parser):
        parser.add_argument("--update", action="store_true", help="apply drift as new baselines (approval rule applies)")
        parser.add_argument("--category", help="verify only this category")
        parser.add_argument("--metric", help="verify only this metric (category.name)")
        parser.add_argument("--trigger", default="manual", help="what started this run (recorded), default manual")
        parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
        parser.add_argument("--quiet", action="store_true", help="print only problems and the summary")
        parser.add_argument("--no-cache", action="store_true", help="measure everything fresh, ignoring cached values")

    def handle(self, *args, **o):
        trigger = (o["trigger"] or "").strip()
        if not trigger or len(trigger) > 40:
            raise bad_input(f"--trigger: must be 1 to 40 characters, got {o['trigger']!r}")
        run_and_report(self, o, lambda progress: verification_run(
            trigger=trigger, category=o["category"], metric=o["metric"], update=o["update"],
            use_cache=not o["no_cache"], progress=progress))
