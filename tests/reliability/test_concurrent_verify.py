"""Verify from the git hook and from the scheduler at the same moment (PostgreSQL): three processes —
the post-commit hook's event (update: true), a `cron:` hook's schedule (update: true) and the daily
scheduled verify — all in flight together (a file barrier at their first probe). All complete; each
run has one measurement per metric; one pending approval request for the critical metric; the
baseline moved once to the measured value, consistently with the measurements that applied it."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

from approvals.models import ApprovalRequest
from metrics.models import Measurement, MetricDefinition, VerificationRun

from .test_worker_faults import _database_url

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROLES = ("git", "cron", "schedule")


@pytest.fixture
def lake_metrics(tmp_path):
    from metrics.services import metric_import, verification_run

    dirs = {}
    for name in ("a", "b", "crit"):
        d = dirs[name] = tmp_path / name
        d.mkdir()
        for i in range(4):
            (d / f"{i}.json").write_text("{}")
    config = tmp_path / "metrics.yaml"
    config.write_text("""
approval: {enabled: true, require_approval_threshold: 10, critical_metrics: ["lake.crit_files"]}
events:
  cooldown_seconds: 0
  hooks:
    - {name: git_post_commit, trigger: post-commit, metrics: ["lake.*"], update: true}
    - {name: nightly_check, trigger: "cron:0 6 * * *", metrics: ["lake.*"], update: true}
metrics:
  lake:
""" + "".join(f"    {n}_files: {{kind: file_count, path: {d}}}\n" for n, d in dirs.items()))
    metric_import(config)
    assert verification_run(update=True, use_cache=False).status == "completed"  # baselines: 4 each
    for d in dirs.values():  # +100 %: a and b drift (applied), crit drifts past the approval threshold
        for i in range(4, 8):
            (d / f"{i}.json").write_text("{}")
    return dirs


def test_hook_and_scheduler_verify_at_the_same_moment(tmp_path, lake_metrics):
    folder = tmp_path / "barrier"
    folder.mkdir()
    env = {**os.environ, "DATABASE_URL": _database_url(), "ADCE_VAR_DIR": str(tmp_path / "var")}
    env.pop("ADCE_REDIS_URL", None)
    procs = {role: subprocess.Popen([sys.executable, "-m", "tests.reliability.verify_racer", role, str(folder),
                                     str(len(ROLES))], cwd=settings.BASE_DIR, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for role in ROLES}
    outputs = {role: p.communicate(timeout=120)[0] for role, p in procs.items()}
    for role, p in procs.items():
        assert p.returncode == 0, f"{role}:\n{outputs[role][-3000:]}"
        assert (folder / f"result-{role}.json").exists()
    assert len(list(folder.glob("measuring-*"))) == 3  # all three were in flight together

    runs = list(VerificationRun.objects.order_by("pk"))[1:]  # the first is the fixture's
    assert len(runs) == 3
    assert sorted(r.trigger for r in runs) == ["git_post_commit", "schedule", "schedule"]
    assert sorted(r.update for r in runs) == [False, True, True]  # both hooks update, adce:verify does not
    metric_ids = set(MetricDefinition.objects.values_list("pk", flat=True))
    for run in runs:
        assert run.status == "completed", (run.trigger, run.error)
        per_metric = list(run.measurements.values_list("metric_id", flat=True))
        assert sorted(per_metric) == sorted(metric_ids)  # one measurement per metric, none twice
        assert all(m.value == 8 and m.error == "" for m in run.measurements.all())

    # one pending approval request for the critical metric, whichever run raised it last
    crit = MetricDefinition.objects.get(name="crit_files")
    pending = ApprovalRequest.objects.filter(metric=crit, status="pending")
    assert pending.count() == 1
    assert ApprovalRequest.objects.count() == 1
    assert pending.get().proposed_value == 8 and pending.get().baseline_value == 4
    assert crit.baseline_value == 4  # not moved: it waits for review

    # non-critical baselines moved to the measured value; the measurements that applied it are from
    # the update runs, and each measurement recorded the baseline it was judged against
    for name in ("a_files", "b_files"):
        m = MetricDefinition.objects.get(name=name)
        assert m.baseline_value == 8
        applied = Measurement.objects.filter(metric=m, run__in=runs, applied=True)
        assert 1 <= applied.count() <= 2 and all(a.run.update for a in applied)
        assert all(x.baseline_value in (4, 8) for x in Measurement.objects.filter(metric=m, run__in=runs))
    assert not VerificationRun.objects.filter(status="running").exists()
    results = {role: json.loads((folder / f"result-{role}.json").read_text()) for role in ROLES}
    assert results["git"]["status"] == "done" and results["cron"]["status"] == "done"
