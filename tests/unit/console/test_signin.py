"""Nobody gets in anonymously; a sign-in is rate limited; no write without the CSRF token."""

from __future__ import annotations

import pytest
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.testclient import TestClient

from processor.console.web.app import build_app
from processor.console.web.context import ConsoleContext
from tests.unit.console.conftest import PASSWORDS, csrf_of, post_login, sign_in


def test_an_anonymous_request_is_sent_to_the_sign_in_page(client: TestClient) -> None:
    answer = client.get("/logs?partner=crm-east", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Flogs%3Fpartner%3Dcrm-east"
    assert "Sign in" in client.get(answer.headers["location"]).text


def test_an_anonymous_write_is_sent_to_the_sign_in_page_too(client: TestClient) -> None:
    answer = client.post("/logout", data={"csrf_token": "x"}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_signing_in_leads_where_asked_and_signing_out_ends_the_session(client: TestClient) -> None:
    answer = post_login(client, "vic", PASSWORDS["vic"], then="/health")
    assert answer.status_code == 303 and answer.headers["location"] == "/health"
    cookie = answer.headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    token = csrf_of(client, "/test")
    client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert client.get("/test", follow_redirects=False).status_code == 303


def test_a_sign_in_never_leads_to_another_site(client: TestClient) -> None:
    answer = post_login(client, "ana", PASSWORDS["ana"], then="//evil.example/")
    assert answer.headers["location"] == "/routing"


def test_a_wrong_password_says_so_without_telling_which_part_was_wrong(client: TestClient) -> None:
    wrong_password = post_login(client, "ana", "nope")
    no_such_user = post_login(client, "zoe", "nope")
    assert wrong_password.status_code == no_such_user.status_code == 401
    assert "Wrong user name or password." in wrong_password.text
    assert "Wrong user name or password." in no_such_user.text


def test_failed_sign_ins_are_limited_even_with_the_right_password_after(client: TestClient) -> None:
    for _ in range(3):  # the tests' limit
        post_login(client, "ana", "x")
    answer = post_login(client, "ana", PASSWORDS["ana"])
    assert answer.status_code == 429 and "Too many failed sign-ins" in answer.text


def test_a_sign_in_without_the_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/login")
    answer = client.post("/login", data={"username": "ana", "password": PASSWORDS["ana"]})
    assert answer.status_code == 403 and "security token is missing" in answer.text


def test_a_write_with_a_wrong_token_or_from_another_site_is_refused(client: TestClient) -> None:
    sign_in(client, "ana")
    wrong = client.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert wrong.status_code == 403 and "does not match" in wrong.text
    token = csrf_of(client, "/test")
    elsewhere = client.post(
        "/logout",
        data={"csrf_token": token},
        headers={"origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert elsewhere.status_code == 403 and "another site" in elsewhere.text
    assert client.get("/test", follow_redirects=False).status_code == 200  # still signed in


def test_every_page_carries_the_security_headers(client: TestClient) -> None:
    headers = client.get("/login").headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"


def test_a_body_larger_than_the_console_takes_is_refused_before_it_is_read(
    client: TestClient,
) -> None:
    token = csrf_of(client)
    huge = "x" * (3 * 3 * 1024 * 1024 + 65 * 1024)
    answer = client.post("/login", data={"username": "ana", "password": huge, "csrf_token": token})
    assert answer.status_code == 413 and "larger than the console takes" in answer.text


class _Endpoint(HTTPEndpoint):
    async def post(self, request: Request) -> Response:
        return PlainTextResponse("written")


@pytest.mark.parametrize(
    "route",
    [
        Route("/anything", _Endpoint),  # a class endpoint takes every method
        Mount("/files", app=PlainTextResponse("written")),
        WebSocketRoute("/live", _Endpoint),
    ],
)
def test_a_route_the_csrf_check_cannot_wrap_stops_the_console_at_start(
    context: ConsoleContext, route: BaseRoute
) -> None:
    with pytest.raises(TypeError, match="CSRF check"):
        build_app(context, routes=[route])
