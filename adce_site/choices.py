"""Enumerations shared by the apps: the status of a recorded run (verify, scan, reconcile)."""
from django.db import models


class RunStatus(models.TextChoices):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # a scan stopped by the operator (Ctrl-C)

    @property
    def is_failure(self) -> bool:
        return self in (RunStatus.FAILED, RunStatus.INTERRUPTED)
