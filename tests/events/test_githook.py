import io
import json
import stat
import subprocess
import time

import pytest
from django.core.management import CommandError, call_command

from events.githook import BEGIN, END, LOCAL_NAME

GIT = ["git", "-c", "user.name=ADCE Test", "-c", "user.email=adce@example.invalid", "-c", "commit.gpgsign=false"]


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "repo"
    path.mkdir()
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


def install(repo, *extra):
    out = io.StringIO()
    call_command("install_git_hook", "--repo", str(repo), "--log-file", str(repo.parent / "log" / "git-hook.log"),
                 "--json", *extra, stdout=out)
    return json.loads(out.getvalue())


def test_installs_an_executable_background_hook(repo):
    doc = install(repo)
    hook = repo / ".git" / "hooks" / "post-commit"
    assert doc["action"] == "installed" and doc["hook"] == str(hook) and doc["chained"] is None
    text = hook.read_text()
    assert text.startswith("#!/bin/sh\n") and text.count(BEGIN) == 1
    assert "emit_event git_post_commit --source git" in text and "nohup " in text and text.rstrip().endswith("&\n" + END)
    assert str(repo.parent / "log" / "git-hook.log") in text
    assert hook.stat().st_mode & stat.S_IXUSR
    subprocess.run(["sh", "-n", str(hook)], check=True)  # valid shell


def test_idempotent(repo):
    install(repo)
    hook = repo / ".git" / "hooks" / "post-commit"
    first = hook.read_text()
    assert install(repo)["action"] == "unchanged"
    assert hook.read_text() == first and first.count(BEGIN) == 1
    assert not (repo / ".git" / "hooks" / LOCAL_NAME).exists()


def test_chains_an_existing_hook_and_keeps_lines_around_the_block(repo):
    hooks = repo / ".git" / "hooks"
    (hooks / "post-commit").write_text("#!/bin/sh\necho archived >> archive.log\n")
    (hooks / "post-commit").chmod(0o755)
    doc = install(repo)
    assert doc["chained"] == str(hooks / LOCAL_NAME)
    assert (hooks / LOCAL_NAME).read_text() == "#!/bin/sh\necho archived >> archive.log\n"
    # someone appends to our hook; reinstalling keeps their line and still installs once
    with (hooks / "post-commit").open("a") as f:
        f.write("echo mine\n")
    doc = install(repo, "--python", "/opt/other/python")
    text = (hooks / "post-commit").read_text()
    assert doc["action"] == "updated" and text.count(BEGIN) == 1 and text.endswith("echo mine\n")
    assert "/opt/other/python" in text
    assert (hooks / LOCAL_NAME).read_text() == "#!/bin/sh\necho archived >> archive.log\n"


def test_refuses_to_guess_when_both_hooks_exist(repo):
    hooks = repo / ".git" / "hooks"
    (hooks / "post-commit").write_text("#!/bin/sh\necho a\n")
    (hooks / LOCAL_NAME).write_text("#!/bin/sh\necho b\n")
    with pytest.raises(CommandError) as exc:
        install(repo)
    assert exc.value.returncode == 2 and "merge them by hand" in str(exc.value)
    assert (hooks / "post-commit").read_text() == "#!/bin/sh\necho a\n"


def test_not_a_git_repo_exits_2(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    for path in (plain, tmp_path / "missing"):
        with pytest.raises(CommandError) as exc:
            install(path)
        assert exc.value.returncode == 2 and str(path) in str(exc.value)
    assert list(plain.iterdir()) == []


def test_a_real_commit_runs_the_old_hook_and_emits_in_the_background(repo, tmp_path):
    """The installed hook, run by git: the chained hook runs, and `emit_event` is started with the
    commit in its payload (a stand-in interpreter records its arguments instead of touching a DB)."""
    hooks = repo / ".git" / "hooks"
    (hooks / "post-commit").write_text(f"#!/bin/sh\necho old-hook-ran > {tmp_path / 'old.txt'}\n")
    (hooks / "post-commit").chmod(0o755)
    calls = tmp_path / "calls.txt"
    fake_python = tmp_path / "fake-python"
    fake_python.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > {calls}.tmp\nmv {calls}.tmp {calls}\n')
    fake_python.chmod(0o755)
    install(repo, "--python", str(fake_python))

    (repo / "f.txt").write_text("x")
    subprocess.run([*GIT, "-C", str(repo), "add", "f.txt"], check=True)
    subprocess.run([*GIT, "-C", str(repo), "commit", "-q", "-m", "test"], check=True)
    sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()

    deadline = time.monotonic() + 20
    while not calls.exists() and time.monotonic() < deadline:  # the hook returned; the emit runs detached
        time.sleep(0.05)
    args = calls.read_text().splitlines()
    assert args[1:6] == ["emit_event", "git_post_commit", "--source", "git", "--payload"]
    assert json.loads(args[6]) == {"repo": str(repo.resolve()), "commit": sha}
    assert (tmp_path / "old.txt").read_text() == "old-hook-ran\n"
    log = (tmp_path / "log" / "git-hook.log").read_text()
    assert f"post-commit {sha}" in log
