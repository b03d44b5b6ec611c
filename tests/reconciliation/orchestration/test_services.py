"""Dispatch, run, verify, finish (SPEC §13) with real child processes on a file:// lake."""
import datetime as dt
import io
import json
import sys

import pytest
from django.core import mail
from django.core.management import call_command

from reconciliation.choices import GapStatus, ScraperRunStatus, TaskStatus
from reconciliation.models import Gap, Task
from reconciliation.orchestration.models import Scraper, ScraperRun
from reconciliation.orchestration.dispatch import dispatch_claim, dispatch_once
from reconciliation.orchestration.services import scraper_resume, scrapers_import
from reconciliation.services.reconcile import reconcile_run

from .conftest import AS_OF, demo_command, scrapers_yaml

pytestmark = pytest.mark.django_db


def declare(tmp_path, body: str, limits: str = "", name="espn_scraper"):
    scrapers_import(scrapers_yaml(tmp_path / "scrapers.yaml", {name: body}, limits))


def open_partitions():
    return set(Gap.objects.filter(status=GapStatus.OPEN).values_list("partition", flat=True))


def test_a_scraper_that_writes_heals_every_gap(lake, tmp_path):
    declare(tmp_path, demo_command() + "    max_concurrency: 5\n")
    assert Task.objects.filter(status=TaskStatus.PENDING).count() == 3
    result, runs = dispatch_once()
    assert len(runs) == 3 and all(r.status == ScraperRunStatus.SUCCEEDED for r in runs)
    assert open_partitions() == set()
    assert set(Task.objects.values_list("status", flat=True)) == {TaskStatus.DONE}
    assert sum(r.partitions_expected for r in runs) == sum(r.partitions_verified for r in runs) == 5
    assert sum(r.partitions_resolved for r in runs) == 5 and sum(r.partitions_missing for r in runs) == 0
    run = runs[0]
    assert run.finished_at >= run.started_at and run.duration_ms is not None and run.attempt == 1
    # what verification found is in the inventory
    from reconciliation.models import StoredObject
    assert StoredObject.objects.filter(partition="g2", data_type__name="pbp").exists()
    # the next reconcile agrees: nothing to queue
    assert reconcile_run(as_of=AS_OF).summary["tasks"]["created"] == 0


def test_a_scraper_that_exits_0_without_writing_cannot_close_a_gap(lake, tmp_path):
    declare(tmp_path, demo_command("--mode", "lie") + "    backoff_minutes: [0]\n    max_attempts: 2\n"
            "    max_concurrency: 5\n")
    _, runs = dispatch_once()
    assert all(r.status == ScraperRunStatus.FAILED and r.exit_status == 0 for r in runs)
    assert {r.reason for r in runs} == {"2 of 2 partitions still missing", "1 of 1 partitions still missing"}
    assert open_partitions() == {"g2", "g3", "g4", "g5", "g6"}
    assert set(Task.objects.values_list("status", "last_error")) >= {(TaskStatus.PENDING, "2 of 2 partitions still missing")}
    _, runs = dispatch_once()  # attempt 2 of 2: failed for good
    assert len(runs) == 3 and all(r.attempt == 2 for r in runs)
    assert set(Task.objects.values_list("status", flat=True)) == {TaskStatus.FAILED}
    assert len(mail.outbox) == 0  # no recipients configured: nothing sent, nothing raised


def test_partial_failure_heals_what_it_can_then_fails_for_good(lake, tmp_path, settings):
    settings.ADCE_NOTIFY_EMAILS = ["ops@example.org"]
    declare(tmp_path, demo_command("--fail-ids", "g3") + "    backoff_minutes: [0]\n    max_attempts: 2\n"
            "    max_concurrency: 5\n")
    _, runs = dispatch_once()
    assert open_partitions() == {"g3"}
    failed = Task.objects.get(gaps__partition="g3")
    assert failed.status == TaskStatus.PENDING and failed.last_error.startswith("exit status 1: could not fetch espn.pbp g3")
    bad_run = next(r for r in runs if r.task_id == failed.pk)
    assert (bad_run.partitions_verified, bad_run.partitions_missing, bad_run.partitions_resolved) == (1, 1, 1)
    assert "could not fetch" in bad_run.stderr_tail
    _, runs = dispatch_once()
    assert len(runs) == 1 and runs[0].attempt == 2 and runs[0].partitions_expected == 1
    failed.refresh_from_db()
    assert failed.status == TaskStatus.FAILED and failed.attempts == 2
    assert len(mail.outbox) == 1 and str(failed.pk) in mail.outbox[0].subject
    # reconcile does not queue g3 again until an operator requeues the task
    assert reconcile_run(as_of=AS_OF).summary["tasks"]["created"] == 0
    assert dispatch_claim().started == []
    call_command("tasks", "requeue", str(failed.pk), stdout=io.StringIO())
    failed.refresh_from_db()
    assert failed.status == TaskStatus.PENDING and failed.attempts == 0


