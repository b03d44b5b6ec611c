"""One side of the concurrent-verify test, run as its own process from the project root:

    python -m tests.reliability.verify_racer ROLE FOLDER N

ROLE: git (the post-commit hook's event, processed as the cluster would), cron (a `cron:` hook's
schedule, events.tasks.fire_hook) or schedule (the daily adce:verify, events.tasks.scheduled_verify).
Barrier: every process, at its first probe, writes FOLDER/measuring-ROLE and waits until N such files
exist, so the N runs are all in flight before any of them records a measurement. Writes
FOLDER/result-ROLE.json."""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path


def main(role: str, folder: str, n: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "adce_site.settings")
    import django

    django.setup()
    from metrics.probes import REGISTRY

    folder_path = Path(folder)
    probe = REGISTRY["file_count"]
    waited = []

    def func(params, ctx):
        if not waited:
            waited.append(True)
            (folder_path / f"measuring-{role}").write_text(str(os.getpid()))
            deadline = time.monotonic() + 60
            while len(list(folder_path.glob("measuring-*"))) < n:
                if time.monotonic() > deadline:
                    raise TimeoutError("barrier: the other processes never started measuring")
                time.sleep(0.02)
        return probe.func(params, ctx)

    REGISTRY["file_count"] = dataclasses.replace(probe, func=func)

    from events import tasks
    from events.services import event_record

    if role == "git":
        event, _ = event_record("git_post_commit", source="git", payload={"commit": "abc123"}, enqueue=False)
        result = tasks.process_event(event.pk)
    elif role == "cron":
        result = tasks.fire_hook("nightly_check", intended_date="2026-11-22T06:00:00+00:00")
    elif role == "schedule":
        result = {"run": tasks.scheduled_verify()}
    else:
        raise SystemExit(f"unknown role {role!r}")
    (folder_path / f"result-{role}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
