import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.metrics.reports_factories import make_metric, measure

pytestmark = pytest.mark.django_db


@pytest.fixture
def lake():
    m = make_metric("s3.objects", baseline=100)
    measure(m, 100, timezone.now() - timezone.timedelta(days=2))
    measure(m, 120, timezone.now() - timezone.timedelta(days=1), status="moderate", severity="high", drift_pct=20.0)
    return m


@pytest.mark.parametrize("fmt", ["md", "json", "html", "ipynb"])
def test_generate_writes_each_format(lake, tmp_path, capsys, fmt):
    call_command("generate", "--format", fmt, "--output", str(tmp_path))
    path = tmp_path / f"metrics_report.{fmt}"
    assert capsys.readouterr().out.strip() == str(path)
    text = path.read_text()
    if fmt == "md":
        assert "| s3.objects |" in text
    elif fmt == "json":
        assert json.loads(text)["metrics"][0]["latest"]["value"] == 120
    elif fmt == "html":
        assert "<svg" in text
    else:
        nbformat.validate(nbformat.reads(text, as_version=4))


def test_generate_default_output_is_relative_to_cwd(lake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    call_command("generate", "--format", "md")
    assert (tmp_path / "inventory" / "outputs" / "metrics_report.md").exists()


@pytest.mark.parametrize("args, needle", [
    (["--format", "pdf"], "--format: unknown format 'pdf'"),
    ([], "--format: required"),
    (["--format", "md", "--days", "0"], "--days: must be at least 1"),
    (["--format", "md", "--days", "x"], "--days: 'x' is not an integer"),
    (["--format", "md", "--days", "10000000000"], "--days: at most 36600"),
])
def test_generate_bad_input_exits_2_and_writes_nothing(lake, tmp_path, args, needle):
    with pytest.raises(CommandError) as exc:
        call_command("generate", *args, "--output", str(tmp_path / "out"))
    assert exc.value.returncode == 2
    assert needle in str(exc.value) and "\n" not in str(exc.value)
    assert not (tmp_path / "out").exists()


def test_generate_output_is_a_file_exits_2(lake, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("keep")
    with pytest.raises(CommandError) as exc:
        call_command("generate", "--format", "md", "--output", str(blocker))
    assert exc.value.returncode == 2 and "not a directory" in str(exc.value)
    assert blocker.read_text() == "keep"


def test_generate_unknown_format_from_the_shell_is_one_line_exit_2(tmp_path):
    env = {**os.environ, "ADCE_VAR_DIR": str(tmp_path / "var")}
    env.pop("DATABASE_URL", None)
    proc = subprocess.run([sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "generate", "--format", "pdf",
                           "--output", str(tmp_path / "out")], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "unknown format 'pdf'" in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_generated_notebook_runs_against_a_database(lake, tmp_path):
    """Execute the notebook's code cells (no Jupyter needed) in a fresh interpreter, outside the
    project directory, against a migrated throw-away SQLite database."""
    call_command("generate", "--format", "ipynb", "--output", str(tmp_path))
    nb = nbformat.read(tmp_path / "metrics_report.ipynb", as_version=4)
    env = {**os.environ, "ADCE_VAR_DIR": str(tmp_path / "var")}
    env.pop("DATABASE_URL", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    manage = str(Path(settings.BASE_DIR) / "manage.py")
    subprocess.run([sys.executable, manage, "migrate", "-v0"], check=True, env=env, cwd=tmp_path)
    seed = ("from metrics.models import MetricDefinition, Measurement\n"
            "m = MetricDefinition.objects.create(category='s3', name='objects', kind='s3_object_count', parse_type='integer')\n"
            "Measurement.objects.create(metric=m, value=7, status='new', severity='none')\n")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    first, rest = nb.cells[0].source, "\n".join(c.source for c in nb.cells[1:] if c.cell_type == "code")
    script = tmp_path / "run_cells.py"
    script.write_text(first + "\n" + seed + "\n" + rest)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "s3.objects" in proc.stdout and "7" in proc.stdout
    assert "stats (population stddev)" in proc.stdout
    assert code  # the notebook has code cells at all
