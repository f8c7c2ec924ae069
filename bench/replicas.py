"""/retrieval/ throughput of one vs two `docsage serve` replicas on one PostgreSQL (issue 11), over the
corpus bench/postgres.py built and kept in `--cache`: requests/s at each number of open connections, and
the CPU time a request costs in the replicas and in PostgreSQL (which says what more cores would give).

Usage: python -m bench.replicas --cache DIR [--chunks 100000] [--seconds 10]. Needs `wrk` (apt-get install
wrk): one wrk per replica, the connections split between them, their requests/s added up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from bench.api import free_port
from bench.pgbuild import Built, _serve, start_postgres, wait_healthy
from docsage.benchmarks import Figure
from docsage.config import Settings
from docsage.services import Services

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ROOT.parent / "shared" / "eval" / "anthropic_docs" / "queries.jsonl"
CONNECTIONS = (1, 2, 4, 8, 16)


def wrk_script(queries: list[str], key: str) -> str:
    """POST /retrieval/ with the API's defaults, rotating through every query (no warm answer reused)."""
    bodies = ",\n".join(json.dumps(json.dumps({"query": q})) for q in queries)
    lua = (
        f"local bodies = {{\n{bodies}\n}}\nlocal i = math.random(#bodies)\n"
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["X-API-KEY"] = "{key}"\n'
        "request = function()\n  i = i % #bodies + 1\n  return wrk.format(nil, nil, nil, bodies[i])\nend\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
        return f.name


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                times = p.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def measure(urls: list[str], script: str, connections: int, seconds: int, pids: list[int], pg_pid: int
            ) -> tuple[float, float, float]:  # fmt: skip
    """Requests/s over all replicas, and CPU ms per request in the replicas and in PostgreSQL."""
    shares = [connections // len(urls) + (i < connections % len(urls)) for i in range(len(urls))]
    before, pg_before = _cpu_seconds(pids), _cpu_seconds([pg_pid])
    runs = [
        subprocess.Popen(
            ["wrk", "-t1", f"-c{n}", f"-d{seconds}s", "-s", script, url], stdout=subprocess.PIPE, text=True
        )
        for url, n in zip(urls, shares, strict=True)
        if n
    ]
    outputs = [run.communicate()[0] for run in runs]
    used, pg_used = _cpu_seconds(pids) - before, _cpu_seconds([pg_pid]) - pg_before
    rps, requests = 0.0, 0
    for out in outputs:
        if any("Non-2xx" in line for line in out.splitlines()):
            raise SystemExit(f"wrk saw errors:\n{out}")
        rps += float(next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec")))
        requests += int(next(line.split()[0] for line in out.splitlines() if "requests in" in line))
    return rps, used * 1000 / max(requests, 1), pg_used * 1000 / max(requests, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", required=True, help="the --cache of a bench.postgres run")
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("needs wrk (apt-get install wrk)")
    cache = Path(args.cache) / str(args.chunks)
    built = Built.load(cache / "built.json", args.chunks)
    if built is None:
        raise SystemExit(f"no corpus of {args.chunks} chunks in {cache}: run python -m bench.postgres first")
    queries = [json.loads(line)["text"] for line in QUERIES.read_text().splitlines() if line.strip()]
    server, url = start_postgres(cache / "pgdata")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        services = Services(Settings(home=cache / "pg-home", database_url=url))
        key = services.projects.create_key(built.pg_project).secret
        services.database.dispose()
        ports = [free_port(), free_port()]
        procs = [_serve(cache / f"replica-{i}", url, port) for i, port in enumerate(ports)]
        urls = [f"http://127.0.0.1:{p}/query/v1/projects/{built.pg_project}/retrieval/" for p in ports]
        for port, proc, target in zip(ports, procs, urls, strict=True):
            wait_healthy(port, proc)
            httpx.post(target, json={"query": "warm up"}, headers={"X-API-KEY": key}, timeout=600).raise_for_status()
        script = wrk_script(queries, key)
        pids = [p.pid for p in procs]
        pg_pid = server.get_pid()
        figures = []
        for connections in CONNECTIONS:
            load = "load {:.1f}/{:.1f}/{:.1f}".format(*os.getloadavg())
            one = measure(urls[:1], script, connections, args.seconds, pids[:1], pg_pid)
            time.sleep(1)
            two = measure(urls, script, max(connections, 2), args.seconds, pids, pg_pid) if connections > 1 else None
            label = f"/retrieval/ at {built.chunks:,} chunks, {connections} connections ({load})"
            if two is not None:
                figures.append(Figure(f"{label}: 2 replicas", two[0], "req/s", "1 replica", one[0]))
                figures.append(Figure("  replica CPU per request, 2 replicas", two[1], "ms", "1 replica", one[1]))
                figures.append(Figure("  PostgreSQL CPU per request, 2 replicas", two[2], "ms", "1 replica", one[2]))
            else:
                figures.append(Figure(f"{label}: 1 replica", one[0], "req/s", "", 0.0))
                figures.append(Figure("  replica CPU per request", one[1], "ms", "PostgreSQL", one[2]))
            print(*(f.line() for f in figures[-3:]), sep="\n", flush=True)
        os.unlink(script)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        server.cleanup()
    print(f"cores: {os.cpu_count()}")
    for f in figures:
        print(f.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
