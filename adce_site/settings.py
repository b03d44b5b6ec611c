"""ADCE settings. Everything that differs between machines comes from the environment
(django-environ, optionally a `.env` file beside manage.py). Defaults suit a fresh laptop:
SQLite under var/ and the django-q2 ORM broker, no services needed."""
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

VAR_DIR = Path(env.str("ADCE_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
# A development key is only acceptable when nothing is deployed; `check --deploy` flags it.
SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-adce-development-only-key-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # Admin modules (and the export libraries they pull in) load with the URLconf, not with every
    # management command: urls.py calls admin.autodiscover().
    "django.contrib.admin.apps.SimpleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "import_export",
    "django_q",
    "metrics",
    "approvals",
    "reconciliation",
    "events",
    "adce_site",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files from the app itself, right after SecurityMiddleware (WhiteNoise's documented place):
    # the admin is styled with DEBUG off, under `runserver` (the demo) and any WSGI server alike.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "adce_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "adce_site.wsgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'adce.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the admin, a q-cluster worker and a command share the file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
# `collectstatic` (a step of `manage.py demo` and of every deployment) writes compressed, content-hashed
# copies into STATIC_ROOT; WhiteNoise serves them with far-future cache headers. Tests use the plain
# storage so that templates render without a collectstatic first (WHITENOISE_USE_FINDERS below).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": env.str(
        "ADCE_STATICFILES_STORAGE", default="whitenoise.storage.CompressedManifestStaticFilesStorage")},
}

# --- Security (production values come from the environment; see docs/deployment.md) ---
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("ADCE_BEHIND_TLS_PROXY", default=False) else None
# Paths (regexes) served over plain http even with SECURE_SSL_REDIRECT, e.g. a load balancer's health check.
SECURE_REDIRECT_EXEMPT = env.list("SECURE_REDIRECT_EXEMPT", default=[])
# Safe on plain http too, so always on (Django's defaults, stated so that `check --deploy` never depends
# on a library default): no MIME sniffing, no framing, no cross-origin referrers, http-only session cookie.
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True

# --- ADCE ---
# Token for the events endpoints (bearer or HMAC); empty means the endpoints refuse everything.
ADCE_EVENTS_TOKEN = env.str("ADCE_EVENTS_TOKEN", default="")
# Shell metrics run arbitrary commands: off unless the operator turns them on.
ADCE_ALLOW_SHELL_PROBES = env.bool("ADCE_ALLOW_SHELL_PROBES", default=False)
ADCE_PROBE_TIMEOUT_SECONDS = env.float("ADCE_PROBE_TIMEOUT_SECONDS", default=300.0)
ADCE_S3_LIST_WORKERS = env.int("ADCE_S3_LIST_WORKERS", default=8)
ADCE_S3_MAX_ATTEMPTS = env.int("ADCE_S3_MAX_ATTEMPTS", default=8)
ADCE_TASK_MAX_ATTEMPTS = env.int("ADCE_TASK_MAX_ATTEMPTS", default=3)
ADCE_HISTORY_RETENTION_DAYS = env.int("ADCE_HISTORY_RETENTION_DAYS", default=365)
ADCE_NOTIFY_EMAILS = env.list("ADCE_NOTIFY_EMAILS", default=[])
ADCE_NOTIFY_WEBHOOK_URL = env.str("ADCE_NOTIFY_WEBHOOK_URL", default="")
# `reconcile --use-cache` (and, with ADCE_RECONCILE_USE_CACHE, scheduled/event-driven reconciles)
# reuse a complete scan younger than this.
ADCE_SCAN_CACHE_HOURS = env.float("ADCE_SCAN_CACHE_HOURS", default=24.0)
# Scheduled and event-driven reconciles reuse such a scan instead of listing (lakes too big to list hourly).
ADCE_RECONCILE_USE_CACHE = env.bool("ADCE_RECONCILE_USE_CACHE", default=False)
# Where event-driven reconciles (scraper_complete, S3 uploads) write the task queue file; empty: nowhere.
ADCE_QUEUE_FILE = env.str("ADCE_QUEUE_FILE", default="")
# S3 event notifications from SQS (SPEC §12): when set, `setup_schedules` adds `adce:s3-events-queue`, a
# django-q2 schedule that drains this queue every minute (`manage.py consume_s3_events --once` as a job).
ADCE_S3_EVENTS_QUEUE_URL = env.str("ADCE_S3_EVENTS_QUEUE_URL", default="")
# Where dispatch writes task documents for command scrapers (SPEC §13); empty = the system temp folder.
ADCE_TASK_FILE_DIR = env.str("ADCE_TASK_FILE_DIR", default="") or None
# Admin CSV/XLSX exports refuse more rows than this (narrow the filter instead).
ADCE_EXPORT_MAX_ROWS = env.int("ADCE_EXPORT_MAX_ROWS", default=100_000)
# A complete sequential scan writes the rows it made a store's inventory to a Parquet file here; the next
# scan of the same regions diffs against it in DuckDB and writes only what changed (issue 23 item 3).
ADCE_INVENTORY_SNAPSHOTS = env.bool("ADCE_INVENTORY_SNAPSHOTS", default=True)
ADCE_INVENTORY_SNAPSHOT_DIR = env.str("ADCE_INVENTORY_SNAPSHOT_DIR", default=str(VAR_DIR / "inventory-snapshots"))
# DuckDB's memory for that diff; beyond it, it spills to a temp folder under the snapshot directory.
ADCE_SNAPSHOT_DIFF_MEMORY = env.str("ADCE_SNAPSHOT_DIFF_MEMORY", default="100MB")
# Where a scan puts the objects it found (issue 23 item 2, docs/architecture.md "Object inventory storage"):
# "rows" — StoredObject rows in this database (and a Parquet mirror for the next rescan's diff);
# "files" — Parquet files under ADCE_INVENTORY_SNAPSHOT_DIR are the inventory, read through DuckDB, and the
# database holds only the objects written since the last scan (S3 events, verification).
ADCE_OBJECT_STORE = env.str("ADCE_OBJECT_STORE", default="rows")
if ADCE_OBJECT_STORE not in ("rows", "files"):
    raise ImproperlyConfigured(f'ADCE_OBJECT_STORE must be "rows" or "files", not {ADCE_OBJECT_STORE!r}')
