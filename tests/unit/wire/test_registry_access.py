"""The schema registry client gets the settings' basic authentication and TLS.

A registry of the test's own over HTTPS asks for a password and a client certificate, as a
secured registry does; a codec built from the settings, as every command builds one, gets in,
and one without either is refused.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import trustme

from processor.errors import InvalidInput
from processor.settings import Settings, load_settings
from processor.wire import Codec, EncodeError

USER_INFO = "lead-router:registry-secret"
TOPIC = "leads.submitted"


@dataclass(frozen=True)
class SecuredRegistry:
    url: str
    ca: Path
    certificate: Path
    key: Path

    def settings(self, **changes: Any) -> Settings:
        """Settings that pass every check of this registry, but for ``changes``."""
        values: dict[str, Any] = {
            "schema_registry_url": self.url,
            "schema_registry_basic_auth_user_info": USER_INFO,
            "schema_registry_ssl_ca_location": self.ca,
            "schema_registry_ssl_certificate_location": self.certificate,
            "schema_registry_ssl_key_location": self.key,
        }
        return Settings(**(values | changes))


class _Registry(BaseHTTPRequestHandler):
    """Registers one schema as id 1 and gives it back, for callers with the password."""

    schemas: ClassVar[dict[int, str]]

    def do_POST(self) -> None:
        if self._authorised():
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self.schemas[1] = body["schema"]
            self._reply(200, {"id": 1})

    def do_GET(self) -> None:
        if self._authorised():
            self._reply(200, {"schema": self.schemas[int(self.path.split("?")[0].split("/")[-1])]})

    def _authorised(self) -> bool:
        expected = "Basic " + base64.b64encode(USER_INFO.encode()).decode()
        if self.headers.get("Authorization") == expected:
            return True
        self._reply(401, {"error_code": 40101, "message": "Unauthorized"})
        return False

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def secured_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredRegistry]:
    folder = tmp_path_factory.mktemp("registry-tls")
    ca = trustme.CA()
    client = ca.issue_cert("lead-router")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    client.cert_chain_pems[0].write_to_path(str(folder / "client.pem"))
    client.private_key_pem.write_to_path(str(folder / "client.key"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: no client certificate, no connection
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Registry,), {"schemas": {}}))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield SecuredRegistry(
            f"https://127.0.0.1:{server.server_address[1]}",
            folder / "ca.pem",
            folder / "client.pem",
            folder / "client.key",
        )
    finally:
        server.shutdown()
        server.server_close()


def codec(settings: Settings) -> Codec:
    return Codec.for_registry(settings.registry)


def test_the_client_config_carries_authentication_and_tls(
    secured_registry: SecuredRegistry,
) -> None:
    settings = secured_registry.settings()
    assert settings.registry.schema_registry_config() == {
        "basic.auth.user.info": USER_INFO,
        "ssl.ca.location": str(secured_registry.ca),
        "ssl.certificate.location": str(secured_registry.certificate),
        "ssl.key.location": str(secured_registry.key),
    }
    assert Settings().registry.schema_registry_config() == {}


def test_the_password_is_never_shown(secured_registry: SecuredRegistry) -> None:
    settings = secured_registry.settings()
    assert "registry-secret" not in repr(settings)
    assert "registry-secret" not in str(settings.model_dump())


def test_a_codec_from_the_settings_gets_through_tls_and_basic_auth(
    secured_registry: SecuredRegistry, lead: dict[str, Any]
) -> None:
    data = codec(secured_registry.settings()).encode(TOPIC, "LeadSubmitted", lead)
    assert data[:5] == b"\x00\x00\x00\x00\x01"  # registry framing, schema id 1
    assert codec(secured_registry.settings()).decode(TOPIC, data) == lead


@pytest.mark.parametrize(
    "missing",
    ["schema_registry_basic_auth_user_info", "schema_registry_ssl_certificate_location"],
)
def test_without_the_password_or_the_certificate_the_registry_refuses(
    secured_registry: SecuredRegistry, lead: dict[str, Any], missing: str
) -> None:
    changes: dict[str, Any] = {missing: None}
    if missing == "schema_registry_ssl_certificate_location":
        changes["schema_registry_ssl_key_location"] = None
    with pytest.raises(EncodeError) as refused:
        codec(secured_registry.settings(**changes)).encode(TOPIC, "LeadSubmitted", lead)
    assert refused.value.reason == "registry-unavailable"
    assert "registry-secret" not in str(refused.value)


def test_a_user_info_without_a_colon_names_its_setting_and_not_its_value() -> None:
    with pytest.raises(InvalidInput, match="--schema-registry-basic-auth-user-info") as raised:
        load_settings({"schema_registry_basic_auth_user_info": "no-colon-secret"})
    assert "no-colon-secret" not in str(raised.value)


def test_a_tls_file_that_is_not_there_names_its_setting(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"--schema-registry-ssl-ca-location.*no such file"):
        load_settings({"schema_registry_ssl_ca_location": tmp_path / "ca.pem"})


@pytest.mark.parametrize("case", ["a key without its certificate", "a CA file that is not one"])
def test_tls_settings_the_client_cannot_use_are_a_clear_error(
    secured_registry: SecuredRegistry, tmp_path: Path, case: str
) -> None:
    not_a_certificate = tmp_path / "notes.txt"
    not_a_certificate.write_text("not a certificate\n")
    changes: dict[str, Any] = (
        {"schema_registry_ssl_certificate_location": None}
        if case == "a key without its certificate"
        else {"schema_registry_ssl_ca_location": not_a_certificate}
    )
    with pytest.raises(InvalidInput, match="schema registry settings"):
        codec(secured_registry.settings(**changes))


def test_a_password_in_the_registry_url_is_not_repeated_in_an_error() -> None:
    with pytest.raises(InvalidInput, match="schema registry settings") as raised:
        codec(Settings(schema_registry_url="ftp://lead-router:url-secret@registry"))
    assert "url-secret" not in str(raised.value)
