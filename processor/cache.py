"""Where lead-router keeps what it downloads: Kafka jars, the IP database.

Outside the repository so that a fresh clone reuses what an earlier one fetched, and so that
deleting the folder is the one way to start cold.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``LEAD_ROUTER_CACHE_DIR``, else ``$XDG_CACHE_HOME/lead-router``, else ``~/.cache/...``."""
    explicit = os.environ.get("LEAD_ROUTER_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "lead-router"
