"""Local destinations for delivery tests: an HTTP endpoint, a server that answers one byte at a
time, and an SMTP server (plain, STARTTLS or TLS, with a test CA) on 127.0.0.1; a delivery worker
in a thread; delivery records written to a partner's topic as the processor writes them, and
waits for what a worker commits.

Each destination records what it received and answers as the test scripts it: a status per
request for the endpoint (503 twice, then 200), a reply code per recipient for the mail server.
Tests wait for what they expect with deadlines, never with sleeps.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from confluent_kafka import Consumer, Producer, TopicPartition
from streamkit import apply_rules, in_thread

from processor.delivery import Worker, read_receipts
from processor.formats import Facts, render
from processor.localkafka import free_port
from processor.rules.deliveries import delivery_id
from processor.settings import Settings
from processor.stream.topics import Topics
from processor.wire import Codec

DEADLINE_S = 60.0


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes


class Endpoint:
    """An HTTP server that records every POST and answers each path (or each delivery, by its
    ``Idempotency-Key``, on a path) from its script."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.arrived = 0
        """Requests received, held ones included (``requests`` has them once answered)."""
        self._scripts: dict[tuple[str, str | None], list[int]] = {}
        self._always: dict[tuple[str, str | None], int] = {}
        self._held = threading.Event()
        self._held.set()
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with endpoint._lock:
                    endpoint.arrived += 1
                endpoint._held.wait(DEADLINE_S)
                status = endpoint._record(Request(self.path, dict(self.headers), body))
                self.send_response(status)
                if status in (301, 302, 307, 308):
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the tests say what matters

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def answer(self, path: str, *statuses: int, then: int = 200, key: str | None = None) -> None:
        """Answer requests to ``path`` with ``statuses`` in turn, and ``then`` after them; with
        ``key``, only the requests of that delivery, whatever the path's script says."""
        with self._lock:
            self._scripts[(path, key)] = list(statuses)
            self._always[(path, key)] = then

    def hold(self) -> None:
        """Keep requests waiting (up to a minute) until :meth:`release`."""
        self._held.clear()

    def release(self) -> None:
        self._held.set()

    def to(self, path: str) -> list[Request]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def wait_arrived(self, count: int) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while self.arrived < count:
            assert time.monotonic() < deadline, f"{self.arrived} of {count} requests arrived"
            time.sleep(0.05)

    def wait_for(self, path: str, count: int) -> list[Request]:
        deadline = time.monotonic() + DEADLINE_S
        while len(self.to(path)) < count:
            assert time.monotonic() < deadline, f"{path}: {len(self.to(path))} of {count} requests"
            time.sleep(0.05)
        return self.to(path)

    def _record(self, request: Request) -> int:
        with self._lock:
            self.requests.append(request)
            scripted = (request.path, request.headers.get("Idempotency-Key"))
            if scripted not in self._always:
                scripted = (request.path, None)
            script = self._scripts.get(scripted)
            if script:
                return script.pop(0)
            return self._always.get(scripted, 200)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()


class Mailbox:
    """An SMTP server that keeps every mail it accepts; ``refuse`` scripts recipient replies.

    Without ``tls`` it speaks plain SMTP and offers no STARTTLS; with ``tls="starttls"`` it offers
    STARTTLS, with ``tls="implicit"`` it speaks TLS from the first byte, with ``certificate``'s key.
    It offers AUTH also in clear, and records every login with whether it came over TLS.
    """

    def __init__(self, tls: str | None = None, certificate: ssl.SSLContext | None = None) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: dict[str, str] = {}
        self.logins: list[tuple[str, bool]] = []
        """(user name, over TLS) of every AUTH the server saw."""
        mailbox = self

        class Handler:
            async def handle_RCPT(
                self, server: Any, session: Any, envelope: Any, address: str, options: Any
            ) -> str:
                reply = mailbox.refuse.get(address)
                if reply:
                    return reply
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                message = email.message_from_bytes(envelope.content, policy=email.policy.default)
                mailbox.messages.append(message)
                return "250 OK"

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            user = data.login.decode() if isinstance(data, LoginPassword) else "?"
            mailbox.logins.append((user, session.ssl is not None))
            return AuthResult(success=True)

        options: dict[str, Any] = {"authenticator": authenticate, "auth_require_tls": False}
        if tls == "starttls":
            options["tls_context"] = certificate
        elif tls == "implicit":
            options["ssl_context"] = certificate
        self.port = free_port()
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **options)

    def wait_for(self, count: int) -> list[EmailMessage]:
        deadline = time.monotonic() + DEADLINE_S
        while len(self.messages) < count:
            assert time.monotonic() < deadline, f"{len(self.messages)} of {count} mails"
            time.sleep(0.05)
        return self.messages

    def start(self) -> None:
        self._controller.start()

    def close(self) -> None:
        self._controller.stop()


