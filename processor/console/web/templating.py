"""The templates, and ``render``: every page gets the user, the CSRF token and the navigation."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from processor.console.web import csrf

NAV = (
    ("/routing", "Routing"),
    ("/test", "Test a lead"),
    ("/logs", "Distribution logs"),
    ("/receipts", "Receipts"),
    ("/health", "Health"),
)

templates = Jinja2Templates(directory=str(resources.files("processor.console.web") / "templates"))


def _when(ms: int | None) -> str:
    """Epoch milliseconds as a UTC time people read."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _lead_url(lead_id: str) -> str:
    """The lead page's address; a lead id is publisher input and may hold ``/``, ``?`` or ``#``."""
    return "/leads/" + quote(lead_id, safe="")


templates.env.filters["when"] = _when
templates.env.filters["lead_url"] = _lead_url


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> Response:
    """``name`` rendered with ``context`` and what every page shows."""
    user = getattr(request.state, "user", None)
    shared = {
        "user": user,
        "csrf_token": csrf.token(request),
        "nav": NAV,
        "path": request.url.path,
    }
    response = templates.TemplateResponse(
        request, name, {**shared, **(context or {})}, status_code=status_code
    )
    response.headers["Cache-Control"] = "no-store"
    return response
