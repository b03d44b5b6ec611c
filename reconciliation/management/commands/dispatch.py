"""manage.py dispatch [--once] [--json] — SPEC §13."""
from django.core.management.base import BaseCommand

from adce_site.cli import emit_json
from reconciliation.choices import ScraperRunStatus
from reconciliation.orchestration.selectors import dispatch_document


class Command(BaseCommand):
    requires_system_checks = []
    help = (
        "Start pending backfill tasks, most urgent first, within every concurrency and rate limit (SPEC §13). "
        "Without --once the runs are handed to the django-q2 workers; with --once they run as child "
        "processes of this command, which waits for them and their verification. Exit 0 when every run "
        "it waited for finished its task, 1 otherwise."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run the started scrapers here and wait for them")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args, **opts):
        from reconciliation.orchestration import jobs
        from reconciliation.orchestration.dispatch import dispatch_once

        if opts["once"]:
            result, runs = dispatch_once()
        else:
            result, runs = jobs.dispatch_and_enqueue(), []
        doc = dispatch_document(result, runs)
        if opts["json"]:
            emit_json(self.stdout, doc)
        else:
            self.stdout.write(f"started {len(result.started)} run(s)"
                              + (f"; waiting: {', '.join(f'{k} {v}' for k, v in sorted(result.blocked.items()))}"
                                 if result.blocked else ""))
            for r in doc["runs"]:
                self.stdout.write(f"  {r['task']} {r['scraper']} attempt {r['attempt']}: {r['status']}"
                                  f" ({r['partitions_verified']}/{r['partitions_expected']} present)"
                                  + (f": {r['reason']}" if r["reason"] else ""))
        if any(r["status"] != ScraperRunStatus.SUCCEEDED for r in doc["runs"]):
            raise SystemExit(1)
