"""Expected coverage, the game catalog, what is stored, gaps and the task queue."""
import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from adce_site.runs import RunRecord
from reconciliation.choices import GapKind, GapStatus, PatternLevel, Priority, ScanMode, ScanPartStatus, TaskStatus
from reconciliation.engine.fields import ByteOrderCharField, ByteOrderTextField


class ReconciliationSettings(models.Model):
    """The `reconciliation:` section of the coverage YAML (one row, pk=1)."""

    critical_days = models.PositiveIntegerField(default=7)
    max_items_per_task = models.PositiveIntegerField(default=100)
    source_file = models.CharField(max_length=1024, blank=True)
    imported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "reconciliation settings"

    def __str__(self):
        return "Reconciliation settings"

    @classmethod
    def load(cls) -> "ReconciliationSettings":
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class Source(models.Model):
    name = models.CharField(max_length=100, unique=True)
    scraper = models.CharField(max_length=150)
    location = models.CharField(max_length=1024)
    seasons = models.JSONField(default=list, help_text='Normalised "YYYY-YY" seasons.')
    active = models.BooleanField(default=True, help_text="False once the source left the coverage file.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class DataType(models.Model):
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="data_types")
    name = models.CharField(max_length=100)
    required = models.BooleanField(default=True)
    freshness_days = models.PositiveIntegerField(default=7)
    completeness_threshold = models.FloatField(default=0.95)
    min_size_bytes = models.BigIntegerField(default=1)
    minutes_per_file = models.FloatField(default=2)
    path_patterns = models.JSONField(default=list)
    level = models.CharField(max_length=10, choices=PatternLevel.choices)
    active = models.BooleanField(default=True)
    # §10: its own seasons (a league's or `seasons:`); empty = the source's seasons
    seasons = models.JSONField(default=list, blank=True, help_text='Normalised "YYYY-YY" seasons; empty = the source\'s.')
    dimensions = models.JSONField(default=dict, blank=True, help_text="Closed dimension values from the YAML.")
    expected_count = models.PositiveIntegerField(null=True, blank=True,
                                                 help_text="expected_per_season / expected_count (open data types).")
    description = models.TextField(blank=True)
    priority = models.CharField(max_length=40, blank=True, help_text="The original's priority, as written.")
    tier = models.CharField(max_length=40, blank=True, help_text="The original's tier, as written.")

    class Meta:
        ordering = ["source__name", "name"]
        constraints = [models.UniqueConstraint(fields=["source", "name"], name="datatype_unique_per_source")]

    def __str__(self):
        return f"{self.source.name}.{self.name}"


class CatalogGame(models.Model):
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="games")
    game_id = models.CharField(max_length=64)
    season = models.CharField(max_length=7)  # YYYY-YY
    game_date = models.DateField()
    season_type = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["source", "game_date", "game_id"]
        constraints = [models.UniqueConstraint(fields=["source", "game_id"], name="catalog_unique_game_per_source")]
        indexes = [models.Index(fields=["source", "season", "game_date"], name="catalog_source_season_date")]

    def __str__(self):
        return f"{self.source_id}:{self.game_id} ({self.game_date})"


