"""Resilience: retry, circuit breaker and fallback, as wrappers of async callables.

Wrap once, call often: ``resilience.retry(fn)``, ``resilience.breaker("db")(fn)`` and
``resilience.fallback(fn, value)`` each return an async callable with ``fn``'s signature.
Settings come from the ``error_handling`` section and are read at call time, so a reload
changes the next call's behaviour without rebuilding anything.

The breaker is ours (about 100 lines): the asyncio breakers on PyPI either fix their
threshold when built (purgatory, circuitbreaker), are unmaintained (aiobreaker) or need
tornado (pybreaker); none of them reads its settings per call.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ParamSpec, TypeVar

from loguru import logger
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from framework.types import Publish

P = ParamSpec("P")
T = TypeVar("T")


class CircuitOpenError(RuntimeError):
    """Raised when a call is refused because its circuit breaker is open (or half-open and busy)."""


class BreakerState(StrEnum):
    CLOSED = "closed"  # calls pass; failures are counted
    OPEN = "open"  # calls are refused until reset_timeout has passed
    HALF_OPEN = "half_open"  # one trial call passes: success closes, failure opens again


@dataclass(frozen=True, slots=True)
class RetrySettings:
    attempts: int = 3
    initial_delay: float = 0.1
    max_delay: float = 5.0
    jitter: float = 0.1


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    failure_threshold: int = 5
    reset_timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class ErrorHandling:
    """The normalized ``error_handling`` section."""

    retry: RetrySettings = field(default_factory=RetrySettings)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    breakers: Mapping[str, BreakerSettings] = field(default_factory=dict)

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> ErrorHandling:
        default = BreakerSettings(**dict(section.get("breaker") or {}))
        named = {
            name: BreakerSettings(**{**_fields(default), **dict(values or {})})
            for name, values in (section.get("breakers") or {}).items()
        }
        return cls(RetrySettings(**dict(section.get("retry") or {})), default, named)

    def breaker_for(self, name: str) -> BreakerSettings:
        return self.breakers.get(name, self.breaker)


def _fields(settings: BreakerSettings) -> dict[str, Any]:
    return {"failure_threshold": settings.failure_threshold, "reset_timeout": settings.reset_timeout}


@dataclass(frozen=True, slots=True)
class BreakerStatistics:
    name: str
    state: BreakerState
    failures: int  # in a row, while closed
    calls: int
    rejected: int
    opened: int  # times it opened
    last_error: str | None


class CircuitBreaker:
    """Closed -> (failure_threshold failures in a row) -> open -> (reset_timeout) -> half-open.

    In half-open one trial call passes at a time: success closes, failure opens again. Only
    ``failure_on`` exceptions count; cancellation never does. Every transition is published
    as ``system.breaker.<state>``.
    """

    def __init__(
        self,
        name: str,
        settings: Callable[[], BreakerSettings],
        publish: Publish | None = None,
        *,
        failure_on: tuple[type[BaseException], ...] = (Exception,),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not name:
            raise ValueError("a circuit breaker needs a non-empty name")
        self.name, self._settings, self._publish = name, settings, publish
        self.failure_on, self._clock = failure_on, clock
        self._state = BreakerState.CLOSED
        self._failures = self._calls = self._rejected = self._opened = 0
        self._opened_at = 0.0
        self._trial = False
        self._last_error: str | None = None

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose timeout has passed reads half-open."""
        if self._state is BreakerState.OPEN and self._remaining() <= 0:
            self._move(BreakerState.HALF_OPEN, "reset_timeout elapsed")
        return self._state

    def __call__(self, fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        """Wrap ``fn``: every call goes through this breaker."""

        @functools.wraps(fn)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
            return await self.call(fn, *args, **kwargs)

        return guarded

    async def call(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Call ``fn`` if the breaker allows it; raise CircuitOpenError if not."""
        trial = self._admit()
        try:
            result = await fn(*args, **kwargs)
        except self.failure_on as exc:
            self._failure(exc, trial)
            raise
        except BaseException:
            if trial:
                self._trial = False  # cancelled: let the next call try
            raise
        self._success(trial)
        return result

    def _admit(self) -> bool:
        state = self.state
        if state is BreakerState.CLOSED:
            self._calls += 1
            return False
        if state is BreakerState.HALF_OPEN and not self._trial:
            self._calls += 1
            self._trial = True
            return True
        self._rejected += 1
        if state is BreakerState.OPEN:
            wait = f"calls are refused for another {self._remaining():.1f} s"
        else:
            wait = "a trial call is in flight"
        raise CircuitOpenError(
            f"circuit breaker '{self.name}' is {state.value} after {self._settings().failure_threshold}"
            f" failure(s) in a row (last: {self._last_error}); {wait}"
            " (error_handling.breaker.reset_timeout)"
        )

    def _failure(self, exc: BaseException, trial: bool) -> None:
        self._last_error = f"{type(exc).__name__}: {exc}"[:200]
        if trial:
            self._trial = False
            self._open(f"trial call failed: {self._last_error}")
            return
        if self._state is not BreakerState.CLOSED:
            return  # a call admitted before it opened: already counted
        self._failures += 1
        threshold = self._settings().failure_threshold
        if self._failures >= threshold:
            self._open(
                f"{self._failures} failure(s) in a row (threshold {threshold}); last: {self._last_error}"
            )

    def _success(self, trial: bool) -> None:
        if trial:
            self._trial = False
            self._failures = 0
            self._move(BreakerState.CLOSED, "trial call succeeded")
        elif self._state is BreakerState.CLOSED:
            self._failures = 0

    def _open(self, reason: str) -> None:
        self._opened_at = self._clock()
        self._opened += 1
        self._move(BreakerState.OPEN, reason)

    def _remaining(self) -> float:
        return self._opened_at + self._settings().reset_timeout - self._clock()

    def _move(self, state: BreakerState, reason: str) -> None:
        previous, self._state = self._state, state
        if state is BreakerState.CLOSED:
            self._failures = 0
        log = logger.bind(component="resilience", event=f"breaker.{state.value}", breaker=self.name)
        (log.info if state is BreakerState.CLOSED else log.warning)(
            f"breaker {self.name}: {state.value} ({reason})"
        )
        if self._publish is not None:
            data = {"breaker": self.name, "state": state.value, "previous": previous.value, "reason": reason}
            self._publish(f"system.breaker.{state.value}", data)

    def reset(self) -> None:
        """Close the breaker now and forget the failures."""
        if self._state is not BreakerState.CLOSED:
            self._move(BreakerState.CLOSED, "reset")
        self._failures, self._trial = 0, False

    def statistics(self) -> BreakerStatistics:
        return BreakerStatistics(
            self.name, self.state, self._failures, self._calls, self._rejected, self._opened, self._last_error
        )

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, {self._state.value})"


@dataclass(frozen=True, slots=True)
class ResilienceStatistics:
    retries: int
    fallbacks: int
    breakers: Mapping[str, BreakerStatistics]


class Resilience:
    """The ``resilience`` service: wrappers configured by the live ``error_handling`` section.

    ``settings`` returns the current section (the App passes its snapshot's); ``publish``
    sends breaker transitions to the bus without waiting.
    """

    def __init__(
        self,
        settings: Callable[[], Mapping[str, Any]] | None = None,
        publish: Publish | None = None,
    ) -> None:
        self._section = settings or dict
        self._parsed: tuple[Any, ErrorHandling] | None = None
        self._publish = publish
        self._breakers: dict[str, CircuitBreaker] = {}
        self.retries = 0
        self.fallbacks = 0

    @property
    def settings(self) -> ErrorHandling:
        """The current settings, parsed once per section object."""
        section = self._section()
        if self._parsed is None or self._parsed[0] is not section:
            self._parsed = (section, ErrorHandling.from_config(section))
        return self._parsed[1]

    def retry(
        self,
        fn: Callable[P, Awaitable[T]],
        *,
        attempts: int | None = None,
        retry_on: tuple[type[BaseException], ...] = (Exception,),
        name: str | None = None,
    ) -> Callable[P, Awaitable[T]]:
        """Wrap ``fn``: retry on ``retry_on`` with exponential backoff and jitter (tenacity).

        ``attempts`` overrides ``error_handling.retry.attempts``; an open breaker is never retried.
        """
        label = name or getattr(fn, "__qualname__", repr(fn))

        def retryable(exc: BaseException) -> bool:
            return isinstance(exc, retry_on) and not isinstance(exc, CircuitOpenError)

        def before_sleep(state: RetryCallState) -> None:
            self.retries += 1
            error = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            logger.bind(
                component="resilience", event="resilience.retry", target=label, attempt=state.attempt_number
            ).warning(
                f"{label} failed ({type(error).__name__}: {error}); attempt {state.attempt_number + 1}"
                f" in {wait:.3f} s"
            )

        @functools.wraps(fn)
        async def retried(*args: P.args, **kwargs: P.kwargs) -> T:
            s = self.settings.retry
            retrying = AsyncRetrying(
                stop=stop_after_attempt(attempts or s.attempts),
                wait=wait_exponential(multiplier=s.initial_delay, max=s.max_delay) + wait_random(0, s.jitter),
                retry=retry_if_exception(retryable),
                before_sleep=before_sleep,
                reraise=True,
            )
            async for attempt in retrying:
                with attempt:
                    return await fn(*args, **kwargs)
            raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

        return retried

    def breaker(
        self, name: str, *, failure_on: tuple[type[BaseException], ...] = (Exception,)
    ) -> CircuitBreaker:
        """The app's breaker called ``name`` (made on first use; shared by every caller)."""
        breaker = self._breakers.get(name)
        if breaker is None:
            breaker = CircuitBreaker(
                name, lambda: self.settings.breaker_for(name), self._publish, failure_on=failure_on
            )
            self._breakers[name] = breaker
        return breaker

    def fallback(
        self,
        fn: Callable[P, Awaitable[T]],
        value: T | None = None,
        *,
        factory: Callable[[BaseException], T] | None = None,
        on: tuple[type[BaseException], ...] = (Exception,),
    ) -> Callable[P, Awaitable[T | None]]:
        """Wrap ``fn``: when it raises one of ``on``, return ``value`` (or ``factory(error)``)."""
        label = getattr(fn, "__qualname__", repr(fn))

        @functools.wraps(fn)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> T | None:
            try:
                return await fn(*args, **kwargs)
            except on as exc:
                self.fallbacks += 1
                logger.bind(component="resilience", event="resilience.fallback", target=label).warning(
                    f"{label} failed ({type(exc).__name__}: {exc}); using the fallback"
                )
                return factory(exc) if factory is not None else value

        return guarded

    def breakers(self) -> dict[str, CircuitBreaker]:
        return dict(self._breakers)

    def statistics(self) -> ResilienceStatistics:
        return ResilienceStatistics(
            self.retries, self.fallbacks, {n: b.statistics() for n, b in self._breakers.items()}
        )
