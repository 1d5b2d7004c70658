"""A real single-node Apache Kafka broker (KRaft, combined broker and controller) on 127.0.0.1.

Tests and the demo need the real thing, transactions and compaction included, on machines without
Docker. The broker runs as a child JVM from the jars that ``jars`` resolves; its folder holds the
configuration, the data, the log file and a ``state.json`` that lets another process (the
``lead-router kafka`` command) find, query and stop it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from base64 import urlsafe_b64encode
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from types import TracebackType

from confluent_kafka.admin import AdminClient

from processor.errors import MissingTool, ServiceUnavailable
from processor.localkafka.jars import KAFKA_VERSION, broker_classpath

MIN_JAVA = 17
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
_JAAS_SAFE = re.compile(r"[A-Za-z0-9_.-]+")
"""SASL user names and passwords go into the broker's JAAS line as they are: no quotes or spaces."""

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners={listener}://127.0.0.1:{broker_port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners={listener}://127.0.0.1:{broker_port}
controller.listener.names=CONTROLLER
inter.broker.listener.name={listener}
listener.security.protocol.map={listener}:{listener},CONTROLLER:PLAINTEXT
log.dirs={data_dir}
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
# Transactions on one node: the internal topics cannot have more replicas than there are brokers.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Compaction that runs within seconds, so tests can watch it happen.
log.cleaner.backoff.ms=250
log.cleaner.dedupe.buffer.size=16777216
log.initial.task.delay.ms=1000
"""

SASL_PROPERTIES = """\
sasl.enabled.mechanisms=PLAIN
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=\\
  org.apache.kafka.common.security.plain.PlainLoginModule required \\
  username="{username}" password="{password}" {users};
