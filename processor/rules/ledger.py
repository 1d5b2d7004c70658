"""What routing remembers between leads: decided lead ids, people seen, cap use and rotation.

A decision reads and writes this state, so it lives in one place, the :class:`Ledger`, over a plain
key-value store: a dict for ``dry-run`` (state starting fresh), the decide stage's RocksDB store in
the processor, whose writes travel in the same Kafka transaction as the decision's records. One
ledger sees every lead that could touch its keys (the decide stage reads a single partition), so
what it says is exact: a cap of N lets N through, and a duplicate is caught whichever input
partition its first copy came through.

Keys (bytes, ``\\x1f``-separated):

    salt                                  32 random bytes: the key of every person digest
    clock                                 the latest lead time seen, epoch ms
    lead  <lead id>                       memory: when, and the outcome: a decided lead id
    dup   <profile> <digest>              memory: when, and the lead: a person this profile routed
    sent  <partner> <digest>              memory: when, and the lead: a person this partner got
    cap   <scope> <per> <unit> <window>   counter: leads, or revenue in micro-units
    rr    <profile>                       {"tick", "chosen": {partner: tick}}: round robin
    wt    <profile>                       {assignment: score}: smooth weighted round robin
    dlv   <delivery id>                   a :class:`Sold`: a delivery made, for a re-offer or a
                                          return to settle (at most once)
    exp   <day> <digest>                  the keys that one transaction wrote to expire that UTC
                                          day (its ordinal, seven digits, so keys sort by day):
                                          they may be dropped after it

The values read and written for every lead are packed (:mod:`struct`, little-endian), led by a
format byte and the epoch ms after which the key may be forgotten (``NEVER``: kept):

    memory   0x01, expiry (q), at (q), the outcome or the lead id in UTF-8
    counter  0x02, expiry (q), used (q)
    Sold     0x03, expiry (q), the delivery as JSON (:meth:`Sold.as_json`)
    exp      0x01, then each key as its length (I) and its bytes

An earlier version wrote them as JSON objects (first byte ``{``: ``{"at", "exp", "outcome"}``,
``{"lead", "at", "exp"}``, ``{"used", "exp"}``, a Sold's fields) and indexed each expiring key
alone (``exp <day> <key>``, empty): both are still read, so a store restored from its changelog
keeps its memory.

Values a ledger cannot read (the changelog is a topic others could write to) count as absent:
the lead is decided as if that memory were empty, and nothing stops.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

import orjson

log = logging.getLogger(__name__)

T = TypeVar("T")

SEP = b"\x1f"
DAY_MS = 86_400_000
LEAD_MEMORY_S = 30 * 86_400
"""How long a decided lead id is remembered by default: a lead id seen again within it is a
duplicate of itself."""
LATE_MS = DAY_MS
"""How long after it expired a memory is kept for leads that come late."""
MICROS = 1_000_000
"""Revenue is counted in millionths, so that sums of prices are exact integers."""
SALT_BYTES = 32
MAX_COUNT = 2**63 - 1
"""Where a cap counter stops: past any limit a document may set, and what the stored value (a
signed 64-bit integer) can hold."""

_SALT = b"salt"
_CLOCK = b"clock"
_LEAD = b"lead" + SEP
_DUP = b"dup" + SEP
_SENT = b"sent" + SEP
_CAP = b"cap" + SEP
_ROUND_ROBIN = b"rr" + SEP
_WEIGHTED = b"wt" + SEP
_SOLD = b"dlv" + SEP
EXPIRY = b"exp" + SEP
_EXPIRING = (_LEAD, _DUP, _SENT, _CAP, _SOLD)
"""The kinds of key an expiry index may name: no other key is ever dropped by pruning."""

NEVER = 2**63 - 1
"""The expiry of a value kept until it is overwritten: a cap counter of a ``total`` window."""
_MEMORY = 1
_COUNTER = 2
_SOLD_FORMAT = 3
_HEAD = struct.Struct("<Bqq")
"""The packed values' start: format, expiry, and when (memory) or how much (counter)."""
_EXPIRY_HEAD = struct.Struct("<Bq")
_INDEX_FORMAT = b"\x01"
_LENGTH = struct.Struct("<I")
INDEX_BYTES = 64 * 1024
"""The most bytes of keys one expiry index value lists: it is a changelog record, and a
transaction of thousands of leads expires a day's keys in several."""


