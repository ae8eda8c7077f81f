"""The reload transaction of a running app: recompose, plan, apply or compensate, commit, report.

snapshot N (running) + files now -> compose in a worker thread -> validate -> assemble
  -> diff (changed leaf keys) -> plan (reconfigure | restart | start | stop | reject)
  -> apply in dependency order; any failure compensates the steps already applied
  -> commit snapshot N+1, or keep N; one log record and one bus event per attempt.

The Reloader is handed what it uses: the running deployment (snapshot, assembly, providers),
the lifecycle, the launch source, and callables for the framework services, for publishing
events, and for each framework section whose live keys it hands over. It never sees the app.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from loguru import logger

from framework.assembly import Assembly, Deployment, assemble, framework_sections, load_config
from framework.bounded import in_daemon_thread, within
from framework.config.compose import ConfigSource
from framework.config.snapshot import Snapshot
from framework.config.watch import ConfigWatch, ContentIndex, Contents, DirReplacedError, Stamp
from framework.container import Providers
from framework.errors import ComponentsError, ValidationError, listed
from framework.lifecycle import Lifecycle
from framework.reload.apply import SectionHandler, Services, StepFailed, Transaction
from framework.reload.outcome import ActionKind, Attempt, ReloadHistory, ReloadOutcome, ReloadStatus
from framework.reload.plan import COMPONENTS, diff, plan_reload, shadowed_edits
from framework.secrets import SecretMasker, masker
from framework.types import Publish

T = TypeVar("T")
Confirm = Callable[[], Awaitable[bool]]
# A watch that fails is started anew after a pause that doubles while it keeps failing.
WATCH_RETRY_FIRST, WATCH_RETRY_MAX, WATCH_RETRY_RESET = 0.1, 5.0, 30.0  # seconds
CLOSE_GRACE = 1.0  # seconds a cancelled reload gets to unwind when the app stops


class _Rejected(Exception):
    """Composition, validation or assembly refused the new files."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("\n".join(reasons))
        self.reasons = reasons


