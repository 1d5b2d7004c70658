"""``lead-router return``: a delivered lead returned, and the processor's answer awaited.

Writes the ``DeliveryReturn`` a partner's system would write to the returns topic, then waits for
the receipt that credits the delivery or refuses the return, and prints it.
"""

from __future__ import annotations

import argparse
import json
import math
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from processor.cli.options import add_settings_flags, settings_from_args
from processor.cli.receipts import quiet_kafka_client
from processor.control.publisher import applying_user
from processor.delivery.receipts import Receipt
from processor.delivery.returning import Written, return_delivery
from processor.delivery.returns import MAX_BY_CHARS, MAX_REASON_CHARS, InvalidReturn, delivery_id_of
from processor.kafka.access import check_access
from processor.redrive.select import shown
from processor.wire import Codec
from processor.wire.lead_json import format_timestamp

DEFAULT_WAIT_S = 30.0
NO_ANSWER_EXIT_CODE = 9
"""No answer came within ``--wait``: the return stays on the returns topic, and the processor
answers it when it runs."""
EXIT_CODES = {"credited": 0, "written": 0, "refused": 1, "no-answer": NO_ANSWER_EXIT_CODE}
"""The exit code of each result: ``written`` is a return not waited for (``--wait 0``)."""

EPILOG = f"""\
The return is written to the returns topic (--returns-topic), keyed by the delivery id, as a
partner's system writes it; the processor credits the delivery (at most once, within the partner's
return window) or refuses the return, and says which in a receipt on the receipts topic
(--receipts-topic). The command waits for that receipt and prints it:

  credited 40.00 USD for delivery 3d91f692-dc21-5ed0-be1e-9d5c88e5a535 (lead L-1, partner crm-east)
  refused: the return window of 7d has passed

exit codes: 0 credited (or written, with --wait 0); 1 refused;
2 bad usage (the delivery id is not a UUID, the reason empty or longer than {MAX_REASON_CHARS}
characters); 4 Kafka did not answer; {NO_ANSWER_EXIT_CODE} no answer within --wait (the return stays
on the topic and is answered when the processor runs).

examples:
  lead-router return 3d91f692-dc21-5ed0-be1e-9d5c88e5a535 --reason "wrong number"
  lead-router return 3d91f692-dc21-5ed0-be1e-9d5c88e5a535 --reason "duplicate" --by crm-east \\
      --wait 0
  lead-router return 3d91f692-dc21-5ed0-be1e-9d5c88e5a535 --reason "test lead" --format json
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "return",
        help="return a delivered lead: the partner is credited, or told why not",
        description="Returns a delivered lead on a partner's behalf: writes the return to the "
        "returns topic and waits for the processor to credit the delivery or refuse the return.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "delivery_id", type=_delivery_id, metavar="DELIVERY_ID", help="the delivery returned"
    )
    parser.add_argument(
        "--reason",
        required=True,
        type=_text("--reason", MAX_REASON_CHARS),
        metavar="TEXT",
        help=f"why the lead is returned, 1 to {MAX_REASON_CHARS} characters",
    )
    parser.add_argument(
        "--by",
        type=_text("--by", MAX_BY_CHARS),
        metavar="NAME",
        help="who returns it, for the receipt (default: user@host)",
    )
    parser.add_argument(
        "--wait",
        type=_seconds,
        default=DEFAULT_WAIT_S,
        metavar="SECONDS",
        help=f"how long to wait for the answer; 0: do not wait (default: {DEFAULT_WAIT_S:.0f})",
    )
    parser.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="table for people (default): one line; json for programs: one object",
    )
    add_settings_flags(parser, ("kafka", "registry", "topics"))
    parser.set_defaults(handler=_return)


def _delivery_id(text: str) -> str:
    try:
        return delivery_id_of(text)
    except InvalidReturn:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a delivery id, which is a UUID (8-4-4-4-12 hexadecimal digits)"
        ) from None


def _text(flag: str, longest: int) -> Callable[[str], str]:
    """A checker of a text flag's value: trimmed, 1 to ``longest`` characters."""

    def checked(text: str) -> str:
        kept = text.strip()
        if not kept or len(kept) > longest:
            raise argparse.ArgumentTypeError(
                f"{flag} takes 1 to {longest} characters, not {len(kept)}"
            )
        return kept

    return checked


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds, 0 or more")
    return seconds


def _return(args: argparse.Namespace) -> int:
    quiet_kafka_client()
    settings = settings_from_args(args)
    check_access(settings.kafka)
    record = {
        "delivery_id": args.delivery_id,
        "reason": args.reason,
        "at": datetime.now(UTC),
        "by": args.by or f"{applying_user()}@{socket.gethostname()}"[:MAX_BY_CHARS],
    }
    codec = Codec.for_registry(settings.registry)
    written, receipt = return_delivery(settings, codec, record, args.wait)
    result, line = outcome(record, written, receipt, args.wait)
    if args.format == "json":
        print(json.dumps(_jsonable(record, written, result, receipt)))
    else:
        print(line)
    return EXIT_CODES[result]


def outcome(
    record: dict[str, Any], written: Written, receipt: Receipt | None, wait_s: float
) -> tuple[str, str]:
    """What became of the return (credited, refused, written, no-answer), said in words."""
    delivery = record["delivery_id"]
    if receipt is None and wait_s <= 0:
        return "written", f"return of delivery {delivery} written to {written}; not waiting"
    if receipt is None:
        return "no-answer", (
            f"no answer within {wait_s:g} s: the return of delivery {delivery} stays on "
            f"{written} and is answered when the processor runs"
        )
    # The receipt's texts come from a topic: printed printable and bounded, never as written.
    if receipt["status"] == "return_refused":
        return "refused", f"refused: {shown(receipt['reason'] or 'no reason given')}"
    revenue = receipt["revenue"]
    amount = -revenue if revenue is not None else receipt["price"] or 0.0
    currency = receipt["currency"] or ""
    return "credited", (
        f"credited {amount:,.2f} {currency} for delivery {delivery} "
        f"(lead {shown(receipt['lead_id'])}, partner {shown(receipt['partner'])})"
    )


def _jsonable(
    record: dict[str, Any], written: Written, result: str, receipt: Receipt | None
) -> dict[str, Any]:
    """The return, where it was written, what became of it and the answering receipt."""
    return {
        "result": result,
        "return": {**record, "at": format_timestamp(record["at"])},
        "written": {
            "topic": written.topic,
            "partition": written.partition,
            "offset": written.offset,
        },
        "receipt": None
        if receipt is None
        else {k: format_timestamp(v) if isinstance(v, datetime) else v for k, v in receipt.items()},
    }
