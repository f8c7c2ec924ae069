"""Authentication, project scoping and bad input on every /query/v1 endpoint: always a JSON error, never a 500."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from .conftest import MainSetup, create_integration
from .helpers import assert_json_error

RANGE = {"start_date_time": "2020-01-01T00:00:00Z", "end_date_time": "2020-01-02T00:00:00Z"}


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # with {p} for the project id
    body: dict[str, Any] | None = None
    params: dict[str, Any] | None = None

    def send(self, client: httpx.Client, project_id: str) -> httpx.Response:
        return client.request(self.method, self.path.format(p=project_id), json=self.body, params=self.params)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


PROJECT_SCOPED = [
    Call("GET", "/query/v1/projects/{p}/"),
    Call("GET", "/query/v1/projects/{p}/sources/"),
    Call("GET", "/query/v1/projects/{p}/integrations/"),
    Call("GET", "/query/v1/projects/{p}/activity/", params={"aggregation_period": "DAY", **RANGE}),
    Call("GET", "/query/v1/projects/{p}/threads/"),
    Call("GET", "/query/v1/projects/{p}/question-answers/"),
    Call("GET", "/query/v1/projects/{p}/end_users/"),
    Call("GET", "/query/v1/projects/{p}/end-users/"),
    Call("POST", "/query/v1/projects/{p}/chat/", {"query": "How do I verify webhook signatures?"}),
    Call("POST", "/query/v1/projects/{p}/chat/stream/", {"query": "How do I verify webhook signatures?"}),
    Call("POST", "/query/v1/projects/{p}/retrieval/", {"query": "webhook signatures"}),
    Call("POST", "/query/v1/projects/{p}/documents/", {"urls": ["file:///docs/webhooks.html"]}),
    Call("POST", "/query/v1/projects/{p}/search/", {"query": "webhook signatures"}),
    Call(
        "POST",
        "/query/v1/projects/{p}/ticket_outcomes/",
        {"question_answer": "00000000-0000-4000-8000-000000000000", "ticket_filed": False},
    ),
]
UNSCOPED = [
    Call("GET", "/query/v1/threads/00000000-0000-4000-8000-000000000000/"),
    Call("POST", "/query/v1/threads/00000000-0000-4000-8000-000000000000/chat/", {"query": "and then?"}),
    Call("POST", "/query/v1/threads/00000000-0000-4000-8000-000000000000/chat/stream/", {"query": "and then?"}),
    Call(
        "POST",
        "/query/v1/feedback/upsert/",
        {"question_answer": "00000000-0000-4000-8000-000000000000", "user_identifier": "fp", "reaction": "upvote"},
    ),
]
EVERY = PROJECT_SCOPED + UNSCOPED


def client_with(kapa: MainSetup, headers: dict[str, str]) -> httpx.Client:
    return httpx.Client(base_url=kapa.home.base_url, headers=headers, timeout=60, follow_redirects=False)


# --- authentication ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("call", EVERY, ids=str)
def test_missing_key_is_401(kapa: MainSetup, call: Call) -> None:
    with client_with(kapa, {}) as client:
        assert_json_error(call.send(client, kapa.a.id), 401)


@pytest.mark.parametrize("call", EVERY, ids=str)
def test_wrong_key_is_401(kapa: MainSetup, call: Call) -> None:
    with client_with(kapa, {"X-API-KEY": kapa.a.key[:-4] + "AAAA"}) as client:
        assert_json_error(call.send(client, kapa.a.id), 401)


def test_key_in_an_authorization_header_is_not_accepted(kapa: MainSetup) -> None:
    with client_with(kapa, {"Authorization": f"Bearer {kapa.a.key}"}) as client:
        assert_json_error(client.get(f"/query/v1/projects/{kapa.a.id}/"), 401)


@dataclass
class ExtraKeys:
    revoked: str
    bearer: str


@pytest.fixture(scope="module")
def extra_keys(kapa: MainSetup) -> Iterator[ExtraKeys]:
    cli = kapa.home.cli
    revoked = cli.json("key", "create", "--project", kapa.a.id)
    with client_with(kapa, {"X-API-KEY": revoked["key"]}) as client:
        assert client.get(f"/query/v1/projects/{kapa.a.id}/").status_code == 200, "the new key works before"
    cli.json("key", "revoke", revoked["id"])
    bearer = cli.json("key", "create", "--project", kapa.a.id, "--scheme", "bearer")
    yield ExtraKeys(revoked["key"], bearer["key"])


@pytest.mark.parametrize("call", EVERY, ids=str)
def test_revoked_key_is_401_without_a_restart(kapa: MainSetup, extra_keys: ExtraKeys, call: Call) -> None:
    with client_with(kapa, {"X-API-KEY": extra_keys.revoked}) as client:
        assert_json_error(call.send(client, kapa.a.id), 401)


def test_revoking_one_key_leaves_the_others_working(kapa: MainSetup, extra_keys: ExtraKeys) -> None:
    with kapa.home.client(kapa.a) as client:
        assert client.get(f"/query/v1/projects/{kapa.a.id}/").status_code == 200


def test_chatbot_bearer_key_is_not_an_x_api_key(kapa: MainSetup, extra_keys: ExtraKeys) -> None:
    with client_with(kapa, {"X-API-KEY": extra_keys.bearer}) as client:
        assert_json_error(client.get(f"/query/v1/projects/{kapa.a.id}/"), 401)


@pytest.mark.parametrize("call", PROJECT_SCOPED, ids=str)
def test_another_projects_path_is_403(kapa: MainSetup, call: Call) -> None:
    with kapa.home.client(kapa.a) as client:
        resp = call.send(client, kapa.b.id)
    assert_json_error(resp, 403)
    assert "Other" not in resp.text and kapa.b.key not in resp.text


def test_own_project_is_served(kapa: MainSetup) -> None:
    with kapa.home.client(kapa.a) as client:
        resp = client.get(f"/query/v1/projects/{kapa.a.id}/")
    assert resp.status_code == 200
    assert resp.json() == {"id": kapa.a.id, "team": kapa.a.team, "project_name": "Skyloom"}


# --- bad input -----------------------------------------------------------------------------------------------

POSTS = [c for c in EVERY if c.method == "POST"]


@pytest.mark.parametrize("call", POSTS, ids=str)
@pytest.mark.parametrize("raw", [b"{not json", b'{"query": "unterminated', b"", b"[1, 2]", b"null"], ids=repr)
def test_malformed_json_is_a_4xx_json_error(kapa: MainSetup, call: Call, raw: bytes) -> None:
    with kapa.home.client(kapa.a) as client:
        resp = client.post(call.path.format(p=kapa.a.id), content=raw, headers={"Content-Type": "application/json"})
    assert_json_error(resp, (400, 422))


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("chat", {"query": 42}),
        ("chat", {"query": ["a list"]}),
        ("chat", {"query": "hello", "integration_id": "not-a-uuid"}),
        ("chat", {"query": "hello", "user": "alice"}),
        ("chat", {"query": "hello", "user": {"email": ["a@b.c"]}}),
        ("chat/stream", {"query": None}),
        ("chat/stream", {}),
        ("retrieval", {"query": "webhooks", "top_k": "fifteen"}),
        ("retrieval", {"query": "webhooks", "max_chars": 1.5}),
        ("retrieval", {"query": "webhooks", "redact_query": "please"}),
        ("retrieval", {"query": {"text": "webhooks"}}),
        ("documents", {"document_ids": ["not-a-uuid"]}),
        ("documents", {"urls": "file:///a"}),
        ("documents", {"urls": ["file:///a"], "page": 0}),
        ("search", {"query": "webhooks", "num_results": "ten"}),
        ("search", {"query": "webhooks", "include_source_names": "docs"}),
        ("ticket_outcomes", {"question_answer": "00000000-0000-4000-8000-000000000000", "ticket_filed": "maybe"}),
        ("ticket_outcomes", {"ticket_filed": True}),
    ],
)
def test_wrong_types_are_422(kapa: MainSetup, endpoint: str, body: dict[str, Any]) -> None:
    with kapa.home.client(kapa.a) as client:
        resp = client.post(f"/query/v1/projects/{kapa.a.id}/{endpoint}/", json=body)
    detail = assert_json_error(resp, 422)
    assert isinstance(detail, list) and all("loc" in d and "msg" in d for d in detail)


@pytest.mark.parametrize("endpoint", ["chat", "chat/stream"])
@pytest.mark.parametrize("query", ["", "x" * 5001], ids=["empty", "5001-chars"])
def test_chat_query_length_limits(kapa: MainSetup, endpoint: str, query: str) -> None:
    with kapa.home.client(kapa.a) as client:
        assert_json_error(client.post(f"/query/v1/projects/{kapa.a.id}/{endpoint}/", json={"query": query}), 422)


@pytest.mark.parametrize("query", ["", "x" * 5001], ids=["empty", "5001-chars"])
def test_chat_in_thread_query_length_limits(kapa: MainSetup, query: str) -> None:
    with kapa.home.client(kapa.a) as client:
        thread = client.post(f"/query/v1/projects/{kapa.a.id}/chat/", json={"query": "How often does the daemon sync?"})
        thread_id = thread.json()["thread_id"]
        for suffix in ("chat/", "chat/stream/"):
            assert_json_error(client.post(f"/query/v1/threads/{thread_id}/{suffix}", json={"query": query}), 422)


def test_a_5000_character_question_is_accepted(kapa: MainSetup) -> None:
    query = ("How do I verify webhook signatures? " * 200)[:5000]
    with kapa.home.client(kapa.a) as client:
        resp = client.post(f"/query/v1/projects/{kapa.a.id}/chat/", json={"query": query})
    assert resp.status_code == 200, resp.text


TWO_MB = json.dumps({"query": "x" * (2 * 1024 * 1024)}).encode()


@pytest.mark.parametrize("endpoint", ["chat", "retrieval", "documents"])
def test_two_megabyte_body_is_413(kapa: MainSetup, endpoint: str) -> None:
    with kapa.home.client(kapa.a) as client:
        resp = client.post(
            f"/query/v1/projects/{kapa.a.id}/{endpoint}/", content=TWO_MB, headers={"Content-Type": "application/json"}
        )
    assert_json_error(resp, 413)


def test_two_megabyte_chunked_body_is_413(kapa: MainSetup) -> None:
    """Without a Content-Length (chunked transfer), the limit must hold just the same."""

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(TWO_MB), 64 * 1024):
            yield TWO_MB[start : start + 64 * 1024]

    with kapa.home.client(kapa.a) as client:
        resp = client.post(
            f"/query/v1/projects/{kapa.a.id}/retrieval/", content=pieces(), headers={"Content-Type": "application/json"}
        )
    assert_json_error(resp, 413)


@pytest.fixture(scope="module")
def widget_integration(kapa: MainSetup) -> str:
    return create_integration(kapa.home.cli, kapa.a, "WIDGET", "docs widget")


def test_integration_type_filter(kapa: MainSetup, widget_integration: str) -> None:
    url = f"/query/v1/projects/{kapa.a.id}/integrations/"
    with kapa.home.client(kapa.a) as client:
        assert_json_error(client.get(url, params={"integration_type": "CARRIER_PIGEON"}), 422)
        assert_json_error(client.get(url, params={"integration_type": "api"}), 422)
        everything = client.get(url).json()
        only_api = client.get(url, params={"integration_type": "API"}).json()
        both = client.get(url, params=[("integration_type", "API"), ("integration_type", "WIDGET")]).json()
    assert {i["id"] for i in everything} >= {kapa.a_api_integration, widget_integration}
    assert [i["id"] for i in only_api] == [kapa.a_api_integration]
    assert {i["integration_type"] for i in only_api} == {"API"}
    assert {i["id"] for i in both} == {kapa.a_api_integration, widget_integration}
    for integration in everything:
        assert set(integration) == {
            "id", "project", "name", "description", "integration_type", "is_setup_complete", "is_enabled",
            "updated_at", "created_at",
        }  # fmt: skip
        assert integration["project"] == kapa.a.id


@pytest.mark.parametrize(
    "params",
    [
        {"aggregation_period": "DAY", "start_date_time": "yesterday", "end_date_time": RANGE["end_date_time"]},
        {
            "aggregation_period": "DAY",
            "start_date_time": "2020-01-05T00:00:00Z",
            "end_date_time": "2020-01-01T00:00:00Z",
        },
        {"aggregation_period": "day", **RANGE},
    ],
)
def test_activity_bad_parameters_are_422(kapa: MainSetup, params: dict[str, str]) -> None:
    with kapa.home.client(kapa.a) as client:
        assert_json_error(client.get(f"/query/v1/projects/{kapa.a.id}/activity/", params=params), 422)


def test_wrong_method_is_a_json_error(kapa: MainSetup) -> None:
    with kapa.home.client(kapa.a) as client:
        assert_json_error(client.get(f"/query/v1/projects/{kapa.a.id}/chat/"), 405)


def test_unknown_ids_in_paths_are_404_not_500(kapa: MainSetup) -> None:
    with kapa.home.client(kapa.a) as client:
        for thread_id in ("not-a-uuid", str(uuid.uuid4()), "%00", "x" * 300):
            assert_json_error(client.get(f"/query/v1/threads/{thread_id}/"), 404)
