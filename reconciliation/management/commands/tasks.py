"""`manage.py tasks claim|complete|fail|list` — the task queue from a scraper's shell (SPEC §8)."""
from django.core.management.base import BaseCommand

from adce_site.cli import bad_input, emit_json
from reconciliation.choices import TaskStatus
from reconciliation.selectors import known_scrapers, task_document, task_documents, tasks_query
from reconciliation.services.task_queue import (
    LEASE_MINUTES_MAX, LEASE_MINUTES_MIN, TaskError, lease_minutes_problem, task_claim, task_complete, task_fail,
    worker_problem,
)


class Command(BaseCommand):
    # A data command run daily by schedulers and scrapers: no system checks at every start (they load
    # the URLconf and with it the admin, ~0.35 s); `manage.py check --deploy` runs at deploy time.
    requires_system_checks = []
    help = (
        "Claim, complete, fail and list backfill tasks. `claim --json` prints the claimed task's "
        "document, or null when the scraper has no pending task (exit 0 either way). Unknown ids, "
        "unknown scrapers and tasks that are not claimed exit 2."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{claim,complete,fail,list,requeue}")

        claim = sub.add_parser("claim", help="claim the most urgent pending task of a scraper")
        claim.add_argument("--scraper", required=True, help="scraper name, as in the coverage file")
        claim.add_argument("--lease-minutes", type=float, default=30.0,
                           help=f"how long the claim holds before the task returns to pending, "
                                f"{LEASE_MINUTES_MIN}-{LEASE_MINUTES_MAX} minutes (default 30)")
        claim.add_argument("--worker", default="", help="who claims (host/pid); recorded as claimed_by")
        claim.add_argument("--json", action="store_true", help="print the task document (or null)")

        complete = sub.add_parser("complete", help="mark a claimed task done")
        complete.add_argument("id", help="task id (UUID)")
        complete.add_argument("--worker", default=None, help="refuse unless the task is claimed by this worker")
        complete.add_argument("--json", action="store_true")

        fail = sub.add_parser("fail", help="report that a claimed task failed (retried until max attempts)")
        fail.add_argument("id", help="task id (UUID)")
        fail.add_argument("--error", required=True, help="what went wrong (kept as last_error)")
        fail.add_argument("--worker", default=None, help="refuse unless the task is claimed by this worker")
        fail.add_argument("--json", action="store_true")

        requeue = sub.add_parser("requeue", help="give a claimed, done or failed task a fresh start (pending, "
                                                  "attempts 0): how an operator retries a task failed for good")
        requeue.add_argument("id", help="task id (UUID)")
        requeue.add_argument("--json", action="store_true")

        lst = sub.add_parser("list", help="list tasks, most urgent first")
        lst.add_argument("--status", help=f"one of {', '.join(TaskStatus.values)}")
        lst.add_argument("--scraper")
        lst.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        getattr(self, f"_{opts['action']}")(opts)

    # --- actions ---

    def _check_scraper(self, scraper: str) -> None:
        known = known_scrapers()
        if scraper not in known:
            raise bad_input(f"--scraper: unknown scraper {scraper!r} (known: {', '.join(sorted(known)) or 'none'})")

    def _claim(self, opts):
        for flag, problem in (("--lease-minutes", lease_minutes_problem(opts["lease_minutes"])),
                              ("--worker", worker_problem(opts["worker"]))):
            if problem:
                raise bad_input(f"{flag}: {problem}")
        self._check_scraper(opts["scraper"])
        task = task_claim(scraper=opts["scraper"], lease_minutes=opts["lease_minutes"], worker=opts["worker"])
        if opts["json"]:
            emit_json(self.stdout, task_document(task) if task else None)
        elif task is None:
            self.stdout.write(f"no pending task for scraper {opts['scraper']}")
        else:
            doc = task_document(task)
            self.stdout.write(
                f"claimed {doc['id']} {doc['priority']} {doc['gap_type']} {doc['source']}.{doc['data_type']} "
                f"{doc['season'] or '-'}: {doc['missing_files']} partition(s), lease until {doc['lease_expires_at']}"
            )

    def _finish(self, opts, service, **kwargs):
        problem = worker_problem(opts["worker"]) if opts["worker"] is not None else None
        if problem:
            raise bad_input(f"--worker: {problem}")
        try:
            task = service(opts["id"], worker=opts["worker"], **kwargs)
        except TaskError as exc:
            raise bad_input(str(exc)) from None
        if opts["json"]:
            emit_json(self.stdout, task_document(task))
        else:
            self.stdout.write(f"task {task.pk}: {task.status} (attempt {task.attempts}/{task.max_attempts})")

    def _complete(self, opts):
        self._finish(opts, task_complete)

    def _fail(self, opts):
        if not opts["error"].strip():
            raise bad_input("--error: must not be empty")
        self._finish(opts, task_fail, error=opts["error"])

    def _requeue(self, opts):
        from reconciliation.services.task_queue import _get, tasks_requeue

        try:
            task = _get(opts["id"])
        except TaskError as exc:
            raise bad_input(str(exc)) from None
        if not tasks_requeue([task]):
            raise bad_input(f"task {task.pk}: is already pending")
        task.refresh_from_db()
        if opts["json"]:
            emit_json(self.stdout, task_document(task))
        else:
            self.stdout.write(f"task {task.pk}: {task.status} (attempts reset, {task.max_attempts} allowed)")

    def _list(self, opts):
        status = opts["status"]
        if status and status not in TaskStatus.values:
            raise bad_input(f"--status: unknown status {status!r} (one of {', '.join(TaskStatus.values)})")
        if opts["scraper"]:
            self._check_scraper(opts["scraper"])
        docs = task_documents(tasks_query(status=status, scraper=opts["scraper"]))
        if opts["json"]:
            emit_json(self.stdout, {"count": len(docs), "tasks": docs})
            return
        if not docs:
            self.stdout.write("no tasks")
        for d in docs:
            self.stdout.write(
                f"{d['id']}  {d['status']:<7} {d['priority']:<8} {d['gap_type']:<7} {d['scraper']:<24} "
                f"{d['source']}.{d['data_type']} {d['season'] or '-'}  {d['missing_files']} partition(s)  "
                f"attempts {d['attempts']}/{d['max_attempts']}"
            )
