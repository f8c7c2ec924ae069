"""Chatbot API benchmarks: concurrent SSE streams on one worker, and widget.js size.

Usage: python -m bench.sse [--streams 300]
Prints: streams completed without error out of those opened (target 300/300 on one worker) with the
sequential single-stream time as the baseline, and widget.js gzip size against the 30 kB budget.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.api import SHARED, free_port, start_server
from docsage.benchmarks import Figure, build_scaled_index
from docsage.config import Settings
from docsage.services import Services


async def one_stream(client: httpx.AsyncClient, url: str, key: str, question: str) -> tuple[bool, float, float]:
    """(completed with an end event, seconds to first message, total seconds)."""
    start = time.perf_counter()
    first = 0.0
    async with client.stream(
        "POST", url, json={"message": question, "stream": True}, headers={"Authorization": f"Bearer {key}"}
    ) as resp:
        if resp.status_code != 200:
            print("stream refused:", resp.status_code, (await resp.aread())[:300], file=sys.stderr)
            return False, 0.0, time.perf_counter() - start
        body = ""
        async for text in resp.aiter_text():
            if not first and "event: message" in text:
                first = time.perf_counter() - start
            body += text
    events = [line[7:] for line in body.split("\n") if line.startswith("event: ")]  # SSE field lines only
    ok = events[-1:] == ["end"] and "error" not in events
    if not ok:
        print("stream failed:", body[-300:].replace("\n", " | "), file=sys.stderr)
    return ok, first, time.perf_counter() - start


async def run(url: str, key: str, questions: list[str], n: int) -> list[tuple[bool, float, float]]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        return await asyncio.gather(*(one_stream(client, url, key, questions[i % len(questions)]) for i in range(n)))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=300)
    ap.add_argument("--chunks", type=int, default=10_000)
    args = ap.parse_args()
    queries = [json.loads(line)["text"] for line in (SHARED / "queries.jsonl").read_text().splitlines() if line]
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        services = Services(Settings(home=home))
        project_id, _ = build_scaled_index(services, SHARED / "pages", args.chunks, lambda m: None)
        key = services.projects.create_key(project_id, "bearer").secret
        port = free_port()
        server = start_server(home, port)
        url = f"http://127.0.0.1:{port}/api/v1/chat"
        try:
            single = asyncio.run(run(url, key, queries, 1))[0]
            started = time.perf_counter()
            results = asyncio.run(run(url, key, queries, args.streams))
            wall = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=10)
    ok = sum(r[0] for r in results)
    firsts = [r[1] for r in results if r[0]]
    figures.append(
        Figure(
            f"SSE streams completed without error (of {args.streams} concurrent)",
            ok,
            "streams",
            "streams opened",
            args.streams,
        )
    )
    if firsts:
        figures.append(
            Figure(
                f"first message p50 under {args.streams} concurrent streams",
                1000 * statistics.median(firsts),
                "ms",
                "one stream alone",
                1000 * single[1],
            )
        )
    figures.append(Figure(f"wall time for {args.streams} concurrent streams", wall, "s", "one stream alone", single[2]))
    widget = (Path(__file__).resolve().parent.parent / "src/docsage/web/static/widget.js").read_bytes()
    figures.append(Figure("widget.js gzip size", len(gzip.compress(widget, 9)) / 1024, "kB", "budget", 30.0))
    for f in figures:
        print(f.line())
    return 0 if ok == args.streams else 1


if __name__ == "__main__":
    raise SystemExit(main())
