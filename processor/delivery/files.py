"""``file://`` destinations: one file per delivery, named by its delivery id.

``file:///var/leads/east`` is an absolute folder. ``file://deliveries/east`` (what the demo's rules
use) names a folder relative to the ``DELIVERIES_DIR`` setting: the URI's host part is the first
folder of the relative path. ``file://localhost/...`` is absolute, as RFC 8089 says.

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


def folder_of(uri: str, base: Path) -> Path:
    """The folder a ``file://`` URI names, relative ones under ``base``."""
    parts = urlsplit(uri)
    path = unquote(parts.path)
    if parts.netloc in ("", "localhost"):
        return Path(path)
    return base / parts.netloc / path.lstrip("/")


class FileDestination:
    def __init__(self, uri: str, base: Path) -> None:
        parts = urlsplit(uri)
        if not parts.netloc and not parts.path:
            raise Refused("a file: destination without a folder")
        self._folder = folder_of(uri, base)

    def send(self, parcel: Parcel) -> str:
        if not SAFE_NAME.fullmatch(parcel.delivery_id):
            raise Refused("the delivery id is not a safe file name")
        name = f"{parcel.delivery_id}.{parcel.extension}"
        target = self._folder / name
        partial = self._folder / f".{name}.partial"
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(parcel.body)
            os.replace(partial, target)
        except OSError as error:
            raise Unavailable(f"cannot write: {error.strerror or error}") from None
        return "written"
