from django.core.management.base import BaseCommand

from adce_site.cli import emit_json
from metrics.cache import cache_cleanup, cache_clear, cache_info


class Command(BaseCommand):
    help = ("The measurement cache used by verify: `info` lists entries and their expiry, `cleanup` deletes "
            "expired entries, `clear` deletes all (the next verify measures everything fresh).")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["info", "cleanup", "clear"])
        parser.add_argument("--json", action="store_true", help="info: print one JSON document")

    def handle(self, *args, action, json, **options):
        if action == "cleanup":
            self.stdout.write(f"removed {cache_cleanup()} expired cache entr(y/ies)")
            return
        if action == "clear":
            self.stdout.write(f"removed {cache_clear()} cache entr(y/ies)")
            return
        info = cache_info()
        if json:
            emit_json(self.stdout, {
                "entries": info.entries, "valid": info.valid, "expired": info.expired,
                "oldest": info.oldest, "next_expiry": info.next_expiry,
                "metrics": [{"metric": n, "value": v, "measured_at": m, "expires_at": e, "valid": ok}
                            for n, v, m, e, ok in info.rows]})
            return
        self.stdout.write(f"{info.entries} cache entr(y/ies): {info.valid} valid, {info.expired} expired")
        for name, value, measured, expires, ok in info.rows:
            self.stdout.write(f"  {name:<45} {value!r:>14}  measured {measured:%Y-%m-%d %H:%M}  "
                              f"{'expires' if ok else 'EXPIRED'} {expires:%Y-%m-%d %H:%M}")
