"""Commits announced over a real Redis: two databases objects with their own connections and buses stand for
two replicas, so a key revoked through one is refused by the other at once, without a query per request.

The feed is installed here on SQLite files by hand: docsage itself installs it only where `PRAGMA
data_version` cannot tell (PostgreSQL); what it does is the same on both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from conftest import RedisServer, run_redis
from docsage.db.engine import Database
from docsage.index.sqlite import SQLiteIndex
from docsage.invalidation import COMMITS_CHANNEL, CommitFeed, follow_commits
from docsage.projects.service import ProjectService
from docsage.pubsub import RedisBus


@dataclass
class Replica:
    database: Database
    bus: RedisBus
    feed: CommitFeed
    projects: ProjectService
    statements: list[str]


@pytest.fixture
def replicas(tmp_path: Path, redis_url: str) -> Iterator[Callable[[str], Replica]]:
    """`replica(url)`: one more database object on the same file, with its own Redis bus and commit feed."""
    url = f"sqlite:///{tmp_path / 'docsage.db'}"
    with ExitStack() as stack:

        def replica(redis: str = redis_url) -> Replica:
            database = Database(url)
            stack.callback(database.engine.dispose)
            bus = RedisBus(redis)
            stack.callback(bus.close)
            feed = CommitFeed(database, bus).install()
            stack.callback(feed.uninstall)
            statements: list[str] = []
            event.listen(database.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
            projects = ProjectService(database, SQLiteIndex(database.data_version))
            return Replica(database, bus, feed, projects, statements)

        yield replica


def wait_for(check: Callable[[], Any], timeout_s: float = 5.0) -> float:
    """Seconds until `check()` is truthy (fails after timeout_s)."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout_s, "condition not met in time"
        time.sleep(0.005)
    return time.monotonic() - started


def test_a_key_revoked_through_one_replica_is_refused_by_the_other_within_milliseconds(
    replicas: Callable[..., Replica],
) -> None:
    one, two = replicas(), replicas()
    wait_for(lambda: one.database.data_version() is not None and two.database.data_version() is not None)
    project = one.projects.create_project("docs")
    key = one.projects.create_key(project.id)
    assert two.projects.authenticate(key.secret) is not None

    one.projects.revoke_key(key.key.id)
    elapsed = wait_for(lambda: two.projects.authenticate(key.secret) is None, timeout_s=1.0)
    assert elapsed < 0.5


def test_while_nothing_is_committed_authentication_asks_no_database(replicas: Callable[..., Replica]) -> None:
    one, two = replicas(), replicas()
    wait_for(lambda: two.database.data_version() is not None)
    project = one.projects.create_project("docs")
    key = one.projects.create_key(project.id)
    assert two.projects.authenticate(key.secret) is not None
    two.statements.clear()
    started = time.monotonic()
    for _ in range(2000):
        assert two.projects.authenticate(key.secret) is not None
    # Only the backstop (once a second) makes it look again.
    assert len(two.statements) <= 2 * (int(time.monotonic() - started) + 1)


def test_reads_are_not_announced_and_writes_are(replicas: Callable[..., Replica], redis_url: str) -> None:
    one = replicas()
    heard: list[str] = []
    listener = RedisBus(redis_url)
    try:
        listener.subscribe(COMMITS_CHANNEL, heard.append)
        wait_for(lambda: listener.connected)
        project = one.projects.create_project("docs")
        wait_for(lambda: len(heard) == 1)
        for _ in range(20):
            one.projects.list_projects()
            one.projects.get_project(project.id)
        one.projects.create_key(project.id)
        wait_for(lambda: len(heard) == 2)
        time.sleep(0.2)
        assert len(heard) == 2
    finally:
        listener.close()


def test_cut_off_from_redis_the_caches_re_read_until_it_is_back(
    replicas: Callable[..., Replica], tmp_path: Path
) -> None:
    (tmp_path / "redis").mkdir()
    with run_redis(tmp_path / "redis") as own:
        replica = replicas(own.url)
        wait_for(lambda: replica.database.data_version() is not None)
        before = replica.database.data_version()
        stop(own)
        wait_for(lambda: replica.database.data_version() is None)
        (tmp_path / "again").mkdir()
        with run_redis(tmp_path / "again", port=own.port):
            wait_for(lambda: replica.database.data_version() is not None, timeout_s=10)
            after = replica.database.data_version()
            assert after is not None and before is not None and after >> 32 > before >> 32


def stop(server: RedisServer) -> None:
    server.process.terminate()
    server.process.wait(10)


def test_sqlite_needs_no_feed(tmp_path: Path, redis_url: str) -> None:
    """Every process on the host sees SQLite's commits through PRAGMA data_version already."""
    database = Database(f"sqlite:///{tmp_path / 'docsage.db'}")
    bus = RedisBus(redis_url)
    try:
        assert follow_commits(database, bus) is None
        assert database.announced_version is None
    finally:
        bus.close()
        database.engine.dispose()
