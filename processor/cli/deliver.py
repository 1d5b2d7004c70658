"""``lead-router deliver --partner ID``: the reference delivery worker for one partner."""

from __future__ import annotations

import argparse
import logging
import signal
from types import FrameType

from confluent_kafka import KafkaException

from processor.cli.options import add_settings_flags, settings_from_args
from processor.delivery import Worker
from processor.errors import ServiceUnavailable
from processor.kafka.access import check_access

EPILOG = """\
The worker reads the partner's delivery topic (<delivery topic prefix><partner>, read_committed)
and sends each delivery, rendered from its lead in the partner's format, to every destination the
partner has in the rules in force (it follows --config-topic, and waits for rules at start):

  https://..., http://...   POST; the delivery id is in the Idempotency-Key header
  mailto:...                a plain-text mail through --smtp-host and --smtp-port, encrypted
                            (--smtp-tls starttls by default; implicit on port 465)
  file://rel/folder         one file per delivery, <delivery id>.<xml|json|txt>, in a folder
                            under --deliveries-dir
  file:///abs/folder        the same; the folder must lie inside --deliveries-dir

A record that is not one of the partner's deliveries, or whose partner the rules lack or keep
inactive, goes to --delivery-dlq-topic with the reason in its headers.

Temporary failures (timeouts, HTTP 429 and 5xx, SMTP 4xx) are retried --delivery-attempts times
with a backoff that starts at --delivery-backoff-ms and doubles. Each delivery then gets one
DeliveryReceipt (delivered, failed or rejected) on --receipts-topic, committed in one Kafka
transaction with the consumed offset. A delivery id that has a delivered receipt is never sent
again, also after a restart. SIGTERM or Ctrl-C stops after the delivery in hand. docs/delivery.md
explains the guarantees and their limits.

examples:
  lead-router deliver --partner crm-east --bootstrap-servers kafka:9092 --smtp-host mail.internal
  lead-router deliver --partner metro-boston --deliveries-dir /srv/leads   # file://deliveries/...
  lead-router receipts --partner crm-east                                   # what it delivered
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "deliver",
        help="run a delivery worker: send one partner's leads to its destinations",
        description="Delivers one partner's leads to its destinations (HTTP POST, mail, files), "
        "each delivery once, and publishes a receipt for every delivery.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--partner", required=True, metavar="ID", help="the partner whose leads to deliver"
    )
    add_settings_flags(
        parser, ("kafka", "registry", "topics", "delivery", "metrics", "rules", "logging")
    )
    parser.set_defaults(handler=_deliver)


def _deliver(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    logging.basicConfig(
        level=settings.logging.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    check_access(settings.kafka)
    worker = Worker(settings, args.partner)

    def stop(signum: int, frame: FrameType | None) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        worker.run()
    except KafkaException as error:
        raise ServiceUnavailable(
            f"Kafka at {settings.kafka.bootstrap_servers}: {error.args[0].str()}"
        ) from None
    return 0
