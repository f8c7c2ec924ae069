"""CPU-bound request work (query embedding, index search) off the event loop, a bounded number at once.

Starlette runs plain `def` routes in a 40-thread pool. For searches that is too many: they hold the GIL for
most of their time outside ONNX Runtime, so forty of them only convoy behind one another (at 10k chunks,
16 concurrent clients: 94 req/s with 40 threads, 143 with 2). One search per core keeps the cores busy and
the queue in the event loop, where waiting is cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import FastAPI, Request

T = TypeVar("T")


def install(app: FastAPI, threads: int) -> None:
    """Queued retrievals wait here, in the event loop, rather than in thread-pool threads blocked on the
    retrieval service's own turns (which bound every other caller the same way)."""
    app.state.search_limiter = CapacityLimiter(threads)


async def run_search(request: Request, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    limiter: CapacityLimiter = request.app.state.search_limiter
    return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=limiter)
