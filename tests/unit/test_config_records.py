"""Config topic records read as hostile input, and version records judged against their parts.

Records are fed to :class:`ConfigState` as the follower, ``rules apply`` and ``rules status`` feed
them from the topic: no record may raise, and only a version whose parts match its digest and part
count (or can be found in the history) and validate comes in force.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from processor.control.publisher import publish_rules
from processor.control.records import (
    MAX_DEPTH,
    VERSION_KEY,
    Part,
    Refused,
    VersionRecord,
    canonical,
    digest_of,
    read_record,
)
from processor.control.state import ConfigState
from processor.control.status import status_json, status_table
from processor.errors import InvalidInput
from processor.rules import RulesLimits, document_to_parts, load_rules
from processor.settings import Settings

LIMIT = 100_000

RULES = """
partners:
  - {id: east, format: json, destinations: ["https://east.example"]}
  - {id: west, format: json, destinations: ["https://west.example"]}
profiles:
  - id: acme
    sources: [acme-site]
    fallback: west
    assignments:
      - {id: all-east, partner: east}
"""


@dataclass
class Record:
    """A consumed record as the state reads it: key, value, offset, timestamp."""

    _key: bytes | None
    _value: bytes | None
    _offset: int

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_700_000_000_000)


class Topic:
    """A config topic in memory, feeding each record it is given to a state."""

    def __init__(self, state: ConfigState) -> None:
        self.state = state
        self.offset = 0

    def write(self, key: bytes | str | None, value: bytes | None) -> VersionRecord | Refused | None:
        raw = key.encode() if isinstance(key, str) else key
        outcome = self.state.apply(Record(raw, value, self.offset))
        self.offset += 1
        return outcome

    def apply(self, parts: dict[str, Any], version: str) -> VersionRecord | Refused | None:
        """Writes every part and a version record naming them, as ``rules apply`` does."""
        for key, content in parts.items():
            self.write(key, canonical(content))
        return self.write(VERSION_KEY, canonical(version_record(parts, version)))


def version_record(parts: dict[str, Any], version: str) -> dict[str, Any]:
    return {
        "version": version,
        "digest": digest_of(parts),
        "parts": len(parts),
        "applied_at": "2026-11-30T12:00:00.000+00:00",
    }


@pytest.fixture
def parts() -> dict[str, Any]:
    return dict(document_to_parts(load_rules(RULES)))


@pytest.fixture
def topic() -> Topic:
    return Topic(ConfigState(LIMIT))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"[" * 100_000, "too-deep"),
        (b"{" * 100_000, "not-json"),  # an object needs a key first: the parser stops at once
        (json.dumps({"a": [[[[]]]]}).replace("[]", "[" * 70 + "]" * 70).encode(), "too-deep"),
        (b'{"a": "' + b"x" * LIMIT + b'"}', "too-large"),
        (b"\xff\xfe not text", "not-json"),
        (b"{not json", "not-json"),
        (b'{"price": NaN}', "not-json"),
        (b'{"id": "\\ud800"}', "not-json"),
        (b'{"n": ' + b"9" * 5000 + b"}", "not-json"),
        (b"[1, 2]", "not-object"),
        (b'"a string"', "not-object"),
        (b"null", "not-object"),
    ],
)
def test_a_hostile_value_is_refused_with_its_reason_and_without_its_content(
    value: bytes, reason: str
) -> None:
    refused = read_record(b"profile/acme", value, 7, LIMIT)
    assert isinstance(refused, Refused)
    assert (refused.key, refused.offset, refused.reason) == ("profile/acme", 7, reason)
    assert "x" * 20 not in str(refused) and "not text" not in str(refused)


def test_nesting_up_to_the_limit_is_taken() -> None:
    value = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    assert isinstance(read_record(b"fields", f'{{"a": {value}}}'.encode(), 0, LIMIT), Part)


@pytest.mark.parametrize(
    "key",
    [b"", None, b"other-tool/settings", b"partner/", b"\xff\xfe", b"profile/a\nb", b"x" * 500],
)
def test_a_key_the_config_topic_does_not_use_is_refused(key: bytes | None) -> None:
    for value in (b'{"id": "a"}', None):
        refused = read_record(key, value, 3, LIMIT)
        assert isinstance(refused, Refused) and refused.reason == "foreign-key"
        assert "\n" not in refused.key and len(refused.key) <= 80


@pytest.mark.parametrize(
    "value",
    [
        b'{"version": "bad"}',
        b'{"version": "2", "digest": "abc", "parts": 3}',
        b'{"version": "2", "digest": "' + b"a" * 64 + b'", "parts": true}',
        b'{"version": "2\\nforged log line", "digest": "' + b"a" * 64 + b'", "parts": 1}',
        None,
    ],
)
def test_a_version_record_not_as_rules_apply_writes_it_is_refused(value: bytes | None) -> None:
    refused = read_record(VERSION_KEY.encode(), value, 9, LIMIT)
    assert isinstance(refused, Refused) and refused.reason == "not-a-version"
    assert refused.version in (None, "bad", "2")


def test_no_record_raises_and_the_rules_in_force_stay(topic: Topic, parts: dict[str, Any]) -> None:
    assert isinstance(topic.apply(parts, "1"), VersionRecord)
    poison = [
        b"[" * 100_000,
        b"x" * (LIMIT + 1),
        b"\x00\x01",
        b"[]",
    ]
    for value in poison:
        assert isinstance(topic.write("profile/acme", value), Refused)
        assert isinstance(topic.write(VERSION_KEY, value), Refused)
    assert isinstance(topic.write(VERSION_KEY, b'{"version": "2"}'), Refused)
    assert isinstance(topic.write("another-tool/state", b'{"on": true}'), Refused)
    assert topic.state.version == "1"
    assert topic.state.parts == parts
    reasons = {refused.reason for refused in topic.state.refused}
    assert reasons == {"too-deep", "too-large", "not-json", "not-object", "not-a-version",
                       "foreign-key"}  # fmt: skip


def test_a_foreign_key_does_not_spoil_the_next_version(topic: Topic, parts: dict[str, Any]) -> None:
    topic.write("another-tool/state", b'{"on": true}')
    assert isinstance(topic.apply(parts, "1"), VersionRecord)


def test_a_version_whose_digest_does_not_match_is_refused(
    topic: Topic, parts: dict[str, Any]
) -> None:
    topic.apply(parts, "1")
    topic.write("profile/acme", None)  # the only profile goes...
    bogus = version_record(parts, "2") | {"digest": "0" * 64, "parts": len(parts) - 1}
    refused = topic.write(VERSION_KEY, canonical(bogus))  # ...under a version that does not match
    assert isinstance(refused, Refused)
    assert (refused.reason, refused.version) == ("mismatch", "2")
    assert topic.state.version == "1"
    assert topic.state.document is not None and topic.state.document.profiles[0].id == "acme"


def test_a_version_with_a_part_count_that_does_not_match_is_refused(
    topic: Topic, parts: dict[str, Any]
) -> None:
    topic.apply(parts, "1")
    record = version_record(parts, "2") | {"parts": len(parts) + 1}
    outcome = topic.write(VERSION_KEY, canonical(record))
    assert isinstance(outcome, Refused) and outcome.reason == "mismatch"


def test_a_matching_version_that_does_not_validate_is_refused(
    topic: Topic, parts: dict[str, Any]
) -> None:
    topic.apply(parts, "1")
    broken = parts | {"profile/acme": parts["profile/acme"] | {"fallback": "nobody"}}
    outcome = topic.apply(broken, "2")
    assert isinstance(outcome, Refused) and outcome.reason == "invalid"
    assert outcome.errors and topic.state.version == "1"


class FakeHistory:
    """The history topic holding the versions given, by number."""

    def __init__(self, versions: dict[str, dict[str, Any]]) -> None:
        self.versions = versions

    def parts_of(self, record: VersionRecord) -> dict[str, Any] | None:
        parts = self.versions.get(record.version)
        return parts if parts is not None and digest_of(parts) == record.digest else None

    def latest(self) -> tuple[VersionRecord, dict[str, Any]] | None:
        if not self.versions:
            return None
        version, parts = list(self.versions.items())[-1]
        return VersionRecord(version, digest_of(parts), len(parts), ""), parts


def test_a_version_whose_parts_were_compacted_away_is_taken_from_the_history(
    parts: dict[str, Any],
) -> None:
    # What a restarted follower reads after a stray tombstone of profile/acme was compacted
    # with the profile it deleted: every part but that one, then the version record.
    state = ConfigState(LIMIT, FakeHistory({"1": parts}))  # type: ignore[arg-type]
    topic = Topic(state)
    for key, content in parts.items():
        if key != "profile/acme":
            topic.write(key, canonical(content))
    outcome = topic.write(VERSION_KEY, canonical(version_record(parts, "1")))
    assert isinstance(outcome, VersionRecord)
    assert state.version == "1"
    assert state.document is not None and [p.id for p in state.document.profiles] == ["acme"]


def test_the_history_does_not_stand_in_for_a_forged_digest(parts: dict[str, Any]) -> None:
    state = ConfigState(LIMIT, FakeHistory({"1": parts}))  # type: ignore[arg-type]
    topic = Topic(state)
    topic.apply(parts, "1")
    forged = version_record(parts, "1") | {"digest": "f" * 64}
    outcome = topic.write(VERSION_KEY, canonical(forged))
    assert isinstance(outcome, Refused) and outcome.reason == "mismatch"


def test_the_highest_version_number_is_kept_for_the_next_apply(
    topic: Topic, parts: dict[str, Any]
) -> None:
    topic.apply(parts, "1")
    topic.write(VERSION_KEY, canonical(version_record(parts, "7") | {"digest": "0" * 64}))
    assert (topic.state.version, topic.state.highest) == ("1", 7)


def test_with_nothing_in_force_at_the_end_the_last_applied_version_comes_from_the_history(
    parts: dict[str, Any],
) -> None:
    # After compaction only the last version record is left: a forged one, refused.
    state = ConfigState(LIMIT, FakeHistory({"1": parts}))  # type: ignore[arg-type]
    topic = Topic(state)
    for key, content in parts.items():
        topic.write(key, canonical(content))
    topic.write(VERSION_KEY, canonical(version_record(parts, "2") | {"digest": "0" * 64}))
    assert state.version is None
    settled = state.settle()
    assert settled is not None and (settled.version, state.version) == ("1", "1")
    assert state.settle() is None  # a version in force stays


def test_a_topic_without_version_records_takes_nothing_from_the_history(
    parts: dict[str, Any],
) -> None:
    # A new or emptied config topic, or one whose history another deployment wrote: no rules.
    state = ConfigState(LIMIT, FakeHistory({"1": parts}))  # type: ignore[arg-type]
    Topic(state).write("profile/acme", canonical(parts["profile/acme"]))
    assert state.settle() is None and state.version is None


def test_status_shows_the_version_in_force_and_each_refusal_without_content(
    topic: Topic, parts: dict[str, Any]
) -> None:
    topic.apply(parts, "1")
    topic.write("profile/acme", b'{"name": "' + b"secret@example.com" * 10_000 + b'"}')
    topic.write(VERSION_KEY, canonical(version_record(parts, "2") | {"digest": "0" * 64}))
    shown = status_json(topic.state)
    assert shown["in_force"]["version"] == "1"
    assert shown["in_force"]["digest"] == digest_of(parts)
    assert [(r["key"], r["reason"], r["version"]) for r in shown["refused"]] == [
        ("profile/acme", "too-large", None),
        (VERSION_KEY, "mismatch", "2"),
    ]
    table = status_table(topic.state, "config")
    assert table.startswith("config: version 1 in force")
    assert "too-large" in table and "mismatch" in table
    assert "secret@example.com" not in table + json.dumps(shown)


def test_status_of_an_empty_topic() -> None:
    assert status_table(ConfigState(LIMIT), "config") == (
        "config: no rules version in force\n\nno record refused"
    )


def test_apply_refuses_a_part_larger_than_a_processor_reads(parts: dict[str, Any]) -> None:
    # Checked before any connection: the broker named here does not exist.
    settings = Settings(bootstrap_servers="127.0.0.1:1", config_record_max_bytes=1_000)
    sources = [f"site-{n}" for n in range(200)]
    document = load_rules(RULES.replace("sources: [acme-site]", f"sources: [{', '.join(sources)}]"))
    with pytest.raises(InvalidInput, match=r"profile/acme is [\d,]+ bytes, more than the 1,000"):
        publish_rules(settings, document)


@pytest.mark.parametrize("version", ["²", "\u0661", "9" * 19])
def test_a_version_that_is_not_a_plain_number_is_refused_not_a_crash(
    topic: Topic, parts: dict[str, Any], version: str
) -> None:
    # str.isdigit() takes superscripts and other scripts' digits, which int() refuses.
    topic.apply(parts, "1")
    topic.write(VERSION_KEY, canonical(version_record(parts, "1") | {"version": version}))
    assert topic.state.version in ("1", version)
    assert topic.state.highest == 1


def test_a_number_beyond_any_float_is_refused_not_a_crash(
    topic: Topic, parts: dict[str, Any]
) -> None:
    topic.apply(parts, "1")
    topic.write("profile/acme", b'{"id": "acme", "base_price": 1e999}')
    topic.write(VERSION_KEY, canonical(version_record(parts, "2")))
    # The part is refused, so the parts held are still those version 2 names.
    assert topic.state.refused[0].reason == "not-json"
    assert (topic.state.version, topic.state.parts) == ("2", parts)


def test_parts_beyond_what_any_document_holds_are_refused(parts: dict[str, Any]) -> None:
    """Parts alone, with no version record to judge them, must not fill a processor's memory."""
    limits = RulesLimits(max_partners=2, max_profiles=1, max_bytes=2_000)
    topic = Topic(ConfigState(LIMIT, limits=limits))
    # Two documents' worth of fields, two partners and a profile: the old and the new of an apply.
    for number in range(8):
        assert topic.write(f"partner/p{number}", b'{"id": "p"}') is None
    refused = topic.write("partner/p8", b'{"id": "p"}')
    assert isinstance(refused, Refused) and refused.reason == "too-many-parts"
    assert topic.write("partner/p0", b'{"id": "' + b"x" * 3_990 + b'"}') is not None
    assert topic.write("partner/p0", None) is None  # a tombstone makes room again
    assert topic.write("partner/p8", b'{"id": "p"}') is None
    assert len(topic.state.parts) == 8