"""
"""The broker listener with SASL/PLAIN, the users and passwords given; the broker logs in to itself
as the first user. The controller listener stays PLAINTEXT."""


@dataclass(frozen=True)
class BrokerState:
    """What another process needs to find a running broker."""

    pid: int
    bootstrap_servers: str
    broker_port: int
    controller_port: int
    started_at: float
    version: str

    @classmethod
    def load(cls, path: Path) -> BrokerState | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")


class AlreadyRunning(ServiceUnavailable):
    """A broker already runs from this folder."""

    exit_code = 0

    def __init__(self, state: BrokerState) -> None:
        super().__init__(
            f"a broker already runs from this folder (pid {state.pid}) at {state.bootstrap_servers}"
        )
        self.state = state


class EmbeddedKafka:
    """One broker and its folder. ``start`` returns once a metadata request succeeds.

    Usable as a context manager (tests) or split across processes (``start`` in one, ``stop`` in
    another, found again through ``EmbeddedKafka(folder).state()``). Data stays in the folder across
    restarts, and a restart reuses the previous ports when they are free, so clients that know the
    bootstrap address reconnect.

    With ``sasl_users`` (name to password), the broker listener is SASL_PLAINTEXT with the PLAIN
    mechanism and lets in those users only: for trying credentials, right and wrong;
    ``client_config`` gives the first user's.
    """

    def __init__(
        self,
        folder: Path,
        *,
        version: str = KAFKA_VERSION,
        heap: str = "1g",
        sasl_users: Mapping[str, str] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.version = version
        self.heap = heap
        self.sasl_users = dict(sasl_users or {})
        for text in (*self.sasl_users, *self.sasl_users.values()):
            if not _JAAS_SAFE.fullmatch(text):
                raise ValueError(f"SASL user names and passwords take {_JAAS_SAFE.pattern}")
        self._process: subprocess.Popen[bytes] | None = None

    def client_config(self) -> dict[str, str]:
        """What a client needs, besides the bootstrap servers, to be let in: the first SASL
        user's name and password when the broker has users; nothing otherwise."""
        if not self.sasl_users:
            return {}
        username, password = next(iter(self.sasl_users.items()))
        return {
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": username,
            "sasl.password": password,
        }

    @property
    def log_file(self) -> Path:
        return self.folder / "logs" / "server.log"

    @property
    def _state_file(self) -> Path:
        return self.folder / "state.json"

    def state(self) -> BrokerState | None:
        """The running broker's state, or None when none runs from this folder."""
        state = BrokerState.load(self._state_file)
        if state is None or not _alive(state.pid):
            return None
        return state

    @property
    def bootstrap_servers(self) -> str:
        state = self.state()
        if state is None:
            raise ServiceUnavailable(f"no broker runs from {self.folder}")
        return state.bootstrap_servers

    def start(self, *, timeout: float = READY_TIMEOUT_S, quiet: bool = True) -> BrokerState:
        running = self.state()
        if running is not None:
            raise AlreadyRunning(running)
        java = _java()
        classpath = broker_classpath(self.version, quiet=quiet)
        broker_port, controller_port = self._ports()
        config = self._write_config(broker_port, controller_port)
        self._format_storage(java, classpath, config)
        (self.folder / "logs").mkdir(exist_ok=True)
        started = time.monotonic()
        with open(self.folder / "logs" / "stdout.log", "ab") as stdout:
            self._process = subprocess.Popen(
                [
                    java,
                    f"-Xmx{self.heap}",
                    "-Xms256m",
                    "-XX:+UseG1GC",
                    "-XX:MaxGCPauseMillis=20",
                    "-Djava.awt.headless=true",
                    f"-Dkafka.logs.dir={self.folder / 'logs'}",
                    f"-Dlog4j2.configurationFile={self._log_config()}",
                    "-cp",
                    classpath,
                    "kafka.Kafka",
                    str(config),
                ],
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        state = BrokerState(
            pid=self._process.pid,
            bootstrap_servers=f"127.0.0.1:{broker_port}",
            broker_port=broker_port,
            controller_port=controller_port,
            started_at=time.time(),
            version=self.version,
        )
        try:
            self._wait_ready(state.bootstrap_servers, started + timeout)
        except BaseException:
            self._kill(self._process.pid)
            raise
        state.save(self._state_file)
        return state

    def stop(self, *, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Stops the broker cleanly (SIGTERM, then SIGKILL after ``timeout``); False if none ran."""
        state = self.state()
        pid = state.pid if state else (self._process.pid if self._process else None)
        if pid is None or not _alive(pid):
            self._state_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        if not self._wait_exit(pid, time.monotonic() + timeout):
            self._kill(pid)
        self._state_file.unlink(missing_ok=True)
        return True

    def kill(self) -> None:
        """Ends the broker at once, as a crash would (SIGKILL): for restart tests."""
        state = self.state()
        if state is not None:
            self._kill(state.pid)
            self._state_file.unlink(missing_ok=True)

    def __enter__(self) -> EmbeddedKafka:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the steps of start ------------------------------------------------------------------

    def _ports(self) -> tuple[int, int]:
        """The previous run's ports when both are still free, else two new free ones."""
        ports_file = self.folder / "ports.json"
        if ports_file.exists():
            ports = json.loads(ports_file.read_text())
            if all(_port_free(port) for port in ports):
                return int(ports[0]), int(ports[1])
        broker_port, controller_port = free_port(), free_port()
        while controller_port == broker_port:
            controller_port = free_port()
        self.folder.mkdir(parents=True, exist_ok=True)
        ports_file.write_text(json.dumps([broker_port, controller_port]))
        return broker_port, controller_port

    def _write_config(self, broker_port: int, controller_port: int) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "server.properties"
        text = SERVER_PROPERTIES.format(
            listener="SASL_PLAINTEXT" if self.sasl_users else "PLAINTEXT",
            broker_port=broker_port,
            controller_port=controller_port,
            data_dir=self.folder / "data",
        )
        if self.sasl_users:
            client = self.client_config()
            text += SASL_PROPERTIES.format(
                username=client["sasl.username"],
                password=client["sasl.password"],
                users=" ".join(f'user_{name}="{pw}"' for name, pw in self.sasl_users.items()),
            )
        config.write_text(text)
        return config

    def _log_config(self) -> Path:
        path = self.folder / "log4j2.properties"
        if not path.exists():
            source = resources.files("processor.localkafka").joinpath("log4j2.properties")
            path.write_text(source.read_text())
        return path

    def _format_storage(self, java: str, classpath: str, config: Path) -> None:
        """Formats the data folder once; a restart keeps the data and the cluster id."""
        if (self.folder / "data" / "meta.properties").exists():
            return
        # A one-shot command: the quick-starting compiler and collector halve its JVM's start-up,
        # paid again by every fresh broker (each test session, each test of a broker of its own).
        storage_tool = [
            java,
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
        ]
        cluster_id = urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        done = subprocess.run(
            [*storage_tool, "format", f"--cluster-id={cluster_id}", f"--config={config}"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "KAFKA_LOG4J_OPTS": ""},
        )
        if done.returncode != 0:
            raise ServiceUnavailable(
                f"formatting the Kafka storage failed:\n{(done.stdout + done.stderr).strip()}"
            )

    def _wait_ready(self, bootstrap_servers: str, deadline: float) -> None:
        """Waits until the broker answers a metadata request, or its process ends."""
        assert self._process is not None
        admin = AdminClient(
            {"bootstrap.servers": bootstrap_servers, "log_level": 0, **self.client_config()}
        )
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServiceUnavailable(
                    f"the Kafka broker exited with code {self._process.returncode} while starting; "
                    f"its log ({self.log_file}) ends with:\n{self._log_tail()}"
                )
            try:
                metadata = admin.list_topics(timeout=1.0)
            except Exception:  # any failure here means "not ready yet"
                continue
            if metadata.brokers:
                return
        raise ServiceUnavailable(
            f"the Kafka broker did not answer within the time allowed; "
            f"its log ({self.log_file}) ends with:\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 20) -> str:
        for path in (self.log_file, self.folder / "logs" / "stdout.log"):
            if path.exists() and path.stat().st_size:
                return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log written)"

    def _wait_exit(self, pid: int, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if self._process is not None and self._process.pid == pid:
                try:
                    self._process.wait(timeout=0.1)
                    return True
                except subprocess.TimeoutExpired:
                    continue
            if not _alive(pid):
                return True
            time.sleep(0.1)
        return False

    def _kill(self, pid: int) -> None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self._wait_exit(pid, time.monotonic() + STOP_TIMEOUT_S)


def _java() -> str:
    java = shutil.which("java")
    install = (
        f"install a Java {MIN_JAVA}+ runtime "
        f"(Debian/Ubuntu: apt-get install openjdk-{MIN_JAVA}-jre-headless; "
        f"macOS: brew install openjdk@{MIN_JAVA}) "
        "or point KAFKA_BOOTSTRAP_SERVERS / --bootstrap-servers at a running broker"
    )
    if java is None:
        raise MissingTool(f"Java is needed to run the embedded Kafka broker; {install}")
    done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    found = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    major = int(found.group(1)) if found else 0
    if major == 1 and found and found.group(2):
        major = int(found.group(2))
    if major < MIN_JAVA:
        raise MissingTool(
            f"the embedded Kafka broker needs Java {MIN_JAVA}+, found {major}; {install}"
        )
    return java


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped) counts as ended."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    """Whether the broker could listen on ``port``. Binds as the JVM does, with SO_REUSEADDR: the
    connections of a broker stopped a moment ago linger in TIME_WAIT on its ports, and must not
    send its restart to new ports that its clients do not know."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", int(port)))
        except OSError:
            return False
        return True
