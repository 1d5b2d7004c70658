"""Each command takes the flags of the settings it reads, and only those; the slices that hold
the settings keep every flat name, variable, default and error message."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from processor.cli import build_parser, main
from processor.cli.options import settings_from_args
from processor.errors import InvalidInput
from processor.settings import FIELDS, SLICES, Settings, load_settings


def _commands(parser: argparse.ArgumentParser, path: str = "") -> Iterator[tuple[str, object]]:
    """Each leaf command's name (``rules apply``) and parser."""
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not actions:
        yield path, parser
        return
    for name, sub in actions[0].choices.items():
        yield from _commands(sub, f"{path} {name}".strip())


COMMANDS = dict(_commands(build_parser()))


def _flags(command: str) -> set[str]:
    parser = COMMANDS[command]
    assert isinstance(parser, argparse.ArgumentParser)
    return {flag for action in parser._actions for flag in action.option_strings}


def _setting_flags(slice_name: str) -> set[str]:
    return {"--" + name.replace("_", "-") for name in SLICES[slice_name].model_fields}


def test_every_setting_lives_in_exactly_one_slice() -> None:
    names = [name for model in SLICES.values() for name in model.model_fields]
    assert len(names) == len(set(names)) == len(FIELDS)


@pytest.mark.parametrize(
    ("command", "read", "not_read"),
    [
        ("run", {"kafka", "topics", "processor", "geo", "metrics"}, {"delivery"}),
        ("deliver", {"kafka", "topics", "delivery", "metrics"}, {"processor", "geo"}),
        ("rules validate", {"rules"}, {"kafka", "topics", "delivery", "processor"}),
        ("rules lint", {"rules"}, {"kafka", "topics", "delivery", "processor"}),
        ("dry-run", {"rules"}, {"kafka", "topics", "delivery", "processor", "metrics"}),
        ("rules apply", {"kafka", "topics", "rules"}, {"delivery", "processor", "metrics"}),
        ("audit show", {"kafka", "registry", "topics"}, {"delivery", "processor", "rules"}),
        ("receipts", {"kafka", "registry", "topics"}, {"delivery", "processor", "rules"}),
    ],
)
def test_a_command_has_the_flags_of_the_slices_it_reads(
    command: str, read: set[str], not_read: set[str]
) -> None:
    flags = _flags(command)
    for slice_name in read:
        assert _setting_flags(slice_name) <= flags
    for slice_name in not_read:
        assert not _setting_flags(slice_name) & flags


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--smtp-host", "mail.internal"],
        ["deliver", "--partner", "crm-east", "--batch-size", "10"],
        ["rules", "validate", "--bootstrap-servers", "kafka:9092", "rules.yaml"],
    ],
)
def test_a_flag_the_command_does_not_read_is_bad_usage(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_flag_a_help_text_names_is_one_the_command_takes(command: str) -> None:
    parser = COMMANDS[command]
    assert isinstance(parser, argparse.ArgumentParser)
    text = f"{parser.description or ''}\n{parser.epilog or ''}"
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]+", text))
    assert named <= _flags(command)


def test_a_variable_of_a_slice_the_command_does_not_read_is_ignored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LEAD_ROUTER_SMTP_PORT", "not a port")
    rules_file = tmp_path / "rules.yaml"
    args = build_parser().parse_args(["rules", "validate", str(rules_file)])
    assert settings_from_args(args).rules.rules_max_bytes == SLICES["rules"]().rules_max_bytes
    with pytest.raises(InvalidInput, match="--smtp-port / LEAD_ROUTER_SMTP_PORT"):
        settings_from_args(build_parser().parse_args(["deliver", "--partner", "crm-east"]))


def test_flat_names_go_to_their_slices() -> None:
    settings = Settings(audit_topic="audit", bootstrap_servers="kafka:9092", smtp_port=2525)
    assert settings.topics.audit_topic == "audit"
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert settings.delivery.smtp_port == 2525
    changed = settings.with_changes(metrics_port=0, audit_topic="other")
    assert (changed.metrics.metrics_port, changed.topics.audit_topic) == (0, "other")
    assert changed.kafka is settings.kafka
    with pytest.raises(KeyError, match="no_such_setting"):
        settings.with_changes(no_such_setting=1)


def test_a_name_of_no_slice_is_refused_naming_it() -> None:
    with pytest.raises(InvalidInput, match="--no-such-setting / LEAD_ROUTER_NO_SUCH_SETTING"):
        load_settings({"no_such_setting": 1})


def test_invalid_variables_of_several_slices_are_all_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEAD_ROUTER_METRICS_PORT", "70000")
    monkeypatch.setenv("LEAD_ROUTER_BATCH_SIZE", "0")
    with pytest.raises(InvalidInput) as raised:
        load_settings()
    assert "--metrics-port / LEAD_ROUTER_METRICS_PORT" in str(raised.value)
    assert "--batch-size / LEAD_ROUTER_BATCH_SIZE" in str(raised.value)


def test_the_environment_of_settings_gives_them_back(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(audit_topic="audit", sasl_password="secret", metrics_port=0)
    env = settings.environment()
    assert env["LEAD_ROUTER_SASL_PASSWORD"] == "secret"
    assert "LEAD_ROUTER_TRANSACTIONAL_ID" not in env  # none: the default stays the default
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings() == settings
