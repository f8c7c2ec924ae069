"""The public widget proxy (`/proxy/query/v2/…`, X-WEBSITE-ID) against a real server: only WIDGET integrations
serve it, anonymous traffic has its own budgets (per client IP and per integration) that never touch the team's
server-side chat limit, a browser's claimed identity never merges into a stored end user, and a widget continues
only its own threads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Cli, LiveServer, serve, write_docs
from databases import TestConnection

from .conftest import Project, create_integration, create_project
from .helpers import assert_json_error, content_of, parse_stream

# Every limit off: the identity and thread tests make more calls than a minute's budget.
OPEN = {
    "DOCSAGE_RATE_LIMIT_CHAT_PER_MIN": "0",
    "DOCSAGE_RATE_LIMIT_PUBLIC_CHAT_PER_MIN": "0",
    "DOCSAGE_RATE_LIMIT_PUBLIC_CHAT_PER_MIN_TOTAL": "0",
}
# Team: 3 server-side chats a minute; public: 2 a minute per client IP and 3 a minute per integration.
LIMITED = {
    "DOCSAGE_RATE_LIMIT_CHAT_PER_MIN": "3",
    "DOCSAGE_RATE_LIMIT_PUBLIC_CHAT_PER_MIN": "2",
    "DOCSAGE_RATE_LIMIT_PUBLIC_CHAT_PER_MIN_TOTAL": "3",
}
QUESTION = {"query": "How do I verify webhook signatures?"}


@dataclass(frozen=True)
class ProxySetup:
    home: Path
    a: Project
    b: Project  # another project of the same team
    a_widget: str
    a_other_widget: str
    a_deflector: str  # SUPPORT_FORM_DEFLECTOR: its id is not a widget's
    a_api: str
    b_widget: str


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> ProxySetup:
    root = tmp_path_factory.mktemp("kapa-proxy")
    cli = Cli(root / "home")
    cli.home.mkdir()
    docs = write_docs(root)
    a = create_project(cli, "Skyloom", [("skyloom-docs", docs)])
    b = create_project(cli, "Other")
    assert a.team == b.team
    return ProxySetup(
        cli.home,
        a,
        b,
        create_integration(cli, a, "WIDGET", "docs widget"),
        create_integration(cli, a, "WIDGET", "blog widget"),
        create_integration(cli, a, "SUPPORT_FORM_DEFLECTOR", "support form"),
        create_integration(cli, a, "API", "backend"),
        create_integration(cli, b, "WIDGET", "other widget"),
    )


@pytest.fixture(scope="module")
def open_server(setup: ProxySetup) -> Iterator[LiveServer]:
    with serve(setup.home, OPEN) as server:
        yield server


@pytest.fixture
def limited_server(setup: ProxySetup) -> Iterator[LiveServer]:
    """A fresh server, so a fresh in-process limiter."""
    with serve(setup.home, LIMITED) as server:
        yield server


def browser(server: LiveServer, ip: str = "127.0.0.1") -> httpx.Client:
    """An anonymous client connecting from `ip` (all of 127.0.0.0/8 is loopback on Linux)."""
    return httpx.Client(base_url=server.base_url, timeout=60, transport=httpx.HTTPTransport(local_address=ip))


def widget_chat(client: httpx.Client, website_id: str, body: dict[str, Any], thread_id: str | None = None) -> Any:
    path = f"/proxy/query/v2/thread/{thread_id}/chat/stream/" if thread_id else "/proxy/query/v2/chat/stream/"
    return client.post(path, json=body, headers={"X-WEBSITE-ID": website_id})


def answered(resp: httpx.Response) -> dict[str, str]:
    """The identifiers of a complete widget answer."""
    assert resp.status_code == 200, resp.text[:300]
    ids: dict[str, str] = content_of(parse_stream(resp.content), "identifiers")
    return ids


def server_chat(server: LiveServer, project: Project, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/query/v1/projects/{project.id}/chat/", json=body, headers={"X-API-KEY": project.key}
    )


def assert_throttled(resp: httpx.Response) -> None:
    assert_json_error(resp, 429)
    retry_after = resp.headers.get("Retry-After", "")
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 60, retry_after


# (a) only WIDGET integrations -------------------------------------------------------------------------------


def test_only_widget_integrations_serve_the_proxy(open_server: LiveServer, setup: ProxySetup) -> None:
    with browser(open_server) as client:
        unknown = assert_json_error(widget_chat(client, "no-such-integration", QUESTION), 401)
        for not_a_widget in (setup.a_deflector, setup.a_api):
            # The same answer as an unknown id: the proxy does not tell which ids exist.
            assert assert_json_error(widget_chat(client, not_a_widget, QUESTION), 401) == unknown
        thread_id = answered(widget_chat(client, setup.a_widget, QUESTION))["thread_id"]
        answered(widget_chat(client, setup.b_widget, QUESTION))
        feedback = {"question_answer": thread_id, "user_identifier": "u", "reaction": "upvote"}
        resp = client.post(
            "/proxy/query/v2/feedback/upsert/", json=feedback, headers={"X-WEBSITE-ID": setup.a_deflector}
        )
        assert assert_json_error(resp, 401) == unknown


# (b), (c) public budgets ------------------------------------------------------------------------------------


def test_anonymous_chat_does_not_use_up_the_team_budget(limited_server: LiveServer, setup: ProxySetup) -> None:
    with browser(limited_server) as client:
        for _ in range(2):
            answered(widget_chat(client, setup.a_widget, QUESTION))
        assert_throttled(widget_chat(client, setup.a_widget, QUESTION))
        # Another project's widget has its own public budget, even from the same browser.
        answered(widget_chat(client, setup.b_widget, QUESTION))
    # The team's server-side key still has all of its 3 chats a minute, and only those.
    for _ in range(3):
        resp = server_chat(limited_server, setup.a, QUESTION)
        assert resp.status_code == 200, resp.text[:300]
    assert_throttled(server_chat(limited_server, setup.a, QUESTION))
    assert_throttled(server_chat(limited_server, setup.b, QUESTION))
    # ...and the team's throttle is not the public's: B's widget still has a turn.
    with browser(limited_server, "127.0.0.2") as client:
        answered(widget_chat(client, setup.b_widget, QUESTION))


def test_each_client_ip_and_each_integration_has_a_public_budget(limited_server: LiveServer, setup: ProxySetup) -> None:
    with browser(limited_server, "127.0.0.1") as first, browser(limited_server, "127.0.0.2") as second:
        for _ in range(2):
            answered(widget_chat(first, setup.a_widget, QUESTION))
        assert_throttled(widget_chat(first, setup.a_widget, QUESTION))
        # Another visitor is not throttled by the first one's budget...
        answered(widget_chat(second, setup.a_widget, QUESTION))
    with browser(limited_server, "127.0.0.3") as third:
        # ...but the integration as a whole takes 3 a minute (the first visitor's refused call did not count).
        assert_throttled(widget_chat(third, setup.a_widget, QUESTION))
        answered(widget_chat(third, setup.a_other_widget, QUESTION))
    assert server_chat(limited_server, setup.a, QUESTION).status_code == 200


# claimed identities -----------------------------------------------------------------------------------------


def end_users(server: LiveServer, project: Project, search: str = "") -> list[dict[str, Any]]:
    resp = httpx.get(
        f"{server.base_url}/query/v1/projects/{project.id}/end_users/",
        params={"search": search} if search else {},
        headers={"X-API-KEY": project.key},
    )
    assert resp.status_code == 200, resp.text[:300]
    users: list[dict[str, Any]] = resp.json()["results"]
    return users


def stored_thread(server: LiveServer, project: Project, thread_id: str) -> dict[str, Any]:
    resp = httpx.get(f"{server.base_url}/query/v1/threads/{thread_id}/", headers={"X-API-KEY": project.key})
    assert resp.status_code == 200, resp.text[:300]
    thread: dict[str, Any] = resp.json()
    return thread


def test_a_widget_cannot_claim_a_stored_end_user(open_server: LiveServer, setup: ProxySetup) -> None:
    alice = {"email": "alice@example.com", "unique_client_id": "cust-42", "metadata": {"company_name": "Acme"}}
    resp = server_chat(open_server, setup.a, {**QUESTION, "user": alice})
    assert resp.status_code == 200, resp.text[:300]
    [before] = end_users(open_server, setup.a, "alice@example.com")
    assert before["company_name"] == "Acme" and before["question_answer_count"] == 1

    claims = [
        {"email": "alice@example.com", "kapa_web_id": "attacker-browser", "metadata": {"company_name": "Evil"}},
        {"unique_client_id": "cust-42", "fingerprint_id": "attacker-fp", "metadata": {"company": "Evil"}},
        {"email": "alice@example.com", "metadata": {"company_name": "Evil"}},  # no browser id at all
    ]
    with browser(open_server) as client:
        ids = [answered(widget_chat(client, setup.a_widget, {**QUESTION, "user": claim})) for claim in claims]

    [after] = end_users(open_server, setup.a, "alice@example.com")
    assert after == before  # same email, company, question count, latest thread and activity
    for found in ids:
        [qa] = stored_thread(open_server, setup.a, found["thread_id"])["question_answers"]
        assert qa["end_user_id"] != before["id"]
    # No stored user carries the claimed email or client id, and the claimed company is nobody's.
    users = end_users(open_server, setup.a)
    assert [u["id"] for u in users if u["email"] == "alice@example.com"] == [before["id"]]
    assert [u["id"] for u in users if u["unique_client_id"] == "cust-42"] == [before["id"]]
    assert "Evil" not in [u["company_name"] for u in users]

    # The server-side key still reaches alice.
    resp = server_chat(open_server, setup.a, {**QUESTION, "user": {"email": "alice@example.com"}})
    assert resp.status_code == 200, resp.text[:300]
    [qa] = stored_thread(open_server, setup.a, resp.json()["thread_id"])["question_answers"]
    assert qa["end_user_id"] == before["id"]


def test_one_browser_is_one_end_user(open_server: LiveServer, setup: ProxySetup) -> None:
    """The browser-bound id (the SDK's kapa_web_id cookie) still ties a visitor's questions together."""
    user = {"email": "visitor@example.com", "kapa_web_id": "browser-7"}
    with browser(open_server) as client:
        first = answered(widget_chat(client, setup.a_widget, {**QUESTION, "user": user}))
        second = answered(widget_chat(client, setup.a_widget, {**QUESTION, "user": user}))
    qas = [stored_thread(open_server, setup.a, ids["thread_id"])["question_answers"][0] for ids in (first, second)]
    assert qas[0]["end_user_id"] and qas[0]["end_user_id"] == qas[1]["end_user_id"]


# threads ----------------------------------------------------------------------------------------------------


def test_a_widget_continues_only_its_own_threads(open_server: LiveServer, setup: ProxySetup) -> None:
    resp = server_chat(open_server, setup.a, QUESTION)
    assert resp.status_code == 200, resp.text[:300]
    server_thread = resp.json()["thread_id"]
    with browser(open_server) as client:
        follow_up = {"query": "And how do I rotate the secret?"}
        assert_json_error(widget_chat(client, setup.a_widget, follow_up, server_thread), 404)
        assert_json_error(widget_chat(client, setup.a_widget, {**follow_up, "thread_id": server_thread}), 404)
        assert len(stored_thread(open_server, setup.a, server_thread)["question_answers"]) == 1

        own = answered(widget_chat(client, setup.a_widget, QUESTION))["thread_id"]
        assert answered(widget_chat(client, setup.a_widget, follow_up, own))["thread_id"] == own
        assert answered(widget_chat(client, setup.a_widget, {**follow_up, "thread_id": own}))["thread_id"] == own
        # Another widget of the same project does not continue it either.
        assert_json_error(widget_chat(client, setup.a_other_widget, follow_up, own), 404)
        assert len(stored_thread(open_server, setup.a, own)["question_answers"]) == 3


def test_a_widget_rates_only_its_own_answers(open_server: LiveServer, setup: ProxySetup) -> None:
    """Feedback through a widget id lands only on answers that widget gave: a server-side answer's id (or
    another widget's) is 404 and its feedback stays as it was."""

    def vote(client: httpx.Client, website_id: str, qa_id: str) -> httpx.Response:
        body = {"user_identifier": "anon-1", "reaction": "downvote", "question_answer": qa_id}
        return client.post("/proxy/query/v2/feedback/upsert/", json=body, headers={"X-WEBSITE-ID": website_id})

    with browser(open_server) as client:
        own = answered(widget_chat(client, setup.a_widget, QUESTION))["question_answer_id"]
        assert vote(client, setup.a_widget, own).status_code == 201
        other_widget = answered(widget_chat(client, setup.a_other_widget, QUESTION))["question_answer_id"]
        server_side = server_chat(open_server, setup.a, QUESTION).json()["question_answer_id"]
        for foreign in (other_widget, server_side):
            assert_json_error(vote(client, setup.a_widget, foreign), 404)
    with closing(TestConnection(setup.home)) as conn:
        voted = {
            qa for (qa,) in conn.execute("SELECT question_answer_id FROM feedback WHERE user_identifier = 'anon-1'")
        }
    assert voted == {own}