class KeyValue(Protocol):
    """What a ledger needs of a store (``processor.state.store.PartitionStore`` has it)."""

    def get(self, key: bytes) -> bytes | None: ...
    def set(self, key: bytes, value: bytes) -> None: ...
    def delete(self, key: bytes) -> None: ...


@runtime_checkable
class Pending(Protocol):
    """A store whose writes wait in an open transaction over its committed state
    (``processor.state.store.PartitionStore``): a key the transaction has not written yet holds
    its committed value, which an undo gets back by dropping the write, without reading it first."""

    def is_pending(self, key: bytes) -> bool: ...
    def unwrite(self, key: bytes) -> None: ...


class _Before(Enum):
    """What a key held before a lead wrote it, when that need not be read: its committed value."""

    COMMITTED = 0


class Scan(Protocol):
    """A store whose keys can be read in order from a prefix: what pruning needs."""

    def scan(self, prefix: bytes, limit: int) -> Iterable[tuple[bytes, bytes]]: ...


class MemoryStore:
    """A dict as a store: ``dry-run``'s state, which starts fresh with each run."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        self.data[key] = value

    def delete(self, key: bytes) -> None:
        self.data.pop(key, None)

    def scan(self, prefix: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        found = sorted((k, v) for k, v in self.data.items() if k.startswith(prefix))
        return found[:limit]


@dataclass(frozen=True, slots=True)
class Prior:
    """An earlier lead a duplicate check found: its id and its time."""

    lead_id: str
    at: datetime
    outcome: str | None = None


Settled = Literal["open", "reoffered", "returned"]
"""Where a delivery stands for routing: ``open`` (sold, as far as routing knows), ``reoffered``
(its worker gave up and the lead went to the next candidate) or ``returned`` (credited)."""


@dataclass(frozen=True, slots=True)
class Sold:
    """A delivery the decide stage made, as a re-offer or a return needs it: what it counted
    against which caps (to give back), and which partners the lead was offered to (to leave out)."""

    delivery_id: str
    lead_id: str
    partner: str
    profile: str
    price: float
    currency: str
    at_ms: int
    """When it was decided, epoch ms: the lead's time, as routing's clock is (never the wall
    clock, so that replay and ``dry-run`` make the same state). A return's window runs from
    here."""
    counted: tuple[tuple[bytes, int], ...]
    """Each cap window key (as :meth:`Ledger.count` takes it) and the amount counted there."""
    offered: tuple[str, ...]
    """Every partner the lead was offered to up to this delivery, this one's partner included."""
    attempt: int = 1
    settled: Settled = "open"
    lead: bytes | None = None
    """The lead's Avro body (our ``LeadSubmitted``), kept only when the partner's policy offers a
    returned lead to the next candidate: the return names the delivery, not the lead. It came in
    a record no larger than the processor takes, which bounds it."""

    def packed(self, expires_ms: int) -> bytes:
        """The stored value, forgotten after ``expires_ms``."""
        return _EXPIRY_HEAD.pack(_SOLD_FORMAT, expires_ms) + orjson.dumps(self.as_json())

    @classmethod
    def unpacked(cls, value: bytes) -> Sold | None:
        """The delivery a stored value holds, packed or as an earlier version wrote it; None
        for anything else (the changelog can be written by others)."""
        if value[:1] == _OLD:
            found = _json(value)
        elif value[:1] == _SOLD_BYTE and len(value) >= _EXPIRY_HEAD.size:
            found = _json(value[_EXPIRY_HEAD.size :])
        else:
            found = None
        return cls.from_json(found)

    def as_json(self) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "lead_id": self.lead_id,
            "partner": self.partner,
            "profile": self.profile,
            "price": self.price,
            "currency": self.currency,
            "at": self.at_ms,
            "counted": [[key.decode("latin-1"), amount] for key, amount in self.counted],
            "offered": list(self.offered),
            "attempt": self.attempt,
            "settled": self.settled,
            "lead": None if self.lead is None else base64.b64encode(self.lead).decode(),
        }

    @classmethod
    def from_json(cls, found: object) -> Sold | None:
        """The record as stored; None for anything else (the changelog can be written by others)."""
        if not isinstance(found, dict):
            return None
        try:
            counted = tuple(
                (str(key).encode("latin-1"), int(amount)) for key, amount in found["counted"]
            )
            at = int(found["at"])
            if not FIRST_MS <= at <= LAST_MS:
                return None
            sold = cls(
                str(found["delivery_id"]),
                str(found["lead_id"]),
                str(found["partner"]),
                str(found["profile"]),
                float(found["price"]),
                str(found["currency"]),
                at,
                counted,
                tuple(str(partner) for partner in found["offered"]),
                int(found["attempt"]),
                found["settled"],
                _body(found.get("lead")),
            )
        except (KeyError, TypeError, ValueError, UnicodeEncodeError, binascii.Error):
            return None
        return sold if sold.settled in ("open", "reoffered", "returned") else None


