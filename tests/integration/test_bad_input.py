"""Hostile input on a real broker: whatever a publisher writes, the stream goes on.

Hypothesis draws a few hundred input records, good leads and bad ones interleaved, and the
processor runs once over the whole batch: starting a processor per example would take minutes,
and one mixed batch is also what a broken publisher produces. Each record says what the contract
wants for it: a good lead (odd but valid values included) gets exactly one routing decision; a bad
record goes to the dead-letter topic, its bytes and key untouched, with its reason and source
offset in headers, plus a ``rejected`` decision when its lead id could be read.

For records whose fate depends on the exact bytes (random bytes, flipped bytes, a publisher lying
about its schema), the expectation comes from decoding them locally with the same codec: that they
decode or not is the codec's business (its unit tests), that each ends in exactly one place with
the right headers is the processor's.

The batch is drawn with a fresh seed each run; a failure names it, and
``LEAD_ROUTER_BAD_INPUT_SEED`` replays it.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from typing import Any

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, Producer
from fastavro import parse_schema, schemaless_writer
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from streamkit import apply_rules, publish, reading, running
from test_stream import RULES

from processor.kafka.records import (
    ERROR_HEADER,
    EXCEPTION_HEADER,
    MESSAGE_HEADER,
    OFFSET_HEADER,
    SOURCE_HEADERS,
)
from processor.settings import Settings
from processor.stream.topics import Topics
from processor.wire import Codec, DecodeError, lead_from_json, load_schemas
from processor.wire.framing import registry_header, single_object_header

pytestmark = pytest.mark.integration

TOPIC = "leads"
BATCH = 300
HUGE = (880_000, 100_000)
"""Sizes of one huge string field: up to what the broker takes (1 MB) for the input record."""
MAX_HUGE = 4
"""Huge leads kept per batch: each costs megabytes on the broker, and a few show the behaviour."""

WAIT_S = 45.0
"""How long to wait for the outputs; the processor needs a few seconds for the whole batch."""
SEED = int(os.environ.get("LEAD_ROUTER_BAD_INPUT_SEED", random.randrange(2**32)))
LEAD_SCHEMA = load_schemas()["LeadSubmitted"]
KNOWN_FINGERPRINTS = {schema.fingerprint for schema in load_schemas().values()}
CALENDAR_END_MS = 253402300800000
"""Milliseconds from the epoch to 10000-01-01: no calendar date is that late."""
CALENDAR_START_MS = -62135596800000
"""Milliseconds from the epoch to 0001-01-01: no calendar date is earlier."""


@dataclass(frozen=True)
class Record:
    """One input record and what the contract wants for it.

    ``good`` leads get one routing decision under ``lead_id``; otherwise the record is dead-lettered
    with ``reason`` and, when ``lead_id`` is set, also gets a ``rejected`` decision under it.
    """

    kind: str
    key: bytes | None
    value: bytes
    good: bool
    reason: str | None = None
    lead_id: str | None = None


Make = Callable[[str], Record]
"""A record drawn up to its lead id, which is given once the batch is collected (ids are unique)."""

_codec = Codec()


def encode(lead: dict[str, Any]) -> bytes:
    return _codec.encode(TOPIC, "LeadSubmitted", lead)


def oracle(kind: str, key: bytes | None, value: bytes) -> Record:
    """What the contract wants for bytes whose fate only decoding them can tell."""
    try:
        lead = Codec().decode(TOPIC, value)
    except DecodeError as error:
        return Record(kind, key, value, False, error.reason, error.lead_id)
    return Record(kind, key, value, True, lead_id=lead["lead_id"])


_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
"""Any Unicode text Avro can carry (surrogates are not UTF-8)."""

_base_leads = st.fixed_dictionaries(
    {
        "submitted_at": st.just("2026-11-20T10:00:00Z"),
        "site_id": st.sampled_from(["dealer-web", "market", "elsewhere", " market "]),
        "interest_category": st.sampled_from(["New Models", "Service", None, "service"]),
        "address": st.none()
        | st.fixed_dictionaries(
            {"state": st.sampled_from(["NY", "NJ", "CA", None]), "country": st.just("US")}
        ),
        "visitor": st.none()
        | st.fixed_dictionaries(
            {
                "lat": st.none() | st.floats(-90, 90),
                "lon": st.none() | st.floats(-180, 180),
                "ip": st.none() | st.sampled_from(["203.0.113.7", "::1", "not an ip"]),
            }
        ),
        "fields": st.dictionaries(
            st.just("budget"), st.none() | st.integers(-(2**63), 2**63 - 1) | st.floats()
        ),
    }
)
"""Leads of the RULES' sites, as JSON: every one of them is good."""


