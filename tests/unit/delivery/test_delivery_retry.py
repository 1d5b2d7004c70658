"""What follows a failed attempt, and when a record waiting on a retry topic is due: its headers
are anyone's to write, so every value is bounded and a bad one falls back to the level's."""

from __future__ import annotations

import pytest

from processor.delivery.retry import (
    ATTEMPTS_HEADER,
    DUE_AT_HEADER,
    ERROR_HEADER,
    FIRST_SOURCE_HEADER,
    MAX_DELAY_MS,
    MAX_HEADER_BYTES,
    Retry,
    Stop,
    attempts_made,
    due_at,
    first_source,
    level_delay_ms,
    next_step,
    retry_headers,
)
from processor.kafka.records import Headers
from processor.rules.document import DEFAULT_POLICY, DeliveryPolicy

NOW = 1_790_000_000_000
POLICY = DeliveryPolicy(retries=("30s", "5m"), on_exhausted="reoffer", on_refused="give_up")


def test_each_failed_attempt_waits_on_the_next_level_until_the_schedule_ends() -> None:
    assert next_step(POLICY, "failed", 1, NOW) == Retry(1, NOW + 30_000)
    assert next_step(POLICY, "failed", 2, NOW) == Retry(2, NOW + 300_000)
    assert next_step(POLICY, "failed", 3, NOW) == Stop("reoffer", "exhausted")


def test_a_refusal_is_never_retried_and_a_delivery_needs_nothing_more() -> None:
    assert next_step(POLICY, "rejected", 1, NOW) == Stop("give_up", "refused")
    assert next_step(POLICY, "delivered", 2, NOW) is None


def test_an_empty_schedule_gives_up_after_the_first_attempt() -> None:
    assert next_step(DeliveryPolicy(retries=()), "failed", 1, NOW) == Stop("give_up", "exhausted")


def test_the_default_schedule_has_five_retries() -> None:
    waits = [level_delay_ms(DEFAULT_POLICY, level) for level in range(1, 7)]
    assert waits == [60_000, 300_000, 1_800_000, 7_200_000, 43_200_000, 0]


def test_a_record_written_for_a_retry_reads_back() -> None:
    headers = retry_headers(2, NOW + 5, "https://a: HTTP 503", "deliveries.p/3/41")
    assert attempts_made(headers, 1) == 2
    assert due_at(headers, NOW, 30_000, NOW) == NOW + 5
    assert first_source(headers, "elsewhere/0/0") == "deliveries.p/3/41"
    assert dict(headers)[ERROR_HEADER] == b"https://a: HTTP 503"


def test_the_error_is_cut_to_its_bound_without_splitting_a_character() -> None:
    headers = dict(retry_headers(1, NOW, "é" * MAX_HEADER_BYTES, "t/0/0"))
    error = headers[ERROR_HEADER]
    assert isinstance(error, bytes)
    assert error.decode() == "é" * (MAX_HEADER_BYTES // 2)


@pytest.mark.parametrize(
    "value",
    [None, b"", b"soon", b"-5", b"1e12", b" 12", str(NOW + MAX_DELAY_MS + 1).encode(), b"9" * 40],
)
def test_a_missing_or_absurd_due_time_falls_back_to_the_level_delay(value: bytes | None) -> None:
    headers: Headers = [] if value is None else [(DUE_AT_HEADER, value)]
    assert due_at(headers, NOW - 10_000, 30_000, NOW) == NOW + 20_000


def test_no_record_waits_longer_than_the_longest_delay() -> None:
    assert due_at([], NOW + 10 * MAX_DELAY_MS, 60_000, NOW) == NOW + MAX_DELAY_MS


def test_a_record_written_long_ago_is_due_at_once() -> None:
    assert due_at([], 0, 30_000, NOW) == 30_000 <= NOW
    assert due_at([(DUE_AT_HEADER, b"0")], NOW, 30_000, NOW) == 0


def test_the_last_value_of_a_repeated_header_counts_and_an_oversized_one_is_not_read() -> None:
    repeated: Headers = [(ATTEMPTS_HEADER, b"2"), (ATTEMPTS_HEADER, b"3")]
    assert attempts_made(repeated, 1) == 3
    padded: Headers = [(ATTEMPTS_HEADER, b"0" * (MAX_HEADER_BYTES + 1) + b"2")]
    assert attempts_made(padded, 4) == 4


@pytest.mark.parametrize("value", [None, b"0", b"1001", b"two", b"\xff", b"-1"])
def test_a_missing_or_absurd_attempt_count_falls_back_to_the_level(value: bytes | None) -> None:
    headers: Headers = [] if value is None else [(ATTEMPTS_HEADER, value)]
    assert attempts_made(headers, 3) == 3


def test_headers_as_a_mapping_are_read_alike() -> None:
    assert attempts_made({ATTEMPTS_HEADER: "5"}, 1) == 5


@pytest.mark.parametrize(
    "value", [b"", b"topic", b"a b/0/1", b"t/x/1", b"t/0/1/2", "t\u00e9/0/1".encode(), b"\xff/0/1"]
)
def test_a_first_source_that_is_not_a_place_is_replaced_by_here(value: bytes) -> None:
    assert first_source([(FIRST_SOURCE_HEADER, value)], "here/0/7") == "here/0/7"
