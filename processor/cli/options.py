"""Command-line flags made from the settings model, so that each setting is declared once."""

from __future__ import annotations

import argparse
import typing
from collections.abc import Collection
from typing import Any

from processor.settings import ENV_PREFIX, Settings, load_settings

_PREFIX = "setting_"

RULES_LIMITS = tuple(name for name in Settings.model_fields if name.startswith("rules_max_"))
"""The settings that bound a rules document: every command that reads one takes them."""


def add_settings_flags(parser: argparse.ArgumentParser, only: Collection[str] = ()) -> None:
    """Adds one ``--flag`` per setting (or per setting named in ``only``); each names its
    ``LEAD_ROUTER_*`` variable and default."""
    group = parser.add_argument_group(
        "settings", f"each flag can also be set by its {ENV_PREFIX}* environment variable"
    )
    for name, field in Settings.model_fields.items():
        if only and name not in only:
            continue
        default = field.default
        shown = "none" if default is None else default
        choices = _choices(field.annotation)
        group.add_argument(
            "--" + name.replace("_", "-"),
            dest=_PREFIX + name,
            default=argparse.SUPPRESS,
            choices=choices,
            metavar=None if choices else name.split("_")[-1].upper(),
            help=f"{field.description} [{ENV_PREFIX}{name.upper()}; default: {shown}]",
        )


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The settings: flags given on the command line, then environment, then defaults."""
    overrides: dict[str, Any] = {
        key.removeprefix(_PREFIX): value
        for key, value in vars(args).items()
        if key.startswith(_PREFIX)
    }
    return load_settings(overrides)


def _choices(annotation: Any) -> list[str] | None:
    if typing.get_origin(annotation) is typing.Literal:
        return [str(choice) for choice in typing.get_args(annotation)]
    return None
