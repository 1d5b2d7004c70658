"""Cross-site request forgery: no request that changes anything is taken without the form's token.

Each session holds a random token; every form that posts carries it in a hidden field
(``csrf_token``), or a script sends it in the ``X-CSRF-Token`` header. ``build_app`` wraps every
endpoint that takes a method other than GET and HEAD with :func:`checked`, so a page added later
cannot forget it. A request whose ``Origin`` names another site is refused too.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

FIELD = "csrf_token"
HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Endpoint = Callable[[Request], Awaitable[Response]]


def token(request: Request) -> str:
    """This session's token, made on first use."""
    value = request.session.get(FIELD)
    if not isinstance(value, str):
        value = secrets.token_urlsafe(32)
        request.session[FIELD] = value
    return value


async def refusal(request: Request) -> str | None:
    """Why this request may not change anything (None when it may)."""
    if request.method in SAFE_METHODS:
        return None
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        return "the request came from another site"
    expected = request.session.get(FIELD)
    given = request.headers.get(HEADER)
    if given is None:
        form = await request.form()
        value = form.get(FIELD)
        given = value if isinstance(value, str) else None
    if not isinstance(expected, str) or not given:
        return "the form's security token is missing: reload the page and try again"
    if not hmac.compare_digest(expected.encode(), given.encode()):
        return "the form's security token does not match: reload the page and try again"
    return None


def checked(endpoint: Endpoint, refused: Callable[[Request, str], Awaitable[Response]]) -> Endpoint:
    """``endpoint``, answering ``refused(request, why)`` instead when the token does not hold."""

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        why = await refusal(request)
        if why is not None:
            return await refused(request, why)
        return await endpoint(request)

    return guarded
