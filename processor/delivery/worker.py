"""The delivery loop: consume a delivery, send it everywhere, record the receipt with the offset.

The worker trusts the partner's topic no more than any other input: it sends to the destinations
the rules in force give the partner (it follows the config topic, as the processor does), in the
partner's format, rendered here from the record's lead. A record it will not send (not a
``LeadDelivery``, for another partner, with a delivery id that is not its lead's, for a partner the
rules do not have or have inactive) goes to the delivery dead-letter topic with the reason, in the
transaction that moves past it.

Per consumed ``LeadDelivery``, from the partner's delivery topic or one of its retry topics:

1. a delivery id whose latest receipt says it is done (delivered, or re-offered to another
   partner) is skipped;
2. a record on a retry topic that is not due yet stops its partition there, paused until it is
   due, while the other partitions and the delivery topic go on;
3. otherwise the payload goes to each destination (one attempt), temporary failures tried again
   in-process with backoff;
4. the receipt, what comes next (the record on the next retry topic, or the lead handed back to
   the decide stage) and the consumed offset commit in one Kafka transaction, so a receipt is on
   the topic exactly when the worker has moved past its record.

A crash between 3 and 4 leaves none of it: the restarted worker finds the record again and sends it
again. That one repeat is the only one; destinations receive the delivery id so that they can drop
it (``docs/delivery.md``).

Each assignment of partitions reloads the memory of finished deliveries from the receipts topic, so
a partition that moves between workers of the same partner carries what its last owner did.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from processor import metrics
from processor.control.follower import Refusal, RulesFollower
from processor.control.topics import config_topics
from processor.delivery.attempt import Conclusions
from processor.delivery.parcel import Parcel
from processor.delivery.parking import Parking, Place
from processor.delivery.receipts import DeliveredIds
from processor.delivery.retry import attempts_made, due_at, first_source, level_delay_ms
from processor.delivery.sending import send
from processor.delivery.topics import retry_levels, retry_topics, worker_topics
from processor.errors import InvalidInput, UserError
from processor.kafka import clients
from processor.kafka.admin import TopicAdmin
from processor.kafka.errors import FatalError, consumed
from processor.kafka.records import DEAD_LETTER_HEADROOM, OutputRecord, dead_letter
from processor.kafka.session import TransactionalSession
from processor.rules import Snapshot
from processor.rules.deliveries import delivery_id
from processor.rules.document import PARTNER_ID, DeliveryPolicy, Partner
from processor.settings import Settings
from processor.wire import Codec, DecodeError

log = logging.getLogger(__name__)

REGISTRY_RETRY_S = 2.0
RECORD_ATTEMPTS = 5
"""Tries of the receipt's transaction when Kafka asks for an abort, before the worker gives up."""
PENDING_EVERY_S = 2.0
"""How often the worker asks the brokers how far its retry partitions reach."""
ATTEMPT_RESULTS = ("delivered", "retrying", "failed", "rejected")
"""The results ``DELIVERY_ATTEMPTS`` counts an attempt by."""
NO_RETRIES = DeliveryPolicy(retries=())
"""The schedule of a partner the rules in force do not have: its records are dead-lettered."""


READ_AHEAD = {
    "queued.min.messages": 50,
    "queued.max.messages.kbytes": 512,
    "max.partition.fetch.bytes": 131_072,
}
"""How little the worker's consumer reads ahead of it: a retry partition resumed when due is
served after what the client already holds, so the read-ahead bounds how late a retry comes while
the delivery topic has a backlog (a worker sends tens of deliveries a second; librdkafka's
defaults hold 100,000 records or 64 MB per partition, minutes of its work)."""


class WorkerFailed(UserError):
    """The worker cannot go on (fenced by another instance, Kafka refusing its transactions)."""

    exit_code = 5


class Unfit(Exception):
    """A record this worker will not send: ``reason`` names why in a word, the message in a
    sentence (neither quotes the record)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Interrupted(BaseException):
    """The worker was asked to stop while waiting between the quick tries of an attempt.

    A ``BaseException``, like ``KeyboardInterrupt``: it must pass through the handlers that turn a
    destination's errors into outcomes."""


