"""Helpers of the chatbot /api/v1 tests: the error shape, SSE parsing, citations."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx


def assert_api_error(resp: httpx.Response, status: int | tuple[int, ...]) -> str:
    """An /api/v1 error: this status, JSON `{"success": false, "error": "<message>"}`; returns the message."""
    statuses = (status,) if isinstance(status, int) else status
    assert resp.status_code in statuses, f"expected {statuses}, got {resp.status_code}: {resp.text[:500]}"
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers.get("content-type")
    body = resp.json()
    assert isinstance(body, dict), body
    assert body.get("success") is False, f"error responses of /api/v1 are {{success: false, error}}: {body}"
    assert isinstance(body.get("error"), str) and body["error"].strip(), body
    return str(body["error"])


def thread_id_of(session_id: str) -> str:
    """The thread id in a session id: a public key's sessions are `<thread id>.<token>`, a secret key's plain."""
    return session_id.partition(".")[0]


def ok(resp: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text[:500]}"
    body = resp.json()
    assert body["success"] is True, body
    return dict(body)


def chat(client: httpx.Client, message: str, **extra: Any) -> dict[str, Any]:
    """A non-streamed chat that must succeed."""
    return ok(client.post("/api/v1/chat", json={"message": message, **extra}))


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) of a server-sent event stream; asserts each event is one `event:` and one JSON `data:` line."""
    assert text.endswith("\n\n"), f"an SSE stream ends with a blank line, this one with {text[-40:]!r}"
    events = []
    for block in text.strip("\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        assert set(fields) == {"event", "data"}, block
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def names(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [name for name, _ in events]


def streamed_text(events: list[tuple[str, dict[str, Any]]]) -> str:
    parts = [data["content"] for name, data in events if name == "message"]
    assert all(isinstance(p, str) for p in parts)
    return "".join(parts)


_LINKED = re.compile(r"\[\[(\d+)\]\]\(([^)\s]*)\)")


def cited_urls(text: str) -> list[str]:
    """URLs of the citation links [[n]](url) in an answer."""
    return [url for _, url in _LINKED.findall(text)]


def unlink_citations(text: str) -> str:
    """docsage turns citation markers [n] into markdown links [[n]](url); undo that to compare with model text."""
    return _LINKED.sub(r"[\1]", text)
