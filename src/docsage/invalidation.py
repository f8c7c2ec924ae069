"""Caches that follow every replica's commits: each write commit is announced over Redis, and
`Database.data_version()` answers from the announcements heard, so no request has to ask the database.

The caches keyed by `data_version()` (authenticated keys, a project's search arrays) re-read when the number
changes. On SQLite every process on the host already sees each commit through `PRAGMA data_version` (3 µs,
exact, any writer), so this is used only where the database cannot tell as cheaply (PostgreSQL).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from docsage.db.engine import Database
from docsage.pubsub import RedisBus

log = logging.getLogger(__name__)

COMMITS_CHANNEL = "docsage:commits"
# Even with every announcement heard, nothing cached is trusted for longer than this: a writer that does not
# announce (a `docsage` command run without DOCSAGE_REDIS_URL, an announcement that failed) is seen this late.
BACKSTOP_S = 1.0
_WROTE = "docsage_wrote"


class CommitFeed:
    """The version one process answers for one database: it moves on each commit announced by any process
    (this one included), on each reconnection to Redis, and at least every BACKSTOP_S; while the subscription
    is down it is None, so the caches re-read on every request until it is back."""

    def __init__(self, database: Database, bus: RedisBus, backstop_s: float = BACKSTOP_S) -> None:
        self.database = database
        self.bus = bus
        self.backstop_s = backstop_s
        self._heard = 0
        self._live = False
        self._lock = threading.Lock()

    def install(self) -> CommitFeed:
        """Announce this process's write commits and answer the database's data_version() from now on."""
        event.listen(Session, "after_flush", self._after_flush)
        event.listen(Session, "do_orm_execute", self._on_execute)
        event.listen(Session, "after_commit", self._after_commit)
        event.listen(Session, "after_rollback", self._forget)
        self.bus.subscribe(COMMITS_CHANNEL, lambda _message: self._bump())
        self.bus.on_state(self._on_state)
        self.database.announced_version = self.version
        return self

    def uninstall(self) -> None:
        self.database.announced_version = None
        event.remove(Session, "after_flush", self._after_flush)
        event.remove(Session, "do_orm_execute", self._on_execute)
        event.remove(Session, "after_commit", self._after_commit)
        event.remove(Session, "after_rollback", self._forget)

    def version(self) -> int | None:
        if not self._live:
            return None
        # Announcements heard in the high bits, the backstop's tick in the low ones: either moving changes it.
        tick = int(time.monotonic() / self.backstop_s) & 0xFFFFFFFF
        return (self._heard << 32) | tick

    def _bump(self) -> None:
        with self._lock:
            self._heard += 1

    def _on_state(self, connected: bool) -> None:
        with self._lock:
            # Announcements may have been missed while the subscription was down: nothing kept before counts.
            self._heard += 1
            self._live = connected
        if not connected:
            log.warning("commit announcements unavailable: caches re-read the database on every request")

    # which sessions wrote -------------------------------------------------------------------------------------
    def _ours(self, session: Session) -> bool:
        return session.bind is self.database.engine

    def _after_flush(self, session: Session, _flush: UOWTransaction) -> None:
        if self._ours(session):
            session.info[_WROTE] = True

    def _on_execute(self, state: ORMExecuteState) -> None:
        if (state.is_insert or state.is_update or state.is_delete) and self._ours(state.session):
            state.session.info[_WROTE] = True

    def _after_commit(self, session: Session) -> None:
        if not session.info.pop(_WROTE, False) or not self._ours(session):
            return
        # This process's own caches move at once; the others when they hear it (a few ms on a LAN).
        self._bump()
        self.bus.publish(COMMITS_CHANNEL)

    def _forget(self, session: Session, *_args: Any) -> None:
        session.info.pop(_WROTE, None)


def follow_commits(database: Database, bus: RedisBus) -> CommitFeed | None:
    """The commit feed for a database, installed once per process; None where data_version() needs none."""
    if database.is_sqlite or database.announced_version is not None:
        return None
    return CommitFeed(database, bus).install()
