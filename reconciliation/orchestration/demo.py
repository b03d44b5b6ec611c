"""The demo's scraper (SPEC §13): `manage.py demo` declares fixtures/scrapers/demo_scraper.py for every
scraper name of the demo's sources, so a newcomer watches the loop heal the lake in the admin. It
fails every game id divisible by FAIL_EVERY on purpose: those tasks end failed for good."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from django.conf import settings

from reconciliation.models import Source
from reconciliation.orchestration.services import ScrapersImportResult, scrapers_import

FAIL_EVERY = 97


def demo_scrapers_yaml(names: list[str], *, python: str = sys.executable) -> str:
    script = str(Path(settings.BASE_DIR) / "fixtures" / "scrapers" / "demo_scraper.py")
    argv = json.dumps([python, script, "--task-file", "{task_file}", "--fail-every", str(FAIL_EVERY)])
    lines = ["# Written by `manage.py demo`: the demo scraper, declared for every source of the demo lake.",
             "limits:", "  max_concurrency: 2", '  rate_limit: "120/minute"', "scrapers:"]
    for name in names:
        lines += [f"  {name}:", f"    command: {argv}", "    max_concurrency: 2", '    rate_limit: "60/minute"',
                  "    timeout_minutes: 10", "    max_attempts: 3", "    backoff_minutes: [0, 1]",
                  "    pause_after_failures: 5", "    pause_minutes: 30"]
    return "\n".join(lines) + "\n"


def demo_scrapers_declare(root: Path) -> ScrapersImportResult:
    names = sorted(set(Source.objects.filter(active=True).values_list("scraper", flat=True)))
    path = Path(root) / "scrapers.yaml"
    path.write_text(demo_scrapers_yaml(names), encoding="utf-8")
    return scrapers_import(path)
