"""Hostile input found by fuzzing every route: each gets a 4xx in its surface's own shape and leaves the data
readable. Lone UTF-16 surrogates, absurd nesting, page numbers and dates at the edge of the calendar used to
end in 500s — one of them stored a comment that broke the project's listings for good."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from conftest import LiveServer

from .conftest import MainSetup, create_integration
from .helpers import parse_stream

LONE = "\ud800"


@dataclass(frozen=True)
class Keys:
    server: LiveServer
    kapa: dict[str, str]
    bearer: dict[str, str]
    widget: str  # a WIDGET integration of project A (its id is public: the widget sends it from the page)
    other_integration: str  # an integration of project B
    qa_id: str  # an answer in project A


def raw(body: Any) -> bytes:
    """JSON as a client would send it: lone surrogates written as `\\ud800` escapes."""
    return json.dumps(body).encode()


def kapa_error(resp: httpx.Response, status: int) -> None:
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    assert "detail" in resp.json(), resp.text[:300]


def chatbot_error(resp: httpx.Response, status: int) -> None:
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    body = resp.json()
    assert body["success"] is False and isinstance(body["error"], str), body


@pytest.fixture(scope="module")
def keys(kapa: MainSetup) -> Iterator[Keys]:
    cli = kapa.home.cli
    bearer = cli.json("key", "create", "--project", kapa.a.id, "--scheme", "bearer")["key"]
    widget = create_integration(cli, kapa.a, "WIDGET", "hostile-widget")
    other = create_integration(cli, kapa.b, "API", "other-project-api")
    headers = {"X-API-KEY": kapa.a.key}
    with httpx.Client(base_url=kapa.home.base_url, headers=headers, timeout=60) as client:
        qa = client.post(f"/query/v1/projects/{kapa.a.id}/chat/", json={"query": "How do I verify webhooks?"})
    assert qa.status_code == 200, qa.text
    yield Keys(
        kapa.home.server,  # type: ignore[arg-type]
        headers,
        {"Authorization": f"Bearer {bearer}"},
        widget,
        other,
        qa.json()["question_answer_id"],
    )


@pytest.fixture
def client(keys: Keys) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=keys.server.base_url, timeout=60) as c:
        yield c


def listings_still_work(client: httpx.Client, kapa: MainSetup, keys: Keys) -> None:
    for path in ("question-answers/", "threads/", "end_users/"):
        resp = client.get(f"/query/v1/projects/{kapa.a.id}/{path}", headers=keys.kapa)
        assert resp.status_code == 200, (path, resp.text[:300])


JSON = {"Content-Type": "application/json"}


def test_lone_surrogates_are_refused_on_every_surface_and_nothing_breaks(
    client: httpx.Client, kapa: MainSetup, keys: Keys
) -> None:
    feedback = {"question_answer": keys.qa_id, "user_identifier": "z", "reaction": "upvote"}
    kapa_error(
        client.post(
            "/query/v1/feedback/upsert/",
            content=raw({**feedback, "comment": {"issue": LONE}}),
            headers={**keys.kapa, **JSON},
        ),
        422,
    )
    # The widget proxy takes the comment as a JSON string: the surrogate hides one level down.
    inner = json.dumps({"issue": LONE})
    kapa_error(
        client.post(
            "/proxy/query/v2/feedback/upsert/",
            content=raw({**feedback, "comment": inner}),
            headers={"X-WEBSITE-ID": keys.widget, **JSON},
        ),
        422,
    )
    kapa_error(
        client.post(
            f"/query/v1/projects/{kapa.a.id}/chat/",
            content=raw({"query": "x", "user": {"unique_client_id": "u", "metadata": {"company_name": LONE}}}),
            headers={**keys.kapa, **JSON},
        ),
        422,
    )
    kapa_error(
        client.post(
            f"/query/v1/projects/{kapa.a.id}/documents/", content=raw({"urls": [LONE]}), headers={**keys.kapa, **JSON}
        ),
        422,
    )
    chatbot_error(
        client.post("/api/v1/chat", content=raw({"message": "x", "session_id": LONE}), headers={**keys.bearer, **JSON}),
        422,
    )
    chatbot_error(client.post("/api/v1/chat", content=raw({"message": "x", "api_key": LONE}), headers=JSON), 422)
    listings_still_work(client, kapa, keys)


def test_an_escaped_emoji_is_valid_text_and_answered(client: httpx.Client, kapa: MainSetup, keys: Keys) -> None:
    body = raw({"query": "How do I verify webhook signatures? \U0001f600"})
    assert b"\\ud83d\\ude00" in body
    resp = client.post(f"/query/v1/projects/{kapa.a.id}/retrieval/", content=body, headers={**keys.kapa, **JSON})
    assert resp.status_code == 200 and resp.json(), resp.text[:300]


def test_absurdly_nested_json_is_a_client_error(client: httpx.Client, kapa: MainSetup, keys: Keys) -> None:
    deep = "[" * 5000 + "]" * 5000
    resp = client.post(
        "/proxy/query/v2/feedback/upsert/",
        json={"question_answer": keys.qa_id, "user_identifier": "u", "reaction": "upvote", "comment": deep},
        headers={"X-WEBSITE-ID": keys.widget},
    )
    kapa_error(resp, 422)
    chatbot_error(client.post("/api/v1/documents", content=b"[" * 100_000 + b"]" * 100_000, headers=JSON), 401)
    listings_still_work(client, kapa, keys)


@pytest.mark.parametrize("path", ["question-answers/", "end_users/", "end-users/"])
def test_page_numbers_past_any_database_integer_are_422(
    client: httpx.Client, kapa: MainSetup, keys: Keys, path: str
) -> None:
    resp = client.get(f"/query/v1/projects/{kapa.a.id}/{path}", params={"page": 2**63}, headers=keys.kapa)
    kapa_error(resp, 422)


def test_chatbot_session_page_past_any_database_integer_is_422(client: httpx.Client, keys: Keys) -> None:
    chatbot_error(client.get("/api/v1/sessions", params={"page": 2**62}, headers=keys.bearer), 422)


@pytest.mark.parametrize(
    "params",
    [
        {"aggregation_period": "DAY", "end_date_time": "0001-01-01T00:00:00Z"},
        {
            "aggregation_period": "YEAR",
            "start_date_time": "9999-01-01T00:00:00Z",
            "end_date_time": "9999-12-31T23:59:59Z",
        },
        {"aggregation_period": "HOUR", "start_date_time": "9999-12-31T23:00:00-05:00"},
        {
            "aggregation_period": "DAY",
            "start_date_time": "2020-01-01T00:00:00Z",
            "end_date_time": "0001-01-01T00:00:00+05:00",
        },
    ],
    ids=["year-1", "year-9999", "tz-past-9999", "tz-before-year-1"],
)
def test_activity_dates_at_the_edge_of_the_calendar_are_422(
    client: httpx.Client, kapa: MainSetup, keys: Keys, params: dict[str, str]
) -> None:
    kapa_error(client.get(f"/query/v1/projects/{kapa.a.id}/activity/", params=params, headers=keys.kapa), 422)


def test_a_forged_thread_cursor_at_year_9999_is_a_client_error(
    client: httpx.Client, kapa: MainSetup, keys: Keys
) -> None:
    cursor = "OTk5OS0xMi0zMVQyMzo1OTo1OS0yMzo1OXx4"  # base64 of "9999-12-31T23:59:59-23:59|x"
    resp = client.get(f"/query/v1/projects/{kapa.a.id}/threads/", params={"cursor": cursor}, headers=keys.kapa)
    assert 400 <= resp.status_code < 500, resp.text[:300]
    assert "detail" in resp.json()


def test_chatbot_usage_with_the_last_day_of_the_calendar_is_422(client: httpx.Client, keys: Keys) -> None:
    chatbot_error(client.get("/api/v1/usage", params={"end_date": "9999-12-31"}, headers=keys.bearer), 422)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_custom_chat_with_a_foreign_or_unknown_integration_is_404_and_stores_nothing(
    client: httpx.Client, kapa: MainSetup, keys: Keys, stream: bool
) -> None:
    before = client.get(f"/query/v1/projects/{kapa.a.id}/threads/", headers=keys.kapa).json()
    path = f"/query/v1/projects/{kapa.a.id}/chat/custom/" + ("stream/" if stream else "")
    for integration in (keys.other_integration, str(uuid.uuid4())):
        body = {"messages": [{"role": "query", "content": "How do I verify webhooks?"}], "integration_id": integration}
        kapa_error(client.post(path, json=body, headers=keys.kapa), 404)
    after = client.get(f"/query/v1/projects/{kapa.a.id}/threads/", headers=keys.kapa).json()
    assert [t["id"] for t in after["results"]] == [t["id"] for t in before["results"]]


def test_retrieval_with_another_projects_integration_is_404(client: httpx.Client, kapa: MainSetup, keys: Keys) -> None:
    body = {"query": "webhooks", "integration_id": keys.other_integration}
    kapa_error(client.post(f"/query/v1/projects/{kapa.a.id}/retrieval/", json=body, headers=keys.kapa), 404)


def test_custom_chat_at_the_seed_003_path_uses_the_keys_project(
    client: httpx.Client, kapa: MainSetup, keys: Keys
) -> None:
    body = {"messages": [{"role": "query", "content": "How do I verify webhook signatures?"}]}
    by_project = client.post(f"/query/v1/projects/{kapa.a.id}/chat/custom/", json=body, headers=keys.kapa)
    by_key = client.post("/query/v1/chat/custom/", json=body, headers=keys.kapa)
    assert by_project.status_code == by_key.status_code == 200, by_key.text[:300]
    assert by_key.json()["answer"] == by_project.json()["answer"]
    assert client.post("/query/v1/chat/custom/", json=body).status_code == 401


def test_custom_chat_stream_without_persistence_still_ends_with_stream_end(
    client: httpx.Client, kapa: MainSetup, keys: Keys
) -> None:
    body = {"messages": [{"role": "query", "content": "How do I verify webhook signatures?"}], "persist_answer": False}
    resp = client.post("/query/v1/chat/custom/stream/", json=body, headers=keys.kapa)
    assert resp.status_code == 200, resp.text[:300]
    chunks = parse_stream(resp.content)
    assert "identifiers" not in [c["type"] for c in chunks]
    assert [c["stream_end"] for c in chunks] == [False] * (len(chunks) - 1) + [True]


@pytest.mark.parametrize(("path", "ordering"), [("question-answers/", "id"), ("end_users/", "-created_at")])
def test_unknown_ordering_fields_are_ignored_as_django_rest_framework_does(
    client: httpx.Client, kapa: MainSetup, keys: Keys, path: str, ordering: str
) -> None:
    default = client.get(f"/query/v1/projects/{kapa.a.id}/{path}", headers=keys.kapa)
    odd = client.get(f"/query/v1/projects/{kapa.a.id}/{path}", params={"ordering": ordering}, headers=keys.kapa)
    assert odd.status_code == 200, odd.text[:300]
    assert odd.json()["results"] == default.json()["results"]


@pytest.mark.parametrize("origin", ["http://[::1", "https://docs.example.com:99999", "https://"])
def test_malformed_allowed_origins_are_a_clear_cli_error(kapa: MainSetup, origin: str) -> None:
    result = kapa.home.cli("key", "create", "--project", kapa.a.id, "--scheme", "bearer", "--allowed-origin", origin)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("error:") and "Traceback" not in result.stderr, result.stderr


def test_documents_without_urls_or_ids_is_422(client: httpx.Client, kapa: MainSetup, keys: Keys) -> None:
    for body in ({}, {"urls": []}, {"document_ids": [], "page": 2}):
        kapa_error(client.post(f"/query/v1/projects/{kapa.a.id}/documents/", json=body, headers=keys.kapa), 422)
