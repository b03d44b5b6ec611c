import io
import re
import shlex
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent
TEST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]' && .venv/bin/python -m pytest"


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    head = readme[:2500]
    assert "manage.py demo" in head
    assert TEST_COMMAND in head
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text()


def test_the_repository_tracks_no_virtualenv():
    """The README's first step creates .venv: a tracked .venv (a committed symlink, say) makes
    `python3 -m venv .venv` fail on a fresh clone."""
    import subprocess

    tracked = subprocess.run(["git", "ls-files", "--", ".venv*"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert tracked.stdout == ""


def _try_it() -> tuple[str, list[str], list[str]]:
    """The README's "Try it": the two bash blocks (commands) and the two output blocks after them."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Try it"):readme.index("### Watch the loop heal")]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, re.S)
    commands = [body for lang, body in blocks if lang == "bash"]
    outputs = [body for lang, body in blocks if lang == ""]
    assert len(commands) == 2 and len(outputs) == 2, "Try it: two command blocks, each followed by its output"
    return section, commands, outputs


def test_try_it_scans_while_the_folder_is_away_and_shows_gaps_open_then_resolve():
    _, commands, outputs = _try_it()
    away, back = commands
    assert re.search(r"^mv var/demo/lake/\S+ /tmp/\S+", away, re.M) and "$M scan" in away
    assert re.search(r"^mv /tmp/\S+ var/demo/lake/\S+", back, re.M) and "$M scan" in back
    opened = int(re.search(r"reconcile #\d+: open (\d+),", outputs[0]).group(1))
    resolved = int(re.search(r"reconcile #\d+: open 0, update \d+, resolve (\d+) gap", outputs[1]).group(1))
    assert opened > 0 and resolved == opened


def _run(line: str, stdout) -> None:
    for part in line.split("#")[0].split("&&"):
        args = shlex.split(part.strip())
        if not args:
            continue
        if args[0] == "mv":
            shutil.move(args[1], args[2])
            continue
        assert args[0] == "$M", f"Try it: unexpected command {part!r}"
        try:
            call_command(*args[1:], stdout=stdout, stderr=io.StringIO())
        except SystemExit as exc:  # verify exits 1 when something drifted or waits for approval
            assert exc.code in (0, 1), (part, exc.code)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_try_it_commands_do_what_the_readme_says(tmp_path, monkeypatch):
    """The README's commands, run as written on a smaller demo lake (4 seasons: one of them in the old
    layout the walkthrough moves away): gaps open, then every one of them resolves, and the approval
    requests the drift raised are superseded once the metrics are back."""
    from approvals.models import ApprovalRequest
    from reconciliation.models import Gap, ReconcileRun

    _, commands, _ = _try_it()
    monkeypatch.chdir(tmp_path)  # the README's relative paths (var/demo/lake/…) land here
    call_command("demo", "--no-serve", "--seasons", "4", "--dir", str(tmp_path / "var" / "demo"), stdout=io.StringIO())
    away_dir = Path(re.search(r"^mv var/demo/lake/\S+ (/tmp/\S+)", commands[0], re.M).group(1))
    moved_to = tmp_path / away_dir.name  # not the machine's /tmp: parallel runs must not collide
    out = io.StringIO()
    for line in commands[0].splitlines():
        _run(line.replace(str(away_dir), str(moved_to)), out)
    opened = ReconcileRun.objects.order_by("-pk").first().summary["gaps"]["opened"]
    assert opened > 0 and Gap.objects.filter(status="open").count() > opened
    pending = set(ApprovalRequest.objects.filter(status="pending").values_list("pk", flat=True))
    assert pending, "the drift raised approval requests"
    for line in commands[1].splitlines():
        _run(line.replace(str(away_dir), str(moved_to)), out)
    last = ReconcileRun.objects.order_by("-pk").first().summary["gaps"]
    assert (last["opened"], last["resolved"]) == (0, opened)
    assert set(ApprovalRequest.objects.filter(status="superseded").values_list("pk", flat=True)) == pending


def _watch_the_loop() -> tuple[str, str]:
    """The README's "Watch the loop heal": its one command block and the output shown after it."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Watch the loop heal"):readme.index("## What it is")]
    (command,), (output,) = ([body for lang, body in re.findall(r"```(\w*)\n(.*?)```", section, re.S) if lang == want]
                             for want in ("bash", ""))
    return command.strip(), output


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_watch_the_loop_heal_runs_the_demo_scraper_and_verifies_what_it_wrote(tmp_path, monkeypatch):
    """`$M dispatch --once` after `demo --no-serve` starts the demo scraper on the most urgent tasks, within
    the demo's global limit, and every run the README shows as succeeded closed its gaps by a stat."""
    from reconciliation.models import Gap, Task
    from reconciliation.choices import ScraperRunStatus
    from reconciliation.orchestration.models import ScraperRun

    command, output = _watch_the_loop()
    assert command == "$M dispatch --once"
    shown = re.findall(r"succeeded \((\d+)/(\d+) present\)", output)
    assert shown and all(a == b for a, b in shown)
    monkeypatch.chdir(tmp_path)
    call_command("demo", "--no-serve", "--seasons", "4", "--dir", str(tmp_path / "var" / "demo"), stdout=io.StringIO())
    open_before = Gap.objects.filter(status="open").count()
    out = io.StringIO()
    _run(command, out)
    runs = list(ScraperRun.objects.all())
    assert 0 < len(runs) <= 2, "the demo's global concurrency is 2"
    assert out.getvalue().count("succeeded") == sum(r.status == ScraperRunStatus.SUCCEEDED for r in runs) > 0
    healed = sum(r.partitions_resolved for r in runs)
    assert healed > 0 and Gap.objects.filter(status="open").count() == open_before - healed
    assert Task.objects.filter(pk__in=[r.task_id for r in runs], status="done").count() == \
        sum(r.status == ScraperRunStatus.SUCCEEDED for r in runs)
