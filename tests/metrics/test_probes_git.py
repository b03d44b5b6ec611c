"""git_commit_count over a throw-away repository."""
import subprocess

import pytest

from metrics.probes import REGISTRY, ProbeContext, ProbeError


def git(repo, *args, date=None):
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x", "HOME": str(repo), "PATH": "/usr/bin:/bin"}
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


def run(base_dir, **params):
    probe = REGISTRY["git_commit_count"]
    return probe.func(probe.validate(params, base_dir=base_dir), ProbeContext())


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "commit", "--allow-empty", "-q", "-m", "rec_ first", date="2025-09-01T12:00:00Z")
    git(tmp_path, "commit", "--allow-empty", "-q", "-m", "rec_ second", date="2025-10-05T12:00:00Z")
    git(tmp_path, "commit", "--allow-empty", "-q", "-m", "other", date="2025-10-06T12:00:00Z")
    git(tmp_path, "checkout", "-q", "-b", "side")
    git(tmp_path, "commit", "--allow-empty", "-q", "-m", "rec_ side", date="2025-10-07T12:00:00Z")
    git(tmp_path, "checkout", "-q", "main")
    return tmp_path


def test_counts(repo):
    assert run(repo, repo=".") == 3
    assert run(repo, repo=".", all_branches=True) == 4
    assert run(repo, repo=".", since="2025-10-01") == 2
    assert run(repo, repo=".", grep="rec_") == 2
    assert run(repo, repo=".", grep="rec_", since="2025-10-01", all_branches=True) == 2
    assert run(repo, repo=".", ref="side") == 4


def test_yaml_date_is_accepted(repo):
    import datetime as dt

    params = REGISTRY["git_commit_count"].validate({"repo": ".", "since": dt.date(2025, 10, 1)}, base_dir=repo)
    assert params["since"] == "2025-10-01"


def test_not_a_repository_is_an_error(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(ProbeError, match="git rev-list failed"):
        run(tmp_path, repo="plain")


def test_ignore_case_is_grep_i(repo):
    git(repo, "commit", "--allow-empty", "-q", "-m", "REC_ shouting", date="2025-10-08T12:00:00Z")
    assert run(repo, repo=".", grep="rec_") == 2
    assert run(repo, repo=".", grep="rec_", ignore_case=True) == 3
    out = subprocess.run("git log --oneline | grep -i 'rec_' | wc -l", shell=True, cwd=repo, capture_output=True,
                         text=True, check=True).stdout
    assert int(out) == 3


def test_ignore_case_must_be_a_boolean(repo):
    from metrics.probes.base import ParamError

    with pytest.raises(ParamError) as info:
        REGISTRY["git_commit_count"].validate({"repo": ".", "grep": "x", "ignore_case": "yes"}, base_dir=repo)
    assert info.value.key == "ignore_case"
