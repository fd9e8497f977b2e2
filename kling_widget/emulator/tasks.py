"""Tasks: creation, the status machine on the business clock, rendering, callbacks.

A task is ``submitted`` when created, ``processing`` once ``task_delays[0]`` seconds have
passed on the business clock, and final (``succeed`` or ``failed``) once
``task_delays[0] + task_delays[1]`` have passed *and* its render has finished, so a
``succeed`` task always has its result file. Renders run one at a time in a background
worker, starting as soon as the task is created.

A prompt containing the word "fail" (as a whole word, any case) makes the task end
``failed`` with a message saying so; a render that raises fails the task with the error.
Tasks that are not final count against the account's concurrency limit (429/1303).
Result files expire ``RESULT_LIFETIME_S`` after the render finished. Every status change
is passed to an ``on_change`` callable (the emulator's callback sender). ``stop`` cancels
the render under way (its writer stops at the next frame) and waits for the worker.
Imports only ``emulator.envelope``, ``emulator.vision.cancel`` and ``kling_widget.limits``.
"""

from __future__ import annotations

import logging
import queue
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kling_widget.emulator.envelope import TOO_MANY_TASKS, ApiError, invalid
from kling_widget.emulator.vision.cancel import cancellable
from kling_widget.limits import FINAL_STATUSES

logger = logging.getLogger("kling_widget.emulator")

FORCE_FAIL = re.compile(r"\bfail\b", re.IGNORECASE)

# A render job returns the result videos (``task_result.videos``).
Job = Callable[[], list[dict[str, Any]]]


def new_id() -> str:
    """A Kling-looking numeric id (18 digits)."""
    return str(7 * 10**17 + secrets.randbelow(10**17))


