"""Calling user code that may be plain or ``async``: hooks, change callbacks, health checks."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from framework.bounded import within


async def call_maybe_async(fn: Callable[..., Any], *args: Any, timeout: float | None = None) -> Any:
    """``fn(*args)``, awaited when it returns an awaitable; TimeoutError past ``timeout`` seconds.

    The timeout bounds only the awaiting: a plain function runs to its end (nothing can
    interrupt it without a thread), and an awaitable still pending at the limit is cancelled
    and abandoned: one that ignores its cancellation does not hold the caller up.
    """
    result = fn(*args)
    if not inspect.isawaitable(result):
        return result
    if timeout is None:
        return await result
    return await within(result, timeout)
