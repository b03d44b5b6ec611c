"""System checks of ADCE's own settings (`manage.py check`, and every command that runs checks,
`qcluster` and `runserver` included)."""
from __future__ import annotations

from django.conf import settings
from django.core import checks


@checks.register()
def q_timeout_below_retry(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """django-q2 hands a task to another worker once `retry` seconds passed since it was handed out;
    a worker running it is killed after `timeout` seconds. Unless timeout < retry, one task can run
    twice at once (docs/reliability.md, worker faults)."""
    q = getattr(settings, "Q_CLUSTER", {}) or {}
    timeout, retry = q.get("timeout"), q.get("retry")
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
        return [checks.Error(f"Q_CLUSTER['timeout'] is {timeout!r}: a positive number of seconds is required "
                             "(without one a long task is handed to a second worker while it still runs)",
                             hint="set ADCE_Q_TIMEOUT", id="adce.E001")]
    if not isinstance(retry, int) or isinstance(retry, bool) or retry <= timeout:
        return [checks.Error(f"Q_CLUSTER['timeout'] ({timeout} s) must be below Q_CLUSTER['retry'] ({retry!r} s): "
                             "a task still running at `retry` is handed to a second worker",
                             hint="set ADCE_Q_TIMEOUT below ADCE_Q_RETRY (defaults 1800 and 2100)", id="adce.E002")]
    return []
