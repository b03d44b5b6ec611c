"""`manage.py demo` as a real process, as a newcomer starts it: the README's command on a free port
(`--addr`), its database, static files and lake in a temporary folder (ADCE_VAR_DIR), and none of the
test run's service settings (DATABASE_URL, ADCE_REDIS_URL…), exactly like a fresh clone."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# What the README's command does not set: the demo must not see the test run's services.
NOT_INHERITED = ("DATABASE_URL", "ADCE_REDIS_URL", "STATIC_ROOT", "ADCE_STATICFILES_STORAGE", "DJANGO_SETTINGS_MODULE",
                 "DEBUG", "ADCE_VAR_DIR", "DJANGO_ALLOW_ASYNC_UNSAFE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class DemoProcess:
    proc: subprocess.Popen
    addr: str
    lines: list[str] = field(default_factory=list)
    password: str | None = None
    worker_pid: int | None = None
    _ready: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://{self.addr}"

    def output(self) -> str:
        return "".join(self.lines)

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            if m := re.search(r"user: \S+\s+password: (\S+)", line):
                self.password = m.group(1)
            if m := re.search(r"django-q2 worker started \(pid (\d+)\)", line):
                self.worker_pid = int(m.group(1))
                self._ready.set()
        self._ready.set()  # the process ended

    def wait_serving(self, timeout: float) -> None:
        """Until the worker started and the server answers HTTP (or fail with the demo's output)."""
        deadline = time.monotonic() + timeout
        if not self._ready.wait(timeout) or self.worker_pid is None:
            raise AssertionError(f"demo did not start its worker:\n{self.output()[-4000:]}")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"demo exited with {self.proc.returncode}:\n{self.output()[-4000:]}")
            try:
                urllib.request.urlopen(self.url + "/admin/login/", timeout=2).close()
                return
            except OSError:
                time.sleep(0.2)  # polling a port until it answers, bounded by the deadline
        raise AssertionError(f"demo server at {self.url} never answered:\n{self.output()[-4000:]}")

    def stop(self, sig=signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_demo(var_dir: Path, *args: str) -> DemoProcess:
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env["ADCE_VAR_DIR"] = str(var_dir)  # the fresh clone's var/, in a temporary folder
    env["PYTHONUNBUFFERED"] = "1"
    addr = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen([sys.executable, "manage.py", "demo", "--addr", addr, *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    demo = DemoProcess(proc=proc, addr=addr)
    threading.Thread(target=demo._read, daemon=True).start()
    return demo


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text.rpartition(")")[2].split()
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def kill_all(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
