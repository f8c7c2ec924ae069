"""Code as documents: sections along definitions in every language, through `parse()`, the real chunker and the real
CLI (`docsage ingest` and `docsage search` over a folder and a git repository)."""

from __future__ import annotations

import json
import random
import re
import subprocess
from pathlib import Path

import pytest

from conftest import Cli
from docsage.embed.base import Embedder
from docsage.errors import InvalidInputError
from docsage.ingest.chunk import Chunker
from docsage.ingest.connectors.folder import CODE_FORMATS
from docsage.ingest.languages import LANGUAGES, code_title
from docsage.ingest.parse import ParsedDocument, parse

CLIENT_PY = '''\
#!/usr/bin/env python3
"""Skyloom Python client: upload files to a vault over HTTPS."""

from __future__ import annotations

import json
import urllib.request

# Largest request body the Skyloom API accepts, in bytes; bigger uploads are rejected with HTTP 413.
MAX_PAYLOAD_BYTES = 5 * 1024 * 1024
DEFAULT_TIMEOUT_S = 30


class PayloadTooLarge(Exception):
    """Raised before sending a body over MAX_PAYLOAD_BYTES."""


class Client:
    """A connection to one Skyloom vault."""

    retries = 3

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token

    # Uploads go to /v1/files; the server answers with the new file's id.
    def send(self, payload: bytes) -> str:
        """Upload one file to the vault.

        Payloads over MAX_PAYLOAD_BYTES raise PayloadTooLarge without contacting the server.
        """
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise PayloadTooLarge(len(payload))
        request = urllib.request.Request(self.base_url + "/v1/files", data=payload)
        with urllib.request.urlopen(request, timeout=DEFAULT_TIMEOUT_S) as response:
            return str(json.load(response)["id"])

    @property
    def url(self) -> str:
        return self.base_url


if __name__ == "__main__":
    print(Client("https://vault.skyloom.example", "token").send(b"hello"))
'''

# Python 2 syntax: Python's parser refuses it, the indentation scan still finds the definitions.
LEGACY_PY = '''\
"""Skyloom helpers kept from the Python 2 days."""

RETRY_BACKOFF_SECONDS = 7

# Sends a heartbeat so the vault keeps the session open.
def heartbeat(session):
    print "heartbeat", session
    return True

class LegacyUploader:
    def upload(self, path):
        print "uploading", path
'''


def sections(doc: ParsedDocument) -> dict[str, str]:
    """Heading path (joined with ' > ') → the section's text."""
    return {" > ".join(s.heading_path): "\n\n".join(b.text for b in s.blocks) for s in doc.sections}


def test_python_is_split_along_its_definitions() -> None:
    doc = parse(CLIENT_PY.encode(), "code:python", "file:///repo/sdk/client.py")
    assert doc.title == "client.py (Python)"
    found = sections(doc)
    assert list(found) == [
        "",
        "imports",
        "MAX_PAYLOAD_BYTES, DEFAULT_TIMEOUT_S",
        "class PayloadTooLarge",
        "class Client",
        "class Client > def __init__",
        "class Client > def send",
        "class Client > def url",
        'if __name__ == "__main__"',
    ]
    assert found[""].startswith("Skyloom Python client: upload files"), "the module docstring is prose"
    assert "MAX_PAYLOAD_BYTES = 5 * 1024 * 1024" in found["MAX_PAYLOAD_BYTES, DEFAULT_TIMEOUT_S"]
    send = next(s for s in doc.sections if s.heading_path == ("class Client", "def send"))
    prose, code = send.blocks[:-1], send.blocks[-1]
    assert [b.is_code for b in send.blocks] == [False, False, True]
    assert prose[0].text == "Uploads go to /v1/files; the server answers with the new file's id."
    assert prose[1].text.startswith("Upload one file to the vault.\n\nPayloads over MAX_PAYLOAD_BYTES")
    # The whole method, dedented and fenced; its docstring is the prose above, not repeated in the code.
    assert code.text.startswith("```python\ndef send(self, payload: bytes) -> str:\n    if len(payload)")
    assert code.text.endswith('return str(json.load(response)["id"])\n```')
    assert '"""' not in code.text
    client = next(s for s in doc.sections if s.heading_path == ("class Client",))
    assert client.blocks[-1].text == "```python\nclass Client:\n\n    retries = 3\n\n    ...\n```"


