"""``file://`` destinations: one file per delivery, named by its delivery id, inside DELIVERIES_DIR.

``file://deliveries/east`` (what the demo's rules use) names a folder relative to the
``DELIVERIES_DIR`` setting: the URI's host part is the first folder of the relative path.
``file:///srv/leads/east`` and ``file://localhost/srv/leads/east`` are absolute, as RFC 8089 says.

Every folder must lie inside ``DELIVERIES_DIR`` once resolved (``..`` steps and symbolic links
followed): ``file://../../etc``, an absolute folder elsewhere, or a link out of the folder is
refused, so that no rules document (nor anything else) makes the worker write where it should not.

A file is written under a temporary name and renamed into place, so a reader never sees half a
payload; writing a delivery again replaces its file with the same bytes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from processor.delivery.outcome import Refused, Unavailable
from processor.delivery.parcel import Parcel

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""What a delivery id must look like to become a file name (lead-router's ids are UUIDs)."""

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
"""How the temporary file is opened: never through a symbolic link planted in its place."""


def folder_of(uri: str, base: Path) -> Path:
    """The folder a ``file://`` URI names, relative ones under ``base``."""
    parts = urlsplit(uri)
    path = unquote(parts.path)
    if parts.netloc in ("", "localhost"):
        return Path(path)
    return base / parts.netloc / path.lstrip("/")


def confined(folder: Path, base: Path) -> Path:
    """``folder`` resolved (``..`` and symbolic links followed); ``Refused`` unless it lies inside
    ``base``, resolved the same way."""
    try:
        root = base.resolve()
        resolved = folder.resolve()
    except (OSError, RuntimeError, ValueError):  # a loop of symbolic links; a NUL in the path
        raise Refused("the folder cannot be resolved") from None
    if not resolved.is_relative_to(root):
        raise Refused("the folder is outside DELIVERIES_DIR")
    return resolved


class FileDestination:
    def __init__(self, uri: str, base: Path) -> None:
        parts = urlsplit(uri)
        if not parts.netloc and not parts.path:
            raise Refused("a file: destination without a folder")
        self._base = base
        self._folder = confined(folder_of(uri, base), base)

    def send(self, parcel: Parcel) -> str:
        if not SAFE_NAME.fullmatch(parcel.delivery_id):
            raise Refused("the delivery id is not a safe file name")
        name = f"{parcel.delivery_id}.{parcel.extension}"
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            # Again once it exists: a link may have been put in its way since the first look.
            folder = confined(self._folder, self._base)
            partial = folder / f".{name}.partial"
            descriptor = os.open(partial, _CREATE, 0o644)
            with os.fdopen(descriptor, "wb") as out:
                out.write(parcel.body)
            os.replace(partial, folder / name)
        except OSError as error:
            raise Unavailable(f"cannot write: {error.strerror or error}") from None
        return "written"