class Worker:
    """Delivers one partner's leads until :meth:`stop`; one instance per partner and host."""

    def __init__(self, settings: Settings, partner: str) -> None:
        if not PARTNER_ID.fullmatch(partner):
            raise InvalidInput(f"{partner!r} is not a partner id")
        self.partner = partner
        self.topic = settings.topics.delivery_topic(partner)
        if self.topic == settings.topics.receipts_topic:
            raise InvalidInput(
                f"partner {partner!r}: its delivery topic {self.topic} is the receipts topic"
            )
        self.group = f"{settings.kafka.group_id}-deliver-{partner}"
        """The worker's consumer group: the partner's workers share it, and its offsets."""
        self._settings = settings
        self._codec = Codec.for_registry(settings.registry)
        self._done = DeliveredIds(settings, partner, self._codec)
        self._conclusions = Conclusions(settings, self._codec)
        self._levels: dict[str, int] = {}
        """The topics the worker consumes, with their retry level (0: the delivery topic)."""
        self._parking = Parking()
        self._pending_at = 0.0
        self._stopping = threading.Event()
        self._heartbeat = metrics.Heartbeat(settings.metrics.stall_timeout_s)
        self._rules = RulesFollower(settings, self._switched, self._refused)
        self._ready = False
        self._consumer = clients.consumer(
            settings.kafka, self.group, READ_AHEAD | clients.group_session(settings.kafka)
        )
        self._session = TransactionalSession(
            clients.transactional_producer(
                settings.kafka,
                f"{settings.kafka.transactional_id_or_default()}-deliver-{partner}",
                # A delivery record as large as the processor writes still fits as a dead letter.
                {"message.max.bytes": settings.kafka.max_record_bytes + DEAD_LETTER_HEADROOM},
            )
        )

    @property
    def rules_version(self) -> str | None:
        """The rules version in force, or None before any."""
        snapshot = self._rules.snapshot
        return snapshot.version if snapshot else None

    def stop(self) -> None:
        """Asks the worker to stop after the delivery in hand (safe from a signal handler)."""
        self._stopping.set()

    def run(self) -> None:
        """Delivers until :meth:`stop`."""
        if self._settings.metrics.metrics_port:
            metrics.serve(
                self._settings.metrics.metrics_port,
                lambda: self._ready,
                self._heartbeat.alive,
                host=self._settings.metrics.metrics_host,
            )
        self._zero_metrics()
        admin = TopicAdmin(self._settings)
        admin.ensure([*config_topics(self._settings), *worker_topics(self._settings, self.partner)])
        try:
            if not self._await_rules():
                return
            self._session.init()
            existing = retry_levels(
                self._settings, self.partner, self._consumer.list_topics(timeout=30).topics
            )
            self._subscribe(admin, max([len(self._policy().retries), *existing.values()]))
            self._ready = True
            self._deliver(admin)
        except FatalError as fatal:  # fenced, or a consumer the brokers refuse
            raise WorkerFailed(str(fatal)) from fatal
        finally:
            self._ready = False
            self._rules.close()
            self._consumer.close()
            self._session.close()

    def _zero_metrics(self) -> None:
        """Starts the partner's attempt series at zero: an alert on their increase sees the first
        failure, which a series born at 1 would hide. (Re-offers are counted by the decide stage,
        which accepts each once; the worker's hand-backs are ``status="reoffered"`` deliveries.)"""
        for result in ATTEMPT_RESULTS:
            metrics.DELIVERY_ATTEMPTS.labels(partner=self.partner, result=result)
        metrics.RETRIES_PENDING.labels(partner=self.partner).set(0)

    def _await_rules(self) -> bool:
        """Reads the config topic to its end, then waits for rules if it has none; False when
        asked to stop first."""
        self._rules.catch_up()
        while self._rules.snapshot is None and not self._stopping.is_set():
            log.info(
                "no rules on %s yet: waiting (lead-router rules apply FILE)",
                self._settings.topics.config_topic,
            )
            self._heartbeat.beat()
            self._rules.poll(1.0)
        return not self._stopping.is_set()

    def _policy(self) -> DeliveryPolicy:
        """The partner's delivery policy in the rules in force."""
        snapshot = self._rules.snapshot
        if snapshot is None or self.partner not in snapshot.partner_ids():
            return NO_RETRIES
        return snapshot.partner(self.partner).policy

    def _subscribe(self, admin: TopicAdmin, levels: int) -> None:
        """Consumes the delivery topic and retry topics 1 to ``levels``, created when missing."""
        partitions = admin.partitions(self.topic)
        admin.ensure(retry_topics(self._settings, self.partner, levels, partitions))
        self._levels = {self.topic: 0} | {
            self._settings.topics.retry_topic(self.partner, level): level
            for level in range(1, levels + 1)
        }
        # A topic created a moment ago that the brokers do not show yet would be left out of the
        # subscription until the consumer's next metadata refresh, minutes later.
        for topic in self._levels:
            admin.partitions(topic)
        self._consumer.subscribe(
            list(self._levels),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )

    def _deliver(self, admin: TopicAdmin) -> None:
        while not self._stopping.is_set():
            self._heartbeat.beat()
            self._rules.poll()
            wanted = len(self._policy().retries)
            if wanted > len(self._levels) - 1:  # a new rules version lengthened the schedule
                log.info("the schedule has %d retries: consuming its retry topics", wanted)
                self._subscribe(admin, wanted)
            self._resume_due()
            self._count_pending()
            message = self._consumer.poll(0.2)
            if message is None or not consumed(message):
                continue
            try:
                self._handle(message)
            except Interrupted:
                log.info("stopped between tries; the delivery is taken up again at restart")
                break

    def _switched(self, snapshot: Snapshot) -> None:
        known = snapshot.partner_ids()
        if self.partner not in known:
            log.warning(
                "rules version %s has no partner %s: its records are dead-lettered",
                snapshot.version,
                self.partner,
            )
        elif not snapshot.partner(self.partner).active:
            log.warning(
                "rules version %s has partner %s inactive: its records are dead-lettered",
                snapshot.version,
                self.partner,
            )

    def _refused(self, refusal: Refusal) -> None:
        metrics.RULES_REFUSED.inc()

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._done.reload()
        log.info(
            "delivering %s; %d deliveries were done before",
            ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "no partitions",
            len(self._done),
        )

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._parking.forget((p.topic, p.partition) for p in partitions)

    def _park(self, message: Message, due_at_ms: int) -> None:
        """Stops ``message``'s partition at it until ``due_at_ms``; the rest go on."""
        topic, partition, offset = message.topic() or "", message.partition() or 0, message.offset()
        self._consumer.pause([TopicPartition(topic, partition)])
        self._consumer.seek(TopicPartition(topic, partition, offset or 0))
        self._parking.park((topic, partition), offset or 0, due_at_ms)

    def _resume_due(self) -> None:
        due = self._parking.due(_now_ms())
        if due:
            self._consumer.resume([TopicPartition(topic, partition) for topic, partition in due])

    def _count_pending(self) -> None:
        """Sets ``RETRIES_PENDING``: the records on the retry partitions the worker has read
        from, behind where it is (now and then: it asks the brokers)."""
        if time.monotonic() < self._pending_at:
            return
        self._pending_at = time.monotonic() + PENDING_EVERY_S
        ends: dict[Place, int] = {}
        for topic, partition in self._parking.places:
            try:
                _, ends[(topic, partition)] = self._consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=1.0
                )
            except KafkaException:  # a slow broker: counted at the next round
                return
        metrics.RETRIES_PENDING.labels(partner=self.partner).set(self._parking.behind(ends))

    def _wait(self, seconds: float) -> None:
        """Waits between the quick tries of an attempt (or for the registry); raises
        :class:`Interrupted` as soon as the worker must stop."""
        if self._stopping.wait(seconds):
            raise Interrupted

    def _handle(self, message: Message) -> None:
        topic, partition = message.topic() or "", message.partition() or 0
        here = f"{topic}[{partition}]@{message.offset()}"
        level = self._levels.get(topic, 0)
        try:
            delivery = self._codec.decode(topic, message.value() or b"", "LeadDelivery")
        except DecodeError as error:
            if error.transient:  # the registry, not the record: try the record again
                log.warning("schema registry unavailable at %s: %s", here, error)
                self._consumer.seek(TopicPartition(topic, partition, message.offset() or 0))
                self._wait(REGISTRY_RETRY_S)
                return
            self._dead_letter(message, Unfit(error.reason, "not a LeadDelivery"))
            return
        try:
            partner = self._partner_for(delivery)
            ident = delivery["delivery_id"]
            if ident in self._done:
                log.info("skipped %s: delivery %s is done", here, ident)
                self._record(message, [])
                metrics.WORKER_DELIVERIES.labels(partner=self.partner, status="duplicate").inc()
                return
            if level and self._waits(message, level, partner.policy):
                return
            parcel = _parcel(delivery, partner)
        except Unfit as unfit:
            self._dead_letter(message, unfit)
            return
        headers = message.headers()
        attempts = attempts_made(headers, level) + 1 if level else 1
        origin = f"{topic}/{partition}/{message.offset()}"
        started = time.monotonic()
        outcomes = [
            send(uri, parcel, self._settings.delivery, self._wait) for uri in partner.destinations
        ]
        sent_in = time.monotonic() - started
        done = self._conclusions.conclude(
            message,
            delivery,
            outcomes,
            attempts,
            first_source(headers, origin) if level else origin,
            partner.policy,
            _now_ms(),
        )
        self._record(message, done.records)
        # Counted once recorded: a crash before the commit sends again, and counts then.
        status = done.receipt["status"]
        if status != "retrying":  # a delivery counts once, when it ends
            metrics.WORKER_DELIVERIES.labels(partner=self.partner, status=status).inc()
        metrics.DELIVERY_ATTEMPTS.labels(partner=self.partner, result=done.result).inc()
        metrics.WORKER_ATTEMPTS.labels(partner=self.partner).inc(
            sum(outcome.attempts for outcome in outcomes)
        )
        metrics.WORKER_SEND_SECONDS.labels(partner=self.partner).observe(sent_in)
        self._done.take(done.receipt)
        log.info(
            "delivery %s (lead %s): %s at attempt %d; %s",
            ident,
            delivery["lead_id"],
            status,
            attempts,
            done.receipt["detail"],
        )

    def _waits(self, message: Message, level: int, policy: DeliveryPolicy) -> bool:
        """Parks ``message`` (from retry topic ``level``) when it is not due yet."""
        _, written = message.timestamp()
        now = _now_ms()
        due = due_at(message.headers(), written, level_delay_ms(policy, level), now)
        if due <= now:
            return False
        self._park(message, due)
        return True

    def _partner_for(self, delivery: dict[str, Any]) -> Partner:
        """The partner as the rules in force have it; :class:`Unfit` when the record is not one
        of this partner's deliveries or the rules do not let the partner take leads."""
        if delivery["partner"] != self.partner:
            raise Unfit("wrong-partner", f"a delivery for another partner, not {self.partner}")
        if delivery["delivery_id"] != delivery_id(delivery["lead_id"], self.partner):
            raise Unfit("wrong-delivery-id", "the delivery id is not its lead's for this partner")
        snapshot = self._rules.snapshot
        assert snapshot is not None  # run() consumes only once rules are in force
        if self.partner not in snapshot.partner_ids():
            raise Unfit(
                "unknown-partner", f"rules version {snapshot.version} has no partner {self.partner}"
            )
        partner = snapshot.partner(self.partner)
        if not partner.active:
            raise Unfit(
                "inactive-partner",
                f"rules version {snapshot.version} has partner {self.partner} inactive",
            )
        return partner

    def _dead_letter(self, message: Message, unfit: Unfit) -> None:
        """Moves past ``message``, writing it to the delivery dead-letter topic with the reason
        (headers as on the processor's dead-letter topic), in one transaction."""
        record = dead_letter(
            message, self._settings.topics.delivery_dlq_topic, unfit.reason, str(unfit)
        )
        self._record(message, [record])
        metrics.WORKER_DELIVERIES.labels(partner=self.partner, status="invalid").inc()
        log.warning(
            "dead-lettered %s[%s]@%s: %s (%s)",
            message.topic(),
            message.partition(),
            message.offset(),
            unfit.reason,
            unfit,
        )

    def _record(self, message: Message, records: list[OutputRecord]) -> None:
        """Commits ``records`` (a receipt and what follows it, a dead letter, or nothing) with
        the offset after ``message``, in one transaction.

        The delivery has happened: an abort must not undo it, so an aborted transaction is tried
        again with the same records rather than by sending again.
        """
        topic, partition = message.topic() or "", message.partition() or 0
        offset = message.offset() or 0
        offsets = [TopicPartition(topic, partition, offset + 1)]
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            try:
                self._session.begin()
                for record in records:
                    self._session.produce(record)
                if records:
                    self._session.flush()
                self._session.commit(offsets, self._consumer.consumer_group_metadata())
                if self._levels.get(topic):
                    self._parking.passed((topic, partition), offset)
                return
            except KafkaException as exc:
                self._recover(exc, attempt)

    def _recover(self, exc: KafkaException, attempt: int) -> None:
        """Aborts the receipt's transaction, so that it can be tried again; raises
        :class:`WorkerFailed` when ``exc`` is fatal (the worker was fenced), does not call for an
        abort, or failed the last of ``RECORD_ATTEMPTS`` tries. An abort that fails itself goes on
        up as it is."""
        failed = WorkerFailed(f"cannot record a delivery: {exc.args[0].str()}")
        try:
            self._session.recover(exc)
        except FatalError:
            raise failed from exc
        except KafkaException as raised:
            if raised is exc:  # neither fatal nor abortable: given back as it came
                raise failed from exc
            raise
        if attempt == RECORD_ATTEMPTS:
            raise failed from exc
        log.warning("recording the delivery again (try %d of %d)", attempt + 1, RECORD_ATTEMPTS)


def _parcel(delivery: dict[str, Any], partner: Partner) -> Parcel:
    """The parcel to send; :class:`Unfit` when the record's lead cannot be rendered."""
    try:
        return Parcel.of(delivery, partner)
    except Exception as error:  # the record decoded, but its content breaks a renderer
        text = f"rendering {partner.format} failed: {type(error).__name__}"
        raise Unfit("cannot-render", text) from None


def _now_ms() -> int:
    return int(time.time() * 1000)
