"""Shared fixtures; pytest puts this directory on sys.path, so tests import the fakes as `fakes.…`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from docsage.retrieval.types import Hit
from fakes.openai_server import FakeOpenAI

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
