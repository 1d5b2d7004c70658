"""``rules history``, ``get``, ``diff`` and ``rollback`` on the real broker, as a user runs them.

Two versions applied, then: the history lists both with who applied them and when; ``get`` prints
a document that applies back as the same version; ``diff`` names the one field that changed;
``rollback`` restores a version as a new one, and writes nothing when it is in force already. What
else the history topic holds (junk, another config topic's versions) is skipped, never fatal.
"""

from __future__ import annotations

import getpass
import json
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from samples import RULES

from processor.cli import main
from processor.control.history import CONFIG_TOPIC_HEADER
from processor.control.publisher import publish_rules
from processor.control.records import canonical, digest_of
from processor.control.state import read_config
from processor.control.topics import ensure_config_topics
from processor.kafka.records import Headers
from processor.rules import document_to_parts, load_rules
from processor.rules.load import parse_text
from processor.rules.validate import validate_document
from processor.settings import Settings

pytestmark = pytest.mark.integration

CHANGED = RULES.replace("price: 30", "price: 45")

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def rules(
    stream_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Run]:
    """``lead-router rules ...`` in this process, with the test's settings in the environment:
    returns the exit code, what it printed and what it said on stderr."""
    for name, value in stream_settings.environment().items():
        monkeypatch.setenv(name, value)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["rules", *args])
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        return code, captured.out, captured.err

    yield run


def history(rules: Run) -> list[dict[str, Any]]:
    code, out, _ = rules("history", "--format", "json")
    assert code == 0
    shown: list[dict[str, Any]] = json.loads(out)
    return shown


def test_history_get_diff_and_rollback(
    rules: Run, stream_settings: Settings, tmp_path: Path
) -> None:
    first, second = tmp_path / "v1.yaml", tmp_path / "v2.yaml"
    first.write_text(RULES)
    second.write_text(CHANGED)
    assert history(rules) == []
    code, _, err = rules("get")
    assert code == 1 and "no rules version is in force on " in err
    started = datetime.now(UTC)
    assert rules("apply", str(first))[0] == 0
    assert rules("apply", str(second))[0] == 0
    applied = datetime.now(UTC)

    versions = history(rules)
    assert [v["version"] for v in versions] == ["1", "2"]
    assert [v["changes"] for v in versions] == ["first version", "~1 assignment"]
    assert [v["in_force"] for v in versions] == [False, True]
    for version in versions:
        assert (version["user"], version["host"]) == (getpass.getuser(), socket.gethostname())
        assert started <= datetime.fromisoformat(version["applied_at"]) <= applied
    v1_digest = digest_of(document_to_parts(load_rules(RULES)))
    assert versions[0]["digest"] == v1_digest
    # The history record's time is the version record's applied_at.
    in_force = read_config(stream_settings).in_force
    assert in_force is not None and versions[1]["applied_at"] == in_force.applied_at

    code, table, _ = rules("history")
    lines = table.splitlines()
    assert lines[0].split() == ["VERSION", "APPLIED", "(UTC)", "BY", "DIGEST", "CHANGES"]
    assert lines[1].startswith("1 ") and lines[1].endswith("first version")
    assert lines[2].startswith("2 *") and lines[2].endswith("~1 assignment")
    assert f"{getpass.getuser()}@{socket.gethostname()}" in lines[2]
    assert v1_digest[:12] in lines[1]
    assert lines[-1] == "* in force now"

    code, text, _ = rules("get", "--version", "1")
    assert code == 0
    assert text.startswith("# rules version 1 of ")
    assert digest_of(document_to_parts(validate_document(parse_text(text)))) == v1_digest
    code, live, _ = rules("get", "--format", "json")
    (tmp_path / "live.json").write_text(live)
    code, out, _ = rules("apply", str(tmp_path / "live.json"), "--format", "json")
    assert (code, json.loads(out)["unchanged"], json.loads(out)["version"]) == (0, True, "2")

    code, out, _ = rules("diff", "@1", "@2", "--format", "json")
    assert code == 1
    assert json.loads(out)["changes"] == [
        {
            "kind": "changed",
            "category": "assignment",
            "entity": "profile market / assignment a",
            "path": "price",
            "old": 30.0,
            "new": 45.0,
        }
    ]
    assert rules("diff", "@live", str(second))[0] == 0
    code, _, err = rules("diff", "@9", "@live")
    assert code == 2 and "no version 9 in " in err

    code, out, _ = rules("rollback", "2", "--expect-version", "1")
    assert code == 7
    assert rules("rollback", "1")[1] == "version 3 (equal to version 1) is in force now\n"
    versions = history(rules)
    assert [v["version"] for v in versions] == ["1", "2", "3"]
    assert versions[2]["digest"] == v1_digest
    assert [v["in_force"] for v in versions] == [False, False, True]

    # Version 1's text applied now finds it in force: nothing new.
    (tmp_path / "got.yaml").write_text(text)
    code, out, _ = rules("apply", str(tmp_path / "got.yaml"))
    assert out.endswith("no changes; version 3 stays in force\n")
    assert rules("rollback", "3")[1] == "version 3 is in force already: nothing was written\n"
    assert rules("rollback", "1")[1] == (
        "version 3 (equal to version 1) is in force already: nothing was written\n"
    )
    assert len(history(rules)) == 3
    code, out, _ = rules("history", "--limit", "1", "--format", "json")
    assert [v["version"] for v in json.loads(out)] == ["3"]
    code, _, err = rules("rollback", "9")
    assert code == 1 and "no version 9 in " in err and "versions 1 to 3" in err


