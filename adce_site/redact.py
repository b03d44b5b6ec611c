"""Keep secrets out of text ADCE records or shows (measurement errors and values, logs, exports).

The secrets are the values of SECRET_KEY, ADCE_EVENTS_TOKEN, the database password and the AWS
secret key / session token of this process. Values shorter than MIN_LENGTH are not searched for:
replacing a short common word would mangle messages and protect nothing."""
from __future__ import annotations

import os

from django.conf import settings

MIN_LENGTH = 8
REDACTED = "[redacted]"
# Variables a shell probe's command never needs: ADCE's own secrets (AWS credentials stay, since
# `aws s3 …` commands legitimately use them; their values are redacted from what is recorded).
SHELL_ENV_DROP = ("SECRET_KEY", "ADCE_EVENTS_TOKEN", "DATABASE_URL", "ADCE_REDIS_URL")


def secret_values() -> list[str]:
    values = [
        getattr(settings, "SECRET_KEY", ""),
        getattr(settings, "ADCE_EVENTS_TOKEN", ""),
        os.environ.get("SECRET_KEY", ""),
        os.environ.get("ADCE_EVENTS_TOKEN", ""),
        os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
        os.environ.get("AWS_SESSION_TOKEN", ""),
    ]
    for db in getattr(settings, "DATABASES", {}).values():
        values.append(db.get("PASSWORD") or "")
    # Longest first, so that a secret containing another is replaced whole.
    return sorted({v for v in values if isinstance(v, str) and len(v) >= MIN_LENGTH}, key=len, reverse=True)


def redact(text):
    """`text` with every secret value replaced by "[redacted]"; non-strings are returned as they are."""
    if not isinstance(text, str) or not text:
        return text
    for value in secret_values():
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def shell_environment() -> dict[str, str]:
    """The environment for a shell probe's command: this process's, minus ADCE's own secrets."""
    return {k: v for k, v in os.environ.items() if k not in SHELL_ENV_DROP}
