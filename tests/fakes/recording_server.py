"""A loopback HTTP server that records every request and lets a test wait for the ones it expects."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl


@dataclass(frozen=True)
class Call:
    """One request as received: method, path (without its query), headers, the body decoded (JSON or form)
    when it was, and the query."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0  # time.monotonic() when it arrived
    query: dict[str, str] = field(default_factory=dict)


Reply = tuple[int, dict[str, Any]]


class RecordingServer:
    """Subclasses answer in `respond(call)`; `calls` holds every request, oldest first."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._changed = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name=type(self).__name__, daemon=True
        )

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def respond(self, call: Call) -> Reply:
        raise NotImplementedError

    def record(self, call: Call) -> Reply:
        reply = self.respond(call)
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
        return reply

    def wait_for(self, predicate: Callable[[Call], bool], count: int = 1, timeout: float = 60.0) -> list[Call]:
        """The first `count` calls matching `predicate`, once that many arrived (AssertionError after timeout)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(matching := [c for c in self.calls if predicate(c)]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(matching)} of {count} expected calls after {timeout} s: {self.calls}")
                self._changed.wait(left)
            return matching[:count]

    def matching(self, predicate: Callable[[Call], bool]) -> list[Call]:
        with self._changed:
            return [c for c in self.calls if predicate(c)]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _decode(raw: bytes, content_type: str) -> dict[str, Any]:
    if not raw:
        return {}
    if content_type.startswith("application/json"):
        decoded = json.loads(raw)
        return decoded if isinstance(decoded, dict) else {"_": decoded}
    return dict(parse_qsl(raw.decode()))


def _handler(owner: RecordingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = _decode(raw, self.headers.get("Content-Type", ""))
            path, _, query = self.path.partition("?")
            status, payload = owner.record(
                Call(self.command, path, dict(self.headers.items()), body, time.monotonic(), dict(parse_qsl(query)))
            )
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _serve

    return Handler
