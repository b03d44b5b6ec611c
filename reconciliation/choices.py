"""Enumerations of the reconciliation app (SPEC §5–§8)."""
from django.db import models


class PatternLevel(models.TextChoices):
    GAME = "game"      # {game_id}
    DATE = "date"      # {date}
    SEASON = "season"  # only season placeholders
    FIXED = "fixed"    # no placeholder


class ScanMode(models.TextChoices):
    LIST = "list"
    INVENTORY_REPORT = "inventory-report"
    SAMPLE = "sample"


class ScanPartStatus(models.TextChoices):
    """One data file of a scale-out scan (reconciliation.services.scan_parallel)."""

    PENDING = "pending"
    RUNNING = "running"
    FINISHING = "finishing"  # its worker staged the last file and is swapping the inventory
    DONE = "done"
    FAILED = "failed"


class GapKind(models.TextChoices):
    MISSING = "missing"
    EMPTY = "empty"
    STALE = "stale"
    SHORT = "short"  # §10: an open data type with fewer stored partitions than its declared count


class Priority(models.TextChoices):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"

    @property
    def rank(self) -> int:
        """0 = CRITICAL … 3 = LOW: the order of urgency (stored beside the priority for ordering)."""
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {p: i for i, p in enumerate(Priority)}


class GapStatus(models.TextChoices):
    OPEN = "open"
    RESOLVED = "resolved"
    IGNORED = "ignored"


class TaskStatus(models.TextChoices):
    PENDING = "pending"
    CLAIMED = "claimed"
    DONE = "done"
    FAILED = "failed"


OPEN_TASK_STATUSES = (TaskStatus.PENDING, TaskStatus.CLAIMED)


class ScraperKind(models.TextChoices):
    COMMAND = "command"  # argv child process of a worker (SPEC §13)
    HTTP = "http"        # POST the task document; it finishes through the task API


class ScraperRunStatus(models.TextChoices):
    RUNNING = "running"      # claimed and counted against the limits
    ACCEPTED = "accepted"    # an HTTP scraper answered 2xx; it finishes through the task API
    SUCCEEDED = "succeeded"  # verified: every partition of the task is present
    FAILED = "failed"        # the run or its verification left partitions missing
    LOST = "lost"            # its worker died: the task's lease ran out under it


ACTIVE_RUN_STATUSES = (ScraperRunStatus.RUNNING, ScraperRunStatus.ACCEPTED)