class DimensionValue(models.Model):
    """A dimension catalog row (§10): one value of a source's dimension, for one season or (blank) all."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="dimension_values")
    dimension = models.CharField(max_length=100)
    value = models.CharField(max_length=200)
    season = models.CharField(max_length=7, null=True, blank=True)  # YYYY-YY; null = every season

    class Meta:
        ordering = ["source", "dimension", "value", "season"]
        indexes = [models.Index(fields=["source", "dimension"], name="dimension_value_source")]

    def __str__(self):
        return f"{self.source_id}:{self.dimension}={self.value} ({self.season or 'every season'})"


class ScanRun(RunRecord):
    run_kind = "scan"
    summary = None  # its counts are columns below, per-location counts and step timings in `stats`

    mode = models.CharField(max_length=20, choices=ScanMode.choices, default=ScanMode.LIST)
    trigger = models.CharField(max_length=40, default="manual")
    sources = models.JSONField(default=list, help_text="Names of the sources this scan covered.")
    locations = models.JSONField(default=list, help_text="Location URIs actually listed.")
    location_override = models.CharField(max_length=1024, blank=True)
    manifest_uri = models.CharField(max_length=1024, blank=True)
    sample_rate = models.FloatField(null=True, blank=True)
    seed = models.BigIntegerField(null=True, blank=True)
    objects_seen = models.BigIntegerField(default=0)
    bytes_seen = models.BigIntegerField(default=0)
    # Sampling only estimates: seen / rate. Never used for gap detection.
    estimated_objects = models.BigIntegerField(null=True, blank=True)
    estimated_bytes = models.BigIntegerField(null=True, blank=True)
    matched_count = models.BigIntegerField(default=0)
    unmatched_count = models.BigIntegerField(default=0)
    unmatched_examples = models.JSONField(default=list, blank=True)
    stats = models.JSONField(default=dict, blank=True, help_text="Per-location counts, step timings.")
    # One task per data file (scan --parallel): no process holds the run's lock for its life; its
    # parts' leases say whether it is alive (reconciliation.services.scan_parallel).
    parallel = models.BooleanField(default=False)

    class Meta(RunRecord.Meta):
        indexes = [models.Index(fields=["status", "-finished_at"], name="scanrun_status_finished")]

    def __str__(self):
        return f"Scan #{self.pk} ({self.mode}, {self.status})"

    @classmethod
    def stale_candidates(cls):
        return cls.objects.filter(parallel=False)


class ScanPart(models.Model):
    """One data file of a scale-out scan: claimed by one worker, staged in its transaction."""

    scan = models.ForeignKey(ScanRun, on_delete=models.CASCADE, related_name="parts")
    seq = models.PositiveIntegerField(help_text="Position in the manifest: a later file's row wins a key.")
    file_key = models.TextField()
    file_uri = models.TextField()
    file_size = models.BigIntegerField(null=True, blank=True)
    file_md5 = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=12, choices=ScanPartStatus.choices, default=ScanPartStatus.PENDING)
    token = models.CharField(max_length=32, blank=True, help_text="The claim of the worker that runs it.")
    lease_until = models.DateTimeField(null=True, blank=True)
    rows = models.BigIntegerField(default=0)
    stats = models.JSONField(default=dict, blank=True, help_text="Per-location counts of this file.")
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["scan", "seq"]
        constraints = [models.UniqueConstraint(fields=["scan", "seq"], name="scanpart_unique_seq")]

    def __str__(self):
        return f"Scan #{self.scan_id} file {self.seq} ({self.status})"


class StoredObject(models.Model):
    """The inventory: every object the last complete scan of its store saw.

    `store` is "s3://BUCKET" or "file://"; `key` is the full key in that store (for files the
    absolute path without its leading "/"). Written in bulk (COPY on PostgreSQL)."""

    store = ByteOrderCharField(max_length=255)
    key = ByteOrderTextField()
    size = models.BigIntegerField()
    last_modified = models.DateTimeField()
    etag = models.CharField(max_length=80, blank=True)
    # No database-level FK constraints or single-column indexes here: the inventory is a cache that
    # every complete scan rebuilds in bulk, and per-row RI checks cost ~2/3 of a 1M-row PostgreSQL
    # ingest (bench/RESULTS-reconcile.md). The (data_type, partition) index serves every read.
    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+",
                               db_constraint=False, db_index=False)
    data_type = models.ForeignKey(DataType, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+",
                                  db_constraint=False, db_index=False)
    partition = ByteOrderCharField(max_length=255, blank=True)
    scan = models.ForeignKey(ScanRun, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+",
                             db_constraint=False, db_index=False)

    class Meta:
        # Key first: the keys tell rows apart at once, where a store prefix repeated in every entry is
        # compared first for nothing (the index builds in 1.0 s instead of 1.7 s on PostgreSQL and
        # 0.6 s instead of 1.0 s on SQLite for 1M rows); lookups give a key or a key prefix.
        constraints = [models.UniqueConstraint(fields=["key", "store"], name="storedobject_unique_key")]
        indexes = [models.Index(fields=["data_type", "partition"], name="storedobject_type_partition")]

    def __str__(self):
        return f"{self.store}/{self.key}"


class InventorySnapshot(models.Model):
    """The rows one store's last swap made its inventory, as a Parquet file (reconciliation.engine.inventory_snapshot).

    Recorded inside the swap's transaction by a complete sequential scan; any other swap of the store
    (a scan that writes none: parallel) deletes it in its own. A rescan of exactly the same regions
    diffs its rows against the file instead of staging them all: valid only while it is the store's
    last swap, and only together with the keys touched since `touch_mark` (InventoryTouch)."""

    store = ByteOrderCharField(max_length=255, unique=True)
    regions = models.JSONField(default=list, help_text="[store, prefix] pairs the scan replaced, sorted.")
    scan = models.ForeignKey(ScanRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    path = models.CharField(max_length=1024)
    rows = models.BigIntegerField()
    # True: no key twice in the file (a rescan may join it as it is); None: not known.
    unique_keys = models.BooleanField(null=True)
    touch_mark = models.BigIntegerField(default=0, help_text="The highest InventoryTouch id the file includes.")
    # False: a mirror of the store's StoredObject rows (ADCE_OBJECT_STORE=rows, a rescan's diff base).
    # True: the files ARE the store's inventory (ADCE_OBJECT_STORE=files); StoredObject then holds only
    # the rows written since (S3 events, verification), which readers lay over the files
    # (reconciliation.engine.object_files).
    holds_objects = models.BooleanField(default=False)
    parts = models.JSONField(default=list, help_text="Further files of the same snapshot, after `path`, in order.")
    # The previous generation's files: kept until the next swap, so that a reader that picked them just
    # before this swap committed can still read them; deleted then.
    retired = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    def files(self) -> list[str]:
        """Every file of the snapshot, in order (a later file's row of a key wins over an earlier one's)."""
        return [self.path, *self.parts]

    def __str__(self):
        return f"Snapshot of {self.store} (scan #{self.scan_id}, {self.rows} rows)"


class InventoryTouch(models.Model):
    """A key of the inventory written outside a scan (S3 events, verification), logged in the same
    transaction as the write: after it, the database and the store's snapshot may differ for that key."""

    store = ByteOrderCharField(max_length=255)
    key = ByteOrderTextField()

    class Meta:
        indexes = [models.Index(fields=["store", "id"], name="inventorytouch_store_id")]


