"""Enumerations of the reconciliation app (SPEC §5–§8)."""
from django.db import models


class PatternLevel(models.TextChoices):
    GAME = "game"      # {game_id}
    DATE = "date"      # {date}
    SEASON = "season"  # only season placeholders
    FIXED = "fixed"    # no placeholder


class ScanStatus(models.TextChoices):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class ScanMode(models.TextChoices):
    LIST = "list"
    INVENTORY_REPORT = "inventory-report"
    SAMPLE = "sample"


class RunStatus(models.TextChoices):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class GapKind(models.TextChoices):
    MISSING = "missing"
    EMPTY = "empty"
    STALE = "stale"


class Priority(models.TextChoices):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


PRIORITY_RANK = {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 2, "LOW": 3}


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
