"""Every Prometheus metric lead-router exports, defined once, and the HTTP endpoint serving them.

Names follow Prometheus conventions (``_total`` counters, base units); the dashboard and alert rules
in ``deploy/`` refer to these names, and a test checks that every name they use exists.
Labels are bounded: profiles, partners, reasons and outcomes come from the rules document or from
fixed sets, never from a lead.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Generic, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from processor.errors import InvalidInput

M = TypeVar("M", Counter, Gauge, Histogram)


class Labelled(Generic[M]):
    """A metric's child for each tuple of label values (in the metric's label order), made once:
    ``labels`` costs several times the count it is for, and a lead counts in several metrics.
    Only for metrics whose children are never removed, which would live on here."""

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: M) -> None:
        self._metric: M = metric
        self._children: dict[tuple[str, ...], M] = {}

    def __call__(self, *values: str) -> M:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
E2E_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

LEADS_CONSUMED = Counter(
    "lead_router_leads_consumed_total", "Input records consumed, good or bad.", ["topic"]
)
OUTCOMES = Counter(
    "lead_router_outcomes_total",
    "Leads by outcome (routed, fallback, unroutable, duplicate, rejected) and profile.",
    ["outcome", "profile"],
)
DELIVERIES = Counter(
    "lead_router_deliveries_total",
    "Delivery records emitted, by profile, partner and tier.",
    ["profile", "partner", "tier"],
)
REVENUE = Counter(
    "lead_router_revenue_total",
    "Sum of the effective prices of emitted deliveries, by partner and currency.",
    ["partner", "currency"],
)
CANDIDATES_EXCLUDED = Counter(
    "lead_router_candidates_excluded_total",
    "Matching candidates passed over, by profile, partner and reason: closed (by its schedule), "
    "capped (a delivery would pass a cap), duplicate (the partner received the person before).",
    ["profile", "partner", "reason"],
)
CAP_USED = Gauge(
    "lead_router_cap_used",
    "A cap's use in the window of the last lead delivered under it: leads, or revenue in "
    "currency units. scope is partner/<id> or assignment/<profile>/<id>.",
    ["scope", "per", "unit"],
)
CAP_LIMIT = Gauge(
    "lead_router_cap_limit",
    "A cap's limit, in the unit of lead_router_cap_used (set with it).",
    ["scope", "per", "unit"],
)
DEAD_LETTERS = Counter(
    "lead_router_dead_letters_total", "Input records sent to the dead-letter topic.", ["reason"]
)
CONSUMED_FROM = Labelled(LEADS_CONSUMED)
OUTCOME_OF = Labelled(OUTCOMES)
DELIVERED_TO = Labelled(DELIVERIES)
REVENUE_OF = Labelled(REVENUE)
DEAD_LETTERED_FOR = Labelled(DEAD_LETTERS)
PROCESSING_SECONDS = Histogram(
    "lead_router_processing_seconds",
    "Time to decode, enrich, route and render one lead.",
    buckets=LATENCY_BUCKETS,
)
END_TO_END_SECONDS = Histogram(
    "lead_router_end_to_end_seconds",
    "From the lead's submitted_at to the commit of the transaction that routed it.",
    buckets=E2E_BUCKETS,
)
COMMIT_SECONDS = Histogram(
    "lead_router_commit_seconds",
    "Time to commit a stage's transaction: its changelog, its records flushed, its offsets sent, "
    "the commit itself.",
    ["stage"],
    buckets=LATENCY_BUCKETS,
)
RULES_VERSION = Gauge(
    "lead_router_rules_version_info", "The rules version in force (value 1).", ["version"]
)
RULES_LOADED_AT = Gauge(
    "lead_router_rules_loaded_timestamp_seconds", "When the rules in force were loaded."
)
RULES_SNAPSHOT_AGE = Gauge(
    "lead_router_rules_snapshot_age_seconds",
    "Seconds since the rules in force were loaded (-1 before any).",
)
RULES_REFUSED = Counter(
    "lead_router_rules_refused_total", "Rules versions refused because they did not validate."
)
CONFIG_RECORDS_REFUSED = Counter(
    "lead_router_config_records_refused_total",
    "Config topic records refused, by reason (too-large, not-json, too-deep, not-object, "
    "foreign-key, not-a-version, too-many-parts; a version record whose parts do not match it: "
    "mismatch, or do not validate: invalid). The rules in force stay.",
    ["reason"],
)
TRANSACTIONS = Counter(
    "lead_router_transactions_total", "Kafka transactions, by result.", ["result"]
)
WORKER_DELIVERIES = Counter(
    "lead_router_worker_deliveries_total",
    "Deliveries a delivery worker finished, by partner and receipt status (delivered, failed, "
    "rejected, reoffered), or skipped (duplicate: done before; invalid: dead-lettered, not a "
    "LeadDelivery this worker may send).",
    ["partner", "status"],
)
WORKER_ATTEMPTS = Counter(
    "lead_router_worker_attempts_total",
    "Tries at a destination by a delivery worker, first tries included, by partner.",
    ["partner"],
)
WORKER_SEND_SECONDS = Histogram(
    "lead_router_worker_send_seconds",
    "Time a delivery worker took to send one delivery to all its destinations, retries included.",
    ["partner"],
    buckets=E2E_BUCKETS,
)
DELIVERY_ATTEMPTS = Counter(
    "lead_router_delivery_attempts_total",
    "Attempts at a delivery by a delivery worker (one attempt sends to every destination), by "
    "partner and result: delivered, retrying (failed, a retry is scheduled), failed (failed, no "
    "retry left), rejected (refused for good).",
    ["partner", "result"],
)
RETRIES_PENDING = Gauge(
    "lead_router_retries_pending",
    "Deliveries waiting on a partner's retry topics (records behind their end, as the worker "
    "that reads them sees it), by partner.",
    ["partner"],
)
REOFFERS = Counter(
    "lead_router_reoffers_total",
    "Deliveries a worker gave up on and handed back to be offered to the next candidate, by "
    "the partner given up on.",
    ["partner"],
)
RETURNS = Counter(
    "lead_router_returns_total",
    "Returns of delivered leads, by partner and result: credited or refused.",
    ["partner", "result"],
)
CREDITED_REVENUE = Counter(
    "lead_router_credited_revenue_total",
    "Revenue given back for returned leads, by partner and currency.",
    ["partner", "currency"],
)
CONSUMER_LAG = Gauge(
    "lead_router_consumer_lag",
    "Records behind the end of a topic a stage consumes (the input topic, the decide topic), by "
    "partition.",
    ["topic", "partition"],
)
READY = Gauge("lead_router_ready", "1 once the rules snapshot is loaded and leads are consumed.")


_rules_loaded_at = 0.0


def _snapshot_age() -> float:
    return time.time() - _rules_loaded_at if _rules_loaded_at else -1.0


RULES_SNAPSHOT_AGE.set_function(_snapshot_age)


def set_rules_version(version: str) -> None:
    """Marks ``version`` as the one in force; the previous version's series is removed."""
    global _rules_loaded_at
    _rules_loaded_at = time.time()
    RULES_VERSION.clear()
    RULES_VERSION.labels(version=version).set(1)
    RULES_LOADED_AT.set(_rules_loaded_at)


