"""The console's drafts on the real broker: apply as an editor, a stale draft refused, what-if.

The console follows the config topic as it does in production (a rules watch thread); an editor
signs in and works through the pages, and the history topic is the proof of what was applied.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine
from starlette.testclient import TestClient
from streamkit import apply_rules, publish, reading, running
from test_replay import V1, V2, batch

from processor.console.rules_watch import RulesWatch
from processor.console.web.app import build_app
from processor.console.web.auth import LoginLimiter, Users, hash_password
from processor.console.web.context import ConsoleContext
from processor.settings import Settings
from tests.unit.console.conftest import PASSWORDS, csrf_of, sign_in

pytestmark = pytest.mark.integration


def until(condition: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        time.sleep(0.05)


@pytest.fixture
def console(stream_settings: Settings, tmp_path: object) -> Iterator[tuple[TestClient, RulesWatch]]:
    """The console of ``stream_settings``' topics, signed in as the editor ana."""
    watch = RulesWatch(stream_settings)
    watch.start()
    users = Users.parse(f"ana:editor:{hash_password(PASSWORDS['ana'])}", "test users")
    context = ConsoleContext(
        settings=stream_settings,
        engine=create_engine(f"sqlite:///{tmp_path}/console.sqlite3"),
        users=users,
        rules=watch,
        limiter=LoginLimiter(5),
        secret_key="a key for tests only",
    )
    try:
        with TestClient(build_app(context), base_url="https://console.test") as client:
            sign_in(client, "ana")
            yield client, watch
    finally:
        watch.stop()


def post(client: TestClient, action: str, **fields: str) -> tuple[int, str]:
    data = {"csrf_token": csrf_of(client, "/draft"), **fields}
    answer = client.post(f"/draft/{action}", data=data)
    return answer.status_code, html.unescape(answer.text)


def in_force(watch: RulesWatch, version: str) -> Callable[[], bool]:
    return lambda: watch.config.in_force is not None and watch.config.in_force.version == version


def test_an_editor_applies_a_draft_and_a_stale_one_is_refused(
    stream_settings: Settings, console: tuple[TestClient, RulesWatch]
) -> None:
    client, watch = console
    assert apply_rules(stream_settings, V1) == "1"
    until(in_force(watch, "1"), "version 1 in force in the console")
    page = html.unescape(client.get("/draft").text)
    assert "id: buyer-a" in page and "The rules in force (version 1)" in page

    status, page = post(client, "apply", draft_text=V2, based_on="1")
    assert status == 200, page
    assert "Version 2 applied." in page
    history = html.unescape(client.get("/routing/history").text)
    row = history.split('id="version-2"', 1)[1].split("</tr>", 1)[0]
    assert "ana (console)@" in row
    assert "~2 assignments" in row
    diff = html.unescape(client.get("/routing/diff", params={"a": "1", "b": "2"}).text)
    assert "profile market / assignment b" in diff and "price" in diff

    # ana starts a draft on version 2; someone else applies version 3 meanwhile.
    until(in_force(watch, "2"), "version 2 in force in the console")
    stale = V2.replace("price: 30", "price: 35")
    assert post(client, "save", draft_text=stale, based_on="2")[0] == 200
    assert apply_rules(stream_settings, V1) == "3"
    until(in_force(watch, "3"), "version 3 in force in the console")
    status, page = post(client, "apply", draft_text=stale)
    assert status == 409
    assert "Version 3 is in force now, not 2: review the" in page
    assert 'href="/routing/diff?a=2&b=live"' in page
    history = html.unescape(client.get("/routing/history").text)
    assert 'id="version-4"' not in history, "nothing was written"


def test_what_if_shows_the_leads_a_draft_would_decide_otherwise(
    stream_settings: Settings, console: tuple[TestClient, RulesWatch]
) -> None:
    client, watch = console
    apply_rules(stream_settings, V1)
    leads = batch(40, "console")
    topic = stream_settings.topics.audit_topic
    with reading(stream_settings, topic, "RoutingDecision") as audit, running(stream_settings):
        publish(stream_settings, leads)
        audit.wait_for(len(leads))
    until(in_force(watch, "1"), "version 1 in force in the console")

    status, page = post(client, "what-if", draft_text=V2, based_on="1", span="1h")
    assert status == 200, page
    changes = page.split('id="what-if-changes"', 1)[1].split("</table>", 1)[0]
    changed = {lead["lead_id"] for lead in leads if f">{lead['lead_id']}</a>" in changes}
    assert changed, "V2 prices buyer-b higher and lets buyer-c take more budgets"
    shown = page.split('id="what-if-changed">', 1)[1].split("<", 1)[0]
    assert int(shown) == len(changed)
    assert "40 leads replayed" in page

    # Out of time (the budget spent before its first read), it stops and says so; the next runs.
    context = client.app.state.context  # type: ignore[attr-defined]
    hurried = stream_settings.console.model_copy(update={"console_what_if_timeout_s": 1e-9})
    context.settings = stream_settings.model_copy(update={"console": hurried})
    status, page = post(client, "what-if", draft_text=V2, based_on="1", span="1h")
    assert status == 400
    assert "the what-if stopped after 1e-09 s: try a shorter span" in page
    context.settings = stream_settings
    status, page = post(client, "what-if", draft_text=V2, based_on="1", span="1h")
    assert status == 200 and "40 leads replayed" in page
