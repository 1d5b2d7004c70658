"""The console as a running process: the index filled in one thread, the rules followed in another,
and the pages served by uvicorn in a third, until a signal or the caller says stop.

The listening socket is bound here, before anything starts, so that a port in use is a clear
error at once, and so that the address handed to ``on_ready`` is the one bound (port 0 picks a
free one).
"""

from __future__ import annotations

import logging
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

import uvicorn
from sqlalchemy import Engine

from processor.console.index.indexer import Indexer
from processor.console.index.schema import database_url, open_index
from processor.console.rules_watch import RulesWatch
from processor.console.web.app import build_app
from processor.console.web.auth import LoginLimiter, Users, load_users
from processor.console.web.context import ConsoleContext
from processor.errors import ServiceUnavailable
from processor.settings import Settings

log = logging.getLogger(__name__)

STOP_GRACE_S = 10.0
"""How long the threads get to finish their work (a request, an index batch) after stop."""


def serve(
    settings: Settings,
    *,
    users: Users | None = None,
    on_ready: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serves the console until SIGINT or SIGTERM (in the main thread) or until ``stop`` is set.

    ``users`` defaults to the users file and variable of the settings; ``on_ready`` is called once
    with the console's address when it answers requests.
    """
    console = settings.console
    users = users if users is not None else load_users(console)
    url_setting = console.console_database_url
    url = database_url(url_setting.get_secret_value() if url_setting else None)
    stop = stop if stop is not None else threading.Event()
    with _bind(console.console_host, console.console_port) as listening:
        engine = open_index(url)
        rules = RulesWatch(settings)
        context = ConsoleContext(
            settings=settings,
            engine=engine,
            users=users,
            rules=rules,
            limiter=LoginLimiter(console.console_login_attempts),
            secret_key=_secret_key(settings),
        )
        try:
            _serve_on(listening, context, rules, stop, on_ready)
        finally:
            engine.dispose()


def _serve_on(
    listening: socket.socket,
    context: ConsoleContext,
    rules: RulesWatch,
    stop: threading.Event,
    on_ready: Callable[[str], None] | None,
) -> None:
    """Runs the web server, the indexer and the rules watch until ``stop``; then stops all three."""
    server = uvicorn.Server(
        uvicorn.Config(build_app(context), access_log=False, log_level="warning", lifespan="off")
    )
    # Daemons: a thread still waiting on a broker after its grace does not keep the process
    # alive. An index batch cut short is rolled back with its offsets, and read again next start.
    threads = [
        threading.Thread(
            target=server.run, kwargs={"sockets": [listening]}, name="console-http", daemon=True
        ),
        threading.Thread(
            target=_index,
            args=(context.settings, context.engine, stop),
            name="console-index",
            daemon=True,
        ),
    ]
    rules.start()
    with _signals_set(stop):
        for thread in threads:
            thread.start()
        try:
            _wait_ready(server, threads[0], stop)
            if on_ready is not None and not stop.is_set():
                on_ready(_address(listening))
            stop.wait()
        finally:
            stop.set()
            server.should_exit = True
            # The three stop at once: the grace is shared, not added up.
            deadline = time.monotonic() + STOP_GRACE_S
            rules.stop()
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))


def _bind(host: str, port: int) -> socket.socket:
    """A socket listening on ``host``:``port``, or an error naming them and the setting."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
        listening.listen(128)
    except OSError as error:
        listening.close()
        raise ServiceUnavailable(
            f"the console cannot listen on {host}:{port} ({error.strerror or error}); "
            "choose another with --console-port / LEAD_ROUTER_CONSOLE_PORT"
        ) from None
    return listening


def _address(listening: socket.socket) -> str:
    host, port = listening.getsockname()[:2]
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, f"[{host}]" if ":" in host else host)
    return f"http://{shown}:{port}"


def _secret_key(settings: Settings) -> str:
    configured = settings.console.console_secret_key
    if configured is not None:
        return configured.get_secret_value()
    log.warning(
        "no LEAD_ROUTER_CONSOLE_SECRET_KEY: sessions are signed with a key made for this run, "
        "so everyone signs in again after a restart"
    )
    return secrets.token_urlsafe(32)


def _index(settings: Settings, engine: Engine, stop: threading.Event) -> None:
    """Fills the index until stop; an indexer that dies is logged, and the pages go on serving
    what the index holds (the Health page shows it falling behind)."""
    indexer = Indexer(settings, engine)
    try:
        indexer.run(stop)
    except Exception:
        log.exception("the console's index stopped")
    finally:
        indexer.close()


def _wait_ready(server: uvicorn.Server, thread: threading.Thread, stop: threading.Event) -> None:
    while not server.started:
        if not thread.is_alive():
            raise ServiceUnavailable("the console's web server stopped while starting")
        if stop.wait(0.05):
            return


@contextmanager
def _signals_set(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` while serving (only the main thread can take signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: the console stops", signum)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