@st.composite
def good_leads(draw: st.DrawFn) -> Make:
    lead = draw(_base_leads)
    return lambda lead_id: Record(
        "good",
        lead_id.encode(),
        encode(lead_from_json({**lead, "lead_id": lead_id})),
        True,
        lead_id=lead_id,
    )


@st.composite
def odd_but_valid_leads(draw: st.DrawFn) -> Make:
    """Values a publisher may well send, that the schema allows and the contract does not refuse."""
    lead = draw(_base_leads)
    millis = draw(
        st.sampled_from([CALENDAR_START_MS, CALENDAR_END_MS - 1, -1, 0, -(10**12)])
        | st.integers(CALENDAR_START_MS, CALENDAR_END_MS - 1)
    )
    odd = {
        "submitted_at": datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis),
        "comments": draw(st.none() | _text),
        "contact": {"first_name": draw(_text), "email": draw(_text)},
        "vehicle": {"year": draw(st.integers(-(2**31), 2**31 - 1)), "make": draw(_text)},
        "visitor": {
            "lat": draw(st.floats()),
            "lon": draw(st.floats()),
            "ip": draw(_text),
            "user_agent": draw(_text),
        },
        "fields": draw(st.dictionaries(_text, st.none() | st.booleans() | st.floats() | _text)),
    }

    def make(lead_id: str) -> Record:
        record = {**lead_from_json({**lead, "lead_id": lead_id}), **odd}
        record["contact"] = {"last_name": None, "phone": None, **record["contact"]}
        record["vehicle"] = {k: None for k in ("trim", "vin", "stock", "condition", "model")} | (
            record["vehicle"]
        )
        return Record("odd", lead_id.encode(), encode(record), True, lead_id=lead_id)

    return make