def test_python_with_a_syntax_error_is_split_by_indentation() -> None:
    doc = parse(LEGACY_PY.encode(), "code:python", "file:///repo/legacy.py")
    found = sections(doc)
    assert list(found) == ["", "def heartbeat", "class LegacyUploader", "class LegacyUploader > def upload"]
    assert "RETRY_BACKOFF_SECONDS = 7" in found[""]
    assert found["def heartbeat"].startswith("Sends a heartbeat so the vault keeps the session open.\n\n```python")
    assert 'print "uploading", path' in found["class LegacyUploader > def upload"]


SAMPLES: dict[str, tuple[str, str, list[str]]] = {
    "typescript": (
        "client.ts",
        """\
import { request } from "./http";

/** Largest body the API accepts, in bytes. */
export const MAX_PAYLOAD_BYTES = 5 * 1024 * 1024;

/** A connection to one Skyloom vault. */
export class Client {
  private token: string;

  constructor(private baseUrl: string, token: string) {
    this.token = token;
  }

  /** Upload one file; throws over MAX_PAYLOAD_BYTES. */
  async send(payload: Uint8Array): Promise<string> {
    return (await request(this.baseUrl, payload)).id;
  }
}

export function connect(url: string): Client {
  return new Client(url, "");
}
""",
        ["imports", "const MAX_PAYLOAD_BYTES", "class Client", "class Client > constructor()",
         "class Client > send()", "function connect"],
    ),
    "go": (
        "client.go",
        """\
// Package skyloom is the Go client for Skyloom vaults.
package skyloom

import (
\t"net/http"
)

// MaxPayloadBytes is the largest body the API accepts.
const MaxPayloadBytes = 5 << 20

// Client talks to one vault.
type Client struct {
\tBaseURL string
}

// Send uploads one file and returns its id.
func (c *Client) Send(payload []byte) (string, error) {
\t_, err := http.Post(c.BaseURL, "application/octet-stream", nil)
\treturn "", err
}
""",
        ["imports", "const MaxPayloadBytes", "type Client", "func (c *Client) Send"],
    ),
    "rust": (
        "lib.rs",
        """\
//! Skyloom client for Rust.

/// Largest body the API accepts.
pub const MAX_PAYLOAD_BYTES: usize = 5 * 1024 * 1024;

/// A connection to one vault.
#[derive(Debug)]
pub struct Client {
    base_url: String,
}

impl Client {
    /// Uploads one file.
    pub async fn send(&self, payload: &[u8]) -> Result<String, Error> {
        Ok(String::new())
    }
}

impl<T: Into<String>> From<T> for Client {
    fn from(url: T) -> Self {
        Client { base_url: url.into() }
    }
}
""",
        ["", "const MAX_PAYLOAD_BYTES", "struct Client", "impl Client", "impl Client > fn send",
         "impl From for Client", "impl From for Client > fn from"],
    ),
    "java": (
        "Client.java",
        """\
package dev.skyloom;

import java.util.Map;

/** A connection to one Skyloom vault. */
public class Client {
    /** Largest body the API accepts, in bytes. */
    public static final int MAX_PAYLOAD_BYTES = 5 * 1024 * 1024;

    public Client(String baseUrl) {
        this.baseUrl = baseUrl;
    }

    /**
     * Uploads one file.
     * @param payload at most MAX_PAYLOAD_BYTES
     */
    @Override
    public String send(byte[] payload) throws TooLargeException {
        return "";
    }
}
""",
        ["imports", "class Client", "class Client > Client()", "class Client > send()"],
    ),
    "csharp": (
        "Client.cs",
        """\
using System;

namespace Skyloom
{
    /// <summary>A connection to one vault.</summary>
    public class Client
    {
        public const int MaxPayloadBytes = 5 * 1024 * 1024;

        /// <summary>Uploads one file.</summary>
        public async Task<string> SendAsync(byte[] payload)
        {
            return "";
        }
    }
}
""",
        ["imports", "namespace Skyloom", "namespace Skyloom > class Client",
         "namespace Skyloom > class Client > SendAsync()"],
    ),
    "c": (
        "client.c",
        """\
/* Skyloom C client. */
#include <stddef.h>

#define MAX_PAYLOAD_BYTES (5 * 1024 * 1024)
#define DEFAULT_TIMEOUT 30

struct client {
    const char *base_url;
};

/* Upload one file; returns -1 over MAX_PAYLOAD_BYTES. */
int
skyloom_send(struct client *c, const char *payload, size_t len)
{
    return len > MAX_PAYLOAD_BYTES ? -1 : 0;
}

static struct client *client_new(const char *url) {
    return NULL;
}
""",
        ["imports", "#define MAX_PAYLOAD_BYTES, #define DEFAULT_TIMEOUT", "struct client", "skyloom_send()",
         "client_new()"],
    ),
    "ruby": (
        "client.rb",
        """\
require "net/http"

module Skyloom
  MAX_PAYLOAD_BYTES = 5 * 1024 * 1024

  # A connection to one vault.
  class Client
    # Uploads one file.
    def send_file(payload)
      "id"
    rescue IOError
      nil
    end
  end
end
""",
        ["imports", "module Skyloom", "module Skyloom > class Client", "module Skyloom > class Client > def send_file"],
    ),
    "php": (
        "Client.php",
        """\
<?php

namespace Skyloom;

/** A connection to one vault. */
class Client
{
    const MAX_PAYLOAD_BYTES = 5242880;

    /** Uploads one file. */
    public function send(string $payload): string
    {
        return "";
    }
}
""",
        ["", "class Client", "class Client > function send"],
    ),
    "shell": (
        "deploy.sh",
        """\
#!/usr/bin/env bash
set -euo pipefail

# Push the build to the vault.
deploy() {
  rsync -a build/ "$1"
}

function rollback {
  echo "rolling back"
}
""",
        ["", "deploy()", "rollback()"],
    ),
    "sql": (
        "schema.sql",
        """\
-- Skyloom schema.

-- One row per stored file; size is capped at MAX_PAYLOAD_BYTES.
CREATE TABLE files (
    id TEXT PRIMARY KEY,
    size INTEGER NOT NULL CHECK (size <= 5242880)
);

create index if not exists files_size on files (size);
""",
        ["", "CREATE TABLE files", "CREATE INDEX files_size"],
    ),
    "kotlin": (
        "Client.kt",
        """\
package dev.skyloom

/** A connection to one vault. */
class Client(private val baseUrl: String) {
    /** Uploads one file. */
    fun send(payload: ByteArray): String {
        return ""
    }
}
""",
        ["imports", "class Client", "class Client > fun send"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("lang", sorted(SAMPLES))
def test_each_language_is_split_along_its_definitions(lang: str) -> None:
    name, source, headings = SAMPLES[lang]
    doc = parse(source.encode(), f"code:{lang}", f"file:///repo/{name}")
    assert doc.title == f"{name} ({LANGUAGES[lang].name})"
    assert list(sections(doc)) == headings
    fence = f"```{LANGUAGES[lang].fence}\n"
    code = [b.text for s in doc.sections for b in s.blocks if b.is_code]
    assert code and all(text.startswith(fence) and text.endswith("\n```") for text in code)


def test_doc_comments_become_prose_and_every_code_line_is_kept() -> None:
    _, source, _ = SAMPLES["java"]
    doc = parse(source.encode(), "code:java", "file:///repo/Client.java")
    send = sections(doc)["class Client > send()"]
    assert send.startswith("Uploads one file.\n@param payload at most MAX_PAYLOAD_BYTES\n\n```java\n@Override")
    shown = "\n".join(b.text for s in doc.sections for b in s.blocks)
    for line in source.splitlines():
        inside_a_doc_comment = line.strip().startswith(("/**", "*"))
        if line.strip() and not inside_a_doc_comment and line.strip() != "}":
            assert line.strip() in shown, f"code line lost: {line!r}"


def test_small_config_is_one_block_and_a_long_one_is_split_at_its_keys() -> None:
    small = b"# Upload limits\nlimits:\n  max_payload_bytes: 5242880\n  timeout_s: 30\n"
    doc = parse(small, "code:yaml", "file:///repo/config.yaml")
    assert doc.title == "config.yaml (YAML)"
    assert [(s.heading_path, [b.is_code for b in s.blocks]) for s in doc.sections] == [((), [True])]

    services = "".join(f"  web{i}:\n    image: skyloom/web:{i}\n    ports:\n    - {8000 + i}\n" for i in range(12))
    long = "name: skyloom\nversion: 2\n\n# Upload limits.\nlimits:\n  max_payload_bytes: 5242880\nservices:\n"
    found = sections(parse((long + services).encode(), "code:yaml", "file:///repo/compose.yaml"))
    assert list(found) == [
        "name, version, limits",
        "services",
        "services > web0, web1, web2, …",
        "services > web10, web11",
    ]
    assert "# Upload limits.\nlimits:\n  max_payload_bytes: 5242880" in found["name, version, limits"]

    package = {"name": "skyloom-sdk", "scripts": {f"task{i}": f"run {i}" for i in range(30)}, "private": True,
               "dependencies": {f"dep{i}": f"^{i}.0.0" for i in range(30)}}  # fmt: skip
    found = sections(parse(json.dumps(package, indent=2).encode(), "code:json", "file:///repo/package.json"))
    assert list(found) == ["name, scripts, private", "dependencies"], "neighbouring keys share up to 40 lines"
    assert '"task29": "run 29"' in found["name, scripts, private"]

    toml = "name = 'skyloom'\n\n" + "".join(f"[[plugins]]\nname = 'p{i}'\nenabled = true\n\n" for i in range(15))
    found = sections(parse(toml.encode(), "code:toml", "file:///repo/skyloom.toml"))
    assert list(found) == ["name, [plugins]", "[plugins]"]


def test_a_long_definition_is_chunked_whole_lines_under_its_heading(minilm: Embedder) -> None:
    body = "\n".join(f"        total += compute_block_checksum(block_{i}, seed={i})  # block {i}" for i in range(120))
    docstring = '        """Add up the checksums of every block."""'
    source = f"class Vault:\n    def checksum(self) -> int:\n{docstring}\n{body}\n"
    doc = parse(source.encode(), "code:python", "file:///repo/vault.py")
    drafts = Chunker(minilm.count_tokens, minilm.max_tokens).chunk(doc)
    method = [d for d in drafts if d.heading_path == "vault.py (Python) > class Vault > def checksum"]
    assert len(method) > 2, "a 120-line method does not fit one 256-token chunk"
    assert all(d.token_count <= minilm.max_tokens for d in drafts)
    code_parts = [d.text[d.text.index("```python") :] for d in method]
    assert all(p.startswith("```python\n") and p.endswith("\n```") for p in code_parts), "each part is fenced"
    lines = [line for p in code_parts for line in p.split("\n") if "compute_block_checksum" in line]
    assert len(lines) == 120 and all(line.endswith(f"# block {i}") for i, line in enumerate(lines))


@pytest.mark.parametrize("fmt", sorted(set(CODE_FORMATS.values()) - {"notebook"}))
def test_no_file_fails_to_parse(fmt: str) -> None:
    """Every format a folder hands over has a parser, and unbalanced, truncated or random text never raises."""
    rng = random.Random(fmt)
    pieces = ["{", "}", "(", ")", "def ", "class ", "fn ", "/*", "*/", "#", "--", '"', "'", "\n", "  ", "x", ":"]
    for _ in range(30):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 400)))
        assert isinstance(parse(text.encode(), fmt, "file:///repo/random"), ParsedDocument)
    assert parse(b"", fmt, "file:///repo/empty").sections == []
    assert code_title("sdk/x", fmt).startswith("sdk/x (")


