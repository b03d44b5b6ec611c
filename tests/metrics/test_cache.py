"""metrics.cache and `cache info|cleanup|clear`."""
import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.utils import timezone

from metrics.cache import cache_cleanup, cache_clear, cache_info, cache_read, cache_write, ttl_hours
from metrics.models import CacheEntry, MetricDefinition, MetricsSettings

pytestmark = pytest.mark.django_db


@pytest.fixture
def metrics():
    return [MetricDefinition.objects.create(category="c", name=f"m{i}", kind="sql_scalar", parse_type="integer",
                                            params={"query": "SELECT 1"}) for i in range(3)]


def test_write_read_expire(metrics):
    now = timezone.now()
    cache_write(metrics[0], 5, ttl=1, measured_at=now)
    assert cache_read(metrics[0], now=now).value == 5
    assert cache_read(metrics[0], now=now + dt.timedelta(hours=2)) is None
    # Lowering the TTL after the entry was written takes effect at once.
    assert cache_read(metrics[0], now=now + dt.timedelta(minutes=30), ttl=1).value == 5
    assert cache_read(metrics[0], now=now + dt.timedelta(minutes=30), ttl=0.25) is None
    assert cache_read(metrics[0], now=now, ttl=0) is None
    cache_write(metrics[0], 6, ttl=0)  # ttl 0: not cached (and the old entry is dropped)
    assert not CacheEntry.objects.exists()


def test_ttl_falls_back_to_default(metrics):
    s = MetricsSettings.load()
    s.default_ttl_hours = 12
    assert ttl_hours(metrics[0], s) == 12
    metrics[0].ttl_hours = 0.5
    assert ttl_hours(metrics[0], s) == 0.5


def test_info_cleanup_clear_commands(metrics):
    now = timezone.now()
    cache_write(metrics[0], 1, ttl=1, measured_at=now)
    cache_write(metrics[1], 2, ttl=1, measured_at=now - dt.timedelta(hours=5))  # expired
    cache_write(metrics[2], 3, ttl=24, measured_at=now)
    info = cache_info(now=now)
    assert (info.entries, info.valid, info.expired) == (3, 2, 1)

    out = io.StringIO()
    call_command("cache", "info", stdout=out)
    assert "3 cache entr" in out.getvalue() and "EXPIRED" in out.getvalue() and "c.m1" in out.getvalue()
    out = io.StringIO()
    call_command("cache", "info", "--json", stdout=out)
    doc = json.loads(out.getvalue())
    assert doc["entries"] == 3 and doc["expired"] == 1

    out = io.StringIO()
    call_command("cache", "cleanup", stdout=out)
    assert "removed 1" in out.getvalue()
    assert set(CacheEntry.objects.values_list("metric__name", flat=True)) == {"m0", "m2"}
    out = io.StringIO()
    call_command("cache", "clear", stdout=out)
    assert "removed 2" in out.getvalue() and not CacheEntry.objects.exists()
    assert cache_cleanup() == 0 and cache_clear() == 0


def test_unknown_action_is_refused():
    from django.core.management import CommandError

    # argparse refuses it (exit 2 from the shell); call_command surfaces the same message
    with pytest.raises(CommandError, match="invalid choice: 'purge'"):
        call_command("cache", "purge")
