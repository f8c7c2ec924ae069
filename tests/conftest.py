"""Shared fixtures; pytest puts this directory on sys.path, so tests import the fakes as `fakes.…`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

import databases
from databases import TestConnection, database_url
from docsage.config import Settings, get_settings
from docsage.embed.base import Embedder
from docsage.embed.registry import get_embedder
from docsage.retrieval.types import Hit
from docsage.services import Services
from fakes.openai_server import FakeOpenAI

if TYPE_CHECKING:
    from playwright.sync_api import Browser

RATE_LIMITS = """\
Rate limits protect the API from bursts of traffic. Each team gets 20 chat requests per minute by default.

To configure rate limits, set the `rate_limit` section in `docsage.toml`:

```toml
[rate_limit]
chat_per_minute = 40
retrieval_per_minute = 120
```

When a client exceeds its limit, the API answers 429 with a `Retry-After` header \
that says how many seconds to wait."""

ENVIRONMENT = """\
Every setting can also be configured through environment variables. \
`DOCSAGE_RATE_LIMIT_CHAT` overrides the chat limit per minute, and \
`DOCSAGE_RATE_LIMIT_RETRIEVAL` the retrieval limit.

Environment variables take precedence over `docsage.toml`."""

INSTALL_CLI = """\
## Installing the CLI

The `docsage` command-line tool needs Python 3.11 or newer. \
Install it with pip inside a virtual environment:

```bash
python -m venv .venv
. .venv/bin/activate
pip install docsage
```

After installing, check that it works with `docsage --version`."""


# --- the database backend: SQLite files, or PostgreSQL with `--database=postgresql` (tests/databases.py) --------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database",
        choices=databases.BACKENDS,
        default="sqlite",
        help="backend of every docsage home the tests make: sqlite (a file in the home) or postgresql (a database "
        "per home on a PostgreSQL 16 + pgvector server the tests start from the pgserver wheel)",
    )


def pytest_configure(config: pytest.Config) -> None:
    databases.configure(config.getoption("--database"))
    config.addinivalue_line("markers", "sqlite_only: about SQLite itself; skipped with --database=postgresql")
    config.addinivalue_line("markers", "postgresql_only: needs PostgreSQL; runs with --database=postgresql")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    backend = databases.backend()
    for item in items:
        if backend != "sqlite" and item.get_closest_marker("sqlite_only"):
            item.add_marker(pytest.mark.skip(reason="about SQLite; this run is on PostgreSQL"))
        if backend != "postgresql" and item.get_closest_marker("postgresql_only"):
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: run pytest --database=postgresql"))


def pytest_sessionfinish(session: pytest.Session) -> None:
    databases.shutdown()


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A fake OpenAI-compatible server on loopback, stopped after the test."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def doc_hits() -> list[Hit]:
    """Retrieved passages of a small product manual: rate-limit configuration, environment variables, CLI install."""
    pages = [
        ("Rate limits", "Configuration > Rate limits", "https://docs.example.com/config/rate-limits", RATE_LIMITS),
        ("Environment variables", "Configuration > Environment", "https://docs.example.com/config/env", ENVIRONMENT),
        ("Installing the CLI", "Getting started > Install", "https://docs.example.com/start/install", INSTALL_CLI),
    ]
    return [
        Hit(
            chunk_id=f"chunk-{i}",
            document_id=f"doc-{i}",
            source_id="source-docs",
            source_url=url,
            title=title,
            heading_path=heading,
            content=content,
            score=1.0 / (60 + i),
            dense_score=0.7 - 0.1 * i,
        )
        for i, (title, heading, url, content) in enumerate(pages, start=1)
    ]


# --- docsage homes, the real CLI, a docs folder and in-process services -------------------------------------

DOCSAGE_EXE = Path(sys.executable).with_name("docsage")


def cli_env(home: Path) -> dict[str, str]:
    """The environment of a CLI subprocess: only DOCSAGE_HOME of our settings (and the home's database URL on
    PostgreSQL), no terminal width override."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSAGE_") and k not in ("COLUMNS", "LINES")}
    env["DOCSAGE_HOME"] = str(home)
    if url := database_url(home):
        env["DOCSAGE_DATABASE_URL"] = url
    return env


