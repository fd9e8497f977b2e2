"""The slot-holding part of a batch: create a task under the limit, confirm it, poll it.

``SlotWork`` is the base of the batch engine (:mod:`kling_widget.batch.engine`): its
plumbing (worker threads, retries with the package's one backoff policy, progress
reports) and the three steps that hold one of the account's task slots:

- :meth:`SlotWork.create`: take a slot, create the task. 1303 gives the slot back, lowers
  the limit and waits; 1302 backs off; a create that may have reached Kling keeps its slot
  and is confirmed by its ``external_task_id`` before it is ever sent again;
- :meth:`SlotWork.settle`: confirm an unconfirmed (or running) journaled create;
- :meth:`SlotWork.track`: poll until the task ends, then give the slot back.

Every call into a job goes through its project's task book (nothing here reads the
journal or knows its status strings). Imports the batch's limiter, options, progress,
result and steps, and the workflow; never the command line.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from kling_widget.api.models import Task
from kling_widget.backoff import RetryPolicy
from kling_widget.batch import steps
from kling_widget.batch.limiter import SlotLimiter
from kling_widget.batch.options import BatchOptions, GiveUp, Refused
from kling_widget.batch.progress import BatchProgress, ProgressFn
from kling_widget.batch.result import ERROR, TIMEOUT, JobOutcome
from kling_widget.errors import (
    KlingAPIError,
    KlingRateLimitError,
    KlingResponseError,
    KlingServerError,
    KlingTransportError,
)
from kling_widget.workflow import Project, may_have_landed

log = logging.getLogger("kling_widget.batch")
T = TypeVar("T")

# Failures worth another try of the same step (a 1302 included; 1303 is handled apart).
RETRYABLE = (KlingTransportError, KlingServerError, KlingResponseError, KlingRateLimitError)
CONCURRENCY_CODE = 1303
# Polls around the usual task time: every 2 % of it, at least this often.
FINE_POLL_S = 0.05
FINE_POLL_FRACTION = 0.02
DURATION_WINDOW = 25


class SlotWork:
    """Plumbing and the slot-holding steps of a batch (see the module docstring)."""

    def __init__(
        self,
        total: int,
        limiter: SlotLimiter,
        opts: BatchOptions,
        on_progress: ProgressFn | None,
    ) -> None:
        self.total = total
        self.limiter = limiter
        self.opts = opts
        self.on_progress = on_progress
        self.retries = 0
        self.done = 0
        self.failed = 0
        rng = random.Random()
        self.retry_policy = RetryPolicy(
            max_retries=opts.max_attempts,
            base_delay=opts.retry_base,
            max_delay=opts.max_backoff,
            rng=rng,
        )
        # 1302 and 1303: the docs ask for at least 1 s, growing exponentially.
        self.busy_policy = RetryPolicy(
            base_delay=opts.rate_limit_base, max_delay=opts.max_backoff, rng=rng
        )
        # How long this batch's recent tasks took (poll timing around the usual end).
        self.durations: list[float] = []
        # Two pools, so the slot-critical calls (create, poll, download) never queue behind
        # preparation work (journals opened, clips probed and uploaded, points marked).
        workers = max(8, min(64, 2 * limiter.limit + 8))
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kling-batch")
        self.prep_pool = ThreadPoolExecutor(
            max_workers=opts.prep_concurrency, thread_name_prefix="kling-batch-prep"
        )

    # --- plumbing -------------------------------------------------------------------
    async def call(self, fn: Callable[..., T], *args: Any, prep: bool = False) -> T:
        """Run a blocking call in the worker threads (``prep``: the preparation pool)."""
        loop = asyncio.get_running_loop()
        pool = self.prep_pool if prep else self.pool
        return await loop.run_in_executor(pool, functools.partial(fn, *args))

    def report(self, event: str = "") -> None:
        """Tell ``on_progress`` where the batch stands (a broken display never stops it)."""
        if self.on_progress is None:
            return
        snapshot = BatchProgress(
            total=self.total,
            done=self.done,
            failed=self.failed,
            in_flight=self.limiter.in_flight,
            limit=self.limiter.limit,
            event=event,
        )
        try:
            self.on_progress(snapshot)
        except Exception:
            log.exception("on_progress failed")

    def backoff(self, attempt: int, exc: BaseException | None = None) -> float:
        """Seconds to wait before try ``attempt + 1`` (1-based ``attempt``)."""
        policy = self.busy_policy if isinstance(exc, KlingRateLimitError) else self.retry_policy
        return policy.delay(max(0, attempt - 1)) or 0.0

    async def retrying(self, what: str, fn: Callable[..., T], *args: Any, prep: bool = False) -> T:
        """Run a blocking step, backing off and retrying on retryable failures."""
        attempt = 0
        while True:
            try:
                return await self.call(fn, *args, prep=prep)
            except RETRYABLE as exc:
                attempt += 1
                if attempt >= self.opts.max_attempts:
                    raise GiveUp(ERROR, f"{what} failed {attempt} times: {exc}") from exc
                self.retries += 1
                await asyncio.sleep(self.backoff(attempt, exc))

    # --- holding a slot ---------------------------------------------------------------
    async def create(self, project: Project, row: JobOutcome) -> Task:
        """Take a slot and create the task; returns it with the slot held."""
        job = row.job
        attempt = 0
        refusals = 0
        while True:
            await self.limiter.acquire()
            try:
                row.attempts += 1
                task = await self.call(steps.send_create, project, job)
            except KlingRateLimitError as exc:
                if exc.code == CONCURRENCY_CODE:
                    await self.limiter.refused()
                    refusals += 1
                    self.report(f"{row.name}: account busy (1303)")
                    await asyncio.sleep(self.backoff(refusals, exc))
                    continue
                await self.limiter.release(task_ended=False)
                attempt += 1
                if attempt >= self.opts.max_attempts:
                    raise GiveUp(ERROR, f"create refused {attempt} times: {exc}") from exc
                self.retries += 1
                await asyncio.sleep(self.backoff(attempt, exc))
                continue
            except BaseException as exc:
                if not may_have_landed(exc):
                    await self.limiter.release(task_ended=False)
                    raise
                # It may exist on Kling: keep the slot, find it by external_task_id.
                self.retries += 1
                await asyncio.sleep(self.backoff(1))
                try:
                    return await self.settle(project, row)
                except Refused:  # no task after all; settle gave the slot back
                    refusals += 1
                    await asyncio.sleep(self.backoff(refusals, KlingRateLimitError("")))
                    continue
            self.limiter.confirm()
            row.task_id, row.external_task_id = task.task_id, task.external_task_id
            return task

    async def settle(self, project: Project, row: JobOutcome, *, adopted: bool = False) -> Task:
        """Resolve an unconfirmed (or running) journaled create into Kling's task; slot held.

        ``adopted``: the slot was adopted (already counted as confirmed). Raises
        :class:`Refused` when no task exists after all (the re-sent create met 1303 or
        1302): the caller creates it anew. On any exception the slot has been given back.
        """
        try:
            task = await self._settle(project, row)
            if not adopted:
                self.limiter.confirm()
            return task
        except (Refused, GiveUp):
            raise  # the slot was already given back (or given up, after a 1303)
        except BaseException:
            await self.limiter.release(task_ended=False)
            raise

    async def _settle(self, project: Project, row: JobOutcome) -> Task:
        attempt = 0
        while True:
            try:
                found = await self.call(steps.settle, project)
            except KlingRateLimitError as exc:
                if exc.code == CONCURRENCY_CODE:
                    await self.limiter.refused()
                    raise Refused() from exc
                error: Exception = exc
            except KlingAPIError as exc:
                if not may_have_landed(exc):
                    await self.limiter.release(task_ended=False)
                    raise GiveUp(ERROR, f"create rejected: {exc}") from exc
                error = exc
            except (KlingTransportError, KlingResponseError) as exc:
                error = exc
            else:
                if found is None:
                    await self.limiter.release(task_ended=False)
                    raise Refused()
                row.task_id = found.task_id
                row.external_task_id = found.external_task_id or row.external_task_id
                return found
            attempt += 1
            if attempt >= self.opts.max_attempts:
                await self.limiter.release(task_ended=False)
                raise GiveUp(
                    ERROR,
                    f"could not confirm the create after {attempt} tries ({error}); "
                    "run the batch again: it looks the task up before re-sending",
                )
            self.retries += 1
            await asyncio.sleep(self.backoff(attempt, error))

    def next_poll(self, age: float) -> float:
        """Seconds until the next poll of a task this old.

        Every ``poll_fraction`` of its age (within ``poll_interval``); and once tasks of
        this batch have ended, densely around the usual task time, where the next one is
        likely to end: that moment frees a slot, so seeing it late idles the slot.
        """
        lo, hi = self.opts.poll_interval
        interval = min(hi, max(lo, age * self.opts.poll_fraction))
        if len(self.durations) >= 3:
            usual = sorted(self.durations)[len(self.durations) // 2]
            fine = min(2.0, max(FINE_POLL_S, usual * FINE_POLL_FRACTION))
            if age < usual - fine:
                interval = min(interval, usual - fine - age + fine / 2)
            elif age < 1.5 * usual:
                interval = fine
        return interval

    async def track(self, project: Project, task: Task) -> Task:
        """Poll (through the project's task book) until the task ends; free its slot."""
        started = time.monotonic()
        interval = self.next_poll(0.0)
        try:
            while not task.is_final:
                await asyncio.sleep(interval)
                age = time.monotonic() - started
                if age > self.opts.task_timeout:
                    raise GiveUp(
                        TIMEOUT,
                        f"still {task.status} after {age:.0f} s; run the batch again to pick it up",
                    )
                try:
                    task = await self.call(project.tasks.refresh, task)
                except KlingRateLimitError:
                    self.retries += 1
                    interval = min(self.opts.poll_interval[1], interval * 2)
                    continue
                except Exception as exc:
                    if not may_have_landed(exc):
                        raise
                    self.retries += 1
                    continue  # a missed poll: the next one will do
                interval = self.next_poll(time.monotonic() - started)
        except BaseException:
            await self.limiter.release(task_ended=False, confirmed=True)
            raise
        await self.limiter.release(task_ended=True)
        if task.succeeded:
            self.durations.append(time.monotonic() - started)
            del self.durations[:-DURATION_WINDOW]
        return task


__all__ = ["CONCURRENCY_CODE", "RETRYABLE", "SlotWork"]