def test_an_unknown_language_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="no parser"):
        parse(b"x = 1", "code:cobol", "file:///repo/x.cbl")


# --- end to end: the real CLI over a folder and a git repository -------------------------------------------

NOTEBOOK = {
    "cells": [
        {"cell_type": "markdown", "source": ["# Measuring vault throughput\n", "\n", "Upload a batch of files and "
                                             "time how long the vault takes to ingest them."]},
        {"cell_type": "code", "source": ["import time\n", "started = time.perf_counter()\n",
                                         "upload_batch(files, concurrency=8)\n",
                                         "throughput_mbps = total_megabytes / (time.perf_counter() - started)"],
         "outputs": [{"output_type": "stream", "name": "stdout", "text": ["412.5\n"]}]},
    ],
    "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
    "nbformat": 4,
}  # fmt: skip
MINIFIED_JS = ("var a=function(b,c){return b+c};" * 200 + "\n").encode()


def write_project(root: Path) -> Path:
    files = {
        "README.md": "# Skyloom SDK\n\nClients for the Skyloom vault API.\n",
        "sdk/client.py": CLIENT_PY,
        "sdk/legacy.py": LEGACY_PY,
        "notebooks/throughput.ipynb": json.dumps(NOTEBOOK, indent=1),
        "web/assets/app.js": MINIFIED_JS.decode(),
        "web/vendor.min.js": "function x(){return 1}\n",
        "web/node_modules/left-pad/index.js": "module.exports = function leftPad(s) { return s; };\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def ingest_and_search(run_cli: Cli, source: list[str | Path]) -> tuple[subprocess.CompletedProcess[str], str]:
    project = run_cli.json("project", "create", "--name", "Skyloom SDK")["id"]
    run_cli.json("source", "add", "--project", project, *source)
    return run_cli("ingest", "--project", project), project


def test_cli_indexes_code_and_notebooks_from_a_folder(run_cli: Cli, tmp_path: Path) -> None:
    root = write_project(tmp_path / "skyloom-sdk")
    result, project = ingest_and_search(run_cli, ["--type", "folder", "--path", root])
    assert result.returncode == 0, result.stderr
    assert "added 4, updated 0, unchanged 0, deleted 0, failed 0, skipped 3" in result.stdout, result.stdout
    skipped = dict(re.findall(r"^skipped (\S+): (.+)$", result.stderr, re.MULTILINE))
    assert skipped == {
        (root / "web/assets/app.js").as_uri(): "minified: 100% of it in lines over 500 characters, 6% spaces",
        (root / "web/node_modules").as_uri(): "vendored dependencies, not indexed",
        (root / "web/vendor.min.js").as_uri(): "minified or generated code (named *.min.js)",
    }, result.stderr

    def top(query: str) -> dict[str, str]:
        hits: list[dict[str, str]] = run_cli.json("search", "--project", project, query, "--top-k", "3")
        return hits[0]

    for query in ["MAX_PAYLOAD_BYTES", "largest request body the API accepts"]:
        limit = top(query)
        assert limit["source_url"] == (root / "sdk/client.py").as_uri()
        assert limit["heading_path"] == "sdk/client.py (Python) > MAX_PAYLOAD_BYTES, DEFAULT_TIMEOUT_S"
        assert "MAX_PAYLOAD_BYTES = 5 * 1024 * 1024" in limit["content"]
    send = top("Which method uploads a file to the vault?")
    assert send["heading_path"] == "sdk/client.py (Python) > class Client > def send"
    assert "```python\ndef send(self, payload: bytes) -> str:" in send["content"]
    legacy = top("heartbeat keeps the session open")
    assert legacy["heading_path"] == "sdk/legacy.py (Python) > def heartbeat", "a file with a syntax error is indexed"
    notebook_prose = top("how long does the vault take to ingest a batch of files")
    assert notebook_prose["title"] == "Measuring vault throughput"
    assert notebook_prose["source_url"] == (root / "notebooks/throughput.ipynb").as_uri()
    notebook_code = top("throughput_mbps upload_batch concurrency")
    assert "upload_batch(files, concurrency=8)" in notebook_code["content"]
    assert "```python" in notebook_code["content"] and "412.5" in notebook_code["content"]


def test_cli_indexes_code_from_a_git_repository(run_cli: Cli, tmp_path: Path) -> None:
    root = write_project(tmp_path / "skyloom-sdk")
    (root / "dist").mkdir()
    (root / "dist" / "client.py").write_text(CLIENT_PY.replace("5 * 1024 * 1024", "1"))  # a built copy
    git = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "--quiet", "--initial-branch=main"], cwd=root, check=True)
    subprocess.run([*git, "add", "."], cwd=root, check=True)
    subprocess.run([*git, "commit", "--quiet", "-m", "sdk"], cwd=root, check=True)
    template = "https://git.skyloom.example/sdk/blob/{ref}/{path}"
    result, project = ingest_and_search(
        run_cli, ["--type", "git", "--path", root, "--ref", "main", "--url-template", template]
    )
    assert result.returncode == 0, result.stderr
    assert "added 4, updated 0, unchanged 0, deleted 0, failed 0, skipped 4" in result.stdout, result.stdout
    assert "skipped https://git.skyloom.example/sdk/blob/main/dist: code under dist/ is vendored" in result.stderr
    assert "web/node_modules: code under web/node_modules/ is vendored" in result.stderr

    hits = run_cli.json("search", "--project", project, "largest request body the API accepts", "--top-k", "1")
    assert hits[0]["source_url"] == "https://git.skyloom.example/sdk/blob/main/sdk/client.py"
    assert hits[0]["heading_path"] == "sdk/client.py (Python) > MAX_PAYLOAD_BYTES, DEFAULT_TIMEOUT_S"
