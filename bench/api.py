"""Kapa API benchmarks: /retrieval/ overhead over the in-process call, its throughput on one worker, and the
time to the first streamed partial_answer. Each figure is printed beside a baseline measured in this run.

Usage: python -m bench.api [--chunks 10000] [--pages DIR] [--queries FILE]
Needs `wrk` for the throughput figure (apt-get install wrk); without it that line is skipped.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from docsage.benchmarks import Figure, build_scaled_index
from docsage.config import Settings
from docsage.services import Services

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "eval" / "anthropic_docs"
SEP = "\u241e".encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def p50(xs: list[float]) -> float:
    return statistics.median(xs)


def start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DOCSAGE_HOME": str(home),
        "DOCSAGE_RATE_LIMIT_CHAT_PER_MIN": "0",
        "DOCSAGE_RATE_LIMIT_RETRIEVAL_PER_MIN": "0",
    }
    exe = Path(sys.executable).with_name("docsage")
    proc = subprocess.Popen(
        [str(exe), "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start")


def wrk_rps(url: str, key: str, queries: list[str], seconds: int = 10, connections: int = 16) -> float | None:
    """Requests/s of POST /retrieval/ with the API's defaults (top_k 15, max_chars 35000), rotating through all
    the queries so that nothing is answered from a warm cache."""
    if shutil.which("wrk") is None:
        return None
    bodies = ",\n".join(json.dumps(json.dumps({"query": q})) for q in queries)
    lua = (
        f"local bodies = {{\n{bodies}\n}}\nlocal i = 0\n"
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["X-API-KEY"] = "{key}"\n'
        "request = function()\n  i = i % #bodies + 1\n  return wrk.format(nil, nil, nil, bodies[i])\nend\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
        script = f.name
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", script, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    non2xx = [line for line in out.splitlines() if "Non-2xx" in line]
    if non2xx:
        raise SystemExit(f"wrk saw errors: {non2xx}")
    return float(next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec")))


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
        key = services.projects.create_key(project_id).secret
        port = free_port()
        server = start_server(home, port)
        base = f"http://127.0.0.1:{port}/query/v1/projects/{project_id}"
        try:
            with httpx.Client(timeout=30) as client:
                for q in queries[:5]:  # warm both sides
                    services.retrieval.search(project_id, q, top_k=15, max_chars=35000)
                    client.post(f"{base}/retrieval/", json={"query": q}, headers={"X-API-KEY": key})
                lean = http.client.HTTPConnection("127.0.0.1", port)
                path = f"/query/v1/projects/{project_id}/retrieval/"
                headers = {"X-API-KEY": key, "Content-Type": "application/json"}
                inproc, api, api_httpx = [], [], []
                for _ in range(3):
                    for q in queries:  # interleaved, so load changes hit all series alike
                        t = time.perf_counter()
                        services.retrieval.search(project_id, q, top_k=15, max_chars=35000)
                        inproc.append((time.perf_counter() - t) * 1000)
                        t = time.perf_counter()
                        lean.request("POST", path, body=json.dumps({"query": q}), headers=headers)
                        resp = lean.getresponse()
                        resp.read()
                        api.append((time.perf_counter() - t) * 1000)
                        if resp.status != 200:
                            raise SystemExit(f"/retrieval/ answered {resp.status}")
                        t = time.perf_counter()
                        client.post(f"{base}/retrieval/", json={"query": q}, headers={"X-API-KEY": key})
                        api_httpx.append((time.perf_counter() - t) * 1000)
                lean.close()
                figures.append(
                    Figure(
                        f"/retrieval/ p50 at {total:,} chunks (keep-alive stdlib client)",
                        p50(api),
                        "ms",
                        "in-process retrieval, same queries",
                        p50(inproc),
                    )
                )
                figures.append(
                    Figure(
                        "  same, through httpx (the client library's own time included)",
                        p50(api_httpx),
                        "ms",
                        "in-process retrieval, same queries",
                        p50(inproc),
                    )
                )
                ttft, inproc_first = [], []
                for q in queries[:30]:
                    t = time.perf_counter()
                    for event in services.answers.stream(project_id, q):
                        if type(event).__name__ == "TextDelta":
                            inproc_first.append((time.perf_counter() - t) * 1000)
                            break
                    t = time.perf_counter()
                    with client.stream(
                        "POST", f"{base}/chat/stream/", json={"query": q}, headers={"X-API-KEY": key}
                    ) as resp:
                        buf = b""
                        for part in resp.iter_bytes():
                            buf += part
                            if b'"partial_answer"' in buf:
                                ttft.append((time.perf_counter() - t) * 1000)
                                break
                figures.append(
                    Figure(
                        "streamed chat: first partial_answer p50",
                        p50(ttft),
                        "ms",
                        "in-process first text delta",
                        p50(inproc_first),
                    )
                )
            rps = wrk_rps(f"{base}/retrieval/", key, queries)
            if rps is not None:
                figures.append(
                    Figure(f"/retrieval/ throughput, one worker, {total:,} chunks", rps, "req/s", "target", 200.0)
                )
            else:
                print("wrk not installed: throughput skipped (apt-get install wrk)")
        finally:
            server.terminate()
            server.wait(timeout=10)
    for f in figures:
        print(f.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
