"""Each kind of destination against a real local server: what it sends, and how answers count.

No Kafka here: these send one parcel through ``send`` as the worker does, retries included.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from deliverykit import Endpoint, Mailbox, certificates, mailbox, trickler

from processor.delivery.mail import tls_mode
from processor.delivery.outcome import Outcome
from processor.delivery.parcel import Parcel
from processor.delivery.sending import send
from processor.localkafka import free_port
from processor.settings import Settings

PARCEL = Parcel(
    delivery_id="0b0f1a52-3c1e-5d0e-9b3a-1f2e3d4c5b6a",
    lead_id="web-0001",
    partner="crm-east",
    subject="New lead web-0001 for East CRM",
    payload='{"name": "Zoë & <Chloé> 李"}',
    content_type="application/json",
    extension="json",
)


def settings(**changes: object) -> Settings:
    base = {"delivery_attempts": 3, "delivery_backoff_ms": 1, "delivery_timeout_ms": 5000}
    return Settings(**(base | changes))


def deliver(uri: str, parcel: Parcel = PARCEL, **changes: object) -> tuple[Outcome, list[float]]:
    waits: list[float] = []
    return send(uri, parcel, settings(**changes).delivery, waits.append), waits


def test_http_posts_the_payload_with_the_delivery_id_as_idempotency_key(http: Endpoint) -> None:
    outcome, _ = deliver(http.url("/hook"))
    assert (outcome.status, outcome.answer, outcome.attempts) == ("delivered", "HTTP 200", 1)
    [request] = http.to("/hook")
    assert request.body == PARCEL.payload.encode("utf-8")
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == PARCEL.delivery_id


def test_http_temporary_failures_are_retried_until_the_endpoint_takes_it(http: Endpoint) -> None:
    http.answer("/flaky", 503, 503)
    outcome, waits = deliver(http.url("/flaky"))
    assert (outcome.status, outcome.attempts) == ("delivered", 3)
    requests = http.to("/flaky")
    assert len(requests) == 3
    assert {r.headers["Idempotency-Key"] for r in requests} == {PARCEL.delivery_id}
    assert len(waits) == 2 and waits[1] == 2 * waits[0]


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_http_statuses_that_mean_not_now_fail_after_the_last_try(
    http: Endpoint, status: int
) -> None:
    http.answer("/busy", then=status)
    outcome, _ = deliver(http.url("/busy"))
    assert (outcome.status, outcome.answer, outcome.attempts) == ("failed", f"HTTP {status}", 3)
    assert len(http.to("/busy")) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 302, 307])
def test_http_statuses_that_mean_never_are_rejected_at_once(http: Endpoint, status: int) -> None:
    http.answer("/no", then=status)
    outcome, waits = deliver(http.url("/no"))
    assert (outcome.status, outcome.answer, outcome.attempts) == ("rejected", f"HTTP {status}", 1)
    assert waits == []
    assert http.to("/elsewhere") == []  # a redirect is not followed


def test_http_without_an_answer_in_time_fails(http: Endpoint) -> None:
    http.hold()
    outcome, _ = deliver(http.url("/slow"), delivery_attempts=1, delivery_timeout_ms=200)
    http.release()
    assert outcome.status == "failed"
    assert "timed out" in outcome.answer


def test_http_a_trickling_answer_fails_at_the_deadline_for_the_whole_request() -> None:
    # One byte every 0.1 s: each read is well within the timeout, the answer takes 8 s.
    with trickler(every=0.1) as server:
        started = time.monotonic()
        outcome, _ = deliver(server.url("/hook"), delivery_attempts=1, delivery_timeout_ms=1000)
        took = time.monotonic() - started
    assert (outcome.status, outcome.attempts) == ("failed", 1)
    assert "timed out" in outcome.answer
    assert took < 4.0, f"a 1 s deadline held the delivery {took:.1f} s"


def test_http_nobody_listening_fails() -> None:
    outcome, _ = deliver(f"http://127.0.0.1:{free_port()}/hook", delivery_attempts=2)
    assert (outcome.status, outcome.attempts) == ("failed", 2)
    assert outcome.answer.startswith("no answer")


def test_mail_carries_the_payload_and_the_delivery_id(smtp: Mailbox) -> None:
    uri = "mailto:leads@east.example,bdc@east.example"
    outcome, _ = deliver(
        uri, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_tls="none", smtp_from="lr@x.example"
    )
    assert (outcome.status, outcome.answer) == ("delivered", "SMTP 250")
    assert outcome.where == "mailto:...@east.example,...@east.example"
    [message] = smtp.wait_for(1)
    assert message["To"] == "leads@east.example, bdc@east.example"
    assert message["From"] == "lr@x.example"
    assert message["Subject"] == "New lead web-0001 for East CRM"
    assert message["Message-ID"] == f"<{PARCEL.delivery_id}@lead-router>"
    assert message["X-Lead-Router-Delivery-Id"] == PARCEL.delivery_id
    assert message.get_content_type() == "text/plain"
    assert message.get_content().replace("\r\n", "\n") == PARCEL.payload + "\n"


def test_mail_subject_from_the_uri(smtp: Mailbox) -> None:
    deliver(
        "mailto:a@x.example?subject=Web%20lead",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_tls="none",
    )
    assert smtp.wait_for(1)[0]["Subject"] == "Web lead"


def test_mail_refused_for_good_is_rejected(smtp: Mailbox) -> None:
    smtp.refuse["gone@east.example"] = "550 no such mailbox"
    outcome, waits = deliver(
        "mailto:gone@east.example", smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_tls="none"
    )
    assert (outcome.status, outcome.answer, waits) == ("rejected", "SMTP 550", [])
    assert smtp.messages == []


def test_mail_refused_for_now_is_retried_then_failed(smtp: Mailbox) -> None:
    smtp.refuse["full@east.example"] = "452 mailbox full"
    outcome, _ = deliver(
        "mailto:full@east.example", smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_tls="none"
    )
    assert (outcome.status, outcome.answer, outcome.attempts) == ("failed", "SMTP 452", 3)


def test_mail_without_a_server_fails() -> None:
    outcome, _ = deliver(
        "mailto:a@x.example", smtp_host="127.0.0.1", smtp_port=free_port(), delivery_attempts=1
    )
    assert outcome.status == "failed"


def test_files_land_in_the_deliveries_folder(tmp_path: Path) -> None:
    outcome, _ = deliver("file://deliveries/crm-east", deliveries_dir=tmp_path)
    assert outcome.status == "delivered"
    written = tmp_path / "deliveries" / "crm-east" / f"{PARCEL.delivery_id}.json"
    assert written.read_text("utf-8") == PARCEL.payload


def test_mail_to_a_server_that_never_ends_its_greeting_fails_at_the_deadline() -> None:
    """Each line of the greeting comes well within the timeout, and the greeting never ends: only a
    deadline for the whole exchange, connecting included, lets the worker go."""
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def greet() -> None:
        connection, _ = listener.accept()
        with connection:
            while not done.wait(0.1):
                try:
                    connection.sendall(b"220-still greeting\r\n")
                except OSError:
                    return

    threading.Thread(target=greet, daemon=True).start()
    try:
        started = time.monotonic()
        outcome, _ = deliver(
            "mailto:a@x.example",
            smtp_host="127.0.0.1",
            smtp_port=listener.getsockname()[1],
            smtp_tls="none",
            delivery_attempts=1,
            delivery_timeout_ms=1000,
        )
        took = time.monotonic() - started
    finally:
        done.set()
        listener.close()
    assert (outcome.status, outcome.attempts) == ("failed", 1)
    assert "timed out" in outcome.answer
    assert took < 4.0, f"a 1 s deadline held the delivery {took:.1f} s"


def test_mail_is_not_sent_in_clear_to_a_server_without_starttls(smtp: Mailbox) -> None:
    outcome, waits = deliver(
        "mailto:a@x.example",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_username="worker",
        smtp_password="secret",
    )
    assert (outcome.status, waits) == ("rejected", [])
    assert "does not offer STARTTLS" in outcome.answer
    assert (smtp.messages, smtp.logins) == ([], [])


def test_mail_with_starttls_is_delivered_and_logs_in_encrypted(tmp_path: Path) -> None:
    tls = certificates(tmp_path)
    with mailbox("starttls", tls.server) as server:
        outcome, _ = deliver(
            "mailto:a@x.example",
            smtp_host="127.0.0.1",
            smtp_port=server.port,
            smtp_ca_file=tls.ca_file,
            smtp_username="worker",
            smtp_password="secret",
        )
        assert (outcome.status, outcome.answer) == ("delivered", "SMTP 250")
        assert len(server.wait_for(1)) == 1
        assert server.logins == [("worker", True)]


def test_mail_with_implicit_tls_is_delivered(tmp_path: Path) -> None:
    tls = certificates(tmp_path)
    with mailbox("implicit", tls.server) as server:
        outcome, _ = deliver(
            "mailto:a@x.example",
            smtp_host="127.0.0.1",
            smtp_port=server.port,
            smtp_tls="implicit",
            smtp_ca_file=tls.ca_file,
        )
        assert outcome.status == "delivered"
        assert len(server.wait_for(1)) == 1


def test_mail_to_a_server_whose_certificate_is_not_trusted_is_not_sent(tmp_path: Path) -> None:
    tls = certificates(tmp_path)
    with mailbox("starttls", tls.server) as server:
        outcome, _ = deliver(
            "mailto:a@x.example", smtp_host="127.0.0.1", smtp_port=server.port, delivery_attempts=1
        )
        assert outcome.status == "failed"
        assert "CERTIFICATE_VERIFY_FAILED" in outcome.answer
        assert server.messages == []


def test_plain_smtp_never_logs_in(smtp: Mailbox) -> None:
    outcome, _ = deliver(
        "mailto:a@x.example",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_tls="none",
        smtp_username="worker",
        smtp_password="secret",
    )
    assert outcome.status == "rejected"
    assert "password" in outcome.answer
    assert (smtp.messages, smtp.logins) == ([], [])


def test_port_465_means_implicit_tls_unless_set_otherwise() -> None:
    assert tls_mode(settings(smtp_port=465).delivery) == "implicit"
    assert tls_mode(settings(smtp_port=587).delivery) == "starttls"
    assert tls_mode(settings(smtp_port=465, smtp_tls="starttls").delivery) == "starttls"
