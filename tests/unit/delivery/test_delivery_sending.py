"""Sending to one destination URI: which destination, how it is shown, and the retries."""

from __future__ import annotations

from pathlib import Path

import pytest
from deliveryrecords import PARCEL

from processor.delivery.files import FileDestination
from processor.delivery.http import HttpDestination
from processor.delivery.mail import MailDestination
from processor.delivery.outcome import Outcome, Refused, overall
from processor.delivery.sending import describe, destination_for, send
from processor.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(deliveries_dir=tmp_path, delivery_attempts=4, delivery_backoff_ms=100)


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        ("https://crm.example/hook", HttpDestination),
        ("HTTP://crm.example/hook", HttpDestination),
        ("mailto:leads@east.example", MailDestination),
        ("file://deliveries/east", FileDestination),
    ],
)
def test_the_scheme_picks_the_destination(settings: Settings, uri: str, kind: type) -> None:
    assert isinstance(destination_for(uri, settings.delivery), kind)


@pytest.mark.parametrize(
    "uri",
    [
        "ftp://crm.example/in",
        "crm.example/hook",
        "",
        "mailto:",
        "file://",
        "https://",
        "http://crm.example:http/hook",
        "http://crm.example:99999/hook",
        "http://[::1/hook",
    ],
)
def test_a_destination_the_worker_cannot_use_is_refused(settings: Settings, uri: str) -> None:
    with pytest.raises(Refused):
        destination_for(uri, settings.delivery)
    outcome = send(uri, PARCEL, settings.delivery, [].append)
    assert (outcome.status, outcome.attempts) == ("rejected", 0)


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("https://user:secret@crm.example:8443/hook?token=abc#x", "https://crm.example:8443/hook"),
        ("http://crm.example", "http://crm.example"),
        (
            "mailto:jane.doe@east.example,bdc@west.example",
            "mailto:...@east.example,...@west.example",
        ),
        ("file://deliveries/east", "file://deliveries/east"),
        ("ftp://user:pw@host/x", "ftp:..."),
        ("http://[::1/x", "(not a valid URI)"),
        ("", "(not a URI)"),
    ],
)
def test_receipts_and_logs_show_no_secrets_and_no_mailbox_names(uri: str, shown: str) -> None:
    assert describe(uri) == shown


def test_a_destination_that_takes_it_at_once(settings: Settings, tmp_path: Path) -> None:
    waits: list[float] = []
    outcome = send("file://out", PARCEL, settings.delivery, waits.append)
    assert outcome == Outcome("file://out", "delivered", "written", 1)
    assert waits == []
    assert (tmp_path / "out" / f"{PARCEL.delivery_id}.txt").exists()


def test_temporary_failures_are_retried_with_doubling_waits(
    settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "blocked").write_text("a file where the folder should be")
    waits: list[float] = []
    outcome = send("file://blocked/sub", PARCEL, settings.delivery, waits.append)
    assert outcome.status == "failed"
    assert outcome.attempts == 4
    assert outcome.answer.startswith("cannot write")
    assert waits == [0.1, 0.2, 0.4]


def test_a_mail_that_cannot_be_written_is_rejected(settings: Settings) -> None:
    outcome = send("mailto:a@x.example%0D%0ABcc:b@y.example", PARCEL, settings.delivery, [].append)
    assert (outcome.status, outcome.attempts) == ("rejected", 1)
    assert outcome.answer.startswith("cannot write the mail")


def test_a_fault_of_the_worker_fails_the_delivery_and_lets_the_others_go_on(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: FileDestination, parcel: object) -> str:
        raise KeyError("a bug")

    monkeypatch.setattr(FileDestination, "send", broken)
    outcome = send("file://out", PARCEL, settings.delivery, [].append)
    assert (outcome.status, outcome.answer, outcome.attempts) == (
        "failed",
        "worker error: KeyError",
        1,
    )


def test_a_stop_while_waiting_abandons_the_delivery(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("")

    class Stop(BaseException):
        pass

    def stop(seconds: float) -> None:
        raise Stop

    with pytest.raises(Stop):
        send("file://blocked/sub", PARCEL, settings.delivery, stop)


@pytest.mark.parametrize(
    ("statuses", "status"),
    [
        (["delivered", "delivered"], "delivered"),
        (["delivered", "failed", "rejected"], "failed"),
        (["delivered", "rejected"], "rejected"),
        ([], "rejected"),
    ],
)
def test_a_delivery_is_delivered_only_when_every_destination_took_it(
    statuses: list[str], status: str
) -> None:
    outcomes = [Outcome("x", s, "answer", 1) for s in statuses]
    assert overall(outcomes) == status


def test_an_outcome_reads_as_where_and_what() -> None:
    assert str(Outcome("https://a.example/h", "failed", "HTTP 503", 3)) == (
        "https://a.example/h: HTTP 503 after 3 tries"
    )
    assert str(Outcome("file://x", "delivered", "written", 1)) == "file://x: written"
