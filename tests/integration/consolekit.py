"""`lead-router demo` or `lead-router console` in a process of its own: its output as it comes,
the console's address (and the demo's two logins) once printed, and a SIGTERM that ends it."""

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

SERVING = re.compile(r"Console: (?P<url>http://\S+)")
DEMO_LOGINS = re.compile(
    r"sign in as (?P<editor>\S+) / (?P<editor_pw>\S+) \(editor\) "
    r"or (?P<viewer>\S+) / (?P<viewer_pw>\S+) \(viewer\)"
)


@dataclass(frozen=True)
class ConsoleLogins:
    url: str
    editor: tuple[str, str]
    viewer: tuple[str, str]


class Running:
    """A running command: its output as it comes, and how it ended."""

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

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        """The first line from now on that ``pattern`` finds; fails with the output when the
        command ends first or takes longer than ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._new.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no {pattern.pattern!r} in {timeout:.0f} s:\n" + "\n".join(self.lines[-40:])
                ) from None
            if line is None:
                raise AssertionError(
                    f"ended without {pattern.pattern!r}:\n"
                    + "\n".join(self.lines[-40:])
                    + self.stderr.read_text()[-3000:]
                )
            self.lines.append(line)
            found = pattern.search(line)
            if found:
                return found

    def console(self, timeout: float) -> ConsoleLogins:
        """The demo's console: its address and the two logins it prints."""
        url = self.wait_for(SERVING, timeout)["url"]
        logins = DEMO_LOGINS.search(self.lines[-1])
        assert logins, self.lines[-1]
        return ConsoleLogins(
            url, (logins["editor"], logins["editor_pw"]), (logins["viewer"], logins["viewer_pw"])
        )

    def terminate(self, timeout: float = 60.0) -> int:
        """Sends SIGTERM; the exit code once the command has ended."""
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
def running(args: Sequence[str], env: dict[str, str], cwd: Path) -> Iterator[Running]:
    """``lead-router ARGS`` started in ``cwd``, its errors in ``cwd``/stderr.txt; killed if
    still running when the block ends."""
    stderr = cwd / "stderr.txt"
    with stderr.open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "processor", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    try:
        yield Running(process, stderr)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