def test_a_scraper_binary_that_does_not_exist_fails_the_task_with_that_reason(lake, tmp_path):
    declare(tmp_path, '    command: ["/nonexistent/scraper", "{task_file}"]\n    max_attempts: 1\n')
    _, runs = dispatch_once()
    assert runs[0].reason == "scraper command not found: /nonexistent/scraper" and runs[0].exit_status is None
    task = Task.objects.get(pk=runs[0].task_id)
    assert task.status == TaskStatus.FAILED and task.last_error == "scraper command not found: /nonexistent/scraper"


def test_too_small_a_file_heals_nothing(lake, tmp_path):
    code = ("import json,os,pathlib;d=json.load(open(os.environ['ADCE_TASK_FILE']));r=d['location'][7:];"
            "[(pathlib.Path(r,k).parent.mkdir(parents=True,exist_ok=True),pathlib.Path(r,k).write_text('x')) "
            "for k in d['expected_keys']]")
    declare(tmp_path, f'    command: ["{sys.executable}", "-c", "{code}"]\n    max_concurrency: 5\n')
    _, runs = dispatch_once()
    assert all(r.exit_status == 0 and r.partitions_resolved == 0 for r in runs)
    assert open_partitions() == {"g2", "g3", "g4", "g5", "g6"}
    assert all(r.reason.endswith("partitions still missing") for r in runs)


def test_the_task_document_and_its_file(lake, tmp_path):
    out = tmp_path / "seen.json"
    code = f"import os,shutil,sys;shutil.copy(os.environ['ADCE_TASK_FILE'], {str(out)!r});assert sys.argv[1]==os.environ['ADCE_TASK_FILE']"
    declare(tmp_path, f'    command: ["{sys.executable}", "-c", "{code}", "{{task_file}}"]\n    max_concurrency: 1\n')
    _, runs = dispatch_once()
    assert runs[0].exit_status == 0, runs[0].stderr_tail
    doc = json.loads(out.read_text())
    assert doc["priority"] == "CRITICAL" and doc["location"] == f"file://{lake}/"  # the most urgent first
    assert doc["expected_keys"] == [f"pbp/{g}.json" for g in doc["game_ids"]] and doc["scraper"] == "espn_scraper"
    assert not any(p.name.startswith("adce-task-") for p in (tmp_path).iterdir())


def test_timeout_kills_the_whole_process_group(lake, tmp_path):
    pidfile = tmp_path / "child.pid"
    code = (f"import subprocess,time;p=subprocess.Popen(['sleep','60']);open({str(pidfile)!r},'w').write(str(p.pid));"
            "time.sleep(60)")
    declare(tmp_path, f'    command: ["{sys.executable}", "-c", "{code}"]\n    timeout_minutes: 0.03\n'
            "    max_concurrency: 1\n")
    _, runs = dispatch_once()
    assert runs[0].reason.startswith("timed out after 0.03 minutes")
    child = int(pidfile.read_text())
    assert not alive(child)