class Heartbeat:
    """Whether a loop still comes round: it calls ``beat`` each time; ``alive`` says whether the
    last beat is less than ``timeout_s`` old. A process whose loop hangs (a call that never
    returns, a deadlock) still answers HTTP from its server thread; this tells it apart.

    The loop also says what it is doing (``stage``), so that a stall names its cause: routing one
    record, or waiting on Kafka."""

    def __init__(self, timeout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._timeout_s = timeout_s
        self._clock = clock
        self._last = clock()
        self._stage: tuple[str, tuple[object, ...]] = ("starting", ())
        self._stage_since = self._last

    def beat(self) -> None:
        self._last = self._clock()

    def alive(self) -> bool:
        return self._clock() - self._last < self._timeout_s

    def stage(self, what: str, *args: object) -> None:
        """Records what the loop is doing now: ``what % args``, formatted only when reported."""
        self._stage = (what, args)
        self._stage_since = self._clock()

    def doing(self) -> str:
        """What the loop has been doing, and for how long: "routing the record at ... for 42 s"."""
        what, args = self._stage
        return f"{what % args if args else what} for {self._clock() - self._stage_since:.0f} s"


class _Handler(BaseHTTPRequestHandler):
    registry: CollectorRegistry = REGISTRY
    is_ready: Callable[[], bool] = staticmethod(lambda: False)
    is_alive: Callable[[], bool] = staticmethod(lambda: True)

    def do_GET(self) -> None:
        if self.path.startswith("/metrics"):
            self._reply(200, generate_latest(self.registry), CONTENT_TYPE_LATEST)
        elif self.path == "/healthz":
            alive = self.is_alive()
            self._reply(200 if alive else 503, b"ok\n" if alive else b"stalled\n")
        elif self.path == "/readyz":
            ready = self.is_ready()
            self._reply(200 if ready else 503, b"ready\n" if ready else b"not ready\n")
        else:
            self._reply(404, b"not found: try /metrics, /healthz or /readyz\n")

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Scrapes every few seconds would drown the processor's own log."""


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def serve(
    port: int, is_ready: Callable[[], bool], is_alive: Callable[[], bool], *, host: str
) -> ThreadingHTTPServer:
    """Serves /metrics, /healthz (``is_alive``) and /readyz (``is_ready``) on ``host`` and
    ``port`` from a daemon thread; an IPv6 address (``::``) listens on IPv6."""
    handler = type(
        "Handler",
        (_Handler,),
        {"is_ready": staticmethod(is_ready), "is_alive": staticmethod(is_alive)},
    )
    server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
    try:
        server = server_class((host, port), handler)
    except OSError as error:  # an address not of this machine, a port taken, a name unknown
        raise InvalidInput(
            f"cannot serve /metrics on {host} port {port} (--metrics-host, --metrics-port): "
            f"{error.strerror or error}"
        ) from None
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
