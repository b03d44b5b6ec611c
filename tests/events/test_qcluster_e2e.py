"""End to end: a real `manage.py qcluster` process (ORM broker) on PostgreSQL processes an event
emitted by `emit_event`, running the real verification service for the hook's metrics."""
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from bench.orchestration_bench import stop_cluster
from events.choices import FINISHED_STATUSES
from events.models import Event

DEADLINE_SECONDS = 120


def _database_url() -> str:
    s = connection.settings_dict  # the test database while the test runs
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def run_qcluster_until_finished(event, env: dict, log_path: Path) -> None:
    """Start a real `qcluster` with `env`, poll the database until `event` is finished (bounded by
    DEADLINE_SECONDS), then stop the cluster's whole process group."""
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "qcluster"],
                                cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # its own process group: nothing outlives the test
        try:
            deadline = time.monotonic() + DEADLINE_SECONDS
            while time.monotonic() < deadline:
                event.refresh_from_db()
                if event.status in FINISHED_STATUSES:
                    return
                assert proc.poll() is None, f"qcluster exited early: {log_path.read_text()[-2000:]}"
                time.sleep(0.2)  # polling the database, not synchronising on time
        finally:
            stop_cluster(proc)


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_qcluster_processes_an_emitted_event(tmp_path):
    from metrics.services import metric_import

    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        (data / f"f{i}.json").write_text("{}")
    config = tmp_path / "metrics.yaml"
    config.write_text(f"""
events:
  cooldown_seconds: 60
  hooks:
    - {{name: e2e_check, trigger: e2e_ping, metrics: ["e2e.*"]}}
metrics:
  e2e:
    files:
      kind: file_count
      path: {data}
""")
    metric_import(config)
    call_command("emit_event", "e2e_ping", "--source", "pytest", stdout=io.StringIO())
    event = Event.objects.get()
    assert event.status == "pending"

    env = {**os.environ, "DATABASE_URL": _database_url(), "ADCE_VAR_DIR": str(tmp_path / "var"),
           "ADCE_Q_POLL": "0.2", "ADCE_Q_WORKERS": "1"}  # same broker settings as this process
    run_qcluster_until_finished(event, env, tmp_path / "qcluster.log")
    assert event.status == "done", f"{event.status}: {event.error}\n{(tmp_path / 'qcluster.log').read_text()[-3000:]}"
    run = event.verification_run
    assert run is not None and run.status == "completed" and run.trigger == "event"
    assert run.measurements.get().value == 3
