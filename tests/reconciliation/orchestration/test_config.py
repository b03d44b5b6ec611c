"""`import_scrapers FILE [--dry-run]` (SPEC §13): validation, all-or-nothing, exit 2 naming the key."""
import io
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from reconciliation.orchestration.models import OrchestrationLimits, Scraper

pytestmark = pytest.mark.django_db

GOOD = """
limits:
  max_concurrency: 3
  rate_limit: "120/hour"
scrapers:
  espn_async_scraper:
    command: ["python", "scrapers/espn.py", "--task-file", "{task_file}"]
    max_concurrency: 2
    rate_limit: "30/minute"
    timeout_minutes: 30
    max_attempts: 3
    backoff_minutes: [1, 5, 30]
    pause_after_failures: 5
    pause_minutes: 60
  nba_api_async_scraper:
    url: "https://scrapers.internal/nba"
    enabled: false
"""


def write(tmp_path, text, name="scrapers.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_import_creates_scrapers_and_limits(tmp_path):
    out = io.StringIO()
    call_command("import_scrapers", str(write(tmp_path, GOOD)), stdout=out)
    espn = Scraper.objects.get(name="espn_async_scraper")
    assert espn.kind == "command" and espn.command[-1] == "{task_file}" and espn.rate_limit_text == "30/minute"
    assert espn.max_concurrency == 2 and espn.backoff_minutes == [1, 5, 30] and espn.enabled
    nba = Scraper.objects.get(name="nba_api_async_scraper")
    assert nba.kind == "http" and not nba.enabled and nba.max_attempts == 3  # defaults
    limits = OrchestrationLimits.load()
    assert limits.max_concurrency == 3 and limits.rate_limit_text == "120/hour"
    assert "2 new" in out.getvalue()


def test_reimport_keeps_the_breaker_state_and_retires_missing_scrapers(tmp_path):
    call_command("import_scrapers", str(write(tmp_path, GOOD)), stdout=io.StringIO())
    Scraper.objects.filter(name="espn_async_scraper").update(consecutive_failures=4)
    smaller = GOOD.split("  nba_api_async_scraper:")[0]
    call_command("import_scrapers", str(write(tmp_path, smaller, "b.yaml")), stdout=io.StringIO())
    assert Scraper.objects.get(name="espn_async_scraper").consecutive_failures == 4
    assert not Scraper.objects.get(name="nba_api_async_scraper").declared


def test_dry_run_writes_nothing(tmp_path):
    out = io.StringIO()
    call_command("import_scrapers", str(write(tmp_path, GOOD)), "--dry-run", stdout=out)
    assert "would import 2" in out.getvalue()
    assert not Scraper.objects.exists() and not OrchestrationLimits.objects.exists()


BAD = [
    ("    max_attempts: 3\n", "    max_attemps: 3\n", "scrapers.espn_async_scraper.max_attemps: unknown key"),
    ('    rate_limit: "30/minute"\n', '    rate_limit: "30 per minute"\n',
     "scrapers.espn_async_scraper.rate_limit: bad rate limit"),
    ('    command: ["python", "scrapers/espn.py", "--task-file", "{task_file}"]\n',
     '    command: "python scrapers/espn.py --task-file {task_file}"\n',
     "scrapers.espn_async_scraper.command: must be a list of arguments (argv), not a string"),
    ('  rate_limit: "120/hour"\n', '  rate_limit: "0/hour"\n', "limits.rate_limit: bad rate limit"),
    ("    backoff_minutes: [1, 5, 30]\n", "    backoff_minutes: [1, -5]\n",
     "scrapers.espn_async_scraper.backoff_minutes[1]: must be at least 0"),
    ('    url: "https://scrapers.internal/nba"\n', '    url: "ftp://scrapers.internal/nba"\n',
     "scrapers.nba_api_async_scraper.url: must be an http:// or https:// URL"),
    ("    timeout_minutes: 30\n", "    timeout_minutes: 30\n    url: http://x/\n",
     "scrapers.espn_async_scraper: needs exactly one of `command` (argv list) or `url`"),
]


@pytest.mark.parametrize("old,new,message", BAD, ids=[b[2].split(":")[0] + ":" + b[2].split(":")[1] for b in BAD])
def test_bad_input_exits_2_naming_the_key_and_changes_nothing(tmp_path, old, new, message):
    call_command("import_scrapers", str(write(tmp_path, GOOD)), stdout=io.StringIO())
    before = list(Scraper.objects.order_by("pk").values()), list(OrchestrationLimits.objects.values())
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new), "bad.yaml")
    with pytest.raises(CommandError) as exc:
        call_command("import_scrapers", str(path), stdout=io.StringIO())
    assert exc.value.returncode == 2
    text = str(exc.value)
    assert "\n" not in text and text.startswith(str(path)) and message in text
    assert (list(Scraper.objects.order_by("pk").values()), list(OrchestrationLimits.objects.values())) == before


def test_missing_file_and_bad_yaml(tmp_path):
    for path, message in ((tmp_path / "nope.yaml", "no such file"),
                          (write(tmp_path, "scrapers: [\n", "broken.yaml"), "invalid YAML")):
        with pytest.raises(CommandError) as exc:
            call_command("import_scrapers", str(path), stdout=io.StringIO())
        assert exc.value.returncode == 2 and message in str(exc.value)


def test_oversize_and_deeply_nested_files_are_refused_before_parsing(tmp_path):
    """The scrapers file is read like the coverage file: bounded before the YAML loader runs."""
    from adce_site.yaml_limits import MAX_BYTES, MAX_DEPTH

    oversize = write(tmp_path, GOOD + "#" * MAX_BYTES, "big.yaml")
    nested = write(tmp_path, "scrapers: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n", "deep.yaml")
    for path, message in ((oversize, "file too large"), (nested, "nested too deeply")):
        with pytest.raises(CommandError) as exc:
            call_command("import_scrapers", str(path), stdout=io.StringIO())
        assert exc.value.returncode == 2 and "refused before parsing" in str(exc.value) and message in str(exc.value)
    assert not Scraper.objects.exists()


def test_command_line_exit_code_and_single_line(tmp_path):
    """The real process: exit 2, one line on stderr, no traceback."""
    path = write(tmp_path, GOOD.replace("    max_attempts: 3\n", "    max_attemps: 3\n"))
    proc = subprocess.run([sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "import_scrapers", str(path)],
                          capture_output=True, text=True, cwd=settings.BASE_DIR,
                          env={**__import__("os").environ, "ADCE_VAR_DIR": str(tmp_path / "var")})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "max_attemps: unknown key" in lines[0] and "Traceback" not in proc.stderr