def seconds_text(seconds: float) -> str:
    """A duration as Kling writes it: seconds, at most three decimals, no trailing zeros."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


def balance_deduction(units: str) -> dict[str, str]:
    """``final_balance_deduction`` for a charge of ``units`` (an emulator figure: the quota
    used and its list price are both the unit count)."""
    return {"quota": units, "list_price": units}


@dataclass
class TaskRecord:
    """One task the emulator holds."""

    kind: str
    task_id: str
    external_task_id: str | None
    created: float
    body: dict[str, Any] = field(repr=False)
    session_id: str | None = None
    status: str = "submitted"
    status_msg: str = ""
    updated: float = 0.0
    videos: list[dict[str, Any]] = field(default_factory=list)
    units: str = "0"
    forced_failure: str | None = None
    render_done: bool = False
    render_error: str | None = None
    result_videos: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_final(self) -> bool:
        """Whether the status is ``succeed`` or ``failed``."""
        return self.status in FINAL_STATUSES

    @property
    def task_info(self) -> dict[str, Any]:
        """``task_info``: the external id when one was given."""
        if self.external_task_id is None:
            return {}
        return {"external_task_id": self.external_task_id}

    def to_json(self) -> dict[str, Any]:
        """The task object as the query endpoints answer it."""
        task: dict[str, Any] = {
            "task_id": self.task_id,
            "task_status": self.status,
            "task_status_msg": self.status_msg,
            "task_info": self.task_info,
            "task_result": {"videos": list(self.videos)},
            "final_unit_deduction": self.units,
            "final_balance_deduction": balance_deduction(self.units),
            "created_at": int(self.created * 1000),
            "updated_at": int(self.updated * 1000),
        }
        watermark = self.body.get("watermark_info")
        if isinstance(watermark, dict):
            task["watermark_info"] = dict(watermark)
        return task

    def created_json(self) -> dict[str, Any]:
        """The ``data`` of a create answer."""
        return {
            "task_id": self.task_id,
            "task_status": self.status,
            "task_info": self.task_info,
            "final_balance_deduction": balance_deduction(self.units),
            "created_at": int(self.created * 1000),
            "updated_at": int(self.updated * 1000),
        }


class TaskStore:
    """Every task, the render worker and the status machine."""

    def __init__(
        self,
        clock: Callable[[], float],
        delays: tuple[float, float],
        concurrency_limit: int,
        on_change: Callable[[TaskRecord], None] | None = None,
    ) -> None:
        self._clock = clock
        self.delays = delays
        self.concurrency_limit = concurrency_limit
        self._on_change = on_change
        self._tasks: list[TaskRecord] = []
        self._lock = threading.RLock()
        self._jobs: queue.Queue[tuple[TaskRecord, Job] | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="emulator-render", daemon=True)
        self._worker.start()
        self._stopped = threading.Event()

    def stop(self, timeout: float) -> bool:
        """Cancel the render under way and stop the worker; wait up to ``timeout`` s for
        it to end. True when it has (nothing of the emulator's is written any more)."""
        self._stopped.set()
        self._jobs.put(None)
        if self._worker is threading.current_thread():
            return False
        self._worker.join(max(0.0, timeout))
        return not self._worker.is_alive()

    # -- creation and lookup -------------------------------------------------------------

    def create(
        self,
        kind: str,
        body: dict[str, Any],
        job: Job,
        *,
        session_id: str | None = None,
        units: str = "0",
    ) -> TaskRecord:
        """Register a task and queue its render (checks id uniqueness and concurrency)."""
        ext = body.get("external_task_id")
        now = self._clock()
        with self._lock:
            self.tick()
            if ext is not None and any(t.external_task_id == ext for t in self._tasks):
                raise invalid(
                    "external_task_id", ext, "already used by another task of this account"
                )
            running = sum(1 for t in self._tasks if not t.is_final)
            if running >= self.concurrency_limit:
                raise ApiError(
                    TOO_MANY_TASKS,
                    f"too many concurrent tasks: {running} not finished, the limit is "
                    f"{self.concurrency_limit}",
                )
            prompt = body.get("prompt")
            forced = None
            if isinstance(prompt, str) and FORCE_FAIL.search(prompt):
                forced = "task failed: the prompt asked the emulator to fail"
            record = TaskRecord(
                kind=kind,
                task_id=new_id(),
                external_task_id=ext,
                created=now,
                body=body,
                session_id=session_id,
                updated=now,
                units=units,
                forced_failure=forced,
            )
            self._tasks.append(record)
        if forced is None:
            self._jobs.put((record, job))
        else:
            record.render_done = True
        self._notify(record)
        return record

    def find(self, kind: str, ident: str) -> TaskRecord | None:
        """A task of ``kind`` by task_id or external_task_id."""
        with self._lock:
            self.tick()
            for t in self._tasks:
                if t.kind == kind and ident in (t.task_id, t.external_task_id):
                    return t
        return None

    def by_task_id(self, task_id: str) -> TaskRecord | None:
        """Any task by its task_id."""
        with self._lock:
            self.tick()
            return next((t for t in self._tasks if t.task_id == task_id), None)

    def page(self, kind: str, page: int, size: int) -> list[TaskRecord]:
        """Newest first, ``size`` per page, pages from 1."""
        with self._lock:
            self.tick()
            mine = [t for t in reversed(self._tasks) if t.kind == kind]
        return mine[(page - 1) * size : page * size]

    def all(self) -> list[TaskRecord]:
        """Every task in creation order."""
        with self._lock:
            self.tick()
            return list(self._tasks)

    # -- progress --------------------------------------------------------------------------

    def tick(self) -> None:
        """Advance every task's status to what the clock says."""
        now = self._clock()
        changed: list[TaskRecord] = []
        with self._lock:
            for t in self._tasks:
                if t.is_final:
                    continue
                before = t.status
                if t.status == "submitted" and now >= t.created + self.delays[0]:
                    t.status = "processing"
                if t.status == "processing" and now >= t.created + sum(self.delays):
                    if t.forced_failure is not None:
                        t.status, t.status_msg = "failed", t.forced_failure
                    elif t.render_done and t.render_error is not None:
                        t.status, t.status_msg = "failed", t.render_error
                    elif t.render_done:
                        t.status, t.videos = "succeed", t.result_videos
                if t.status != before:
                    t.updated = now
                    changed.append(t)
        for t in changed:
            self._notify(t)

    def _work(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None or self._stopped.is_set():
                return
            record, job = item
            try:
                with cancellable(self._stopped):
                    videos = job()
                error = None
            except Exception as exc:
                if self._stopped.is_set():
                    # Stopped on purpose (the emulator is stopping): not a failure to report.
                    logger.debug("emulator render of task %s stopped", record.task_id)
                    return
                logger.warning("emulator render of task %s failed", record.task_id, exc_info=True)
                videos, error = [], f"render failed: {type(exc).__name__}: {exc}"
            with self._lock:
                record.result_videos = videos
                record.render_error = error
                record.render_done = True
            self.tick()

    def _notify(self, record: TaskRecord) -> None:
        if self._on_change is not None:
            self._on_change(record)
