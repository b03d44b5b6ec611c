"""Enumerations of the metrics app. Stored values are the lower-case words of SPEC §4."""
from django.db import models


class MetricKind(models.TextChoices):
    S3_OBJECT_COUNT = "s3_object_count"
    S3_TOTAL_BYTES = "s3_total_bytes"
    S3_NEWEST_AGE_HOURS = "s3_newest_age_hours"
    S3_SMALL_OBJECT_COUNT = "s3_small_object_count"
    S3_NEWEST_AGE_DAYS = "s3_newest_age_days"
    S3_AVERAGE_BYTES = "s3_average_bytes"
    S3_OBJECT_RATIO = "s3_object_ratio"
    FILE_COUNT = "file_count"
    LINE_COUNT = "line_count"
    DIR_SIZE = "dir_size"
    GIT_COMMIT_COUNT = "git_commit_count"
    SQL_SCALAR = "sql_scalar"
    SYNC_DIFF = "sync_diff"
    GAP_COUNT = "gap_count"
    RECONCILIATION_STAT = "reconciliation_stat"
    EXPRESSION = "expression"
    SHELL = "shell"


class ParseType(models.TextChoices):
    INTEGER = "integer"
    FLOAT = "float"
    STRING = "string"
    BOOLEAN = "boolean"


class Volatility(models.TextChoices):
    VOLATILE = "volatile"
    STABLE = "stable"


class DriftStatus(models.TextChoices):
    OK = "ok"
    MINOR = "minor"
    MODERATE = "moderate"
    MAJOR = "major"
    CRITICAL = "critical"
    NEW = "new"
    CHANGED = "changed"
    ERROR = "error"


# The order a run's counts are shown in (admin, home): the first measurement before any drift.
DRIFT_DISPLAY_ORDER = (DriftStatus.OK, DriftStatus.NEW, DriftStatus.MINOR, DriftStatus.MODERATE, DriftStatus.MAJOR,
                       DriftStatus.CRITICAL, DriftStatus.CHANGED, DriftStatus.ERROR)


class Severity(models.TextChoices):
    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 = none … 4 = critical: the order of the approval queue."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}


class Trigger(models.TextChoices):
    MANUAL = "manual"
    SCHEDULE = "schedule"
    EVENT = "event"
    GIT_POST_COMMIT = "git_post_commit"
    ADMIN = "admin"