def alive(pid: int) -> bool:
    """Running (a zombie left for an init that does not reap is dead too)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_limits_and_backoff_hold_between_passes(lake, tmp_path):
    declare(tmp_path, demo_command("--mode", "lie") + "    max_concurrency: 1\n    rate_limit: \"2/hour\"\n"
            "    backoff_minutes: [10]\n")
    first = dispatch_claim()
    assert len(first.started) == 1 and first.blocked["scraper concurrency"] == 1
    ScraperRun.objects.filter(pk=first.started[0]).update(status=ScraperRunStatus.FAILED)  # as if it ended
    Task.objects.filter(status=TaskStatus.CLAIMED).update(status=TaskStatus.PENDING, claimed_by="")
    second = dispatch_claim()
    assert len(second.started) == 1 and second.blocked["backoff"] == 0  # its run has no finished_at yet
    ScraperRun.objects.filter(pk=second.started[0]).update(status=ScraperRunStatus.FAILED)
    third = dispatch_claim()
    assert third.started == [] and third.blocked["scraper rate limit"] == 1 and third.wake_at is not None


def test_backoff_and_global_limits(lake, tmp_path):
    declare(tmp_path, demo_command("--mode", "lie") + "    backoff_minutes: [10]\n    max_concurrency: 5\n",
            limits="  max_concurrency: 2\n")
    result, runs = dispatch_once()
    assert len(runs) == 2 and result.blocked["global concurrency"] == 1
    again = dispatch_claim()  # the third task starts; the two that failed wait for their backoff
    assert len(again.started) == 1 and again.blocked["backoff"] == 2
    assert again.wake_at is not None


def test_priority_order_critical_first_then_oldest(lake, tmp_path):
    declare(tmp_path, demo_command() + "    max_concurrency: 1\n")
    critical = Task.objects.get(priority="CRITICAL")
    first = dispatch_claim()
    assert ScraperRun.objects.get(pk=first.started[0]).task_id == critical.pk


def test_circuit_breaker_pauses_and_resume_reopens(lake, tmp_path):
    declare(tmp_path, '    command: ["/nonexistent/scraper"]\n    pause_after_failures: 2\n    pause_minutes: 60\n'
            "    backoff_minutes: [0]\n    max_attempts: 9\n    max_concurrency: 5\n")
    dispatch_once()
    scraper = Scraper.objects.get()
    assert scraper.is_paused() and scraper.consecutive_failures == 3
    assert "consecutive failures" in scraper.pause_reason and "not found" in scraper.pause_reason
    blocked = dispatch_claim()
    assert blocked.started == [] and blocked.blocked["paused"] == 3
    scraper_resume(scraper)
    assert len(dispatch_claim().started) == 3


def test_disabled_and_undeclared_scrapers_are_never_started(lake, tmp_path):
    declare(tmp_path, demo_command() + "    enabled: false\n")
    result = dispatch_claim()
    assert result.started == [] and result.blocked["disabled"] == 3
    declare(tmp_path, demo_command(), name="another_scraper")  # espn_scraper no longer declared
    assert dispatch_claim().started == []


def test_a_task_claimed_elsewhere_is_not_started_again(lake, tmp_path):
    from reconciliation.services.task_queue import task_claim

    declare(tmp_path, demo_command() + "    max_concurrency: 5\n")
    held = task_claim(scraper="espn_scraper", worker="someone")
    result = dispatch_claim()
    started = set(ScraperRun.objects.filter(pk__in=result.started).values_list("task_id", flat=True))
    assert held.pk not in started and len(started) == 2


def test_dispatch_json(lake, tmp_path):
    declare(tmp_path, demo_command() + "    max_concurrency: 5\n")
    out = io.StringIO()
    call_command("dispatch", "--once", "--json", stdout=out)
    doc = json.loads(out.getvalue())
    assert doc["started"] == 3 and {r["status"] for r in doc["runs"]} == {"succeeded"}
    assert {r["task_status"] for r in doc["runs"]} == {"done"}


def test_dispatch_once_exits_1_when_a_run_did_not_finish_its_task(lake, tmp_path):
    declare(tmp_path, demo_command("--mode", "lie") + "    max_concurrency: 1\n")
    with pytest.raises(SystemExit) as exc:
        call_command("dispatch", "--once", stdout=io.StringIO())
    assert exc.value.code == 1


def test_a_lost_worker_frees_its_slot(lake, tmp_path):
    from reconciliation.services.task_queue import tasks_expire_leases

    declare(tmp_path, demo_command() + "    max_concurrency: 1\n")
    first = dispatch_claim()
    assert dispatch_claim().started == []  # the slot is held
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)
    tasks_expire_leases(later)  # the worker died: its lease ran out
    result = dispatch_claim()
    assert result.reaped == 1 and len(result.started) == 1
    assert ScraperRun.objects.get(pk=first.started[0]).status == ScraperRunStatus.LOST


def test_a_lost_last_attempt_fails_the_task_for_good_with_a_notification(lake, tmp_path, settings):
    from reconciliation.services.task_queue import tasks_expire_leases

    settings.ADCE_NOTIFY_EMAILS = ["ops@example.org"]
    declare(tmp_path, demo_command() + "    max_concurrency: 1\n    max_attempts: 1\n")
    first = dispatch_claim()
    tasks_expire_leases(dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2))
    dispatch_claim()
    run = ScraperRun.objects.get(pk=first.started[0])
    assert run.status == ScraperRunStatus.LOST and run.task.status == TaskStatus.FAILED
    assert len(mail.outbox) == 1 and "failed for good" in mail.outbox[0].subject


def test_dispatch_without_once_hands_each_run_to_a_worker(lake, tmp_path):
    from django_q.models import OrmQ

    declare(tmp_path, demo_command() + "    max_concurrency: 2\n")
    out = io.StringIO()
    call_command("dispatch", "--json", stdout=out)
    doc = json.loads(out.getvalue())
    assert doc["started"] == 2 and doc["runs"] == []  # nothing waited for here
    queued = [q.task["func"] for q in OrmQ.objects.all()]
    assert queued == ["reconciliation.orchestration.jobs.execute_run"] * 2
    assert ScraperRun.objects.filter(status=ScraperRunStatus.RUNNING, executing_at=None).count() == 2
    # a worker runs one: the run is executed once, even if its job were delivered twice
    from reconciliation.orchestration.jobs import execute_run

    run_id = doc["started_runs"][0]
    assert execute_run(run_id)["status"] == ScraperRunStatus.SUCCEEDED
    assert execute_run(run_id)["status"] == "already executed"
