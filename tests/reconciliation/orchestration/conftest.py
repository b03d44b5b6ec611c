"""A small file:// lake with planted losses, its tasks, and scrapers declared around the demo scraper."""
import datetime as dt
import sys
from pathlib import Path

import pytest
from django.conf import settings

from reconciliation.services.reconcile import reconcile_run

from ..test_scanning import add_games, file_uri, make_source, put_file

AS_OF = dt.date(2024, 11, 25)
SCRIPT = str(Path(settings.BASE_DIR) / "fixtures" / "scrapers" / "demo_scraper.py")


def games(prefix: str, n: int, start=dt.date(2024, 10, 22)):
    return [(f"{prefix}{i}", "2024-25", (start + dt.timedelta(days=i)).isoformat()) for i in range(1, n + 1)]


def scrapers_yaml(path: Path, scrapers: dict, limits: str = "") -> Path:
    """scrapers: name → YAML body lines (already indented by 4)."""
    text = (f"limits:\n{limits}" if limits else "") + "scrapers:\n"
    for name, body in scrapers.items():
        text += f"  {name}:\n{body}"
    path.write_text(text)
    return path


def demo_command(*extra: str) -> str:
    argv = [sys.executable, SCRIPT, "--task-file", "{task_file}", *extra]
    return "    command: [" + ", ".join(f'"{a}"' for a in argv) + "]\n"


@pytest.fixture
def lake(tmp_path):
    """Source `espn` (scraper espn_scraper): 6 games, g1 stored, g2…g6 lost (g6 CRITICAL, the others HIGH);
    at most 2 partitions per task: 3 tasks."""
    from reconciliation.models import ReconciliationSettings

    root = tmp_path / "lake"
    root.mkdir()
    src = make_source("espn", file_uri(root), {"pbp": {"path_patterns": ["pbp/{game_id}.json"], "min_size_bytes": 100}},
                      scraper="espn_scraper")
    add_games(src, games("g", 5) + [("g6", "2024-25", "2024-11-22")])  # g6 is recent: CRITICAL
    put_file(root, "pbp/g1.json")
    settings_row = ReconciliationSettings.load()
    settings_row.max_items_per_task = 2
    settings_row.save()
    reconcile_run(as_of=AS_OF)
    return root