@dataclass(frozen=True)
class Cli:
    """Runs the installed `docsage` executable against one data directory."""

    home: Path

    @property
    def db_path(self) -> Path:
        return self.home / "docsage.db"

    def __call__(self, *args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(DOCSAGE_EXE), *map(str, args)],
            env=cli_env(self.home),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def json(self, *args: str | Path) -> Any:
        """Run a command that must succeed and print JSON; return the parsed output."""
        result = self(*args, "--json")
        assert result.returncode == 0, f"docsage {args} failed ({result.returncode}): {result.stderr}"
        return json.loads(result.stdout)

    def connect(self) -> TestConnection:
        """The home's database, SQLite or PostgreSQL, taking `?` placeholders (see tests/databases.py)."""
        return TestConnection(self.home)


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone() is not None


def table_counts(db_path: Path) -> dict[str, int]:
    """Row counts of the tables the CLI writes to."""
    tables = ("projects", "api_keys", "integrations", "sources", "documents", "chunks", "ingest_runs")
    with closing(sqlite3.connect(db_path, timeout=30)) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables if has_table(conn, t)}


@pytest.fixture
def docsage_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh data directory, exported as DOCSAGE_HOME for this process and its subprocesses."""
    home = tmp_path / "docsage-home"
    home.mkdir()
    for name in [k for k in os.environ if k.startswith("DOCSAGE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DOCSAGE_HOME", str(home))
    if url := database_url(home):
        monkeypatch.setenv("DOCSAGE_DATABASE_URL", url)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture
def run_cli(docsage_home: Path) -> Cli:
    """`run_cli(*args)` runs the real executable with DOCSAGE_HOME=docsage_home (text output, 300 s timeout)."""
    return Cli(docsage_home)


# A small product manual for "Skyloom", a fictional file-sync service. Each page answers distinct questions.
DOCS: dict[str, str] = {
    "install.md": """\
---
title: Installing Skyloom
---
# Installing Skyloom

Skyloom runs on Linux, macOS and Windows. You need Python 3.11 or newer.

## Install with pip

Install the command-line client from PyPI inside a virtual environment:

```bash
python -m venv .venv
. .venv/bin/activate
pip install skyloom-cli
skyloom --version
```

## Upgrading

Run `pip install --upgrade skyloom-cli` to upgrade. Your vault and settings are kept between versions.
""",
    "configuration.md": """\
# Configuration

Skyloom reads its settings from environment variables, then from `~/.skyloom/config.toml`.

## Environment variables

| Variable | Meaning |
| --- | --- |
| `SKYLOOM_API_TOKEN` | The personal access token used to authenticate every request. |
| `SKYLOOM_REGION` | The data region, `eu-west` or `us-east`; it defaults to `us-east`. |
| `SKYLOOM_CACHE_DIR` | Where downloaded blocks are cached. |

Environment variables always take precedence over the configuration file.

Sync interval
-------------

The daemon syncs every 30 seconds. Set `sync_interval_seconds` in the configuration file to change it.
""",
    "rate-limits.rst": """\
Rate limits
===========

The Skyloom API allows 600 requests per minute per access token. Uploads count double.

Exceeding the limit
-------------------

When a client exceeds its quota the API answers with HTTP status 429 Too Many Requests and a
``Retry-After`` header that says how many seconds to wait before retrying. For example::

    HTTP/1.1 429 Too Many Requests
    Retry-After: 17

.. code-block:: python

   import time
   response = client.get("/v1/files")
   if response.status_code == 429:
       time.sleep(int(response.headers["Retry-After"]))
""",
    "troubleshooting.txt": """\
Troubleshooting Skyloom

If the client prints "connection refused", the daemon is not running. Start it with skyloom daemon start
and check the log file at ~/.skyloom/daemon.log.

If files stop syncing, check that your access token has not expired. Tokens expire after 90 days and can be
renewed on the account page.
""",
    "webhooks.html": """\
<!DOCTYPE html>
<html>
<head><title>Webhooks - Skyloom Docs</title></head>
<body>
<header class="site-header"><a href="/">Skyloom</a> Pricing Careers Blog</header>
<nav class="sidebar"><ul><li>Getting started</li><li>Marketplace partners</li></ul></nav>
<main>
<h1>Webhooks</h1>
<p>Skyloom sends a webhook to your endpoint whenever a file in a shared vault changes.</p>
<h2>Verifying signatures</h2>
<p>Every webhook carries an <code>X-Skyloom-Signature</code> header: an HMAC-SHA256 of the body keyed with
your webhook secret. Compare it with your own digest before trusting the payload.</p>
<pre><code class="language-python">import hashlib, hmac

def verify(body: bytes, secret: bytes, signature: str) -> bool:
    digest = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(digest, signature)
