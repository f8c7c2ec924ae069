"""GET /query/v1/projects/{id}/sources/ through a real server: what a source's description gives away."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Cli, serve, write_docs

from .conftest import create_project

# Credentials people paste into source URLs: userinfo, and tokens in the query string.
SECRETS = ("alice", "s3cret", "ghp_0123456789abcdef", "oauth2", "tok-42", "token=")


@dataclass
class Listing:
    docs: Path
    spec: Path
    body: str
    by_name: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def listing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listing]:
    root = tmp_path_factory.mktemp("kapa-sources")
    cli = Cli(root / "home")
    (root / "home").mkdir()
    docs = write_docs(root)
    spec = root / "specs" / "openapi.yaml"
    spec.parent.mkdir()
    spec.write_text("openapi: 3.0.3\ninfo: {title: Skyloom, version: '1'}\npaths: {}\n")
    project = create_project(cli, "Sources")
    add = ("source", "add", "--project", project.id)
    cli.json(*add, "--type", "folder", "--path", docs, "--name", "manual")
    cli.json(*add, "--type", "openapi", "--path", spec, "--name", "api-spec")
    cli.json(
        *add,
        "--type",
        "web",
        "--url",
        "https://alice:s3cret@docs.skyloom.example/guide/?token=tok-42",
        "--name",
        "site",
    )
    cli.json(
        *add,
        "--type",
        "openapi",
        "--url",
        "https://api.skyloom.example:8443/openapi.yaml?token=tok-42",
        "--name",
        "api",
    )
    cli.json(
        *add,
        "--type",
        "git",
        "--url",
        "https://oauth2:ghp_0123456789abcdef@github.com/skyloom/docs.git",
        "--name",
        "repo",
    )
    with serve(cli.home) as server:
        response = httpx.get(
            f"{server.base_url}/query/v1/projects/{project.id}/sources/", headers={"X-API-KEY": project.key}, timeout=30
        )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    yield Listing(docs, spec, response.text, {s["name"]: s for s in results})


def test_local_sources_show_their_name_not_a_server_path(listing: Listing) -> None:
    assert listing.by_name["manual"]["description"] == "manual"
    assert listing.by_name["api-spec"]["description"] == "api-spec"
    for path in (listing.docs.resolve(), listing.spec.resolve(), listing.docs.parent.resolve()):
        assert str(path) not in listing.body


def test_url_sources_show_their_url_without_credentials(listing: Listing) -> None:
    assert listing.by_name["site"]["description"] == "https://docs.skyloom.example/guide/"
    assert listing.by_name["api"]["description"] == "https://api.skyloom.example:8443/openapi.yaml"
    assert listing.by_name["repo"]["description"] == "https://github.com/skyloom/docs.git"
    for secret in SECRETS:
        assert secret not in listing.body
