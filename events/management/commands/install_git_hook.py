"""manage.py install_git_hook [--repo PATH]: a post-commit hook that emits git_post_commit."""
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from adce_site.cli import bad_input, emit_json
from events.githook import GitHookError, install_hook


class Command(BaseCommand):
    help = ("Install a git post-commit hook that runs `manage.py emit_event git_post_commit --source git` "
            "in the background, logging to a file. An existing post-commit hook is kept (renamed "
            "post-commit.local and run first). Running it again installs once.")

    def add_arguments(self, parser):
        parser.add_argument("--repo", default=".", help="the git repository (default: current directory)")
        parser.add_argument("--log-file", default=None,
                            help="where the hook logs (default: <ADCE var dir>/log/git-hook.log)")
        parser.add_argument("--python", default=sys.executable,
                            help="interpreter the hook runs manage.py with (default: this one)")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        log_file = opts["log_file"] or str(Path(settings.VAR_DIR) / "log" / "git-hook.log")
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        try:
            result = install_hook(Path(opts["repo"]), python=opts["python"], manage=manage,
                                  log_file=str(Path(log_file).resolve()))
        except (GitHookError, OSError) as exc:
            raise bad_input(str(exc)) from None
        if opts["json"]:
            emit_json(self.stdout, {"hook": result.hook_path, "action": result.action, "chained": result.chained,
                                    "log_file": str(Path(log_file).resolve())})
            return
        self.stdout.write(f"{result.hook_path}: {result.action}")
        if result.chained:
            self.stdout.write(f"runs the previous hook first: {result.chained}")
        self.stdout.write(f"log: {Path(log_file).resolve()}")