class Reloader:
    """Reloads one running deployment from its launch source, one attempt at a time.

    Attempts are serialized by a lock; requests made while one runs are coalesced into the
    next attempt, which re-reads the files, so the later edit always wins. ``busy`` is the one
    answer to "is a reload under way?": the admin API refuses a request with 409 while it is true.
    """

    def __init__(
        self,
        deployment: Deployment,
        lifecycle: Lifecycle,
        source: ConfigSource,
        *,
        services: Services,
        publish: Publish,
        sections: Mapping[str, SectionHandler],
        launch_digest: str,
    ) -> None:
        self.deployment, self.lifecycle, self.source = deployment, lifecycle, source
        self.services, self.publish, self.sections = services, publish, dict(sections)
        settings = deployment.snapshot.section("app")["watch"]
        self.dirs = (Path(source.config_dir).absolute(),)
        self.history = ReloadHistory(settings["history_size"])
        self.content_digest = launch_digest  # the files as of the last attempt (or launch)
        self.index = ContentIndex(self.dirs, source.max_file_bytes)  # reads only files that changed
        self.log = logger.bind(component="app")
        self._lock = asyncio.Lock()
        self._requested = self._covered = 0
        self._pending = 0  # requests made and not yet answered, dry runs included
        self._last: ReloadOutcome | None = None
        self._inflight: set[asyncio.Future[Any]] = set()
        self._watcher: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def busy(self) -> bool:
        """True from the moment a reload (or dry run) is requested until it is answered, and
        while the watcher's attempt runs: two requests made at once never both see False."""
        return self._pending > 0 or self._lock.locked()

    # entry points

    async def reload(
        self, dry_run: bool = False, trigger: str = "api", source: ConfigSource | None = None
    ) -> ReloadOutcome:
        """One attempt (or the answer of one that began after this request, which re-read the
        files). ``source``: compose from it instead (a new fleet overlay, say); it becomes the
        launch source only if the attempt commits, so a rejected one leaves nothing behind."""
        if self._closed:
            raise RuntimeError("the app is stopping; reload refused")
        if not dry_run:
            self._requested += 1
        self._pending += 1  # before the first await: busy at once, not when the lock is taken
        work = self._serialized(dry_run, trigger, self._requested) if source is None else self._from(source, dry_run, trigger)
        attempt = self._track(work)
        attempt.add_done_callback(self._answered)
        try:
            return await asyncio.shield(attempt)  # a cancelled caller never cuts a transaction short
        except asyncio.CancelledError:
            if attempt.cancelled() and self._closed:  # `close` cut it short, not our caller
                raise RuntimeError("the app is stopping; the reload under way was abandoned") from None
            raise

    def _answered(self, attempt: asyncio.Future[Any]) -> None:
        self._pending -= 1

    def request(self, trigger: str) -> None:
        """Reload in the background (a signal handler's way in); ignored once stopping."""
        if not self._closed:
            self._track(self.reload(trigger=trigger)).add_done_callback(_log_failure)

    def start_watching(self) -> asyncio.Task[None]:
        self._watcher = asyncio.create_task(self.watch(), name="config-watcher")
        self._watcher.add_done_callback(_log_failure)
        return self._watcher

    async def watch(self, started: asyncio.Event | None = None) -> None:
        """Reload each time the config dir's YAML content changes and settles; until cancelled.

        Nothing ends it but cancellation: a watch that fails (the dir replaced or removed, a
        hash that raised) is logged and started anew, and its first hash reloads what changed
        meanwhile. While it keeps failing, the pause before the next one doubles up to
        WATCH_RETRY_MAX seconds; it starts at WATCH_RETRY_FIRST again once a watch has lasted
        WATCH_RETRY_RESET seconds.
        """
        failures = 0
        while True:
            began = time.monotonic()
            try:
                await self._watch_once(started)
            except Exception as exc:
                failures = 1 if time.monotonic() - began > WATCH_RETRY_RESET else failures + 1
                pause = min(WATCH_RETRY_MAX, WATCH_RETRY_FIRST * 2 ** (failures - 1))
                self._watch_failed(exc, failures, pause)
                await asyncio.sleep(pause)
            started = None  # set by the first watch only

    def _watch_failed(self, exc: Exception, failures: int, pause: float) -> None:
        if isinstance(exc, DirReplacedError):  # a deployment's way to swap files: watch the new dir
            self.log.bind(event="config.watch_restarted", retry_in=pause).warning(
                f"{exc}; watching the directory at that path in {pause:g} s"
            )
            return
        dirs = ", ".join(map(str, self.dirs))
        log = self.log.bind(event="config.watch_failed", failures=failures, retry_in=pause)
        if failures == 1 and not isinstance(exc, OSError):  # maybe a bug: its traceback helps
            log = log.opt(exception=exc)
        log.error(f"watching {dirs} failed ({_describe(exc)}); watching again in {pause:g} s")

    async def _watch_once(self, started: asyncio.Event | None) -> None:
        settings = self.deployment.snapshot.section("app")["watch"]
        watcher = ConfigWatch(
            self.dirs,
            step_ms=settings["step_ms"],
            settle_ms=settings["settle_ms"],
            initial=self.content_digest,
            max_file_bytes=self.source.max_file_bytes,
            index=self.index,
        )
        async with watcher as watch:
            if started is not None:
                started.set()
            async for stamp in watch.changes():
                if stamp.digest == self.content_digest or self._closed:
                    continue
                attempt = self._track(self._watched(stamp, functools.partial(watch.settled, stamp)))
                attempt.add_done_callback(_log_failure)
                try:
                    await asyncio.shield(attempt)
                except Exception:  # a bug must not end the watch: it is logged, the watch goes on
                    self.content_digest = stamp.digest

    async def close(self) -> None:
        """Stop watching and cut short an attempt in progress; later requests are refused.

        The app is stopping: an attempt under way is cancelled where it is, not compensated
        (what runs is about to be stopped anyway), and not awaited past CLOSE_GRACE seconds.
        """
        self._closed = True
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        if not self._inflight:
            return
        self.log.bind(event="config.reload_abandoned").warning(
            "the app is stopping: the reload under way is abandoned; the running config stays"
        )
        pending = set(self._inflight)
        for attempt in pending:
            attempt.cancel()
        await asyncio.wait(pending, timeout=CLOSE_GRACE)

    def _track(self, work: Awaitable[Any]) -> asyncio.Future[Any]:
        """Run ``work`` as a task that ``close`` waits for."""
        task = asyncio.ensure_future(work)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return task

    async def _serialized(self, dry_run: bool, trigger: str, ticket: int) -> ReloadOutcome:
        async with self._lock, self.lifecycle.changing:
            if dry_run:
                outcome = await self._attempt(trigger, dry_run=True)
                assert outcome is not None
                return outcome
            if self._covered >= ticket and self._last is not None:
                return self._last  # an attempt that began after this request re-read the files
            covers = self._requested
            outcome = await self._attempt(trigger)
            assert outcome is not None
            self._covered, self._last = covers, outcome
            return outcome

    async def _from(self, source: ConfigSource, dry_run: bool, trigger: str) -> ReloadOutcome:
        async with self._lock, self.lifecycle.changing:
            previous, self.source = self.source, source
            outcome = None
            try:
                outcome = await self._attempt(trigger, dry_run=dry_run)
                assert outcome is not None
                return outcome
            finally:
                committed = ReloadStatus.APPLIED, ReloadStatus.UNCHANGED
                if dry_run or outcome is None or outcome.status not in committed:
                    self.source = previous

    async def _watched(self, stamp: Stamp, confirm: Confirm) -> None:
        async with self._lock, self.lifecycle.changing:
            if self._closed or stamp.digest == self.content_digest:
                return
            await self._attempt("watch", confirm=confirm, contents=stamp.contents)

    # one attempt

    async def _attempt(
        self, trigger: str, dry_run: bool = False, confirm: Confirm | None = None, contents: Contents | None = None
    ) -> ReloadOutcome | None:
        """None when the files changed again meanwhile (the watcher tries again)."""
        attempt = Attempt(trigger, dry_run)
        current = self.deployment.snapshot
        if not dry_run and not self._built():
            raise RuntimeError("App.reload() applies to a started app; start it first or pass dry_run=True")
        clock = _Deadline(float(current.section("app")["watch"]["reload_timeout"]))
        digest = None  # until the files are hashed: a hash that overruns handles nothing
        try:
            if contents is None or self.index.max_file_bytes != self.source.max_file_bytes:
                contents = await clock.bound(in_daemon_thread(self._scan, name="config-hash"))
            digest = contents.digest
            prepared = in_daemon_thread(self._prepare, current.version + 1, contents, name="config-reload")
            candidate, assembly = await clock.bound(prepared)
        except _Rejected as exc:
            if confirm is not None and not await clock.paused(confirm()):
                return None  # half-written files: wait for the writer to finish
            if digest is not None:
                self._files_handled(digest, dry_run)
            return self._report(attempt.outcome(ReloadStatus.REJECTED, current.version, exc.reasons))
        self._plan(attempt, current, candidate, assembly)
        if confirm is not None and not await clock.paused(confirm()):
            return None
        self._files_handled(digest, dry_run)
        scrub = SecretMasker([*current.secret_values(), *candidate.secret_values()])
        rejects = [scrub(a.reason) for a in attempt.actions if a.kind is ActionKind.REJECT]
        if rejects:
            return self._report(attempt.outcome(ReloadStatus.REJECTED, current.version, listed(rejects)))
        if not attempt.changes:
            if not dry_run:  # same values; keep the version, take the new provenance (lines, shadows)
                self.deployment.snapshot = dataclasses.replace(candidate, version=current.version)
            return self._report(attempt.outcome(ReloadStatus.UNCHANGED, current.version))
        if dry_run:
            return attempt.outcome(ReloadStatus.PLANNED, candidate.version)
        transaction = Transaction(self.deployment, self.lifecycle, self.services, self.sections)
        try:
            built = await transaction.apply(attempt.actions, current, candidate, assembly, clock.deadline)
        except StepFailed as failure:
            reasons = [scrub(str(failure)), *(scrub(n) for n in failure.notes)]
            return self._report(attempt.outcome(ReloadStatus.REJECTED, current.version, reasons))
        self._commit(candidate, assembly, built)
        return self._report(attempt.outcome(ReloadStatus.APPLIED, candidate.version))

    def _plan(self, attempt: Attempt, current: Snapshot, candidate: Snapshot, assembly: Assembly) -> None:
        attempt.changes = diff(current, candidate)
        attempt.shadowed = shadowed_edits(current, candidate)
        failed = [n for n in self.lifecycle.failed if n in current.section(COMPONENTS)]
        attempt.actions = plan_reload(
            current,
            self.deployment.assembly,
            candidate,
            assembly,
            attempt.changes,
            sections=framework_sections(),
            failed=failed if attempt.changes else (),
        )

    def _files_handled(self, digest: str, dry_run: bool) -> None:
        if not dry_run:  # the watcher need not try these files again
            self.content_digest = digest

    def _built(self) -> bool:
        return set(self.lifecycle.instances) >= set(self.deployment.assembly.graph.order)

    def _scan(self) -> Contents:
        if self.index.max_file_bytes != self.source.max_file_bytes:  # a source handed to one reload
            return ContentIndex(self.dirs, self.source.max_file_bytes).scan()
        return self.index.scan()

    def _prepare(self, version: int, contents: Contents) -> tuple[Snapshot, Assembly]:
        """Compose, validate and assemble (in a worker thread); _Rejected lists every problem."""
        # Each file's sha256 as hashed: only the files whose content differs are read again.
        same_dir = Path(self.source.config_dir).absolute() == self.dirs[0]
        digests = contents.under(self.dirs[0]) if same_dir else None
        try:
            snapshot = load_config(self.source, version, previous=self.deployment.snapshot, digests=digests)
        except ValidationError as exc:
            raise _Rejected(exc.reasons) from exc
        except Exception as exc:  # any failure to compose is a rejection: the app keeps running
            raise _Rejected([_describe(exc)]) from exc
        try:
            return snapshot, assemble(snapshot, running=(self.deployment.snapshot, self.deployment.assembly))
        except ComponentsError as exc:
            raise _Rejected(listed([_with_origin(str(e), snapshot) for e in exc.errors])) from exc
        except Exception as exc:
            raise _Rejected([_describe(exc)]) from exc

    def _commit(self, candidate: Snapshot, assembly: Assembly, built: Providers | None) -> None:
        self.deployment.snapshot = candidate
        self.deployment.assembly = assembly
        self.lifecycle.adopt(assembly.graph, assembly.specs)
        if built is not None:
            self.deployment.container = built
        masker.update(candidate.secret_values())

    def _report(self, outcome: ReloadOutcome) -> ReloadOutcome:
        """One log record, one history entry and one bus event per attempt (none for a dry run)."""
        if outcome.dry_run:
            return outcome
        self.history.record(outcome)
        for edit in outcome.shadowed:
            self.log.bind(event="config.shadowed", **edit.to_dict()).warning(
                f"{edit.key}: the edit in {edit.file} has no effect;"
                f" the {edit.layer} layer wins ({edit.winner})"
            )
        data = outcome.to_dict()
        fields = {k: v for k, v in data.items() if k != "time"}  # `time` is the log line's own
        version = outcome.version
        if outcome.status is ReloadStatus.REJECTED:
            topic = "config.rejected"
            self.log.bind(event=topic, **fields).warning(
                f"config change rejected; still running v{version}: " + "; ".join(outcome.reasons)
            )
        else:
            topic = "config.reloaded"
            summary = ", ".join(f"{a.kind.value} {a.target}" for a in outcome.actions) or "no action"
            text = f"config v{version} applied ({len(outcome.changes)} change(s): {summary})"
            if outcome.status is ReloadStatus.UNCHANGED:
                text = f"config files changed, values did not; still v{version}"
            self.log.bind(event=topic, **fields).info(text)
        self.publish(topic, data)  # in the background: a full queue never holds a reload up
        return outcome


