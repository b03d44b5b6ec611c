"""manage.py consume_s3_events --queue-url URL [--once] [--wait-seconds N] [--json]: read S3 event
notifications (bare, SNS envelope or EventBridge) from an SQS queue, record them, delete them."""
import signal
import sys

from django.core.management.base import BaseCommand, CommandError

from adce_site.cli import bad_input, emit_json
from events.sqs import WAIT_MAX, QueueError, s3_queue_consume


class Command(BaseCommand):
    help = ("Consume S3 event notifications from an SQS queue (S3 → SQS, S3 → SNS → SQS or EventBridge → SQS): "
            "each message's events are recorded (deduped by S3's sequencer + key), then the message is "
            "deleted. Malformed messages are logged, counted and left on the queue for its redrive policy. "
            "Runs until SIGTERM/SIGINT; --once drains the queue and exits 0, or 1 when messages were left on it.")

    def add_arguments(self, parser):
        parser.add_argument("--queue-url", required=True, help="the SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)")
        parser.add_argument("--once", action="store_true",
                            help="receive until a receive brings nothing new, then exit (0, or 1 if messages were malformed)")
        parser.add_argument("--wait-seconds", type=int, default=WAIT_MAX,
                            help=f"long-polling wait of each receive, 0-{WAIT_MAX} seconds (default {WAIT_MAX})")
        parser.add_argument("--json", action="store_true", help="print the counts as one JSON document")

    def handle(self, *args, **opts):
        wait = opts["wait_seconds"]
        if not 0 <= wait <= WAIT_MAX:
            raise bad_input(f"--wait-seconds: expected 0 to {WAIT_MAX}, got {wait}")
        url = opts["queue_url"].strip()
        if not url.startswith(("https://", "http://")):
            raise bad_input(f"--queue-url: {url!r} is not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)")
        stopping = []
        if not opts["once"]:
            def _stop(signum, frame):
                stopping.append(signum)  # finish the batch in hand, then leave

            signal.signal(signal.SIGTERM, _stop)
            signal.signal(signal.SIGINT, _stop)
        try:
            stats = s3_queue_consume(url, once=opts["once"], wait_seconds=wait, stop=lambda: bool(stopping),
                                     progress=lambda line: sys.stderr.write(line))
        except QueueError as exc:
            raise bad_input(str(exc)) from None
        summary = stats.as_dict()
        if opts["json"]:
            emit_json(self.stdout, summary)
        else:
            self.stdout.write(
                f"{stats.messages} messages: {stats.recorded} events recorded, {stats.duplicates} duplicates, "
                f"{stats.acknowledged} test events, {stats.subscriptions} subscription messages, {stats.deleted} deleted; "
                f"{stats.malformed} malformed and {stats.failed} failed left on the queue ({stats.seconds}s)")
        if opts["once"] and stats.left_on_queue:
            raise CommandError(f"{stats.left_on_queue} message(s) left on the queue (malformed: {stats.malformed}, "
                               f"failed: {stats.failed}); see the log", returncode=1)