class ReconcileRun(RunRecord):
    run_kind = "reconcile"

    trigger = models.CharField(max_length=40, default="manual")
    as_of = models.DateField()
    dry_run = models.BooleanField(default=False)
    scan = models.ForeignKey(ScanRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="reconcile_runs")
    # summary: counts by priority and kind, gaps opened/resolved, tasks created, completeness, step timings
    output_path = models.CharField(max_length=1024, blank=True)

    def __str__(self):
        return f"Reconcile #{self.pk} as of {self.as_of} ({self.status})"


class Task(models.Model):
    """Backfill work for a scraper: gaps of one (source, type, season, priority, kind)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="tasks")
    data_type = models.ForeignKey(DataType, on_delete=models.CASCADE, related_name="tasks")
    season = models.CharField(max_length=7, null=True, blank=True)
    priority = models.CharField(max_length=10, choices=Priority.choices)
    priority_rank = models.PositiveSmallIntegerField(help_text="0 = CRITICAL … 3 = LOW, for ordering.")
    gap_kind = models.CharField(max_length=10, choices=GapKind.choices)
    scraper = models.CharField(max_length=150)
    reason = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=3)
    last_error = models.TextField(blank=True)
    claimed_by = models.CharField(max_length=150, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    reconcile_run = models.ForeignKey(ReconcileRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks")

    class Meta:
        ordering = ["priority_rank", "created_at"]
        indexes = [
            # Shaped like the claim query: pending tasks of a scraper, most urgent first.
            models.Index(
                fields=["scraper", "priority_rank", "created_at"],
                name="task_claimable",
                condition=Q(status=TaskStatus.PENDING),
            ),
            models.Index(fields=["lease_expires_at"], name="task_lease", condition=Q(status=TaskStatus.CLAIMED)),
            models.Index(fields=["status", "priority_rank"], name="task_status_priority"),
        ]

    def __str__(self):
        return f"Task {self.id} {self.source_id}/{self.data_type_id} {self.season} {self.priority} ({self.status})"


class Gap(models.Model):
    """An expected partition that is missing, empty or stale, with a lifecycle."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="gaps")
    data_type = models.ForeignKey(DataType, on_delete=models.CASCADE, related_name="gaps")
    season = models.CharField(max_length=7, null=True, blank=True)
    # game_id, ISO date, "YYYY-YY", or "" for a fixed key, + dimension values (§10); a short gap: "/<season>"
    partition = models.CharField(max_length=255, blank=True)
    game_date = models.DateField(null=True, blank=True)
    kind = models.CharField(max_length=10, choices=GapKind.choices)
    priority = models.CharField(max_length=10, choices=Priority.choices)
    priority_rank = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=GapStatus.choices, default=GapStatus.OPEN)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # The object that decided a stale/empty verdict (blank for missing).
    object_key = models.TextField(blank=True)
    object_size = models.BigIntegerField(null=True, blank=True)
    object_last_modified = models.DateTimeField(null=True, blank=True)
    shortfall = models.PositiveIntegerField(null=True, blank=True, help_text="A short gap: partitions still to find.")
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="gaps")
    opened_by = models.ForeignKey(ReconcileRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    resolved_by = models.ForeignKey(ReconcileRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["priority_rank", "game_date", "partition"]
        constraints = [
            # One live (open or ignored) gap per partition; resolved ones are history.
            models.UniqueConstraint(
                fields=["data_type", "partition"],
                condition=Q(status__in=[GapStatus.OPEN, GapStatus.IGNORED]),
                name="gap_one_live_per_partition",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "priority_rank", "game_date"], name="gap_status_priority"),
            models.Index(fields=["source", "data_type", "season", "status"], name="gap_cell"),
        ]

    def __str__(self):
        return f"{self.kind} {self.data_type} {self.partition or '(fixed)'} [{self.priority}]"


# Scraper orchestration (SPEC §13) lives in its own module; imported here so Django registers it.
from reconciliation.orchestration.models import OrchestrationLimits, Scraper, ScraperRun  # noqa: E402,F401