class _Deadline:
    """The time one attempt has: ``app.watch.reload_timeout`` from its start, the watcher's
    settling excluded. Composition runs in a daemon thread that is abandoned when time runs out
    (an import that never returns cannot be interrupted, and must not be waited for at exit)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.deadline = asyncio.get_running_loop().time() + timeout

    async def bound(self, work: Awaitable[T]) -> T:
        try:
            return await within(work, self.deadline - asyncio.get_running_loop().time())
        except TimeoutError:
            raise _Rejected([
                f"reading, composing and checking the new config did not finish within {self.timeout:g} s"
                " (app.watch.reload_timeout); it was abandoned"
            ]) from None

    async def paused(self, work: Awaitable[T]) -> T:
        """``await work`` with the clock stopped meanwhile."""
        began = asyncio.get_running_loop().time()
        try:
            return await work
        finally:
            self.deadline += asyncio.get_running_loop().time() - began


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if isinstance(exc, ValueError) else f"{type(exc).__name__}: {text}"


_KEY = re.compile(r"^(components\.[A-Za-z_][\w.]*?)(?::| )")


def _with_origin(message: str, snapshot: Snapshot) -> str:
    """Append the file:line of the key a message starts with, when known."""
    match = _KEY.match(message)
    if not match or "[" in message:
        return message
    path = tuple(match.group(1).split("."))
    where = snapshot.provenance.where(path)
    return message if where == "origin unknown" else f"{message} [{where}]"


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.bind(component="app", event="config.reload_failed").opt(exception=task.exception()).error(
            f"reload failed: {task.exception()}"
        )
