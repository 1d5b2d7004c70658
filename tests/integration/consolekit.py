"""`lead-router demo` in a process of its own, up to the console it serves last: its address and
the two logins it prints, and a SIGTERM that ends it."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CONSOLE_LINE = re.compile(
    r"Console: (?P<url>http://\S+)  sign in as (?P<editor>\S+) / (?P<editor_pw>\S+) \(editor\) "
    r"or (?P<viewer>\S+) / (?P<viewer_pw>\S+) \(viewer\)"
)


@dataclass(frozen=True)
class ConsoleLogins:
    url: str
    editor: tuple[str, str]
    viewer: tuple[str, str]


class Demo:
    """A running demo: its output as it comes, and how it ended."""

    def __init__(self, process: subprocess.Popen[str], stderr: Path) -> None:
        self.process = process
        self.stderr = stderr
        self.lines: list[str] = []
        self._new: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._new.put(line.rstrip("\n"))
        self._new.put(None)

    def console(self, timeout: float) -> ConsoleLogins:
        """The console's address and logins, once printed; fails with the output when the demo
        ends first or takes longer than ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._new.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no console address in {timeout:.0f} s:\n" + "\n".join(self.lines[-40:])
                ) from None
            if line is None:
                raise AssertionError(
                    "the demo ended without serving the console:\n"
                    + "\n".join(self.lines[-40:])
                    + self.stderr.read_text()[-3000:]
                )
            self.lines.append(line)
            found = CONSOLE_LINE.search(line)
            if found:
                return ConsoleLogins(
                    found["url"],
                    (found["editor"], found["editor_pw"]),
                    (found["viewer"], found["viewer_pw"]),
                )

    def terminate(self, timeout: float = 60.0) -> int:
        """Sends SIGTERM; the exit code once the demo has ended."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        while (line := self._new.get(timeout=timeout)) is not None:
            self.lines.append(line)
        return code

    @property
    def output(self) -> str:
        """Everything printed, with the line breaks of the console's wrapping undone."""
        return " ".join("\n".join(self.lines).split())


@contextmanager
def running_demo(args: Sequence[str], env: dict[str, str], cwd: Path) -> Iterator[Demo]:
    """The demo started with ``args`` in ``cwd``, its errors in ``cwd``/demo.stderr; killed if
    still running when the block ends."""
    stderr = cwd / "demo.stderr"
    with stderr.open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "processor", "demo", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    try:
        yield Demo(process, stderr)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
