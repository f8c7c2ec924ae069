"""Per-team rate limits (chat 2/min, retrieval 3/min on these servers): 429, Retry-After and a JSON detail."""

from __future__ import annotations

import httpx

from conftest import LiveServer

from .conftest import Project, RateLimitSetup
from .helpers import assert_json_error, parse_stream


def client(server: LiveServer, project: Project) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers={"X-API-KEY": project.key}, timeout=60)


def assert_throttled(resp: httpx.Response) -> int:
    detail = assert_json_error(resp, 429)
    assert isinstance(detail, str)
    retry_after = resp.headers.get("Retry-After")
    assert retry_after is not None and retry_after.isdigit(), retry_after
    assert 1 <= int(retry_after) <= 60
    return int(retry_after)


def test_third_chat_in_a_minute_is_429(rate_limited_server: LiveServer, rate_limit_setup: RateLimitSetup) -> None:
    p = rate_limit_setup.first
    with client(rate_limited_server, p) as c:
        first = c.post(f"/query/v1/projects/{p.id}/chat/", json={"query": "How do I verify webhook signatures?"})
        assert first.status_code == 200, first.text
        streamed = c.post(f"/query/v1/projects/{p.id}/chat/stream/", json={"query": "How often does the daemon sync?"})
        assert streamed.status_code == 200, streamed.text
        assert "identifiers" in [c["type"] for c in parse_stream(streamed.content)]
        third = c.post(f"/query/v1/threads/{first.json()['thread_id']}/chat/", json={"query": "And then?"})
        assert_throttled(third)
        assert_throttled(c.post(f"/query/v1/projects/{p.id}/chat/stream/", json={"query": "Hello?"}))
        # A throttled request stores nothing.
        thread = c.get(f"/query/v1/threads/{first.json()['thread_id']}/").json()
        assert len(thread["question_answers"]) == 1
        # Retrieval has its own budget.
        assert c.post(f"/query/v1/projects/{p.id}/retrieval/", json={"query": "webhooks"}).status_code == 200


def test_fourth_retrieval_in_a_minute_is_429(rate_limited_server: LiveServer, rate_limit_setup: RateLimitSetup) -> None:
    p = rate_limit_setup.first
    with client(rate_limited_server, p) as c:
        for _ in range(3):
            resp = c.post(
                f"/query/v1/projects/{p.id}/retrieval/", json={"query": "How do I verify webhook signatures?"}
            )
            assert resp.status_code == 200, resp.text
        assert_throttled(c.post(f"/query/v1/projects/{p.id}/retrieval/", json={"query": "webhooks"}))
        # Search and documents draw on the retrieval budget too; chat does not.
        assert_throttled(c.post(f"/query/v1/projects/{p.id}/search/", json={"query": "webhooks"}))
        assert (
            c.post(f"/query/v1/projects/{p.id}/chat/", json={"query": "How do I verify webhooks?"}).status_code == 200
        )


def test_projects_of_one_team_share_the_budget(
    rate_limited_server: LiveServer, rate_limit_setup: RateLimitSetup
) -> None:
    first, second = rate_limit_setup.first, rate_limit_setup.second
    with client(rate_limited_server, first) as a, client(rate_limited_server, second) as b:
        assert a.post(f"/query/v1/projects/{first.id}/chat/", json={"query": "How do I sync?"}).status_code == 200
        assert b.post(f"/query/v1/projects/{second.id}/chat/", json={"query": "How do I sync?"}).status_code == 200
        assert_throttled(a.post(f"/query/v1/projects/{first.id}/chat/", json={"query": "How do I sync?"}))
        assert_throttled(b.post(f"/query/v1/projects/{second.id}/chat/", json={"query": "How do I sync?"}))

        for _ in range(2):
            assert a.post(f"/query/v1/projects/{first.id}/retrieval/", json={"query": "sync"}).status_code == 200
        assert b.post(f"/query/v1/projects/{second.id}/retrieval/", json={"query": "sync"}).status_code == 200
        assert_throttled(b.post(f"/query/v1/projects/{second.id}/retrieval/", json={"query": "sync"}))
        assert_throttled(a.post(f"/query/v1/projects/{first.id}/retrieval/", json={"query": "sync"}))


def test_bad_or_foreign_requests_are_refused_before_they_count(
    rate_limited_server: LiveServer, rate_limit_setup: RateLimitSetup
) -> None:
    """A 401 or 403 does not use up the team's budget."""
    first, second = rate_limit_setup.first, rate_limit_setup.second
    with client(rate_limited_server, first) as a:
        for _ in range(5):
            assert a.post(f"/query/v1/projects/{second.id}/chat/", json={"query": "hi"}).status_code == 403
        anonymous = httpx.post(
            f"{rate_limited_server.base_url}/query/v1/projects/{first.id}/chat/", json={"query": "hi"}
        )
        assert anonymous.status_code == 401
        for _ in range(2):
            assert a.post(f"/query/v1/projects/{first.id}/chat/", json={"query": "How do I sync?"}).status_code == 200
