"""Who may sign in, as what, and how often they may get the password wrong.

Users come from a file, an environment variable, or both: one ``NAME:ROLE:HASH`` entry each. Only
argon2 hashes are kept (``lead-router console --hash-password`` makes one), so neither the file nor
the variable holds a password. A viewer reads everything with personal data masked; an editor
also sees personal data and may apply rules.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from processor.errors import InvalidInput
from processor.settings import ConsoleSettings

Role = Literal["viewer", "editor"]
ROLES: tuple[str, ...] = get_args(Role)
NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
MAX_PASSWORD_CHARS = 1024
"""A longer password is refused before hashing: argon2 would spend its time on an attacker's MBs."""

_hasher = PasswordHasher()


@dataclass(frozen=True)
class User:
    """A signed-in person: a name and a role."""

    name: str
    role: Role

    @property
    def may_edit(self) -> bool:
        """Editors change rules (drafts, what-if, apply); viewers only read."""
        return self.role == "editor"

    @property
    def sees_personal_data(self) -> bool:
        """Contacts, addresses and IPs are shown to editors; everyone else sees them masked."""
        return self.role == "editor"


@dataclass(frozen=True)
class _Account:
    user: User
    password_hash: str


def hash_password(password: str) -> str:
    """The argon2id hash of ``password``, as a users entry keeps it."""
    if not password or len(password) > MAX_PASSWORD_CHARS:
        raise InvalidInput(f"a password has 1 to {MAX_PASSWORD_CHARS} characters")
    return _hasher.hash(password)


class Users:
    """The accounts, by name; checks passwords in about the same time whether the name exists."""

    def __init__(self, accounts: Iterable[_Account]) -> None:
        self._accounts = {account.user.name: account for account in accounts}
        # A name that does not exist is checked against this, so that timing tells nothing.
        self._decoy = _hasher.hash("not a password anyone has")

    def __len__(self) -> int:
        return len(self._accounts)

    def get(self, name: str) -> User | None:
        account = self._accounts.get(name)
        return account.user if account else None

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when ``password`` is theirs; None otherwise (unknown name included)."""
        if len(password) > MAX_PASSWORD_CHARS:
            return None
        account = self._accounts.get(name)
        try:
            _hasher.verify(account.password_hash if account else self._decoy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return account.user if account else None

    @classmethod
    def parse(cls, text: str, where: str) -> Users:
        """Entries from ``text`` (lines or ';'-separated); every bad entry is named in one error."""
        accounts: list[_Account] = []
        errors: list[str] = []
        seen: set[str] = set()
        entries = [part for line in text.splitlines() for part in line.split(";")]
        for number, entry in enumerate(entries, start=1):
            entry = entry.strip()
            if not entry or entry.startswith("#"):
                continue
            name, _, rest = entry.partition(":")
            role, _, password_hash = rest.partition(":")
            problem = _problem(name, role, password_hash, seen)
            if problem:
                errors.append(f"{where}: entry {number}: {problem}")
                continue
            seen.add(name)
            accounts.append(_Account(User(name, role), password_hash))  # type: ignore[arg-type]
        if errors:
            raise InvalidInput("\n".join(errors))
        return cls(accounts)


def _problem(name: str, role: str, password_hash: str, seen: set[str]) -> str | None:
    if not NAME.fullmatch(name):
        return "a name is 1 to 64 letters, digits or . _ @ -"
    if name in seen:
        return f"{name} is listed twice"
    if role not in ROLES:
        return f"{name}: role must be one of {', '.join(ROLES)}"
    if not password_hash.startswith("$argon2"):
        return f"{name}: the password must be an argon2 hash (lead-router console --hash-password)"
    return None


def load_users(settings: ConsoleSettings) -> Users:
    """The accounts of the users file and the inline variable together; none at all is an error,
    as nobody could sign in."""
    parts: list[Users] = []
    if settings.console_users_file is not None:
        try:
            text = settings.console_users_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise InvalidInput(
                f"--console-users-file / LEAD_ROUTER_CONSOLE_USERS_FILE: cannot read "
                f"{settings.console_users_file}: {error}"
            ) from None
        parts.append(Users.parse(text, str(settings.console_users_file)))
    if settings.console_users is not None:
        parts.append(
            Users.parse(settings.console_users.get_secret_value(), "LEAD_ROUTER_CONSOLE_USERS")
        )
    accounts = [account for users in parts for account in users._accounts.values()]
    names = [account.user.name for account in accounts]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise InvalidInput(f"users listed in both the file and the variable: {', '.join(twice)}")
    if not accounts:
        raise InvalidInput(
            "nobody could sign in: give users with --console-users-file or "
            "LEAD_ROUTER_CONSOLE_USERS (NAME:ROLE:HASH; lead-router console --hash-password "
            "makes a HASH)"
        )
    return Users(accounts)


class LoginLimiter:
    """Failed sign-ins per key (a user name, a client address) in a sliding window.

    Both the name and the address count, so that neither guessing one user's password from many
    addresses nor many users' passwords from one address goes faster than the limit. The table
    is bounded: the keys least recently failed are forgotten first.
    """

    def __init__(self, attempts: int, window_s: float = 300.0, keys: int = 10_000) -> None:
        self._attempts = attempts
        self._window = window_s
        self._keys = keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def allowed(self, keys: Iterable[str], now: float | None = None) -> bool:
        """Whether another try is allowed for every one of ``keys``."""
        now = time.monotonic() if now is None else now
        return all(len(self._recent(key, now)) < self._attempts for key in keys)

    def failed(self, keys: Iterable[str], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for key in keys:
            self._recent(key, now).append(now)
            self._failures.move_to_end(key)
        while len(self._failures) > self._keys:
            self._failures.popitem(last=False)

    def succeeded(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self._window:
            times.popleft()
        return times
