"""Component tasks: the background work a component runs, owned by the framework.

A component asks for the ``tasks`` service (a constructor parameter of that name) and starts
its long-running work with ``tasks.spawn(coro, name=...)`` instead of ``asyncio.create_task``.
A spawned task that dies with an exception is logged at once, with its traceback, and its
component counts as unhealthy until it is started again (the health monitor reads
``failure``; the supervisor restarts it). Tasks still running when the component stops are
cancelled after its ``stop()``, and those of a failed start with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from loguru import logger

T = TypeVar("T")


class ComponentTasks:
    """The tasks one component spawned, and why the first of them that died did so."""

    def __init__(self, component: str) -> None:
        self.component = component
        self.failure: str | None = None  # the first crash since the component last started
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        """Run ``coro`` as a task of this component; the framework watches it and cancels it at stop."""
        task = asyncio.get_running_loop().create_task(coro, name=name or f"{self.component}-task")
        self._tasks.add(task)
        task.add_done_callback(self._ended)
        return task

    def __len__(self) -> int:
        """How many spawned tasks are still running."""
        return len(self._tasks)

    def _ended(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is None:
            return
        reason = f"task '{task.get_name()}' died: {type(error).__name__}: {error}"
        if self.failure is None:
            self.failure = reason
        logger.bind(component=self.component, event="component.task_failed", task=task.get_name()).opt(
            exception=error
        ).error(reason)

    def reset(self) -> None:
        """Forget an earlier crash (the component starts again)."""
        self.failure = None

    def cancel(self) -> None:
        """Cancel every running task without waiting (a failed start)."""
        for task in self._tasks:
            task.cancel()

    async def close(self, timeout: float = 1.0) -> None:
        """Cancel every running task and wait, at most ``timeout`` seconds, for them to end."""
        tasks = list(self._tasks)
        self.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
