"""A task failed for good: the operator is told (SPEC §13)."""
from __future__ import annotations

import logging

from reconciliation.choices import GapStatus
from reconciliation.models import Gap, Task

logger = logging.getLogger("adce.orchestration")


def notify_task_failed(task_id: str) -> dict:
    """A task failed for good: name it (email / webhook of events.notifications). Never raises."""
    from events.notifications import _deliver, _nothing

    try:
        task = Task.objects.select_related("source", "data_type").get(pk=task_id)
        open_gaps = Gap.objects.filter(task=task, status=GapStatus.OPEN).count()
        subject = f"[ADCE] task {task.pk} failed for good after {task.attempts} attempt(s)"
        body = (f"Task {task.pk} ({task.scraper}, {task.source.name}.{task.data_type.name} {task.season or '-'}, "
                f"{task.priority}) failed for good: {task.last_error}\n{open_gaps} gap(s) stay open and are not "
                f"queued again until an operator requeues the task (admin, or `manage.py tasks requeue {task.pk}`).")
        document = {"kind": "task_failed", "task": str(task.pk), "scraper": task.scraper, "source": task.source.name,
                    "data_type": task.data_type.name, "season": task.season, "priority": task.priority,
                    "attempts": task.attempts, "last_error": task.last_error, "open_gaps": open_gaps}
        return _deliver(subject, body, document)
    except Exception:
        logger.exception("notification for failed task %s failed", task_id)
        return _nothing()
