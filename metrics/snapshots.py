"""Daily snapshots: the current value of every enabled metric, one row per date."""
from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from .models import Snapshot
from .selectors import current_values


class SnapshotDateError(ValueError):
    pass


def snapshot_as_of(date: dt.date, now: dt.datetime) -> dt.datetime | None:
    """The instant a snapshot of `date` describes: None (the current values) for today, the end of
    that UTC day for a past date (so a late snapshot of yesterday holds yesterday's values)."""
    if date == now.astimezone(dt.timezone.utc).date():
        return None
    return dt.datetime.combine(date + dt.timedelta(days=1), dt.time.min, tzinfo=dt.timezone.utc) - dt.timedelta(microseconds=1)


def snapshot_take(*, date: dt.date | None = None, now: dt.datetime | None = None) -> Snapshot:
    """Store the values of all enabled metrics as the snapshot of `date` (default: today, UTC),
    replacing any snapshot of that date. A future date is refused."""
    now = now or timezone.now()
    today = now.astimezone(dt.timezone.utc).date()
    date = date or today
    if date > today:
        raise SnapshotDateError(f"{date.isoformat()} is in the future (today is {today.isoformat()} UTC)")
    as_of = snapshot_as_of(date, now)
    with transaction.atomic():
        values = current_values(as_of=as_of)
        snapshot, _ = Snapshot.objects.update_or_create(date=date, defaults={"values": values, "taken_at": now})
    return snapshot
