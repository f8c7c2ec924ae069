"""The HTTP server as a user meets it: a real `docsage serve` process on loopback."""

from __future__ import annotations

import httpx

import databases
from conftest import LiveServer


def test_healthz_reports_the_configuration(live_server: LiveServer) -> None:
    resp = httpx.get(f"{live_server.base_url}/healthz")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ok"
    assert body["database"] == databases.backend()
    assert body["embedding_provider"] == "local"
    assert body["llm_provider"] == "extractive"


def test_openapi_and_docs_are_served(live_server: LiveServer) -> None:
    spec = httpx.get(f"{live_server.base_url}/openapi.json").json()
    assert "/healthz" in spec["paths"]
    page = httpx.get(f"{live_server.base_url}/docs")
    assert page.status_code == 200
    assert "swagger" in page.text.lower()


def test_unknown_route_is_a_json_404(live_server: LiveServer) -> None:
    resp = httpx.get(f"{live_server.base_url}/no/such/route")
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/json")
    assert "detail" in resp.json()
