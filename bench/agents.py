"""Agent-surface benchmarks: MCP `search_docs` over streamable HTTP vs `/query/v1/.../retrieval/` (same queries,
same top_k, same server), and the OpenAI-compatible API's first streamed token. Each figure is printed beside a
baseline measured in this run.

- MCP, raw: JSON-RPC `tools/call` posted in a session over a keep-alive stdlib connection, as /retrieval/ is:
  what the MCP layer adds on the server (target: at most +10 ms p50 at 10,000 chunks).
- MCP, official client: `mcp.Client.call_tool`, what an agent built on the SDK waits (the client's own
  validation and framing included).
- OpenAI first token: the first non-empty `delta.content` through the official `openai` SDK (target: 100 ms
  with the extractive answerer), beside the in-process first text delta and Kapa's first `partial_answer`.

Usage: python -m bench.agents [--chunks 10000] [--pages DIR] [--queries FILE]
"""

from __future__ import annotations

import argparse
import http.client
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import openai
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bench.api import SHARED, free_port, p50, start_server
from docsage.benchmarks import Figure, build_scaled_index
from docsage.config import Settings
from docsage.services import Services

TOP_K = 5  # search_docs' default; /retrieval/ is asked for the same
PROTOCOL = "2025-11-25"


def timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


class RawMcp:
    """A legacy-handshake MCP session over one keep-alive connection: JSON-RPC in, JSON out."""

    def __init__(self, port: int, key: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port)
        self.headers = {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        }
        init = {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}
        response = self.post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init})
        self.headers |= {"Mcp-Session-Id": response.getheader("mcp-session-id") or "", "MCP-Protocol-Version": PROTOCOL}
        self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        self.ids = 0

    def post(self, message: dict[str, Any]) -> http.client.HTTPResponse:
        self.conn.request("POST", "/mcp", body=json.dumps(message), headers=self.headers)
        response = self.conn.getresponse()
        response.read()
        if response.status >= 300:
            raise SystemExit(f"/mcp answered {response.status}")
        return response

    def search(self, query: str) -> None:
        self.ids += 1
        params = {"name": "search_docs", "arguments": {"query": query, "top_k": TOP_K}}
        self.post({"jsonrpc": "2.0", "id": self.ids, "method": "tools/call", "params": params})


async def client_latencies(url: str, key: str, queries: list[str], mode: str) -> list[float]:
    """search_docs through the official client, after a warm-up call."""
    out = []
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        await client.call_tool("search_docs", {"query": queries[0], "top_k": TOP_K})
        for q in queries:
            t = time.perf_counter()
            result = await client.call_tool("search_docs", {"query": q, "top_k": TOP_K})
            out.append((time.perf_counter() - t) * 1000)
            if result.is_error:
                raise SystemExit(f"search_docs failed: {result.content}")
    return out


def first_openai_token(client: openai.OpenAI, model: str, question: str) -> float:
    t = time.perf_counter()
    stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}], stream=True)
    try:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                return (time.perf_counter() - t) * 1000
    finally:
        stream.close()
    raise SystemExit("the stream carried no text")


def first_kapa_delta(client: httpx.Client, url: str, key: str, question: str) -> float:
    t = time.perf_counter()
    with client.stream("POST", url, json={"query": question}, headers={"X-API-KEY": key}) as resp:
        buf = b""
        for part in resp.iter_bytes():
            buf += part
            if b'"partial_answer"' in buf:
                return (time.perf_counter() - t) * 1000
    raise SystemExit("the Kapa stream carried no text")


def first_inproc_delta(services: Services, project_id: str, question: str) -> float:
    t = time.perf_counter()
    for event in services.answers.stream(project_id, question):
        if type(event).__name__ == "TextDelta":
            return (time.perf_counter() - t) * 1000
    raise SystemExit("no text delta")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=10_000)
    ap.add_argument("--pages", default=str(SHARED / "pages"))
    ap.add_argument("--queries", default=str(SHARED / "queries.jsonl"))
    args = ap.parse_args()
    queries = [json.loads(line)["text"] for line in Path(args.queries).read_text().splitlines() if line.strip()]
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        services = Services(Settings(home=home))
        project_id, total = build_scaled_index(services, Path(args.pages), args.chunks, lambda m: None)
        kapa_key = services.projects.create_key(project_id).secret
        bearer = services.projects.create_key(project_id, "bearer").secret
        model = services.projects.get_project(project_id).name
        port = free_port()
        server = start_server(home, port)
        try:
            retrieval = http.client.HTTPConnection("127.0.0.1", port)
            path = f"/query/v1/projects/{project_id}/retrieval/"
            headers = {"X-API-KEY": kapa_key, "Content-Type": "application/json"}

            def post_retrieval(q: str) -> None:
                retrieval.request("POST", path, body=json.dumps({"query": q, "top_k": TOP_K}), headers=headers)
                resp = retrieval.getresponse()
                resp.read()
                if resp.status != 200:
                    raise SystemExit(f"/retrieval/ answered {resp.status}")

            mcp = RawMcp(port, bearer)
            for q in queries[:5]:  # warm both paths
                post_retrieval(q)
                mcp.search(q)
            api, raw = [], []
            for _ in range(3):
                for q in queries:  # interleaved, so load changes hit both series alike
                    api.append(timed(lambda q=q: post_retrieval(q)))  # type: ignore[misc]
                    raw.append(timed(lambda q=q: mcp.search(q)))  # type: ignore[misc]
            figures.append(
                Figure(
                    f"MCP search_docs p50 at {total:,} chunks, JSON-RPC over keep-alive HTTP (top_k {TOP_K})",
                    p50(raw),
                    "ms",
                    "/retrieval/, same queries and top_k",
                    p50(api),
                )
            )
            print(f"  MCP adds {p50(raw) - p50(api):+.2f} ms p50 over /retrieval/ (target: at most +10 ms)")
            url = f"http://127.0.0.1:{port}/mcp"
            for mode in ("auto", "legacy"):
                sdk = anyio.run(client_latencies, url, bearer, queries, mode)
                api_again = [timed(lambda q=q: post_retrieval(q)) for q in queries]  # type: ignore[misc]
                figures.append(
                    Figure(
                        f"  same, through the official mcp client (mode {mode})",
                        p50(sdk),
                        "ms",
                        "/retrieval/, same queries and top_k",
                        p50(api_again),
                    )
                )
            retrieval.close()

            oai = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=bearer, max_retries=0)
            questions = queries[:30]
            first_openai_token(oai, model, questions[0])  # warm
            inproc, kapa, first = [], [], []
            with httpx.Client(timeout=60) as kapa_client:
                kapa_url = f"http://127.0.0.1:{port}/query/v1/projects/{project_id}/chat/stream/"
                for q in questions:
                    inproc.append(first_inproc_delta(services, project_id, q))
                    kapa.append(first_kapa_delta(kapa_client, kapa_url, kapa_key, q))
                    first.append(first_openai_token(oai, model, q))
            figures.append(
                Figure(
                    "OpenAI-compatible stream: first content token p50 (official SDK)",
                    p50(first),
                    "ms",
                    "in-process first text delta",
                    p50(inproc),
                )
            )
            figures.append(Figure("  same", p50(first), "ms", "Kapa chat/stream/ first partial_answer", p50(kapa)))
            figures.append(Figure("  same", p50(first), "ms", "target", 100.0))
        finally:
            server.terminate()
            server.wait(timeout=10)
    for f in figures:
        print(f.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
