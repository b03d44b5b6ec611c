"""How a scraper is started (SPEC §13): a command scraper is a child process (argv, never a shell,
its own process group so a timeout kills everything it started); an HTTP scraper gets the task
document POSTed, signed like §9. Runners know nothing of the database.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from reconciliation.orchestration.rules import tail

KILL_GRACE_SECONDS = 5
HTTP_TIMEOUT_SECONDS = 30


@dataclass(slots=True)
class Outcome:
    exit_status: int | None = None
    error: str = ""          # why the run failed before or beside its exit status (not found, timeout…)
    stderr_tail: str = ""
    accepted: bool = False   # HTTP: the scraper took the task and finishes it through the task API


def write_task_file(document: dict, directory: str | None = None) -> str:
    fd, path = tempfile.mkstemp(prefix="adce-task-", suffix=".json", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(document, fh, indent=2, default=str)
    return path


class CommandRun:
    """A started child process; `wait()` bounds it by its deadline and collects the outcome.
    stdout/stderr go to files (not pipes), so many children can run without a reader each."""

    def __init__(self, argv: list[str], task_file: str, timeout_seconds: float):
        self.argv = [a.replace("{task_file}", task_file) for a in argv]
        self.task_file = task_file
        self.deadline = time.monotonic() + timeout_seconds
        self.timeout_seconds = timeout_seconds
        self.proc: subprocess.Popen | None = None
        self.outcome = Outcome()
        self._stderr = tempfile.TemporaryFile()
        self._stdout = tempfile.TemporaryFile()

    def start(self) -> "CommandRun":
        env = {**os.environ, "ADCE_TASK_FILE": self.task_file}
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._stdout,
                                         stderr=self._stderr, env=env, start_new_session=True)
        except FileNotFoundError:
            self.outcome.error = f"scraper command not found: {self.argv[0]}"
        except PermissionError:
            self.outcome.error = f"scraper command not executable: {self.argv[0]}"
        except OSError as exc:
            self.outcome.error = f"scraper command could not start: {self.argv[0]}: {exc.strerror or exc}"
        return self

    def wait(self) -> Outcome:
        if self.proc is not None:
            try:
                self.outcome.exit_status = self.proc.wait(timeout=max(0.0, self.deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._kill_group()
                self.outcome.exit_status = self.proc.returncode
                self.outcome.error = f"timed out after {self.timeout_seconds / 60:g} minutes (process group killed)"
            else:
                # The scraper exited; anything it left behind in its group goes too.
                self._kill_group(grace=0)
            if self.outcome.exit_status is not None and self.outcome.exit_status < 0 and not self.outcome.error:
                self.outcome.error = f"killed by signal {_signal_name(-self.outcome.exit_status)}"
        self._stderr.seek(0)
        self.outcome.stderr_tail = tail(self._stderr.read().decode("utf-8", "replace"))
        self._stderr.close()
        self._stdout.close()
        return self.outcome

    def _kill_group(self, grace: float = KILL_GRACE_SECONDS) -> None:
        """SIGTERM the whole group, give it `grace` seconds, then SIGKILL whatever is left."""
        pgid = self.proc.pid  # start_new_session: the child leads its own group
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            if sig == signal.SIGTERM and grace:
                try:
                    self.proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    pass
        self.proc.wait()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_task(url: str, document: dict, *, secret: str, timeout_seconds: float = HTTP_TIMEOUT_SECONDS) -> Outcome:
    """POST the task document with X-ADCE-Signature (HMAC-SHA256 of the raw body, as §9). 2xx =
    accepted; anything else (or no answer) is a failure with the status and the start of the body."""
    body = json.dumps(document, default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "adce-dispatch"}
    if secret:
        headers["X-ADCE-Signature"] = sign(body, secret)
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_seconds) as response:
            return Outcome(exit_status=response.status, accepted=200 <= response.status < 300)
    except urllib.error.HTTPError as exc:
        text = exc.read(300).decode("utf-8", "replace").strip()
        return Outcome(exit_status=exc.code, error=f"HTTP {exc.code} from {url}" + (f": {text}" if text else ""))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Outcome(error=f"scraper unreachable: {url}: {reason}")


def remove_quietly(path: str) -> None:
    try:
        Path(path).unlink()
    except OSError:
        pass
