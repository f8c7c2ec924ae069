"""One Redis pub/sub link per process: announce on a channel, hear other processes' announcements."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

Handler = Callable[[str], None]
StateListener = Callable[[bool], None]


class RedisBus:
    """Publishes from any thread; one listener thread (started by the first `subscribe`) calls each channel's
    handlers with every message. Pub/sub delivers at most once, so a listener is told when the subscription is
    cut (messages may be lost from then on) and when it is back: a cache must not trust what it kept meanwhile.
    """

    POLL_S = 0.2  # how often the listener looks for new subscriptions and for `close`
    RECONNECT_S = 1.0

    def __init__(self, url: str) -> None:
        import redis

        self.url = url
        # Short timeouts: an announcement is made after a commit, on the request's thread.
        self._client: redis.Redis = redis.Redis.from_url(
            url, socket_connect_timeout=1.0, socket_timeout=1.0, health_check_interval=10
        )
        self._handlers: dict[str, list[Handler]] = {}
        self._state_listeners: list[StateListener] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._changed = threading.Event()  # a channel was added: the listener subscribes to it
        self.connected = False
        self._publish_failing = False
        self._publish_retry_at = 0.0

    def publish(self, channel: str, message: str = "") -> bool:
        """Announce; False (and a warning, once until it works again) when Redis cannot be reached. After a
        failure, announcements are skipped for RECONNECT_S rather than each waiting for the timeout (listeners
        cut off meanwhile re-read anyway, and others trust their caches for at most a second)."""
        import redis

        if time.monotonic() < self._publish_retry_at:
            return False
        try:
            self._client.publish(channel, message)
        except redis.RedisError as exc:
            if not self._publish_failing:
                log.warning("cannot announce on Redis channel %s: %s", channel, exc)
            self._publish_failing = True
            self._publish_retry_at = time.monotonic() + self.RECONNECT_S
            return False
        self._publish_failing = False
        return True

    def subscribe(self, channel: str, handler: Handler) -> None:
        with self._lock:
            self._handlers.setdefault(channel, []).append(handler)
            self._changed.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, name="redis-bus", daemon=True)
                self._thread.start()

    def on_state(self, listener: StateListener) -> None:
        """`listener(True)` once every subscribed channel is listened to (again), `listener(False)` when cut off."""
        with self._lock:
            self._state_listeners.append(listener)
            connected = self.connected
        listener(connected)

    def ping(self) -> bool:
        import redis

        try:
            return bool(self._client.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._client.close()

    # the listener thread ------------------------------------------------------------------------------------
    def _listen(self) -> None:
        import redis

        while not self._stop.is_set():
            pubsub = self._client.pubsub()  # type: ignore[no-untyped-call]
            try:
                self._serve(pubsub)
            except redis.RedisError as exc:
                if self.connected:
                    log.warning("Redis subscription lost (%s); reconnecting every %.0f s", exc, self.RECONNECT_S)
                self._set_connected(False)
                self._stop.wait(self.RECONNECT_S)
            finally:
                with contextlib.suppress(redis.RedisError):
                    pubsub.close()
        self._set_connected(False)

    def _serve(self, pubsub: redis.client.PubSub) -> None:
        subscribed: set[str] = set()
        while not self._stop.is_set():
            if self._changed.is_set() or not subscribed:
                self._changed.clear()
                with self._lock:
                    wanted = set(self._handlers)
                if wanted - subscribed:
                    pubsub.subscribe(*sorted(wanted - subscribed))  # type: ignore[no-untyped-call]
                    # Subscribed once Redis confirms: only then is every later announcement heard.
                    self._await_confirmations(pubsub, len(wanted - subscribed))
                    subscribed |= wanted
                    if not self.connected:
                        log.info("Redis subscription to %s established", ", ".join(sorted(subscribed)))
                    self._set_connected(True)
            message = pubsub.get_message(timeout=self.POLL_S)
            if message is not None and message.get("type") == "message":
                self._dispatch(message)

    def _await_confirmations(self, pubsub: redis.client.PubSub, count: int) -> None:
        import redis

        deadline = time.monotonic() + 5
        while count > 0:
            if time.monotonic() > deadline:
                raise redis.TimeoutError("Redis did not confirm the subscription")
            message = pubsub.get_message(timeout=0.5)
            if message is None:
                continue
            if message.get("type") == "subscribe":
                count -= 1
            elif message.get("type") == "message":
                self._dispatch(message)

    def _dispatch(self, message: dict[str, object]) -> None:
        channel = message["channel"]
        data = message["data"]
        name = channel.decode() if isinstance(channel, bytes) else str(channel)
        text = data.decode() if isinstance(data, bytes) else str(data)
        with self._lock:
            handlers = list(self._handlers.get(name, ()))
        for handler in handlers:
            try:
                handler(text)
            except Exception:
                log.exception("handler of Redis channel %s failed", name)

    def _set_connected(self, connected: bool) -> None:
        with self._lock:
            changed = connected != self.connected
            self.connected = connected
            listeners = list(self._state_listeners)
        if changed:
            for listener in listeners:
                listener(connected)


@lru_cache(maxsize=4)
def get_bus(url: str) -> RedisBus:
    """The process's bus for a Redis URL (one connection and one listener thread, however many users)."""
    return RedisBus(url)
