"""The console as an ASGI application: sign-in, sessions, CSRF, security headers, then the pages.

Nobody gets in anonymously: every path but the sign-in page and the static files needs a session
naming a user that the users file or variable still lists. Every endpoint that changes anything is
wrapped with the CSRF check here, whatever page module declares it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from processor.console.web import csrf
from processor.console.web.context import ConsoleContext
from processor.console.web.pages import draft, health, logs, receipts, routing, signin, testlead
from processor.console.web.templating import render

OPEN_PATHS = frozenset({"/login"})
SESSION_COOKIE = "lead_router_console"
TOO_LARGE = "The request is larger than the console takes."

SECURITY_HEADERS = {
    # Pages are rendered on the server; scripts and styles come from /static only.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def page_routes() -> list[BaseRoute]:
    """Every page's routes, in the order of the navigation."""
    return [
        *signin.routes,
        *routing.routes,
        *testlead.routes,
        *draft.routes,
        *logs.routes,
        *receipts.routes,
        *health.routes,
    ]


def build_app(context: ConsoleContext, routes: Sequence[BaseRoute] | None = None) -> Starlette:
    """The application serving ``routes`` (every page's when None) for ``context``."""
    settings = context.settings.console
    guarded = [_guarded(route) for route in (page_routes() if routes is None else routes)]
    app = Starlette(
        routes=[
            Route("/", _home),
            *guarded,
            Mount("/static", StaticFiles(packages=[("processor.console.web", "static")])),
        ],
        middleware=[
            Middleware(_BodyLimit, limit=body_limit(context)),
            Middleware(_SecurityHeaders),
            Middleware(
                SessionMiddleware,
                secret_key=context.secret_key,
                session_cookie=SESSION_COOKIE,
                max_age=settings.console_session_hours * 3600,
                same_site="strict",
                https_only=settings.console_cookie_secure,
            ),
            Middleware(_SignedIn),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    app.state.context = context
    return app


def body_limit(context: ConsoleContext) -> int:
    """The largest request body taken: a form carrying the largest rules document allowed,
    percent-encoded (up to three bytes a byte), and the form's other fields."""
    return 3 * context.settings.rules.rules_max_bytes + 64 * 1024


class _BodyLimit:
    """Refuses a request body larger than ``limit`` before anything parses it (413).

    A declared length is judged at once; a body without one is counted as it arrives. The CSRF
    check reads the form of every write, so without this a client could make it buffer any size.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self._app = app
        self._limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self._limit:
            await PlainTextResponse(TOO_LARGE, status_code=413)(scope, receive, send)
            return
        taken = 0

        async def counted() -> Message:
            nonlocal taken
            message = await receive()
            taken += len(message.get("body", b""))
            if taken > self._limit:
                raise HTTPException(413, TOO_LARGE)
            return message

        await self._app(scope, counted, send)


def _guarded(route: BaseRoute) -> BaseRoute:
    """``route`` with the CSRF check around its endpoint when it takes a method that writes.

    Only a function endpoint with its methods named can be wrapped: a mount, a websocket or a
    class endpoint (which takes every method) would let writes past the check, so a page that
    declares one stops the console at start rather than serve it unguarded."""
    if not isinstance(route, Route) or route.methods is None:
        raise TypeError(
            f"{getattr(route, 'path', route)!r}: pages declare Route(path, function, "
            "methods=[...]), which the CSRF check can wrap"
        )
    if route.methods - csrf.SAFE_METHODS:
        return Route(
            route.path,
            csrf.checked(route.endpoint, _forged),
            methods=list(route.methods),
            name=route.name,
        )
    return route


async def _home(request: Request) -> Response:
    return RedirectResponse("/routing", status_code=303)


class _SignedIn(BaseHTTPMiddleware):
    """Sets ``request.state.user``; sends anyone without a live session to the sign-in page."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        path = request.url.path
        if path in OPEN_PATHS or path.startswith("/static/"):
            return await call_next(request)
        context: ConsoleContext = request.app.state.context
        name = request.session.get("user")
        since = request.session.get("at")
        hours = context.settings.console.console_session_hours
        user = context.users.get(name) if isinstance(name, str) else None
        if user is None or not isinstance(since, int | float) or time.time() - since > hours * 3600:
            request.session.pop("user", None)
            wanted = path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(wanted, safe='')}", status_code=303)
        request.state.user = user
        return await call_next(request)


class _SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


async def _forged(request: Request, why: str) -> Response:
    return render(request, "error.html", {"title": "Refused", "message": why}, status_code=403)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    title = {403: "Not allowed", 404: "Not found", 405: "Not allowed", 413: "Too large"}.get(
        exc.status_code, "Error"
    )
    return render(
        request, "error.html", {"title": title, "message": exc.detail}, status_code=exc.status_code
    )


async def _server_error(request: Request, exc: Exception) -> Response:
    """A page that says something went wrong, never a traceback (the log has it)."""
    return render(
        request,
        "error.html",
        {"title": "Something went wrong", "message": "The console logged the error."},
        status_code=500,
    )


def require_editor(request: Request) -> None:
    """Stops a viewer at an editor's action with a page that says why."""
    user = getattr(request.state, "user", None)
    if user is None or not user.may_edit:
        raise HTTPException(403, "Only editors may do this; you are signed in as a viewer.")