@st.composite
def huge_leads(draw: st.DrawFn) -> Make:
    """A lead with one string field as large as the broker takes the input record.

    A delivery carries the lead and the payload rendered from it, and every format renders the
    comments and the contact's name, so a lead of 880 KB that gets a delivery cannot be written
    within the broker's limit: the contract wants every lead to end
    somewhere, and it ends in the dead-letter topic as ``too-large``. The same lead unroutable
    (its audit record holds no lead data) and a lead of 100 KB are routed as usual.
    """
    lead = draw(_base_leads)
    lead["site_id"] = draw(st.sampled_from(["dealer-web", "market", "elsewhere"]))
    size = draw(st.sampled_from(HUGE))
    where = draw(st.sampled_from(["comments", "contact"]))  # in every format's payload
    text = draw(st.text(st.characters(codec="ascii"), min_size=1, max_size=8))
    big = (text * (size // len(text) + 1))[:size]
    change = {
        "comments": {"comments": big},
        "contact": {"contact": {"first_name": big}},
    }[where]
    routed = lead["site_id"] != "elsewhere"
    too_large = routed and size > 500_000

    def make(lead_id: str) -> Record:
        value = encode(lead_from_json({**lead, **change, "lead_id": lead_id}))
        if too_large:
            return Record("huge", lead_id.encode(), value, False, "too-large", lead_id)
        return Record("huge", lead_id.encode(), value, True, lead_id=lead_id)

    return make


@st.composite
def truncated(draw: st.DrawFn) -> Make:
    lead = draw(_base_leads)
    cut = draw(st.integers(0, 999))

    def make(lead_id: str) -> Record:
        data = encode(lead_from_json({**lead, "lead_id": lead_id}))
        end = cut * len(data) // 1000
        return Record("truncated", b"t", data[:end], False, "truncated" if end else "empty")

    return make


@st.composite
def wrong_magic(draw: st.DrawFn) -> Make:
    lead = draw(_base_leads)
    magic = draw(st.integers(1, 255).filter(lambda byte: byte != 0xC3))
    return lambda lead_id: Record(
        "wrong-magic",
        lead_id.encode(),
        bytes((magic,)) + encode(lead_from_json({**lead, "lead_id": lead_id}))[1:],
        False,
        "unknown-framing",
    )


@st.composite
def unknown_fingerprint(draw: st.DrawFn) -> Make:
    lead = draw(_base_leads)
    fingerprint = draw(st.integers(0, 2**64 - 1).filter(lambda f: f not in KNOWN_FINGERPRINTS))
    return lambda lead_id: Record(
        "unknown-fingerprint",
        lead_id.encode(),
        single_object_header(fingerprint)
        + encode(lead_from_json({**lead, "lead_id": lead_id}))[10:],
        False,
        "unknown-fingerprint",
    )


@st.composite
def registry_framed(draw: st.DrawFn) -> Make:
    """Registry framing, which this processor (configured without a registry) cannot resolve."""
    schema_id = draw(st.integers(0, 2**32 - 1))
    body = draw(st.binary(max_size=64))
    return lambda lead_id: Record(
        "registry-framed", None, registry_header(schema_id) + body, False, "no-registry"
    )


@st.composite
def invalid_utf8(draw: st.DrawFn) -> Make:
    """A string field whose bytes are not UTF-8, its length prefix intact."""
    lead = draw(_base_leads)
    bad = draw(st.binary(min_size=1, max_size=16).filter(_not_utf8))
    where = draw(st.sampled_from(["comments", "site_id", "interest_category", "lead_id"]))

    def make(lead_id: str) -> Record:
        marker = "Z" * len(bad)  # without numbers, nothing else in this lead has a capital Z
        record = lead_from_json({**lead, "lead_id": lead_id, "visitor": None, "fields": {}})
        record[where] = marker if where != "lead_id" else lead_id + marker
        data = encode(record)
        assert data.count(marker.encode()) == 1
        value = data.replace(marker.encode(), bad)
        return Record("invalid-utf8", lead_id.encode(), value, False, "invalid-avro")

    return make


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


@st.composite
def blank_ids(draw: st.DrawFn) -> Make:
    """A lead without a lead id (nothing to audit it under) or without a site id (audited)."""
    lead = lead_from_json({**draw(_base_leads), "lead_id": "x"})
    blank = draw(st.sampled_from(["", " ", "\t\n", "\u3000"]))
    field = draw(st.sampled_from(["lead_id", "site_id"]))

    def make(lead_id: str) -> Record:
        record = {**lead, "lead_id": lead_id, field: blank}
        keeps = None if field == "lead_id" else lead_id
        return Record(f"blank-{field}", b"b", encode(record), False, "invalid-lead", keeps)

    return make


def _zigzag(value: int) -> bytes:
    """An Avro long (zig-zag, then 7 bits a byte), as fastavro writes it."""
    out = BytesIO()
    schemaless_writer(out, "long", value)
    return out.getvalue()


def _string(text: str) -> bytes:
    return _zigzag(len(text.encode())) + text.encode()


@st.composite
def beyond_the_calendar(draw: st.DrawFn) -> Make:
    """A ``submitted_at`` no datetime can hold: valid Avro (a long), but not a timestamp."""
    millis = draw(
        st.integers(CALENDAR_END_MS, 2**63 - 1) | st.integers(-(2**63), CALENDAR_START_MS - 1)
    )

    def make(lead_id: str) -> Record:
        body = _string(lead_id) + _zigzag(millis) + _string("market") + bytes(8)
        value = single_object_header(LEAD_SCHEMA.fingerprint) + body
        return Record("beyond-calendar", lead_id.encode(), value, False, "invalid-lead", lead_id)

    return make


@st.composite
def other_record_types(draw: st.DrawFn) -> Make:
    """A well-formed record of another type (a geolocation) on the leads topic."""
    geo = {
        "lat": draw(st.floats(-90, 90)),
        "lon": draw(st.floats(-180, 180)),
        "source": draw(st.sampled_from(["coords", "ip", "postcode"])),
        "country": draw(st.none() | _text),
        "region": None,
        "city": None,
        "postcode": None,
        "accuracy_km": None,
    }
    value = _codec.encode(TOPIC, "Geo", geo)
    return lambda lead_id: Record("other-type", b"g", value, False, "schema-mismatch")


@st.composite
def random_bytes(draw: st.DrawFn) -> Make:
    header = draw(
        st.sampled_from([b"", b"\xc3\x01", single_object_header(LEAD_SCHEMA.fingerprint)])
    )
    value = header + draw(st.binary(max_size=200))
    return lambda lead_id: oracle("random", None, value)


@st.composite
def flipped_bytes(draw: st.DrawFn) -> Make:
    lead = draw(_base_leads)
    changes = draw(
        st.lists(st.tuples(st.integers(0, 999), st.integers(0, 255)), min_size=1, max_size=4)
    )

    def make(lead_id: str) -> Record:
        data = bytearray(encode(lead_from_json({**lead, "lead_id": lead_id})))
        for where, byte in changes:
            data[where * len(data) // 1000] = byte
        return oracle("flipped", lead_id.encode(), bytes(data))

    return make


_NULLABLE = parse_schema(
    {
        "type": "record",
        "name": "Nullable",
        "fields": [
            {"name": "lead_id", "type": ["null", "string"]},
            {"name": "submitted_at", "type": ["null", "long"]},
            {"name": "site_id", "type": ["null", "string"]},
            {"name": "comments", "type": ["null", "string"]},
        ],
    }
)


@st.composite
def nulls_where_required(draw: st.DrawFn) -> Make:
    """A publisher whose schema lets the required fields be null writes nulls, under our header."""
    nulls = draw(st.sets(st.sampled_from(["lead_id", "submitted_at", "site_id"]), min_size=1))
    comments = draw(st.none() | _text)

    def make(lead_id: str) -> Record:
        record = {"lead_id": lead_id, "submitted_at": 0, "site_id": "market", "comments": comments}
        record.update(dict.fromkeys(nulls))
        body = BytesIO()
        schemaless_writer(body, _NULLABLE, record)
        value = single_object_header(LEAD_SCHEMA.fingerprint) + body.getvalue()
        return oracle("nulls", lead_id.encode(), value)

    return make


HOSTILE = st.one_of(
    truncated(),
    wrong_magic(),
    unknown_fingerprint(),
    registry_framed(),
    invalid_utf8(),
    blank_ids(),
    beyond_the_calendar(),
    other_record_types(),
    random_bytes(),
    flipped_bytes(),
    nulls_where_required(),
)
RECORDS = st.one_of(good_leads(), odd_but_valid_leads(), huge_leads(), HOSTILE, HOSTILE)


def draw_batch(count: int) -> list[Record]:
    """``count`` records as Hypothesis draws them (no shrinking: nothing fails while drawing)."""
    makes: list[Make] = []

    @seed(SEED)
    @settings(
        max_examples=count,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(RECORDS)
    def collect(make: Make) -> None:
        makes.append(make)

    collect()
    batch: list[Record] = []
    huge = 0
    for n, make in enumerate(makes):
        record = make(f"lead-{n:04d}")
        if record.kind == "huge":
            huge += 1
            if huge > MAX_HUGE:
                continue
        batch.append(record)
    return batch


def publish_batch(settings: Settings, batch: list[Record]) -> None:
    """Publishes the records in order to the one input partition: offset n is record n."""
    Topics(settings).ensure_base()
    producer = Producer(
        {"bootstrap.servers": settings.kafka.bootstrap_servers, "enable.idempotence": True}
    )
    for record in batch:
        producer.produce(settings.topics.input_topic, key=record.key, value=record.value)
        producer.poll(0)
    assert producer.flush(60) == 0
    producer.close()


def test_hostile_records_are_dead_lettered_and_every_good_lead_is_decided_once(
    stream_settings: Settings,
) -> None:
    replay = f"(replay with LEAD_ROUTER_BAD_INPUT_SEED={SEED})"
    print(replay)  # shown with a failure's captured output, whichever assertion fails
    batch = draw_batch(BATCH)
    good = [r for r in batch if r.good]
    bad = [r for r in batch if not r.good]
    kinds = Counter(r.kind for r in batch)
    assert len(kinds) >= 10, f"the batch lacks variety: {kinds} {replay}"
    assert good and bad

    apply_rules(stream_settings, RULES)
    publish_batch(stream_settings, batch)
    wanted_audit = Counter(r.lead_id for r in batch if r.good or r.lead_id)
    with (
        reading(stream_settings, stream_settings.topics.audit_topic, "RoutingDecision") as audit,
        reading(stream_settings, stream_settings.topics.dlq_topic, None) as dlq,
    ):
        with running(stream_settings):
            for reader, count in ((audit, sum(wanted_audit.values())), (dlq, len(bad))):
                with contextlib.suppress(AssertionError):  # the checks below say what is missing
                    reader.wait_for(count, timeout=WAIT_S)
        decisions = audit.drain()
        dead = dlq.drain()

    # Every good lead has exactly one decision, and it is not a rejection.
    assert Counter(d["lead_id"] for d in decisions) == wanted_audit, replay
    by_id = {d["lead_id"]: d for d in decisions}
    for record in good:
        assert by_id[record.lead_id]["outcome"] != "rejected", (record.kind, replay)
    for record in bad:
        if record.lead_id:
            decision = by_id[record.lead_id]
            assert decision["outcome"] == "rejected", (record.kind, replay)
            assert decision["error"].startswith(f"{record.reason}: "), (record.kind, replay)

    # Every bad record is in the dead-letter topic once, as it came, with why and whence.
    offsets = [int(r["headers"][OFFSET_HEADER]) for r in dead]
    assert Counter(offsets) == Counter(n for n, r in enumerate(batch) if not r.good), replay
    for letter in dead:
        record = batch[int(letter["headers"][OFFSET_HEADER])]
        assert letter["raw"] == record.value, (record.kind, replay)
        assert letter["key"] == record.key, (record.kind, replay)
        assert letter["headers"][ERROR_HEADER].decode() == record.reason, (record.kind, replay)
        assert letter["headers"][MESSAGE_HEADER], (record.kind, replay)

    # Nothing lost, nothing extra: decided good leads and dead letters make up the input.
    decided = sum(1 for d in decisions if d["outcome"] != "rejected")
    assert decided + len(dead) == len(batch), replay


def test_a_dead_letter_keeps_the_inputs_key_bytes_headers_and_timestamp(
    stream_settings: Settings,
) -> None:
    lead = lead_from_json(
        {"lead_id": "blank-site", "submitted_at": "2026-11-20T10:00:00Z", "site_id": "market"}
    )
    records = [
        (b"blank-site", encode({**lead, "site_id": " "}), "invalid-lead", "InvalidLead"),
        (None, b"\x00\x00\x00\x00\x07garbage", "no-registry", "DecodeError"),
        (b"k\xff", b"", "empty", "DecodeError"),
    ]
    created = int(datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp() * 1000)
    apply_rules(stream_settings, RULES)
    Topics(stream_settings).ensure_base()
    producer = Producer({"bootstrap.servers": stream_settings.kafka.bootstrap_servers})
    for n, (key, value, _, _) in enumerate(records):
        headers = [
            ("traceparent", f"00-{n:032x}-{n:016x}-01".encode()),
            ("dup", b"1"),
            ("dup", b"2"),
        ]
        producer.produce(
            stream_settings.topics.input_topic, value, key, headers=headers, timestamp=created - n
        )
    assert producer.flush(30) == 0
    with (
        reading(stream_settings, stream_settings.topics.dlq_topic, None) as dlq,
        running(stream_settings),
    ):
        dead = dlq.wait_for(len(records))
    with reading(stream_settings, stream_settings.topics.input_topic, None) as source:
        inputs = source.wait_for(len(records))

    for letter, original, (_, _, reason, exception) in zip(dead, inputs, records, strict=True):
        assert (letter["key"], letter["raw"]) == (original["key"], original["raw"])
        assert letter["timestamp"] == (TIMESTAMP_CREATE_TIME, original["timestamp"][1])
        kept, added = letter["header_list"][:3], dict(letter["header_list"][3:])
        assert kept == original["header_list"]
        assert added[ERROR_HEADER].decode() == reason
        assert added[MESSAGE_HEADER]
        assert added[EXCEPTION_HEADER].decode() == f"processor.wire.errors.{exception}"
        assert added[SOURCE_HEADERS[0]].decode() == stream_settings.topics.input_topic
        assert added[SOURCE_HEADERS[1]] == str(original["partition"]).encode()
        assert added[OFFSET_HEADER] == str(original["offset"]).encode()


def test_a_record_written_by_hand_to_the_decide_topic_is_dead_lettered_and_the_next_lead_routes(
    stream_settings: Settings,
) -> None:
    """The decide topic is a topic like any other: whoever may write to it can write anything.
    What is no record of the match stage goes to the dead-letter topic as it came, with its
    reason and its place on the decide topic, and no decision; the leads behind it are decided."""
    topics = stream_settings.topics
    codec = Codec()
    lead = lead_from_json(
        {"lead_id": "forged", "submitted_at": "2026-11-20T10:00:00Z", "site_id": "market"}
    )
    off_the_globe = codec.encode(
        topics.decide_topic,
        "LeadMatched",
        {
            "lead": codec.lead_body(lead),
            "geo": {"lat": 500.0, "lon": 0.0, "source": "coords"},
            "source": {"topic": topics.input_topic, "partition": 0, "offset": 0},
        },
    )
    forged = [
        (b"forged", off_the_globe, "invalid-matched"),
        (b"garbage", b"\xc3\x01" + bytes(8) + b"junk", "unknown-fingerprint"),
        (None, b"", "empty"),
    ]
    apply_rules(stream_settings, RULES)
    Topics(stream_settings).ensure_base()
    producer = Producer({"bootstrap.servers": stream_settings.kafka.bootstrap_servers})
    for key, value, _ in forged:
        producer.produce(topics.decide_topic, value, key)
    assert producer.flush(30) == 0
    good = {"lead_id": "after", "submitted_at": "2026-11-20T10:00:00Z", "site_id": "market"}
    publish(stream_settings, [good])

    with (
        reading(stream_settings, topics.dlq_topic, None) as dlq,
        reading(stream_settings, topics.audit_topic, "RoutingDecision") as audit,
        running(stream_settings),
    ):
        dead = dlq.wait_for(len(forged))
        decisions = audit.wait_for(1)
        audit.read_for(1.0)  # a decision for a forged record would show by now

    assert [d["lead_id"] for d in audit.records] == ["after"]
    assert decisions[0]["outcome"] != "rejected"
    assert decisions[0]["source"]["topic"] == topics.input_topic
    for letter, (key, value, reason) in zip(dead, forged, strict=True):
        assert (letter["key"], letter["raw"]) == (key, value)
        headers = dict(letter["header_list"])
        assert headers[ERROR_HEADER].decode() == reason
        assert b"not a LeadMatched record" in headers[MESSAGE_HEADER]
        assert headers[SOURCE_HEADERS[0]].decode() == topics.decide_topic