def test_the_history_skips_what_is_not_this_topics_versions(
    rules: Run, stream_settings: Settings
) -> None:
    settings = stream_settings
    ensure_config_topics(settings)
    applied = publish_rules(settings, load_rules(RULES), applied_by="console:alice")
    assert applied.version == "1"
    config_topic = settings.topics.config_topic.encode()
    ours: tuple[str, str | bytes | None] = (CONFIG_TOPIC_HEADER, config_topic)
    theirs: tuple[str, str | bytes | None] = (CONFIG_TOPIC_HEADER, b"another-config-topic")
    valid = canonical(document_to_parts(load_rules(CHANGED)))
    junk: list[tuple[bytes, bytes | None, Headers]] = [
        (b"2", valid, []),  # no header: not a rules apply's record
        (b"3", valid, [theirs]),  # another config topic's version
        (b"latest", valid, [ours]),  # not a version number
        (b"4", b"\xff not json", [ours]),
        (b"5", b"[" * 100_000, [ours]),
        (b"6", b'{"partner/x": "not an object"}', [ours]),
        (b"7", None, [ours]),
    ]
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    for key, value, headers in junk:
        producer.produce(
            settings.topics.config_history_topic, key=key, value=value, headers=headers
        )
    assert producer.flush(30) == 0
    # A record of ours whose parts do not make valid rules is listed, but never printed.
    producer.produce(
        settings.topics.config_history_topic,
        key=b"8",
        value=b'{"profile/p": {"strategy": "random"}}',
        headers=[ours],
    )
    assert producer.flush(30) == 0

    versions = history(rules)
    assert [(v["version"], v["user"]) for v in versions] == [("1", "console:alice"), ("8", None)]
    assert versions[1]["changes"].startswith("does not validate (")
    code, _, err = rules("get", "--version", "8")
    assert code == 1 and "version 8 in " in err and "does not validate" in err
    for missing in ("2", "3", "4", "5", "6", "7"):
        code, _, err = rules("get", "--version", missing)
        assert code == 1 and f"no version {missing} in " in err
    code, out, _ = rules("get")
    assert code == 0
    assert document_to_parts(validate_document(parse_text(out))) == document_to_parts(
        load_rules(RULES)
    )
