"""The receipts view knows every status a receipt can have, and shows each one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from processor.cli.receipts import STATUSES, STYLES, _table

SCHEMA = Path(__file__).parents[2] / "schemas" / "DeliveryReceipt.avsc"


def schema_statuses() -> list[str]:
    """The symbols of the receipt's status enum, as the schema writes them."""
    fields = json.loads(SCHEMA.read_text())["fields"]
    (status,) = [field for field in fields if field["name"] == "status"]
    symbols: list[str] = status["type"]["symbols"]
    return symbols


def test_the_view_knows_every_status_of_the_schema() -> None:
    assert sorted(STATUSES) == sorted(schema_statuses())
    assert set(STYLES) == set(STATUSES)


def test_a_receipt_of_each_status_is_shown() -> None:
    receipts = [
        {
            "at": datetime(2026, 11, 30, 12, tzinfo=UTC),
            "lead_id": f"lead-{n}",
            "partner": "crm-east",
            "price": -40.0 if status == "returned" else 40.0,
            "currency": "USD",
            "status": status,
            "attempts": None,
            "detail": None,
        }
        for n, status in enumerate(schema_statuses())
    ]
    console = Console(record=True, width=200)
    console.print(_table(receipts))
    shown = console.export_text()
    assert [status for status in schema_statuses() if f" {status} " not in shown] == []
