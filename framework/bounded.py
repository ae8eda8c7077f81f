"""Bounded waiting: work past its time is cancelled and abandoned, never awaited to its end.

``asyncio.wait_for`` cancels an overdue awaitable and then waits for it to finish: user code
that swallows ``CancelledError`` (or blocks in a thread) holds the caller, and a reload, a stop
or the process exit, up for as long as it likes. Here the caller gets its ``TimeoutError`` at the
deadline; the work is cancelled and left to end on its own. Threads that run such work are
daemon threads, so an interpreter on its way out does not join them either, and the loop
``run`` drives gives the tasks still running at the end a grace period, not a wait.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from loguru import logger

T = TypeVar("T")
EXIT_GRACE = 1.0  # seconds the tasks left at exit get to end after being cancelled


async def within(work: Awaitable[T], timeout: float | None) -> T:
    """``await work``, for at most ``timeout`` seconds (None: no limit).

    Past the limit the work is cancelled and TimeoutError raised at once; if the caller is
    cancelled meanwhile, the work is cancelled and the caller's cancellation goes on at once.
    Either way nothing waits for the work to acknowledge its cancellation.
    """
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:
        _abandon(task)
        raise
    if not done:
        _abandon(task)
        raise TimeoutError
    return task.result()


def _abandon(task: asyncio.Future[Any]) -> None:
    task.cancel()
    task.add_done_callback(_consume)


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned task's outcome: nobody awaits it, so asyncio would warn."""
    if not task.cancelled():
        task.exception()


def in_daemon_thread(fn: Callable[..., T], *args: Any, name: str = "worker") -> asyncio.Future[T]:
    """Run ``fn(*args)`` in a new daemon thread; a future of its result, in the running loop.

    Unlike ``asyncio.to_thread`` (the loop's executor, whose threads the loop and the
    interpreter join at exit), a thread stuck for good (an import that never returns, a
    blocking read) is abandoned with the future: cancelling it does not wait for the thread.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():  # cancelled: nobody waits for this any more
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def work() -> None:
        result, error = None, None
        try:
            result = context.run(fn, *args)
        except BaseException as exc:  # handed to the awaiting task, raised there
            error = exc
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the loop is closed: the process is on its way out
            pass

    threading.Thread(target=work, name=name, daemon=True).start()
    return future


def run_apart(main: Coroutine[Any, Any, T], name: str) -> T:
    """``main``'s result, run to the end on an event loop of its own in a thread named ``name``:
    for work done once before an app is built, which may be made inside a running loop."""
    with ThreadPoolExecutor(1, thread_name_prefix=name) as pool:
        return pool.submit(asyncio.run, main).result()


def run(main: Coroutine[Any, Any, T], grace: float = EXIT_GRACE) -> T:
    """``asyncio.run(main)``, except that what still runs when ``main`` returns is cancelled and
    given ``grace`` seconds to end, then left behind: the process exits all the same."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            _end_leftovers(loop, grace)
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _end_leftovers(loop: asyncio.AbstractEventLoop, grace: float) -> None:
    leftovers = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in leftovers:
        task.cancel()
    if leftovers:
        _, stuck = loop.run_until_complete(asyncio.wait(leftovers, timeout=grace))
        for task in stuck:
            logger.bind(event="app.abandoned", task=task.get_name()).warning(
                f"task {task.get_name()} ignored cancellation for {grace:g} s; exiting without it"
            )
        for task in leftovers:
            if task.done():
                _consume(task)
    loop.run_until_complete(loop.shutdown_asyncgens())
    executor = loop.create_task(loop.shutdown_default_executor())
    loop.run_until_complete(asyncio.wait({executor}, timeout=grace))