</code></pre>
</main>
<footer class="footer">Copyright 2024 Skyloom Labs. Imprint and privacy policy.</footer>
</body>
</html>
""",
}
# Words that appear only in the HTML page's navigation, header and footer.
BOILERPLATE_ONLY_WORDS = ("Careers", "Marketplace", "Imprint")


def write_docs(root: Path) -> Path:
    """Write the Skyloom manual into root/docs and return that folder."""
    docs = root / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    for name, body in DOCS.items():
        (docs / name).write_text(body, encoding="utf-8")
    return docs


@pytest.fixture(scope="session")
def make_docs() -> Callable[[Path], Path]:
    """`make_docs(tmp_path)` writes the Skyloom manual (md, rst, txt, html) and returns the folder."""
    return write_docs


def make_settings(home: Path) -> Settings:
    """Settings for an isolated data directory; providers pinned so a developer's DOCSAGE_* env cannot leak in."""
    return Settings(home=home, database_url=database_url(home), embedding_provider="local", llm_provider="extractive")


@contextmanager
def open_services(home: Path) -> Iterator[Services]:
    services = Services(make_settings(home))
    try:
        yield services
    finally:
        if "database" in services.__dict__:
            services.database.dispose()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    """In-process services over a fresh database (the embedding model is shared by the whole session)."""
    with open_services(tmp_path / "services-home") as svc:
        yield svc


@pytest.fixture(scope="session")
def minilm() -> Embedder:
    """The bundled embedder, loaded once per session."""
    return get_embedder(make_settings(Path("/nonexistent")))


# --- documents in binary formats ---------------------------------------------------------------------------


def _pdf_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def minimal_pdf(pages: list[list[str]], title: str = "") -> bytes:
    """A valid PDF written by hand: Helvetica text lines per page, correct xref offsets, optional /Title."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (" ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages))).encode(), len(pages)),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, lines in enumerate(pages):
        ops = ["BT", "/F1 12 Tf", "72 720 Td", "14 TL"]
        ops += [f"({_pdf_string(line)}) Tj T*" for line in lines]
        stream = "\n".join([*ops, "ET"]).encode()
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (5 + 2 * i)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    if title:
        objects.append(b"<< /Title (%s) >>" % title.encode())
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    info = b" /Info %d 0 R" % len(objects) if title else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, info, xref)
    return bytes(out)


# Debian's Chromium for the browser tests (Playwright's own browser download is not used), with the flags this
# machine needs: no sandbox as root, and no background networking into a closed network.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium through Playwright, one per test module: one sync Playwright runs at a time, and the next
    module starts its own."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """Terminate a server the tests started; kill it if it has not exited within 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A real `docsage serve` process on loopback."""

    base_url: str
    process: subprocess.Popen[str]


@contextmanager
def serve(
    home: Path, extra_env: dict[str, str] | None = None, command: Sequence[str | Path] = ("serve",)
) -> Iterator[LiveServer]:
    """Start `docsage serve` (or another serving command, e.g. `demo`) on a free port, wait until /healthz
    answers, stop it afterwards."""
    port = free_port()
    env = {**cli_env(home), **(extra_env or {})}
    proc = subprocess.Popen(
        [str(DOCSAGE_EXE), *map(str, command), "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"docsage serve exited early: {proc.stdout.read() if proc.stdout else ''}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("docsage serve did not answer /healthz within 120 s")
            time.sleep(0.1)
        yield LiveServer(base, proc)
    finally:
        stop_process(proc)


@pytest.fixture
def live_server(docsage_home: Path) -> Iterator[LiveServer]:
    with serve(docsage_home) as server:
        yield server


# --- Redis (Debian's redis-server; `make unit` installs it) -------------------------------------------------

REDIS_SERVER = shutil.which("redis-server")


@dataclass
class RedisServer:
    """A real redis-server on loopback, without persistence."""

    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def flush(self) -> None:
        import redis

        with redis.Redis.from_url(self.url) as client:
            client.flushall()


@contextmanager
def run_redis(directory: Path, port: int | None = None) -> Iterator[RedisServer]:
    """Start redis-server (on `port`, or a free one) and wait until it answers; stop it afterwards."""
    import redis

    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed; `make unit` installs it (redis-test-deps)")
    port = port or free_port()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(directory)]
    proc = subprocess.Popen([REDIS_SERVER, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = RedisServer(port, proc)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with redis.Redis.from_url(server.url, socket_connect_timeout=1) as client:
                    client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.05)
        yield server
    finally:
        stop_process(proc)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the session (tests take it emptied, through `redis_url`)."""
    with run_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, emptied: no rate-limit counts left by another test."""
    redis_server.flush()
    return redis_server.url