def _body(found: object) -> bytes | None:
    """A stored lead body; raises ``TypeError`` or ``binascii.Error`` for anything else."""
    if found is None:
        return None
    if not isinstance(found, str):
        raise TypeError("a lead body is base64 text")
    return base64.b64decode(found, validate=True)


def epoch_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def micros(amount: float) -> int:
    return round(amount * MICROS)


class Ledger:
    """Routing's memory over a key-value store; each lead's changes can be taken back whole."""

    __slots__ = ("_pending", "_salt", "_saved", "_scores", "_store", "lead_memory_ms")

    def __init__(self, store: KeyValue, lead_memory_s: int = LEAD_MEMORY_S) -> None:
        self._store = store
        self.lead_memory_ms = lead_memory_s * 1000
        self._saved: dict[bytes, bytes | _Before | None] | None = None
        self._scores: dict[bytes, tuple[bytes, dict[str, int]]] = {}
        # A lead writes a dozen keys or more, and reading each one's value first, for an undo
        # that seldom comes, cost a RocksDB read per write.
        self._pending = store if isinstance(store, Pending) else None
        self._salt: bytes | None = None

    # -- one lead at a time ---------------------------------------------------------------------

    def begin(self) -> None:
        """Starts remembering what each write replaces, for :meth:`undo`: a lead whose routing
        was stopped part way (dead-lettered as too slow) leaves the state as if it never came."""
        self._saved = {}

    def undo(self) -> None:
        """Puts back every value written since :meth:`begin`."""
        saved, self._saved = self._saved or {}, None
        self._salt = None  # it may have been made by the lead undone
        for key, value in saved.items():
            if value is _Before.COMMITTED:
                assert self._pending is not None
                self._pending.unwrite(key)
            else:
                _put(self._store, key, value)

    def written(self) -> dict[bytes, bytes | None]:
        """The value now under each key written since :meth:`begin` (None: deleted), for
        :meth:`redo` after an :meth:`undo`: a lead decided twice, once to route it and once to
        explain it, must leave its changes once."""
        return {key: self._store.get(key) for key in self._saved or {}}

    def redo(self, written: Mapping[bytes, bytes | None]) -> None:
        """Writes back what :meth:`written` gave, remembered as writes of the lead begun."""
        for key, value in written.items():
            self._remember(key)
            _put(self._store, key, value)

    def _set(self, key: bytes, value: bytes) -> None:
        self._remember(key)
        self._store.set(key, value)

    def _delete(self, key: bytes) -> None:
        self._remember(key)
        self._store.delete(key)

    def _remember(self, key: bytes) -> None:
        saved = self._saved
        if saved is not None and key not in saved:
            pending = self._pending
            if pending is not None and not pending.is_pending(key):
                saved[key] = _Before.COMMITTED
            else:
                saved[key] = self._store.get(key)

    def _value(self, key: bytes, read: Callable[[bytes], T | None]) -> T | None:
        """The value under ``key`` as ``read`` makes it; None when absent or unreadable (the
        changelog can be written by others: such a value counts as absent, and is logged)."""
        value = self._store.get(key)
        if value is None:
            return None
        found = read(value)
        if found is None:
            _unreadable(key)
        return found

    # -- the salt of person digests --------------------------------------------------------------

    @property
    def salt(self) -> bytes:
        """The store's own random salt, made with its first use and kept with the state. It is
        kept in memory only until an :meth:`undo` (a salt made by the lead undone is gone, and a
        salt made in a transaction that aborted is gone with the ledger, which the decide state
        makes anew then)."""
        salt = self._salt
        if salt is None:
            salt = self._store.get(_SALT)
            if salt is None or len(salt) != SALT_BYTES:
                salt = os.urandom(SALT_BYTES)
                self._set(_SALT, salt)
            self._salt = salt
        return salt

    # -- lead ids ------------------------------------------------------------------------------

    def decided(self, lead_id: str, when: datetime) -> Prior | None:
        """The earlier decision of this lead id, when it lies within the lead memory of ``when``."""
        found = self._value(_LEAD + lead_id.encode(), _outcome_memory)
        if found is None or abs(epoch_ms(when) - found[0]) > self.lead_memory_ms:
            return None
        return Prior(lead_id, from_ms(found[0]), found[1])

    def decide_lead(self, lead_id: str, when: datetime, outcome: str) -> None:
        at = epoch_ms(when)
        expires = at + self.lead_memory_ms
        self._set(_LEAD + lead_id.encode(), _HEAD.pack(_MEMORY, expires, at) + outcome.encode())
        clock = self._store.get(_CLOCK)
        if clock is None or not clock.isdigit() or int(clock) < at:
            self._set(_CLOCK, str(at).encode())

    # -- people --------------------------------------------------------------------------------

    def seen_by_profile(
        self, profile: str, digests: Sequence[bytes], when: datetime, within_ms: int
    ) -> Prior | None:
        """The latest lead this profile routed with one of ``digests`` within ``within_ms``
        before ``when``."""
        return self._seen(_DUP + profile.encode() + SEP, digests, when, within_ms)

    def seen_by_partner(
        self, partner: str, digests: Sequence[bytes], when: datetime, within_ms: int
    ) -> Prior | None:
        """The latest lead this partner received with one of ``digests`` within ``within_ms``
        before ``when``."""
        return self._seen(_SENT + partner.encode() + SEP, digests, when, within_ms)

    def _seen(
        self, prefix: bytes, digests: Sequence[bytes], when: datetime, within_ms: int
    ) -> Prior | None:
        now = epoch_ms(when)
        best: str | None = None
        best_at = 0
        for digest in digests:
            found = self._value(prefix + digest, _lead_memory)
            if found is None:
                continue
            at, lead = found
            if not 0 <= now - at <= within_ms:
                continue
            if lead is not None and (best is None or at > best_at):
                best, best_at = lead, at
        return None if best is None else Prior(best, from_ms(best_at))

    def profile_routed(
        self, profile: str, digests: Sequence[bytes], lead_id: str, when: datetime, within_ms: int
    ) -> None:
        self._keep_people(_DUP + profile.encode() + SEP, digests, lead_id, when, within_ms)

    def partner_received(
        self, partner: str, digests: Sequence[bytes], lead_id: str, when: datetime, within_ms: int
    ) -> None:
        self._keep_people(_SENT + partner.encode() + SEP, digests, lead_id, when, within_ms)

    def _keep_people(
        self, prefix: bytes, digests: Sequence[bytes], lead_id: str, when: datetime, within_ms: int
    ) -> None:
        """Remembers the lead under each digest, unless a later lead is remembered there."""
        at = epoch_ms(when)
        value = _HEAD.pack(_MEMORY, at + within_ms, at) + lead_id.encode()
        for digest in digests:
            key = prefix + digest
            found = self._value(key, _lead_memory)
            if found is not None and found[0] > at:
                continue
            self._set(key, value)

    # -- caps ----------------------------------------------------------------------------------

    def cap_used(self, key: bytes) -> int:
        """The use of a cap window (leads, or revenue in micro-units); 0 before its first."""
        found = self._value(_CAP + key, _counter_of)
        return 0 if found is None else found[0]

    def count(self, key: bytes, amount: int, expires_ms: int | None) -> int:
        """Adds ``amount`` to a cap window, forgotten after ``expires_ms`` (None: kept); returns
        the window's use after it."""
        used = min(self.cap_used(key) + amount, MAX_COUNT)
        expires = NEVER if expires_ms is None else expires_ms
        self._set(_CAP + key, _HEAD.pack(_COUNTER, expires, used))
        return used

    def give_back(self, counted: Sequence[tuple[bytes, int]]) -> None:
        """Takes back what a delivery counted against its cap windows (a re-offered or returned
        delivery was not sold); a window already forgotten stays so, and none goes below 0."""
        for key, amount in counted:
            found = self._value(_CAP + key, _counter_of)
            if found is None:
                continue
            used, expires = found
            left = min(MAX_COUNT, max(0, used - amount))
            self._set(_CAP + key, _HEAD.pack(_COUNTER, expires, left))

    # -- deliveries ----------------------------------------------------------------------------

    def sold(self, delivery_id: str) -> Sold | None:
        """The delivery as the decide stage made it; None when it made no such delivery (or has
        forgotten it: a delivery is remembered as long as its lead id)."""
        return self._value(_SOLD + delivery_id.encode(), Sold.unpacked)

    def sell(self, sold: Sold) -> None:
        """Remembers a delivery made (or settled), for as long as its lead id."""
        key = _SOLD + sold.delivery_id.encode()
        self._set(key, sold.packed(sold.at_ms + self.lead_memory_ms))

    # -- rotation ------------------------------------------------------------------------------

    def least_recent(self, profile: str, partners: Sequence[str]) -> str:
        """Of ``partners`` (non-empty, in document order), the one ``profile`` chose least
        recently: never chosen first, ties to document order."""
        chosen = self.round_robin(profile)
        return min(partners, key=lambda partner: chosen.get(partner, -1))

    def round_robin(self, profile: str) -> dict[str, int]:
        """When ``profile`` last chose each partner (a tick that grows with each choice)."""
        return _ticks(self._value(_ROUND_ROBIN + profile.encode(), _json))

    def chose(self, profile: str, partner: str) -> None:
        key = _ROUND_ROBIN + profile.encode()
        found = self._value(key, _json)
        tick = (_int(found, "tick") or 0) + 1
        chosen = _ticks(found)
        chosen[partner] = tick
        self._set(key, orjson.dumps({"tick": tick, "chosen": chosen}))

    def scores(self, profile: str) -> dict[str, int]:
        """The smooth weighted round robin scores of ``profile``'s assignments (missing: 0).

        A profile's scores hold every assignment it ever chose among, thousands in a large
        document, and are read and written whole for each of its leads: what :meth:`set_scores`
        wrote is kept with its bytes and handed out once, uncopied, while the stored bytes are
        still those (no other writer, no undo); then it is the caller's, to change and write."""
        key = _WEIGHTED + profile.encode()
        kept = self._scores.pop(key, None)
        if kept is not None and kept[0] == self._store.get(key):
            return kept[1]
        found = self._value(key, _json)
        if not isinstance(found, dict):
            return {}
        return {a: s for a, s in found.items() if isinstance(s, int) and not isinstance(s, bool)}

    def set_scores(self, profile: str, scores: dict[str, int]) -> None:
        """Stores ``scores``, which the ledger keeps as they are: the caller lets go of them."""
        key = _WEIGHTED + profile.encode()
        value = orjson.dumps(scores)
        self._set(key, value)
        self._scores[key] = (value, scores)

    # -- forgetting ----------------------------------------------------------------------------

    def prune(self, store: Scan, limit: int, now_ms: int) -> int:
        """Drops the keys whose time has passed, index values whole until ``limit`` keys have
        been looked at (or none is left to look at); returns how many were dropped.

        Time here is the latest lead time seen, so that a replay forgets as the first run did, but
        never later than ``now_ms`` (the wall clock): a lead dated in the year 9999 must not make
        every cap window and memory look old. A key is dropped only ``LATE_MS`` after it expired,
        so a lead that comes a little late still finds what it would have found on time.
        """
        clock = self._store.get(_CLOCK)
        if clock is None or not clock.isdigit() or len(clock) > 19:
            return 0
        horizon = min(int(clock), now_ms) - LATE_MS
        today = _day(horizon)
        dropped = looked = 0
        for index, listing in store.scan(EXPIRY, limit):
            day, _, named = index[len(EXPIRY) :].partition(SEP)
            if day >= today:
                break
            # An index an earlier version wrote is empty and names its one key.
            for key in _listed(listing) if listing else (named,):
                # Every key listed counts against the limit, dropped or not: an index value
                # forged to list thousands of keys that are not there must not make one commit
                # look at millions.
                looked += 1
                found = self._store.get(key) if key.startswith(_EXPIRING) else None
                if found is None:
                    continue  # gone already, or never one to forget
                expires = _expiry(found)
                if expires is None or expires < horizon:
                    self._delete(key)
                    dropped += 1
            self._delete(index)
            dropped += 1
            looked += 1
            if looked >= limit:
                break
        return dropped

    def index(self, written: Iterable[tuple[bytes, bytes | None]]) -> None:
        """Indexes by day the keys of a transaction's ``written`` values (each key once, with
        its last value; None: deleted) that will expire, for :meth:`prune`: one index value per
        day (or per ``INDEX_BYTES`` of keys), not one per key, as each is a changelog record.
        A key indexed again, a day later or under the same day, is judged by its value when its
        day has passed."""
        days: dict[int, list[bytes]] = {}
        for key, value in written:
            if value is not None and key.startswith(_EXPIRING):
                expires = _expiry(value)
                if expires is not None and expires != NEVER:
                    days.setdefault(expires // DAY_MS, []).append(key)
        for days_since_epoch, keys in days.items():
            day = _day(days_since_epoch * DAY_MS)
            for listing in _listings(keys):
                digest = hashlib.blake2b(listing, digest_size=8).hexdigest().encode()
                self._set(EXPIRY + day + SEP + digest, listing)


_OLD = b"{"
"""The first byte of a value an earlier version wrote as JSON."""
_PACKED = {_MEMORY, _COUNTER, _SOLD_FORMAT}
_SOLD_BYTE = bytes([_SOLD_FORMAT])


def _unreadable(key: bytes) -> None:
    log.error("state value under %r is not readable; taken as absent", key[:40])


def _json(value: bytes) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return None


def _memory_of(value: bytes, text: str) -> tuple[int, str | None] | None:
    """A memory value's time (one the calendar has) and its text, the lead id or outcome (None:
    not text); None for a value that is not a memory."""
    if value[:1] == _OLD:
        found = _json(value)
        at = _time(found, "at")
        if at is None:
            return None
        named = found.get(text)  # a dict: it has a time
        return at, named if isinstance(named, str) else None
    if len(value) < _HEAD.size or value[0] != _MEMORY:
        return None
    _, _, at = _HEAD.unpack_from(value)
    if not FIRST_MS <= at <= LAST_MS:
        return None
    try:
        return at, value[_HEAD.size :].decode()
    except UnicodeDecodeError:
        return None


def _lead_memory(value: bytes) -> tuple[int, str | None] | None:
    """A person memory's time and the lead it remembers."""
    return _memory_of(value, "lead")


def _outcome_memory(value: bytes) -> tuple[int, str | None] | None:
    """A decided lead id's time and outcome."""
    return _memory_of(value, "outcome")


def _counter_of(value: bytes) -> tuple[int, int] | None:
    """A counter value's use and expiry (``NEVER``: none); None for a value that is not one."""
    if value[:1] == _OLD:
        found = _json(value)
        used, expires = _int(found, "used"), _int(found, "exp")
        if used is None or not _in_range(used) or (expires is not None and not _in_range(expires)):
            return None
        return used, NEVER if expires is None else expires
    if len(value) != _HEAD.size or value[0] != _COUNTER:
        return None
    _, expires, used = _HEAD.unpack(value)
    return used, expires


def _expiry(value: bytes) -> int | None:
    """When a stored value may be forgotten, epoch ms (``NEVER``: kept); None when it cannot be
    read, so that it goes as any expired value does: it counts as absent anyway."""
    if len(value) >= _EXPIRY_HEAD.size and value[0] in _PACKED:
        expires: int = _EXPIRY_HEAD.unpack_from(value)[1]
        return expires
    return _int(_json(value), "exp") if value[:1] == _OLD else None


def _listings(keys: Sequence[bytes]) -> Iterator[bytes]:
    """``keys`` (at least one) as index values of at most ``INDEX_BYTES`` (or one key)."""
    parts, size = [_INDEX_FORMAT], 1
    for key in keys:
        length = _LENGTH.size + len(key)
        if size > 1 and size + length > INDEX_BYTES:
            yield b"".join(parts)
            parts, size = [_INDEX_FORMAT], 1
        parts.append(_LENGTH.pack(len(key)))
        parts.append(key)
        size += length
    yield b"".join(parts)


def _listed(listing: bytes) -> Iterator[bytes]:
    """The keys an index value lists; of a damaged one, those before the damage."""
    if listing[:1] != _INDEX_FORMAT:
        return
    at = 1
    while at + _LENGTH.size <= len(listing):
        (size,) = _LENGTH.unpack_from(listing, at)
        at += _LENGTH.size
        if at + size > len(listing):
            return
        yield listing[at : at + size]
        at += size


def _ticks(found: object) -> dict[str, int]:
    """A round robin value's tick of each partner."""
    chosen = found.get("chosen") if isinstance(found, dict) else None
    if not isinstance(chosen, dict):
        return {}
    return {p: t for p, t in chosen.items() if isinstance(t, int) and not isinstance(t, bool)}


def _in_range(value: int) -> bool:
    """Whether a packed value's 64-bit field can hold ``value``."""
    return -(2**63) <= value <= NEVER


def _put(store: KeyValue, key: bytes, value: bytes | None) -> None:
    if value is None:
        store.delete(key)
    else:
        store.set(key, value)


def cap_key(scope: str, per: str, unit: str, window: str) -> bytes:
    """The key of one cap window: ``scope`` is ``partner/<id>`` or
    ``assignment/<profile>/<id>``."""
    return SEP.join(part.encode() for part in (scope, per, unit, window))


LAST_MS = epoch_ms(datetime(9999, 12, 31, tzinfo=UTC))


_EPOCH_DAY = 719_163
"""The proleptic Gregorian ordinal of 1970-01-01."""


def _day(ms: int) -> bytes:
    """The UTC day of an expiry as its ordinal (days since 0001-01-01, seven digits, so that keys
    sort by day); an expiry off the calendar is its first or last day."""
    return b"%07d" % (max(FIRST_MS, min(ms, LAST_MS)) // DAY_MS + _EPOCH_DAY)


FIRST_MS = epoch_ms(datetime(1, 1, 2, tzinfo=UTC))


def _time(found: object, name: str) -> int | None:
    """A time in epoch ms read from a value, when it is one the calendar has."""
    value = _int(found, name)
    return value if value is not None and FIRST_MS <= value <= LAST_MS else None


def _int(found: object, name: str) -> int | None:
    value = found.get(name) if isinstance(found, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