# ADCE_S3_RETRY_MODE (standard|adaptive) is read from the environment by reconciliation/storage/s3.py.

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="adce@localhost")
# SMTP (with EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend); Django's defaults otherwise.
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)

# --- django-q2: ORM broker by default, Redis when ADCE_REDIS_URL is set ---
_q_redis_url = env.str("ADCE_REDIS_URL", default="")
Q_CLUSTER = {
    "name": env.str("ADCE_Q_CLUSTER_NAME", default="adce"),
    "workers": env.int("ADCE_Q_WORKERS", default=2),
    # A task that runs longer than `timeout` is killed; `retry` must exceed it so that a task
    # is never handed to a second worker while the first still runs it.
    "timeout": env.int("ADCE_Q_TIMEOUT", default=1800),
    "retry": env.int("ADCE_Q_RETRY", default=2100),
    "max_attempts": env.int("ADCE_Q_MAX_ATTEMPTS", default=3),
    "catch_up": False,
    "save_limit": 1000,
    "ack_failures": True,
    "poll": env.float("ADCE_Q_POLL", default=1.0),
}
# `scan --parallel`: a data file not staged within this long of its claim (or of the scan's last
# progress, while it waits in the queue) fails the scan. A worker is killed at Q_CLUSTER's timeout, so
# a file still running past it has no worker left.
ADCE_SCAN_PART_LEASE_SECONDS = env.int("ADCE_SCAN_PART_LEASE_SECONDS", default=Q_CLUSTER["timeout"] + 60)
# `qcluster` exits at most this long after SIGTERM, killing what does not stop (a task, a hung database
# connection); 0 waits as django-q2 does. See adce_site/qcluster_deadline.py.
ADCE_Q_STOP_SECONDS = env.float("ADCE_Q_STOP_SECONDS", default=25.0)
if _q_redis_url:
    Q_CLUSTER["redis"] = _q_redis_url
else:
    Q_CLUSTER["orm"] = "default"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
    "loggers": {"adce": {"level": env.str("ADCE_LOG_LEVEL", default="INFO"), "propagate": True}},
}
