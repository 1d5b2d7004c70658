"""Signing in and out. Failed sign-ins are limited per user name and per client address."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from processor.console.web import csrf
from processor.console.web.context import ConsoleContext
from processor.console.web.templating import render

MAX_NAME_CHARS = 64


def _next(value: object) -> str:
    """Where to go after signing in: a path of this site only, never another site."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value[:2000]
    return "/routing"


async def login_page(request: Request) -> Response:
    return render(request, "login.html", {"next": _next(request.query_params.get("next"))})


async def login(request: Request) -> Response:
    context: ConsoleContext = request.app.state.context
    form = await request.form()
    name = str(form.get("username") or "")[:MAX_NAME_CHARS].strip()
    password = str(form.get("password") or "")
    wanted = _next(form.get("next"))
    client = request.client.host if request.client else "unknown"
    keys = (f"user:{name.lower()}", f"address:{client}")
    if not context.limiter.allowed(keys):
        return render(
            request,
            "login.html",
            {"next": wanted, "error": "Too many failed sign-ins. Try again in a few minutes."},
            status_code=429,
        )
    user = context.users.authenticate(name, password)
    if user is None:
        context.limiter.failed(keys)
        return render(
            request,
            "login.html",
            {"next": wanted, "error": "Wrong user name or password.", "username": name},
            status_code=401,
        )
    context.limiter.succeeded(keys)
    request.session.clear()  # a new session: nothing of the anonymous one carries over
    request.session.update({"user": user.name, "at": time.time()})
    csrf.token(request)
    return RedirectResponse(wanted, status_code=303)


async def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


routes = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
