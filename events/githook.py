"""The git post-commit hook that emits `git_post_commit` (`manage.py install_git_hook`).

The hook runs `emit_event` in the background (nohup … &) so a commit never waits for ADCE, and
appends to a log file. Our lines live between two marker lines, so installing again replaces
only them (idempotent). A post-commit hook that was there before is renamed post-commit.local
and run first by ours, so nothing the repository already did is lost.
"""
from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

BEGIN = "# >>> ADCE post-commit hook (managed by `manage.py install_git_hook`) >>>"
END = "# <<< ADCE post-commit hook <<<"
LOCAL_NAME = "post-commit.local"


class GitHookError(ValueError):
    """Not a git repository, or a hook layout we will not touch; the message says why."""


@dataclass
class HookInstall:
    hook_path: str
    action: str                 # installed | updated | unchanged
    chained: str | None         # the previous hook, now post-commit.local


def hooks_dir(repo: Path) -> Path:
    """The repository's hooks folder (honours core.hooksPath and worktrees)."""
    if not repo.is_dir():
        raise GitHookError(f"--repo {repo}: no such directory")
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "--git-path", "hooks"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitHookError(f"--repo {repo}: cannot run git ({exc})") from None
    if out.returncode != 0:
        raise GitHookError(f"--repo {repo}: not a git repository")
    path = Path(out.stdout.strip())
    return path if path.is_absolute() else (repo / path).resolve()


def render_block(*, python: str, manage: str, log_file: str, repo: str) -> str:
    q = shlex.quote
    payload_prefix = '{"repo": ' + json.dumps(repo) + ', "commit": "'
    return "\n".join([
        BEGIN,
        "# Emits git_post_commit in the background; the commit does not wait. Log: " + log_file,
        'ADCE_HOOK_DIR=$(dirname "$0")',
        f'if [ -x "$ADCE_HOOK_DIR/{LOCAL_NAME}" ]; then',
        f'    "$ADCE_HOOK_DIR/{LOCAL_NAME}" "$@"',
        "fi",
        f"ADCE_LOG={q(log_file)}",
        'mkdir -p "$(dirname "$ADCE_LOG")" 2>/dev/null',
        "ADCE_COMMIT=$(git rev-parse HEAD 2>/dev/null)",
        'echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) post-commit $ADCE_COMMIT" >> "$ADCE_LOG" 2>/dev/null',
        f"ADCE_PAYLOAD={q(payload_prefix)}\"$ADCE_COMMIT\"'\"}}'",
        f"nohup {q(python)} {q(manage)} emit_event git_post_commit --source git "
        '--payload "$ADCE_PAYLOAD" >> "$ADCE_LOG" 2>&1 < /dev/null &',
        END,
    ]) + "\n"


def _replace_block(text: str, block: str) -> str:
    start = text.index(BEGIN)
    end = text.index(END, start) + len(END)
    tail = text[end:]
    if tail.startswith("\n"):
        tail = tail[1:]
    return text[:start] + block + tail


def install_hook(repo: Path, *, python: str, manage: str, log_file: str) -> HookInstall:
    repo = repo.resolve()
    directory = hooks_dir(repo)
    hook = directory / "post-commit"
    local = directory / LOCAL_NAME
    block = render_block(python=python, manage=manage, log_file=log_file, repo=str(repo))
    chained = None
    if hook.exists():
        text = hook.read_text()
        if BEGIN in text and END in text:
            new_text = _replace_block(text, block)
            action = "unchanged" if new_text == text else "updated"
        else:
            if local.exists():
                raise GitHookError(
                    f"{hook} exists and so does {local}: merge them by hand, then run install_git_hook again"
                )
            os.replace(hook, local)
            chained = str(local)
            new_text = "#!/bin/sh\n" + block
            action = "installed"
    else:
        directory.mkdir(parents=True, exist_ok=True)
        new_text = "#!/bin/sh\n" + block
        action = "installed"
    if action != "unchanged":
        hook.write_text(new_text)
    mode = hook.stat().st_mode
    hook.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRUSR)
    if chained is None and local.exists():
        chained = str(local)
    return HookInstall(hook_path=str(hook), action=action, chained=chained)
