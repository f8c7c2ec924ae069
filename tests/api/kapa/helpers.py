"""Helpers shared by the Kapa /query/v1 tests (stream parsing, error checks, test documents)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

SEPARATOR = "\u241e".encode()  # U+241E, bytes E2 90 9E: ends every object of a Kapa stream, the last one too
assert SEPARATOR == b"\xe2\x90\x9e"

CHANGELOG_VERSIONS = 30
_AREAS = ("thumbnail cache", "vault importer", "conflict resolver", "upload scheduler", "share dialog")


def changelog(versions: int) -> str:
    """A long release-notes page: one section per version, each a distinct paragraph (~600 characters)."""
    parts = ["# Skyloom changelog\n\nRelease notes for every Skyloom desktop version, newest last.\n"]
    for n in range(versions):
        area = _AREAS[n % len(_AREAS)]
        parts.append(
            f"## Version 3.{n}.0\n\n"
            f"Release 3.{n}.0 reworks the {area}. Build number {1000 + n} ships a faster {area} that uses "
            f"{n + 2} worker threads, fixes crash report {4200 + n} seen on macOS {12 + n % 3}, and removes the "
            f"legacy {area} flag introduced in release 2.{n}. Users upgrading from 3.{max(n - 1, 0)}.0 keep their "
            f"settings; the migration of the {area} index runs once in the background and takes about {n + 1} "
            f"minutes for a vault of one hundred thousand files. Known issue {7000 + n}: the status bar may "
            f"show a stale {area} counter until the next restart.\n"
        )
    return "\n".join(parts)


def parse_stream(raw: bytes) -> list[dict[str, Any]]:
    """The objects of a Kapa stream; asserts the framing (every object, the last one too, ends with U+241E)."""
    assert raw, "empty stream"
    assert raw.endswith(SEPARATOR), f"the stream must end with U+241E, ends with {raw[-40:]!r}"
    pieces = raw.split(SEPARATOR)
    assert pieces[-1] == b""
    objects = []
    for piece in pieces[:-1]:
        assert piece.strip(), "empty object between two separators"
        obj = json.loads(piece)  # every piece is one JSON object on its own
        assert set(obj) == {"chunk"}, obj
        assert set(obj["chunk"]) == {"type", "content", "stream_end"}, obj
        assert isinstance(obj["chunk"]["stream_end"], bool)
        objects.append(obj["chunk"])
    return objects


def types_of(chunks: list[dict[str, Any]]) -> list[str]:
    return [c["type"] for c in chunks]


def content_of(chunks: list[dict[str, Any]], chunk_type: str) -> Any:
    """The content of the one chunk of this type in a stream (asserts there is exactly one)."""
    found = [c["content"] for c in chunks if c["type"] == chunk_type]
    assert len(found) == 1, f"{len(found)} {chunk_type} chunks in {types_of(chunks)}"
    return found[0]


def streamed_text(chunks: list[dict[str, Any]]) -> str:
    texts = [c["content"]["text"] for c in chunks if c["type"] == "partial_answer"]
    assert all(isinstance(t, str) for t in texts)
    return "".join(texts)


def assert_json_error(resp: httpx.Response, status: int | tuple[int, ...]) -> Any:
    """The response is an error with this status, served as JSON with a `detail`; returns the detail."""
    statuses = (status,) if isinstance(status, int) else status
    assert resp.status_code in statuses, f"expected {statuses}, got {resp.status_code}: {resp.text[:500]}"
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers.get("content-type")
    body = resp.json()
    assert isinstance(body, dict) and "detail" in body, body
    assert body["detail"], body
    return body["detail"]


_LINKED = re.compile(r"\[\[(\d+)\]\]\([^)\s]*\)")


def unlink_citations(text: str) -> str:
    """docsage turns citation markers [n] into markdown links [[n]](url); undo that to compare with model text."""
    return _LINKED.sub(r"[\1]", text)


def cited_urls(text: str) -> list[str]:
    return re.findall(r"\[\[\d+\]\]\(([^)\s]*)\)", text)


def page_name(url: str) -> str:
    return url.rsplit("/", 1)[-1]
