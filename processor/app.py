"""The composition root of ``lead-router run``: wires settings, Kafka, rules, enrichment, metrics.

Start-up order matters: topics exist, the config topic is read to its end, and only once a rules
snapshot is in force does the processor join the consumer groups and take leads.

An instance runs both stages by default, each in a loop of its own with its own consumer and
transactional producer: the match stage in a thread, over its share of the input and returns
partitions; the decide stage in the main thread (where the routing budget can interrupt a
decision), over the decide topic's one partition when the group gives it this instance, standing
by otherwise. Both follow the same rules, polled under a lock; the stall watchdog and /healthz
watch both loops, and a stop ends both after their open transactions commit.

The two threads share one interpreter lock, so an instance routes at most what one core can. The
``STAGES`` setting runs one stage alone: a ``decide`` instance and ``match`` instances beside it
each have a core (the match stage keeps no state and scales out; the decide stage is one
partition's work whoever holds it).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

from processor import metrics
from processor.control.follower import Refusal, RulesFollower
from processor.errors import UserError
from processor.geo.enrich import Enricher
from processor.geo.fetch import ip_database
from processor.kafka.access import check_access
from processor.kafka.errors import FatalError
from processor.rules import Snapshot
from processor.settings import GeoSettings, Settings
from processor.state.decide import DecideState, NoState
from processor.state.stores import StateStores
from processor.stream.decide import DecideStage
from processor.stream.loop import (
    Loop,
    StageIds,
    StageState,
    StreamStage,
    processor_consumer,
    processor_session,
)
from processor.stream.match import MatchStage
from processor.stream.topics import Topics
from processor.wire import Codec
from processor.wire.schemas import load_writer_schemas

log = logging.getLogger(__name__)


STAGES = {"both": ("match", "decide"), "match": ("match",), "decide": ("decide",)}
"""The loops an instance runs, by its ``STAGES`` setting."""

STALLED_EXIT_CODE = 6
"""The exit code of a processor whose loop stalled (``App._watch``): restart it."""


class ProcessorFailed(UserError):
    """The processor stopped on an error it cannot recover from (it says which)."""

    exit_code = 5


class App:
    """One processor instance. ``run`` blocks until ``stop`` (or SIGTERM when installed)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._topics = Topics(settings)
        self._follower = RulesFollower(settings, self._switched, self._refused)
        self._stopped = threading.Event()
        self._loops: list[Loop] = []
        self._rules_lock = threading.Lock()
        self._ready = False
        self._heartbeats = {
            name: metrics.Heartbeat(settings.metrics.stall_timeout_s)
            for name in STAGES[settings.processor.stages]
        }
        folder = settings.processor.writer_schemas_dir
        self._writer_schemas = load_writer_schemas(folder) if folder is not None else []

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def rules_version(self) -> str | None:
        """The rules version in force, or None before any."""
        snapshot = self._follower.snapshot
        return snapshot.version if snapshot else None

    def stop(self) -> None:
        self._stopped.set()
        for loop in self._loops:
            loop.stop()

    def install_signal_handlers(self) -> None:
        def handle(signum: int, frame: FrameType | None) -> None:
            log.info("signal %s: finishing the open transaction, then stopping", signum)
            self.stop()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def run(self, on_idle: Callable[[], None] | None = None) -> None:
        settings = self.settings
        threading.Thread(target=self._watch, name="stall-watchdog", daemon=True).start()
        check_access(settings.kafka)
        self._topics.ensure_base()
        if settings.metrics.metrics_port:
            metrics.serve(
                settings.metrics.metrics_port,
                lambda: self._ready,
                self._alive,
                host=settings.metrics.metrics_host,
            )
        self._follower.catch_up()
        while self._follower.snapshot is None and not self._stopped.is_set():
            log.info(
                "no rules on %s yet: waiting (lead-router rules apply FILE)",
                settings.topics.config_topic,
            )
            for heartbeat in self._heartbeats.values():
                heartbeat.beat()
            self._follower.poll(1.0)
        if self._stopped.is_set():
            return
        self._process(on_idle)

    def _process(self, on_idle: Callable[[], None] | None) -> None:
        """Routes leads until stopped: the stages this instance runs, the last (the decide stage
        when both run) on this thread, the other in a thread of its own; either one failing stops
        the other, and its error is raised."""
        settings = self.settings
        codec = Codec.for_registry(settings.registry, writer_schemas=self._writer_schemas)
        enricher = enricher_for(settings.geo) if "match" in self._heartbeats else None
        loops: list[Loop] = []
        if enricher is not None:
            loops.append(
                self._loop(
                    StageIds.match(settings),
                    "match",
                    MatchStage(settings, codec, enricher, self._snapshot),
                    NoState(),
                )
            )
        if "decide" in self._heartbeats:
            lead_memory_s = settings.rules.lead_id_memory_days * 86_400
            state = DecideState(StateStores(settings), lead_memory_s)
            loops.append(
                self._loop(
                    StageIds.decide(settings),
                    "decide",
                    DecideStage(settings, codec, self._snapshot, state),
                    state,
                )
            )
        try:
            self._run_loops(loops, on_idle)
        finally:
            # The IP database is memory-mapped: an App run in a longer-lived process (tests, an
            # embedding service) must not keep the maps once it stops.
            if enricher is not None:
                enricher.close()

    def _run_loops(self, loops: list[Loop], on_idle: Callable[[], None] | None) -> None:
        """Runs ``loops``, the last on this thread (the routing budget's timer signal reaches
        only the main thread), until they stop or one fails."""
        *others, last = loops
        if self._stopped.is_set():  # a stop while the stages were built found no loop to stop
            self.stop()
        failures: list[BaseException] = []

        def run_other(loop: Loop) -> None:
            try:
                loop.run()
            except BaseException as error:
                failures.append(error)
                last.stop()

        threads = [
            threading.Thread(target=run_other, args=(loop,), name="match-stage", daemon=True)
            for loop in others
        ]
        self._ready = True
        metrics.READY.set(1)
        try:
            for thread in threads:
                thread.start()
            try:
                last.run(on_idle)
            finally:
                for loop in others:
                    loop.stop()
                for thread in threads:
                    thread.join()
            if failures:
                raise failures[0]
        except FatalError as error:
            raise ProcessorFailed(str(error)) from error
        finally:
            self._ready = False
            metrics.READY.set(0)
            self._follower.close()

    def _loop(self, ids: StageIds, name: str, stage: StreamStage, state: StageState) -> Loop:
        """The loop of stage ``name``, with its own clients and heartbeat."""
        settings = self.settings
        heartbeat = self._heartbeats[name]
        loop = Loop(
            settings,
            stage,
            lambda: self._each_round(heartbeat),
            consumer=processor_consumer(settings, ids),
            session=processor_session(settings, ids, heartbeat.stage),
            state=state,
            doing=heartbeat.stage,
            name=name,
        )
        self._loops.append(loop)
        return loop

    def _alive(self) -> bool:
        """Whether both loops come round."""
        return all(heartbeat.alive() for heartbeat in self._heartbeats.values())

    def _watch(self) -> None:
        """Ends the process when the loop has not come round for ``STALL_TIMEOUT_S``.

        librdkafka can block for good inside a transactional call after its brokers restarted
        (send_offsets_to_transaction waiting past its own timeout); nothing on this thread can
        interrupt it. Exiting hands over to the supervisor's restart, which aborts the open
        transaction and re-processes its batch: exactly once, as after any crash. Without a
        supervisor, /healthz has said 503 the whole time (the same heartbeat).

        The log names what stalled, as the loop last said (``Heartbeat.stage``): "routing the
        record at leads.submitted[3]@1234 for 301 s" (a routing the budget could not interrupt)
        is not "waiting on Kafka (committing the transaction) for 301 s".
        """
        while not self._stopped.wait(1.0):
            stalled = [name for name, beat in self._heartbeats.items() if not beat.alive()]
            if stalled:
                name = stalled[0]
                log.critical(
                    "the %s loop has not come round for %d s: it has been %s; exiting "
                    "with code %d so that a restart takes over",
                    name,
                    self.settings.metrics.stall_timeout_s,
                    self._heartbeats[name].doing(),
                    STALLED_EXIT_CODE,
                )
                logging.shutdown()
                os._exit(STALLED_EXIT_CODE)

    def _each_round(self, heartbeat: metrics.Heartbeat) -> None:
        """What a loop does before each poll of its topic: show it is alive, follow the rules
        (one loop at a time: the follower is not thread-safe)."""
        heartbeat.beat()
        heartbeat.stage(
            "waiting on Kafka (reading the rules from %s)", self.settings.topics.config_topic
        )
        with self._rules_lock:
            self._follower.poll()

    def _snapshot(self) -> Snapshot:
        snapshot = self._follower.snapshot
        assert snapshot is not None  # run() starts the loop only once one is in force
        return snapshot

    def _switched(self, snapshot: Snapshot) -> None:
        self._topics.ensure_deliveries(snapshot.partner_ids())
        metrics.set_rules_version(snapshot.version)

    def _refused(self, refusal: Refusal) -> None:
        metrics.RULES_REFUSED.inc()


def enricher_for(geo: GeoSettings) -> Enricher:
    """The enricher of ``geo``; without ``GEO_IP_DB``, the IP database that ``lead-router geo
    fetch`` installed in the cache, which the log says at start."""
    ip_db = ip_database(geo.geo_ip_db)
    if geo.geo_ip_db is None:
        if ip_db is None:
            log.info("no IP database: GEO_IP_DB is not set and `lead-router geo fetch` has not run")
        else:
            log.info("IP database: %s, from `lead-router geo fetch` (GEO_IP_DB is not set)", ip_db)
    return Enricher(ip_db=ip_db, postcodes=geo.postcodes_file)
