"""The dashboard behind a load balancer: two real `docsage serve` replicas on one database. A login on one is a
login on the other, and a new key's one-time secret is shown on whichever replica the create-key redirect lands
(once), while the database never holds it readable."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest

from conftest import Cli, LiveServer, serve

ADMIN, PASSWORD = "admin", "correct horse battery"
NEW_KEY = re.compile(r'data-testid="new-key">([^<]+)<')


@dataclass
class Replicas:
    cli: Cli
    project: str
    one: LiveServer
    two: LiveServer


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    cli = Cli(tmp_path_factory.mktemp("dashboard-replicas"))
    project = cli.json("project", "create", "--name", "docs")
    result = cli("admin", "create-user", "--username", ADMIN, "--password", PASSWORD)
    assert result.returncode == 0, result.stderr
    with serve(cli.home) as one, serve(cli.home) as two:
        yield Replicas(cli, project["id"], one, two)


@contextmanager
def logged_in(server: LiveServer, username: str = ADMIN) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30, follow_redirects=False) as client:
        assert client.post("/admin/login", data={"username": username, "password": PASSWORD}).status_code == 303
        yield client


def csrf_of(client: httpx.Client, page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(page).text)
    assert found, "every form carries a csrf field"
    return found.group(1)


def test_the_new_key_is_shown_once_on_the_replica_the_redirect_lands_on(replicas: Replicas) -> None:
    keys_page = f"/admin/projects/{replicas.project}/keys"
    with logged_in(replicas.one) as one:
        created = one.post(keys_page, data={"scheme": "x-api-key", "name": "backend", "csrf": csrf_of(one, keys_page)})
        assert created.status_code == 303, created.text
        redirect = created.headers["location"]
        token = re.search(r"reveal=([^&]+)", redirect)
        assert token and redirect.startswith(keys_page)

        with closing(replicas.cli.connect()) as conn:
            stored = repr(conn.execute("SELECT * FROM key_reveals").fetchall())
            stored += repr(conn.execute("SELECT * FROM api_keys").fetchall())
        # The same browser session, the other replica: the balancer sent the redirect there.
        with httpx.Client(base_url=replicas.two.base_url, cookies=one.cookies, timeout=30) as two:
            shown = NEW_KEY.search(two.get(redirect).text)
            assert shown, "the secret must be shown after the redirect, on whichever replica serves it"
            secret = shown.group(1).strip()
            assert secret.startswith("dsk_")
            assert secret[4:] not in stored and token.group(1) not in stored, "the database holds it sealed only"

            project = httpx.get(
                f"{replicas.one.base_url}/query/v1/projects/{replicas.project}/", headers={"X-API-KEY": secret}
            )
            assert project.status_code == 200, project.text

            # Once: neither replica shows it again (a reload, the back button).
            assert NEW_KEY.search(two.get(redirect).text) is None
        assert NEW_KEY.search(one.get(redirect).text) is None


def test_a_link_with_the_token_shows_nothing_to_another_admin(replicas: Replicas) -> None:
    """The token is bound to the login that made the key: a leaked URL opened by someone else reveals nothing,
    and the key's maker still sees it."""
    result = replicas.cli("admin", "create-user", "--username", "other", "--password", PASSWORD)
    assert result.returncode == 0, result.stderr
    keys_page = f"/admin/projects/{replicas.project}/keys"
    with logged_in(replicas.one) as maker, logged_in(replicas.two, "other") as other:
        created = maker.post(keys_page, data={"scheme": "x-api-key", "name": "b2", "csrf": csrf_of(maker, keys_page)})
        redirect = created.headers["location"]
        assert NEW_KEY.search(other.get(redirect).text) is None
        assert NEW_KEY.search(maker.get(redirect).text) is not None


def test_the_secret_waits_no_longer_than_minutes(replicas: Replicas) -> None:
    keys_page = f"/admin/projects/{replicas.project}/keys"
    with logged_in(replicas.one) as one:
        one.post(keys_page, data={"scheme": "x-api-key", "name": "late", "csrf": csrf_of(one, keys_page)})
        with closing(replicas.cli.connect()) as conn:
            created, expires = conn.execute(
                "SELECT created_at, expires_at FROM key_reveals ORDER BY created_at DESC LIMIT 1"
            ).fetchone()
    waits = as_datetime(expires) - as_datetime(created)
    assert timedelta(minutes=4, seconds=59) < waits <= timedelta(minutes=5, seconds=1)


def as_datetime(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
