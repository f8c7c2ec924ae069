"""New keys' secrets waiting server-side to be shown once: to their user, before they expire, sealed meanwhile."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from sqlalchemy import text

from docsage.accounts import KeyReveals
from docsage.accounts.reveals import seal, unseal
from docsage.db.engine import Database
from docsage.services import Services

SECRET = "dsk_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"


@pytest.fixture
def users(services: Services) -> tuple[str, str]:
    alice = services.admin.create_user("alice", "correct horse battery")
    bob = services.admin.create_user("bob", "correct horse battery")
    return alice.id, bob.id


def test_shown_once_to_its_user(services: Services, users: tuple[str, str]) -> None:
    alice, bob = users
    token = services.reveals.stash(alice, SECRET)
    assert services.reveals.take(token, bob) is None  # another user's visit neither sees nor spends it
    assert services.reveals.take("", alice) is None
    assert services.reveals.take(token + "x", alice) is None
    assert services.reveals.take(token, alice) == SECRET
    assert services.reveals.take(token, alice) is None


def test_another_replica_shows_it(services: Services, users: tuple[str, str]) -> None:
    """Another replica: its own engine and connections, the same database."""
    alice, _ = users
    token = services.reveals.stash(alice, SECRET)
    replica = Database(services.database.url)
    try:
        assert KeyReveals(replica).take(token, alice) == SECRET
    finally:
        replica.engine.dispose()
    assert services.reveals.take(token, alice) is None


def test_expired_is_gone(services: Services, users: tuple[str, str]) -> None:
    alice, _ = users
    token = KeyReveals(services.database, ttl=timedelta(seconds=-1)).stash(alice, SECRET)
    assert services.reveals.take(token, alice) is None


def test_the_database_holds_neither_the_secret_nor_the_token(services: Services, users: tuple[str, str]) -> None:
    alice, _ = users
    token = services.reveals.stash(alice, SECRET)
    with services.database.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM key_reveals")).fetchall()
    stored = repr(rows)
    assert len(rows) == 1
    assert SECRET[4:] not in stored and token not in stored
    assert services.reveals.take(token, alice) == SECRET


def test_sealing() -> None:
    sealed = seal("token-1", SECRET)
    assert unseal("token-1", sealed) == SECRET
    assert unseal("token-2", sealed) is None  # another token opens nothing
    assert seal("token-2", SECRET) != sealed
    tampered = bytearray(base64.b64decode(sealed))
    tampered[-1] ^= 1
    assert unseal("token-1", base64.b64encode(bytes(tampered)).decode()) is None
