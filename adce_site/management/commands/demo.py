"""`manage.py demo`: the newcomer's first run on embedded defaults.

Migrates the database, collects the static files (WhiteNoise serves them, so the admin is styled with
DEBUG off), builds a synthetic NBA lake in a local folder, loads the fixture coverage, catalogs and
metrics, creates an admin login, runs scan, reconcile and verify, and serves the admin with a django-q2
worker beside it. Ctrl-C or SIGTERM stops both (docs/deployment.md, README).
"""
import datetime as dt
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from adce_site.cli import bad_input
from adce_site.demo_lake import build_demo_lake
from metrics.models import MetricDefinition
from reconciliation.orchestration.demo import demo_scrapers_declare


WORKER_STOP_SECONDS = 30


class Command(BaseCommand):
    help = "Build the demo lake, load fixtures, verify, scan, reconcile, and serve the admin."

    def add_arguments(self, parser):
        parser.add_argument("--dir", default=None, help="Where the demo lake and its files go (default: var/demo).")
        parser.add_argument("--rebuild", action="store_true", help="Rebuild the lake even if it exists.")
        parser.add_argument("--seasons", type=int, default=12, help="Seasons in the lake, the current one included (default 12: ~50,000 objects).")
        parser.add_argument("--no-serve", action="store_true", help="Stop after loading; do not serve the admin.")
        parser.add_argument("--addr", default="127.0.0.1:8000", help="Address for the admin server.")
        parser.add_argument("--username", default="admin")

    def step(self, title, fn):
        started = time.monotonic()
        self.stdout.write(f"== {title}")
        result = fn()
        self.stdout.write(f"   done in {time.monotonic() - started:.1f}s")
        return result

    def handle(self, *args, **opts):
        if not 2 <= opts["seasons"] <= 30:
            raise bad_input(f"--seasons: must be from 2 to 30, got {opts['seasons']}")
        root = Path(opts["dir"] or settings.VAR_DIR / "demo").resolve()
        today = dt.datetime.now(dt.timezone.utc).date()
        self.step("migrate", lambda: call_command("migrate", verbosity=0, interactive=False))
        # WhiteNoise serves the collected (hashed, compressed) files: without them the admin is unstyled.
        self.step(f"collect static files into {settings.STATIC_ROOT}",
                  lambda: call_command("collectstatic", interactive=False, verbosity=0))

        def build():
            if (root / "lake").exists() and (root / "coverage.yaml").exists() and not opts["rebuild"]:
                self.stdout.write(f"   reusing {root} (--rebuild to start over)")
                return None
            import shutil

            shutil.rmtree(root / "lake", ignore_errors=True)
            root.mkdir(parents=True, exist_ok=True)
            summary = build_demo_lake(root, today=today, seasons=opts["seasons"])
            self.stdout.write(
                f"   {summary.objects:,} objects, {summary.bytes / 1e6:.1f} MB, seasons {summary.seasons[0]}…"
                f"{summary.current_season}, {summary.games:,} catalog games ({summary.future_games:,} after today); "
                f"planted: {summary.planted}"
            )
            return summary

        self.step(f"demo lake in {root}", build)
        self.step("import coverage", lambda: call_command("import_coverage", str(root / "coverage.yaml"), stdout=self.stdout))
        for source in ("espn", "nba_api", "basketball_reference"):
            self.step(
                f"import catalog {source}",
                lambda s=source: call_command("import_catalog", str(root / f"catalog_{s}.csv"), source=s, stdout=self.stdout),
            )
        self.step("import metrics", lambda: call_command("import_metrics", str(root / "metrics.yaml"), stdout=self.stdout))
        # Before verify: the metric accounts.staff_users counts this login, so creating it after the
        # first baselines would make the next run report a drift the demo caused itself.
        password = self.step("admin login", lambda: self._admin(opts["username"]))
        first_run = not MetricDefinition.objects.filter(baseline_set_at__isnull=False).exists()
        self.step("scan", lambda: call_command("scan", stdout=self.stdout))
        gaps_file = root / "gaps.json"
        self.step(
            f"reconcile → {gaps_file}",
            lambda: call_command("reconcile", use_cache=True, output=str(gaps_file), stdout=self.stdout),
        )

        def verify():
            try:
                call_command("verify", update=True, stdout=self.stdout)
            except SystemExit as exc:  # verify exits 1 when something drifted: expected on a first run
                if exc.code not in (0, 1):
                    raise

        self.step("verify --update (first baselines)" if first_run else "verify --update", verify)
        self.step("declare the demo scraper", lambda: self.stdout.write(demo_scrapers_declare(root).summary()))
        self.step("django-q2 schedules", lambda: call_command("setup_schedules", stdout=self.stdout))
        self.stdout.write(
            self.style.SUCCESS(f"\nAdmin: http://{opts['addr']}/admin/  user: {opts['username']}  password: {password}\n")
        )
        if opts["no_serve"]:
            return
        self._serve(opts["addr"])

    def _admin(self, username):
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=username, defaults={"email": f"{username}@localhost"})
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        return password

    def _serve(self, addr):
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        # Its own process group: the demo alone decides when the cluster stops (Ctrl-C in the terminal
        # reaches only the demo), and can end every process of it — the cluster's sentinel and workers
        # included — if it does not stop in time.
        worker = subprocess.Popen([sys.executable, manage, "qcluster"], start_new_session=True)
        self.stdout.write(f"django-q2 worker started (pid {worker.pid}); serving the admin — Ctrl-C stops both")
        self.stdout.flush()
        # SIGTERM (a service manager, `kill`) takes the same way out as Ctrl-C, through the `finally`
        # below: by default it would end this process at once and leave the worker running, orphaned.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            call_command("runserver", addr, use_reloader=False)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            self._stop_worker(worker)

    def _stop_worker(self, worker: subprocess.Popen) -> None:
        """SIGTERM to the cluster (it stops its workers, letting a running task end), then whatever of its
        process group is left is killed: nothing outlives the demo."""
        worker.terminate()
        try:
            worker.wait(timeout=WORKER_STOP_SECONDS)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):  # too slow, or a second Ctrl-C
            self.stderr.write(f"the django-q2 worker did not stop within {WORKER_STOP_SECONDS} s: killed")
        try:
            os.killpg(worker.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass  # the whole group has already exited
        worker.wait()
        if worker.returncode not in (0, -signal.SIGTERM, -signal.SIGKILL):
            raise CommandError(f"the django-q2 worker exited with {worker.returncode}")


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")