class Trickler:
    """An HTTP server that answers every request one byte at a time, ``every`` seconds apart:
    a valid answer, that takes ``len(ANSWER) * every`` seconds to arrive."""

    ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Padding: " + b"x" * 60 + b"\r\n\r\n"

    def __init__(self, every: float) -> None:
        self._every = every
        self._closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}{path}"

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection: socket.socket) -> None:
        with connection:
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = connection.recv(4096)
                if not chunk:
                    return
                received += chunk
            for byte in self.ANSWER:
                if self._closed.wait(self._every):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:  # the client gave up
                    return

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)
        self._listener.close()


@contextmanager
def trickler(every: float) -> Iterator[Trickler]:
    server = Trickler(every)
    server.start()
    try:
        yield server
    finally:
        server.close()


@dataclass(frozen=True)
class Certificates:
    """A test CA, as a PEM file clients trust, and a server context with its certificate for
    127.0.0.1."""

    ca_file: Path
    server: ssl.SSLContext


def certificates(folder: Path) -> Certificates:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    ca_file = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Certificates(ca_file, server)


@contextmanager
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    server.start()
    try:
        yield server
    finally:
        server.close()


@contextmanager
def mailbox(tls: str | None = None, certificate: ssl.SSLContext | None = None) -> Iterator[Mailbox]:
    server = Mailbox(tls, certificate)
    server.start()
    try:
        yield server
    finally:
        server.close()


@contextmanager
def working(settings: Settings, partner: str) -> Iterator[Worker]:
    """A delivery worker in a thread of this process."""
    worker = Worker(settings, partner)
    with in_thread(worker, f"deliver-{partner}"):
        yield worker


def receipts(settings: Settings, count: int) -> list[dict[str, Any]]:
    """The receipts, once there are at least ``count``."""
    deadline = time.monotonic() + DEADLINE_S
    while len(found := read_receipts(settings)) < count:
        assert time.monotonic() < deadline, f"{len(found)} of {count} receipts"
        time.sleep(0.1)
    return found


def committed(settings: Settings, worker: Worker) -> int:
    """The offset the worker's group has committed on partition 0 of its topic."""
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka.bootstrap_servers, "group.id": worker.group}
    )
    try:
        [position] = consumer.committed([TopicPartition(worker.topic, 0)], timeout=10)
    finally:
        consumer.close()
    return int(position.offset)


def wait_committed(settings: Settings, worker: Worker, offset: int) -> None:
    """Waits until the worker has moved past ``offset`` records (delivered or skipped)."""
    deadline = time.monotonic() + DEADLINE_S
    while committed(settings, worker) < offset:
        assert time.monotonic() < deadline, f"the worker never committed offset {offset}"
        time.sleep(0.1)


def partner_rules(settings: Settings, destinations: Sequence[str], **partner: Any) -> str:
    """Applies rules that have partner ``p`` (format json, unless ``partner`` says otherwise)
    send to ``destinations``; returns their version."""
    spec = {"id": "p", "format": "json", "destinations": list(destinations), **partner}
    return apply_rules(settings, json.dumps({"partners": [spec]}))


def in_force(worker: Worker, version: str) -> None:
    """Waits until the worker has ``version`` of the rules in force."""
    deadline = time.monotonic() + DEADLINE_S
    while worker.rules_version != version:
        assert time.monotonic() < deadline, f"rules {worker.rules_version}, not {version}"
        time.sleep(0.05)


def delivery(lead_id: str, partner: str, destinations: Sequence[str] = ()) -> dict[str, Any]:
    """A LeadDelivery record as the processor writes it, payload rendered as json."""
    lead = {
        "lead_id": lead_id,
        "submitted_at": datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
        "site_id": "web",
        **dict.fromkeys(
            ("interest_category", "offer_id", "contact", "address", "visitor", "vehicle"), None
        ),
        "fields": None,
        "comments": None,
    }
    record: dict[str, Any] = {
        "delivery_id": delivery_id(lead_id, partner),
        "lead_id": lead_id,
        "profile": "web",
        "partner": partner,
        "partner_name": None,
        "assignment": "a",
        "tier": "all",
        "price": 12.5,
        "currency": "EUR",
        "distance_km": None,
        "format": "json",
        "destinations": list(destinations),
        "rules_version": "1",
        "routed_at": datetime(2026, 11, 20, 10, 0, 1, tzinfo=UTC),
        "geo": None,
        "lead": lead,
    }
    record["payload"], record["content_type"] = render("json", lead, Facts.of(record))
    return record


def publish_deliveries(settings: Settings, records: Sequence[dict[str, Any]]) -> None:
    """Writes LeadDelivery records to their partners' topics, as the processor would."""
    Topics(settings).ensure_deliveries({record["partner"] for record in records})
    codec = Codec()
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    for record in records:
        topic = settings.topics.delivery_topic(record["partner"])
        value = codec.encode(topic, "LeadDelivery", record)
        producer.produce(topic, key=record["lead_id"].encode(), value=value)
    assert producer.flush(30) == 0
