"""adce_site.checks: the django-q2 timeout must stay below its retry (issue 15 item 7)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adce_site.checks import q_timeout_below_retry

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("timeout, retry, error_id", [
    (1800, 2100, None), (4, 5, None),
    (2100, 2100, "adce.E002"), (3000, 2100, "adce.E002"), (1800, None, "adce.E002"),
    (None, 2100, "adce.E001"), (0, 2100, "adce.E001"),
])
def test_timeout_must_be_below_retry(settings, timeout, retry, error_id):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": timeout, "retry": retry}
    errors = q_timeout_below_retry()
    assert [e.id for e in errors] == ([error_id] if error_id else [])
    assert all(e.level >= 40 for e in errors)  # Error, not Warning: `check` and qcluster refuse to go on


def test_manage_py_check_fails_on_the_reviews_setting(tmp_path):
    env = {**os.environ, "ADCE_Q_TIMEOUT": "3000", "ADCE_VAR_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0 and "adce.E002" in done.stderr and "(3000 s) must be below" in done.stderr
    env["ADCE_Q_TIMEOUT"] = "1800"
    assert subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                          timeout=120).returncode == 0
