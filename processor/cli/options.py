"""Command-line flags made from the settings slices, so that each setting is declared once.

A command shows and accepts the flags of the slices it reads and no others: ``run --smtp-host`` is
an unknown flag, not a setting silently ignored. The variables of the slices it does not read are
not read either, so a value there that another command would refuse does not stop this one.
"""

from __future__ import annotations

import argparse
import typing
from collections.abc import Collection
from typing import Any

from processor.settings import ENV_PREFIX, SLICES, Settings, load_settings

_PREFIX = "setting_"
_READ = "settings_read"


def add_settings_flags(parser: argparse.ArgumentParser, slices: Collection[str]) -> None:
    """Adds one ``--flag`` per setting of these slices (names of ``settings.SLICES``), each
    naming its ``LEAD_ROUTER_*`` variable and default, and remembers the slices for
    ``settings_from_args``."""
    parser.set_defaults(**{_READ: tuple(slices)})
    group = parser.add_argument_group(
        "settings", f"each flag can also be set by its {ENV_PREFIX}* environment variable"
    )
    for slice_name in slices:
        for name, field in SLICES[slice_name].model_fields.items():
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
    """The settings of the command's slices: flags given on the command line, then environment,
    then defaults."""
    overrides: dict[str, Any] = {
        key.removeprefix(_PREFIX): value
        for key, value in vars(args).items()
        if key.startswith(_PREFIX)
    }
    return load_settings(overrides, getattr(args, _READ))


def _choices(annotation: Any) -> list[str] | None:
    if typing.get_origin(annotation) is typing.Literal:
        return [str(choice) for choice in typing.get_args(annotation)]
    return None
