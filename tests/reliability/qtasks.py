"""Task functions run by real qcluster processes in the worker-fault tests (importable by dotted path
from the project root). They talk to the test only through files in `folder`."""
from __future__ import annotations

import os
import time
import uuid
from pathlib import Path


def _alive(pid: int) -> bool:
    """Running (a zombie — killed, not yet reaped by its new parent — is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def blocking(folder: str, wait_seconds: float = 60) -> str:
    """Record an execution start (with this process' pid and whether an earlier execution's process is
    still alive: then two would run at once), block until `release` exists, record the finish."""
    folder = Path(folder)
    earlier = [int(p.read_text()) for p in folder.glob("start-*")]
    overlap = any(_alive(pid) for pid in earlier if pid != os.getpid())
    name = f"start-{len(earlier) + 1}-{uuid.uuid4().hex[:8]}"
    tmp = folder / f".{name}"
    tmp.write_text(str(os.getpid()))
    tmp.rename(folder / name)
    if overlap:
        (folder / f"overlap-{uuid.uuid4().hex[:8]}").write_text(str(os.getpid()))
    deadline = time.monotonic() + wait_seconds
    while not (folder / "release").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("never released")
        time.sleep(0.05)
    (folder / f"done-{uuid.uuid4().hex[:8]}").write_text(str(os.getpid()))
    return "done"


def record(folder: str, label: str = "run") -> str:
    """One file per execution: the test counts them."""
    path = Path(folder) / f"{label}-{uuid.uuid4().hex}"
    path.write_text(str(os.getpid()))
    return path.name
