"""``lead-router return``: what it takes on the command line, and how it words the answer.

A bad delivery id, reason, name or wait is bad usage (exit 2, the usage shown, no traceback),
refused before anything is written. Writing and waiting are tested on the real broker
(tests/integration/test_returns_intake.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from processor.cli import build_parser, main
from processor.cli.returns import EXIT_CODES, NO_ANSWER_EXIT_CODE, outcome
from processor.delivery.returning import Written

DELIVERY = "3d91f692-dc21-5ed0-be1e-9d5c88e5a535"
WRITTEN = Written("lead-router.returns", 0, 5)
RECORD = {"delivery_id": DELIVERY, "reason": "wrong number", "at": datetime.now(UTC), "by": "x"}


def parsed(*argv: str) -> Any:
    return build_parser().parse_args(["return", *argv])


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["lead-000123", "--reason", "wrong number"], "is not a delivery id"),
        ([DELIVERY[:-1], "--reason", "wrong number"], "is not a delivery id"),
        ([DELIVERY], "the following arguments are required: --reason"),
        ([DELIVERY, "--reason", "   "], "--reason takes 1 to 500 characters, not 0"),
        ([DELIVERY, "--reason", "r" * 501], "--reason takes 1 to 500 characters, not 501"),
        ([DELIVERY, "--reason", "r", "--by", ""], "--by takes 1 to 200 characters, not 0"),
        ([DELIVERY, "--reason", "r", "--wait", "-1"], "give a number of seconds, 0 or more"),
        ([DELIVERY, "--reason", "r", "--wait", "nan"], "give a number of seconds, 0 or more"),
        ([DELIVERY, "--reason", "r", "--wait", "soon"], "give a number of seconds, 0 or more"),
        ([DELIVERY, "--reason", "r", "--format", "xml"], "invalid choice: 'xml'"),
        ([DELIVERY, "--reason", "r", "--smtp-host", "mail"], "unrecognized arguments"),
    ],
    ids=[
        "lead-id",
        "short-id",
        "no-reason",
        "blank-reason",
        "long-reason",
        "blank-by",
        "negative-wait",
        "nan-wait",
        "word-wait",
        "format",
        "foreign-flag",
    ],
)
def test_bad_usage_exits_2_with_the_usage_and_no_traceback(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as ended:
        main(["return", *argv])

    assert ended.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: lead-router")
    assert says in err
    assert "Traceback" not in err


def test_the_arguments_are_taken_trimmed_and_the_id_in_lead_routers_form() -> None:
    args = parsed(DELIVERY.upper(), "--reason", "  wrong number ", "--by", " ops ", "--wait", "0")

    assert (args.delivery_id, args.reason, args.by, args.wait) == (
        DELIVERY,
        "wrong number",
        "ops",
        0.0,
    )


def test_by_default_the_command_waits_30_s_and_prints_a_line() -> None:
    args = parsed(DELIVERY, "--reason", "r" * 500)

    assert (args.reason, args.by, args.wait, args.format) == ("r" * 500, None, 30.0, "table")


def receipt(**fields: Any) -> dict[str, Any]:
    return {
        "delivery_id": DELIVERY,
        "lead_id": "L-1",
        "partner": "crm-east",
        "status": "returned",
        "price": 40.0,
        "currency": "USD",
        "revenue": -40.0,
        "reason": "wrong number",
    } | fields


def test_a_credit_is_said_with_its_amount_lead_and_partner() -> None:
    result, line = outcome(RECORD, WRITTEN, receipt(), 30)

    assert (result, EXIT_CODES[result]) == ("credited", 0)
    assert line == f"credited 40.00 USD for delivery {DELIVERY} (lead L-1, partner crm-east)"


def test_a_refusal_is_said_with_its_reason() -> None:
    answer = receipt(status="return_refused", revenue=None, reason="the 7d window has passed")

    result, line = outcome(RECORD, WRITTEN, answer, 30)

    assert (result, EXIT_CODES[result], line) == ("refused", 1, "refused: the 7d window has passed")


def test_no_answer_in_time_has_its_own_exit_code_and_says_where_the_return_waits() -> None:
    result, line = outcome(RECORD, WRITTEN, None, 2.5)

    assert (result, EXIT_CODES[result]) == ("no-answer", NO_ANSWER_EXIT_CODE)
    assert NO_ANSWER_EXIT_CODE not in (0, 1, 2, 3, 4, 5, 6, 7, 8)
    assert line == (
        f"no answer within 2.5 s: the return of delivery {DELIVERY} stays on "
        "lead-router.returns[0]@5 and is answered when the processor runs"
    )


def test_a_return_not_waited_for_succeeds_once_written() -> None:
    result, line = outcome(RECORD, WRITTEN, None, 0)

    assert (result, EXIT_CODES[result]) == ("written", 0)
    assert line == f"return of delivery {DELIVERY} written to lead-router.returns[0]@5; not waiting"


def test_texts_of_the_receipt_are_printed_printable() -> None:
    answer = receipt(status="return_refused", reason="late\x1b[2J\nagain")

    assert outcome(RECORD, WRITTEN, answer, 30)[1] == "refused: late\ufffd[2J\ufffdagain"
