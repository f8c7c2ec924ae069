"""Two real `docsage serve` replicas on one database and one real Redis answer as one service: a rate limit
counts the requests of both, and a key revoked through one is refused by the other within a second."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from conftest import Cli, LiveServer, RedisServer, serve

ADMIN, PASSWORD = "admin", "correct horse battery"


@dataclass
class Replicas:
    cli: Cli
    project: str
    key: str
    key_id: str
    one: LiveServer
    two: LiveServer


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Replicas]:
    """Both replicas for the module (each test uses its own budget or key)."""
    redis_server.flush()
    cli = Cli(tmp_path_factory.mktemp("replicas"))
    project = cli.json("project", "create", "--name", "docs")
    key = cli.json("key", "create", "--project", project["id"])
    result = cli("admin", "create-user", "--username", ADMIN, "--password", PASSWORD)
    assert result.returncode == 0, result.stderr
    env = {"DOCSAGE_REDIS_URL": redis_server.url, "DOCSAGE_RATE_LIMIT_RETRIEVAL_PER_MIN": "3"}
    with serve(cli.home, env) as one, serve(cli.home, env) as two:
        yield Replicas(cli, project["id"], key["key"], key["id"], one, two)


def retrieve(server: LiveServer, project: str, key: str) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/query/v1/projects/{project}/retrieval/",
        headers={"X-API-KEY": key},
        json={"query": "How do I install it?"},
        timeout=30,
    )


def test_a_rate_limit_counts_the_requests_of_both_replicas(replicas: Replicas) -> None:
    """3 retrievals a minute for the team: two through each replica, and the fourth is refused by either."""
    one, two = replicas.one, replicas.two
    assert retrieve(one, replicas.project, replicas.key).status_code == 200
    assert retrieve(two, replicas.project, replicas.key).status_code == 200
    assert retrieve(one, replicas.project, replicas.key).status_code == 200
    for server in (two, one):
        refused = retrieve(server, replicas.project, replicas.key)
        assert refused.status_code == 429, refused.text
        assert 55 <= int(refused.headers["Retry-After"]) <= 60
        assert "limited to 3 requests per minute" in refused.json()["detail"]
    health = httpx.get(f"{one.base_url}/healthz").json()
    assert health["rate_limits"] == "redis" and health["redis"] == "ok"


def test_a_key_revoked_through_one_replica_is_refused_by_the_other_within_a_second(replicas: Replicas) -> None:
    with httpx.Client(base_url=replicas.one.base_url, timeout=30, follow_redirects=False) as admin:
        assert admin.post("/admin/login", data={"username": ADMIN, "password": PASSWORD}).status_code == 303
        keys_page = admin.get(f"/admin/projects/{replicas.project}/keys").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', keys_page)
        assert csrf

        usage = f"{replicas.two.base_url}/query/v1/projects/{replicas.project}/"
        with httpx.Client(headers={"X-API-KEY": replicas.key}, timeout=30) as client:
            for _ in range(3):  # the other replica knows the key (and keeps it in its cache)
                assert client.get(usage).status_code == 200
            revoked = admin.post(
                f"/admin/projects/{replicas.project}/keys/{replicas.key_id}/revoke", data={"csrf": csrf.group(1)}
            )
            assert revoked.status_code == 303, revoked.text
            started = time.monotonic()
            while (status := client.get(usage).status_code) == 200 and time.monotonic() - started < 5:
                time.sleep(0.01)
            elapsed = time.monotonic() - started
    assert status == 401
    assert elapsed < 1.0, f"the other replica accepted the revoked key for {elapsed:.2f} s"
