"""manage.py reconcile — HAVE vs SHOULD, gaps and the task queue (SPEC §6–§8)."""
from django.core.management.base import BaseCommand, CommandError

from adce_site.cli import StderrProgress, bad_input, emit_json, parse_iso_date
from events.notifications import notify_reconcile
from reconciliation.services.reconcile import ReconcileFailed, ReconcileInputError, ReconcileOutputError, reconcile_run


class Command(BaseCommand):
    # A data command run daily by schedulers and scrapers: no system checks at every start (they load
    # the URLconf and with it the admin, ~0.35 s); `manage.py check --deploy` runs at deploy time.
    requires_system_checks = []
    help = (
        "Scan every active source (unless --use-cache and a complete scan is fresh), compare what is stored "
        "with the expected coverage as of a date, record gaps (open / resolved / ignored) with priorities, "
        "create backfill tasks for gaps no open task covers, and optionally write the task queue file. "
        "A scan that fails changes no gap and no task (exit 2)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--use-cache", action="store_true",
                            help="reuse the inventory when a complete scan of every active source finished "
                                 "within ADCE_SCAN_CACHE_HOURS (default 24) and after the last coverage/catalog import")
        parser.add_argument("--dry-run", action="store_true",
                            help="write nothing anywhere (no runs, gaps, tasks or file); report what would change")
        parser.add_argument("--as-of", dest="as_of", metavar="DATE", help="judge as of this date (default: today, UTC)")
        parser.add_argument("--output", metavar="FILE", help="write the task queue (gaps.json, SPEC §8) here, atomically")
        parser.add_argument("--json", action="store_true", help="print the summary as one JSON document")

    def handle(self, *args, **opts):
        as_of = parse_iso_date(opts["as_of"], "--as-of") if opts["as_of"] else None
        try:
            run = reconcile_run(use_cache=opts["use_cache"], dry_run=opts["dry_run"], as_of=as_of,
                                output=opts["output"], trigger="manual", progress=StderrProgress(self.stderr))
        except ReconcileInputError as exc:
            raise bad_input(str(exc)) from None
        except ReconcileFailed as exc:
            raise bad_input(f"reconcile{f' #{exc.run.pk}' if exc.run else ''} failed: {exc}") from None
        except ReconcileOutputError as exc:
            # Gaps and tasks are committed; only the file is missing: not bad input, a failure (exit 1).
            raise CommandError(f"reconcile #{exc.run.pk} completed, but {exc}", returncode=1) from None
        if not run.dry_run:
            notify_reconcile(run.pk)  # CRITICAL gaps opened → email/webhook; never fails the run
        s = run.summary
        if opts["json"]:
            emit_json(self.stdout, s)
            return
        g, t = s["gaps"], s["tasks"]
        head = "dry run — would" if s["dry_run"] else f"reconcile #{run.pk}:"
        self.stdout.write(
            f"{head} open {g['opened']}, update {g['updated']}, resolve {g['resolved']} gap(s); "
            f"create {t['created']} task(s), finish {t['done']} (as of {s['as_of']})"
        )
        self.stdout.write("gaps now: " + ", ".join(f"{k} {v}" for k, v in g["by_priority"].items())
                          + " | " + ", ".join(f"{k} {v}" for k, v in g["by_kind"].items()))
        if s.get("output"):
            self.stdout.write(("would write " if s["dry_run"] else "wrote ") + s["output"]["path"])
        self.stdout.write("timings: " + ", ".join(f"{k} {v}s" for k, v in s["timings"].items()))
