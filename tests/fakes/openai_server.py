"""A fake OpenAI-compatible API on loopback: chat completions (plain and streamed), embeddings and models."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import random
import re
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

Responder = Callable[[list[dict[str, Any]]], str]


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the server saw it (recorded before authentication, so rejected calls show up too)."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)


class FakeOpenAI:
    """A real HTTP server speaking the OpenAI wire protocol, for tests of code that uses the official SDK.

    `reply_text` is the assistant's answer unless `responder(messages)` is set; `fail_status` makes every
    call fail with that HTTP status and an OpenAI-style JSON error. `api_key`, when set, is the only bearer
    token accepted; otherwise any non-empty token is. `report_usage=False` plays a server that ignores
    `stream_options.include_usage`, as some OpenAI-compatible servers do. `chunk_delay` (seconds) plays a
    slow model: the pause before each streamed chunk.
    """

    def __init__(
        self,
        reply_text: str = "This is the fake model's answer.",
        *,
        responder: Responder | None = None,
        fail_status: int | None = None,
        api_key: str | None = None,
        report_usage: bool = True,
        model: str = "fake-model",
        embedding_dim: int = 64,
        chunk_delay: float = 0.0,
    ) -> None:
        self.chunk_delay = chunk_delay
        self.reply_text = reply_text
        self.responder = responder
        self.fail_status = fail_status
        self.api_key = api_key
        self.report_usage = report_usage
        self.model = model
        self.embedding_dim = embedding_dim
        self.requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        # A short poll interval keeps shutdown, and so each test's teardown, from waiting half a second.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-openai", daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """JSON bodies of the chat-completion calls received so far, oldest first."""
        return [r.body for r in self.requests if r.path == "/v1/chat/completions"]

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def next_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    def reply_for(self, messages: list[dict[str, Any]]) -> str:
        return self.responder(messages) if self.responder else self.reply_text

    def embedding(self, text: str) -> list[float]:
        # Seeded from a hash of the text so equal inputs always map to equal (unnormalised) vectors.
        rng = random.Random(hashlib.sha256(text.encode()).digest())
        return [rng.uniform(-1.0, 1.0) for _ in range(self.embedding_dim)]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOpenAI


def _word_count(text: str) -> int:
    return len(text.split())


def _content_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def _error(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        fake = self.server.fake
        path = self.path.split("?", 1)[0]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            self._send_json(400, _error("We could not parse the JSON body of your request.", "invalid_request_error"))
            return
        fake.record(ReceivedRequest(method, path, dict(self.headers.items()), body))

        token = re.fullmatch(r"Bearer (\S+)", self.headers.get("Authorization", ""))
        if token is None or (fake.api_key is not None and token.group(1) != fake.api_key):
            self._send_json(401, _error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"))
            return
        if fake.fail_status is not None:
            error = _error(f"The fake server failed on purpose ({fake.fail_status}).", "server_error")
            # OpenAI sends retry hints like this one; a short hint keeps the SDK's retries fast in tests.
            self._send_json(fake.fail_status, error, {"retry-after-ms": "10"})
            return

        if method == "POST" and path == "/v1/chat/completions":
            self._chat(body)
        elif method == "POST" and path == "/v1/embeddings":
            self._embeddings(body)
        elif method == "GET" and path == "/v1/models":
            model = {"id": fake.model, "object": "model", "created": 0, "owned_by": "docsage-tests"}
            self._send_json(200, {"object": "list", "data": [model]})
        else:
            self._send_json(404, _error(f"Unknown request URL: {method} {path}.", "invalid_request_error"))

    def _chat(self, body: dict[str, Any]) -> None:
        fake = self.server.fake
        messages: list[dict[str, Any]] = body.get("messages") or []
        reply = fake.reply_for(messages)
        prompt_tokens = sum(_word_count(_content_text(m)) for m in messages)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": _word_count(reply),
            "total_tokens": prompt_tokens + _word_count(reply),
        }
        base = {"id": fake.next_id("chatcmpl"), "created": int(time.time()), "model": body.get("model", fake.model)}
        if not body.get("stream"):
            choice = {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}
            self._send_json(200, {**base, "object": "chat.completion", "choices": [choice], "usage": usage})
            return
        include_usage = fake.report_usage and bool((body.get("stream_options") or {}).get("include_usage"))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for chunk in _stream_chunks(base, reply, usage if include_usage else None):
                time.sleep(fake.chunk_delay)
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading (docsage closes the model's stream when its own client leaves)

    def _embeddings(self, body: dict[str, Any]) -> None:
        fake = self.server.fake
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else [str(t) for t in inputs or []]
        data = []
        for index, text in enumerate(texts):
            vector = fake.embedding(text)
            encoded: list[float] | str = vector
            if body.get("encoding_format") == "base64":
                encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(_word_count(t) for t in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        self._send_json(200, {"object": "list", "data": data, "model": body.get("model", fake.model), "usage": usage})

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _stream_chunks(base: dict[str, Any], reply: str, usage: dict[str, int] | None) -> Iterator[dict[str, Any]]:
    """The chunk sequence of a streamed completion: role, one chunk per word, finish, then usage if asked."""
    extra: dict[str, Any] = {"usage": None} if usage is not None else {}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**base, "object": "chat.completion.chunk", "choices": [choice], **extra}

    yield chunk({"role": "assistant", "content": ""})
    for word in re.findall(r"\s*\S+(?:\s+$)?", reply) or [reply]:
        yield chunk({"content": word})
    yield chunk({}, "stop")
    if usage is not None:
        yield {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}
