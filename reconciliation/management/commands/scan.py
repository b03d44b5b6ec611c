"""manage.py scan — inventory what is stored (SPEC §7)."""
from django.core.management.base import BaseCommand

from adce_site.cli import StderrProgress, bad_input, emit_json
from reconciliation.choices import ScanMode
from reconciliation.services.scan import scan_run, scan_summary
from reconciliation.services.scan_plan import ScanFailed, ScanInputError


class Command(BaseCommand):
    # A data command run daily by schedulers and scrapers: no system checks at every start (they load
    # the URLconf and with it the admin, ~0.35 s); `manage.py check --deploy` runs at deploy time.
    requires_system_checks = []
    help = (
        "Inventory what is stored for the active sources (all by default): list their locations (or read an "
        "S3 Inventory report), match every key to a data type and partition, and replace the inventory of the "
        "scanned locations. A failed listing is recorded as a failed scan and changes no inventory. "
        "Sampling only estimates (counts scaled by 1/R) and never writes the inventory."
    )

    def add_arguments(self, parser):
        parser.add_argument("--source", action="append", dest="sources", metavar="S",
                            help="scan only this source (repeatable); default: every active source")
        parser.add_argument("--location", metavar="URI",
                            help="list this location instead of the source's own (needs exactly one --source)")
        parser.add_argument("--inventory-manifest", dest="manifest", metavar="URI",
                            help="read this S3 Inventory report's manifest.json instead of listing")
        parser.add_argument("--allow-empty-inventory", action="store_true", dest="allow_empty",
                            help="accept an inventory report whose manifest lists no data file (\"files\": []) "
                                 "and empty the inventory of its bucket; without it such a report is refused")
        parser.add_argument("--sample-rate", dest="sample_rate", metavar="R",
                            help="estimate from a stable sample of the keys, 0 < R <= 1 (never feeds gaps)")
        parser.add_argument("--seed", metavar="N", help="seed of the sample (default 0)")
        parser.add_argument("--parallel", action="store_true",
                            help="with --inventory-manifest on PostgreSQL: one django-q2 task per data file, run by "
                                 "the cluster's workers (qcluster), one inventory swap at the end")
        parser.add_argument("--no-wait", action="store_true", dest="no_wait",
                            help="with --parallel: print the queued run and return instead of waiting for it")
        parser.add_argument("--json", action="store_true", help="print the scan run as one JSON document")

    def handle(self, *args, **opts):
        rate = seed = None
        if opts["sample_rate"] is not None:
            try:
                rate = float(opts["sample_rate"])
            except ValueError:
                raise bad_input(f"--sample-rate: {opts['sample_rate']!r} is not a number") from None
        if opts["seed"] is not None:
            try:
                seed = int(opts["seed"])
            except ValueError:
                raise bad_input(f"--seed: {opts['seed']!r} is not an integer") from None
        progress = StderrProgress(self.stderr)
        if opts["no_wait"] and not opts["parallel"]:
            raise bad_input("--no-wait needs --parallel (a sequential scan runs in this process)")
        if opts["parallel"] and rate is not None:
            raise bad_input("--parallel: a sample writes no inventory; scan it without --parallel")
        try:
            if opts["parallel"]:
                run = self._parallel(opts, progress)
            else:
                run = scan_run(sources=opts["sources"], location=opts["location"], manifest_uri=opts["manifest"],
                               sample_rate=rate, seed=seed, trigger="manual", progress=progress,
                               allow_empty_report=opts["allow_empty"])
        except ScanInputError as exc:
            raise bad_input(str(exc)) from None
        except ScanFailed as exc:
            # An unreachable location or unreadable report is bad input (exit 2); the failed run is recorded.
            raise bad_input(f"scan #{exc.run.pk if exc.run else '-'} failed: {exc}") from None
        if opts["json"]:
            emit_json(self.stdout, scan_summary(run))
        else:
            est = f" (estimated {run.estimated_objects} objects, {run.estimated_bytes} bytes)" if run.mode == ScanMode.SAMPLE else ""
            self.stdout.write(
                f"scan #{run.pk} {run.status} ({run.mode}): {run.objects_seen} objects, {run.bytes_seen} bytes, "
                f"{run.matched_count} matched, {run.unmatched_count} unmatched{est} in {run.duration_ms} ms"
            )
            for key in run.unmatched_examples[:10]:
                self.stdout.write(f"  unmatched: {key}")

    @staticmethod
    def _parallel(opts, progress):
        from adce_site.choices import RunStatus
        from reconciliation.services.scan_parallel import scan_parallel_start, scan_parallel_wait

        run = scan_parallel_start(manifest_uri=opts["manifest"], sources=opts["sources"], location=opts["location"],
                                  allow_empty_report=opts["allow_empty"], progress=progress)
        if not opts["no_wait"]:
            run = scan_parallel_wait(run.pk, progress=progress)
        if RunStatus(run.status).is_failure:
            raise ScanFailed(run.error, run)
        return run
