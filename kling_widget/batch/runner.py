"""``edit_many``: many clips through Kling under the account's concurrency limit.

One coroutine per job; the blocking work (the journaled :class:`~kling_widget.project.Project`
calls, HTTP, SQLite, file copies) runs in a thread pool. Three stages, each with its own
bound so none waits behind another:

1. *prepare* (at most ``prep_concurrency`` at once): open the job's project, look at its
   journal, upload the clip (once per distinct clip), open the selection session and mark
   the points. Selection calls do not take a task slot (only task creation does, per the
   API docs; whether selection calls are billed is not documented), so they run ahead of
   the slots and a slot never waits for a selection;
2. *run* (at most ``limit`` at once, see :class:`~kling_widget.batch.limiter.SlotLimiter`):
   create the task (journaled before it is sent) and poll it until it ends;
3. *finish*: journal the final state, download the result into the project folder and
   copy it to ``out_dir/<name>.mp4``; the slot is already free again.

Every job has its own project (journal) under ``root/<name>/``, so a batch killed at any
point and run again with the same jobs finds each job's task by its journaled
``external_task_id``: finished results are not fetched again, running tasks are polled,
creates whose answer never came are looked up before anything is re-sent. Nothing is
created twice and nothing is lost.

The batch does its own retrying (the client it uses has its retries turned off) so that it
knows what each failure means for the slots: 1303 (account concurrency) gives the slot back,
lowers the limit and waits >= 1 s, doubling, with jitter; 1302 (rate limit) backs off the
same way; 5xxx and network failures back off from ``retry_base`` seconds, doubling, with
jitter, and a create that may have reached Kling keeps its slot and is looked up by its
``external_task_id`` before it is ever sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kling_widget.api.models import Task
from kling_widget.batch.jobs import Job, JobError, check_jobs, check_media
from kling_widget.batch.limiter import DEFAULT_START, SlotLimiter
from kling_widget.batch.progress import (
    BatchProgress,
    ProgressFn,
    TextProgress,
    WidgetProgress,
    in_notebook,
    stderr_is_tty,
)
from kling_widget.batch.result import DONE, ERROR, FAILED, TIMEOUT, BatchResult, JobOutcome
from kling_widget.errors import (
    KlingAPIError,
    KlingError,
    KlingRateLimitError,
    KlingResponseError,
    KlingServerError,
    KlingTransportError,
    KlingValidationError,
)
from kling_widget.journal.fetch import DownloadError

if TYPE_CHECKING:
    from kling_widget.api.client import KlingClient
    from kling_widget.journal import TaskRecord
    from kling_widget.project import Project

log = logging.getLogger(__name__)
T = TypeVar("T")
Uploader = Callable[[Path], str]

# Journal-only statuses of Project (see kling_widget.project).
_CREATING = "creating"
_REJECTED = "rejected"
_RUNNING = (_CREATING, "submitted", "processing")
_RETRYABLE = (
    KlingTransportError,
    KlingServerError,
    KlingResponseError,
    KlingRateLimitError,
    DownloadError,
)
# A create that failed this way may have reached Kling (Project keeps it "creating").
_AMBIGUOUS = (KlingTransportError, KlingServerError, KlingResponseError)
CONCURRENCY_CODE = 1303
# Polls around the usual task time: every 2 % of it, at least this often.
FINE_POLL_S = 0.05
FINE_POLL_FRACTION = 0.02
DURATION_WINDOW = 25
MANIFEST = "job.json"


@dataclass(frozen=True)
class BatchOptions:
    """Tuning of a batch run; the defaults suit the real API and the emulator alike.

    ``poll_interval`` (min, max) seconds: a task is polled every ``poll_fraction`` of its
    age, within those bounds, and densely (2 % of it, at least every 0.05 s) around the
    usual task time of the batch, once three tasks have ended. ``retry_base``: first
    backoff after a 5xxx or network failure (1302/1303 back off from 1 s, as the docs
    ask). ``max_attempts``: failures of one step before a job is given up (1303 answers
    do not count: they only mean "wait").
    """

    prep_concurrency: int = 4
    poll_interval: tuple[float, float] = (0.1, 10.0)
    poll_fraction: float = 0.1
    task_timeout: float = 3600.0
    retry_base: float = 0.25
    rate_limit_base: float = 1.0
    max_backoff: float = 30.0
    max_attempts: int = 8
    retry_failed: bool = False
    check_media: bool = True
    learn_start: int = DEFAULT_START


class _Uploads:
    """Upload each distinct clip once per batch (several jobs may edit the same clip)."""

    def __init__(self, uploader: Uploader | None) -> None:
        self.uploader = uploader
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._urls: dict[str, str] = {}

    def __call__(self, clip: Path) -> str:
        if self.uploader is None:  # pragma: no cover - Project only calls a set uploader
            raise KlingValidationError("video_url", None, "no uploader for this API")
        key = str(Path(clip).resolve())
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._urls:
                self._urls[key] = self.uploader(Path(clip))
            return self._urls[key]


def _batch_client(client: KlingClient) -> KlingClient:
    """The caller's credentials and host, with the client's own retries off (see above)."""
    from kling_widget.api.client import KlingClient
    from kling_widget.api.core import RetryPolicy

    return KlingClient(
        credentials=client.credentials,
        base_url=client.base_url,
        retry_policy=RetryPolicy(max_retries=0),
    )


def _default_uploader(client: KlingClient) -> Uploader | None:
    try:
        from kling_widget.connect import uploader_for
    except ImportError:  # pragma: no cover - connect ships with the emulator helper
        return None
    found: Uploader | None = uploader_for(client)
    return found


class _GiveUp(Exception):
    """A job step failed for good; ``status`` and ``message`` go into its row."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Batch:
    def __init__(
        self,
        jobs: list[Job],
        limiter: SlotLimiter,
        client: KlingClient,
        uploader: Uploader | None,
        out_dir: Path,
        root: Path,
        opts: BatchOptions,
        on_progress: ProgressFn | None,
    ) -> None:
        self.jobs = jobs
        self.limiter = limiter
        self.client = client
        self.uploads = _Uploads(uploader) if uploader is not None else None
        self.out_dir = out_dir
        self.root = root
        self.opts = opts
        self.on_progress = on_progress
        self.rows = [JobOutcome(job) for job in jobs]
        self.retries = 0
        self.done = 0
        self.failed = 0
        self.rng = random.Random()
        # How long this batch's recent tasks took (poll timing around the usual end).
        self.durations: list[float] = []
        # Two pools, so the slot-critical calls (create, poll, download) never queue behind
        # preparation work (journals opened, clips probed and uploaded, points marked).
        workers = max(8, min(64, 2 * limiter.limit + 8))
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kling-batch")
        self.prep_pool = ThreadPoolExecutor(
            max_workers=opts.prep_concurrency, thread_name_prefix="kling-batch-prep"
        )
        self.prep = asyncio.Semaphore(opts.prep_concurrency)
        # Jobs open at once (prepared, running or downloading): enough prepared jobs to
        # fill every slot that frees up, few enough to keep files and journals in check.
        self.tickets = asyncio.Semaphore(max(8, 2 * limiter.limit + 2 * opts.prep_concurrency))

    # --- plumbing -------------------------------------------------------------------
    async def call(self, fn: Callable[..., T], *args: Any, prep: bool = False) -> T:
        loop = asyncio.get_running_loop()
        pool = self.prep_pool if prep else self.pool
        return await loop.run_in_executor(pool, functools.partial(fn, *args))

    def report(self, event: str = "") -> None:
        if self.on_progress is None:
            return
        snapshot = BatchProgress(
            total=len(self.jobs),
            done=self.done,
            failed=self.failed,
            in_flight=self.limiter.in_flight,
            limit=self.limiter.limit,
            event=event,
        )
        try:
            self.on_progress(snapshot)
        except Exception:  # a broken progress display must never stop the batch
            log.exception("on_progress failed")

    def backoff(self, attempt: int, exc: BaseException) -> float:
        base = self.opts.rate_limit_base if isinstance(exc, KlingRateLimitError) else None
        base = base if base is not None else self.opts.retry_base
        raw = min(self.opts.max_backoff, base * (2.0 ** max(0, attempt - 1)))
        return raw * (1.0 + 0.5 * self.rng.random())

    async def retrying(self, what: str, fn: Callable[..., T], *args: Any, prep: bool = False) -> T:
        """Run a blocking step, backing off and retrying on retryable failures."""
        attempt = 0
        while True:
            try:
                return await self.call(fn, *args, prep=prep)
            except _RETRYABLE as exc:
                attempt += 1
                if attempt >= self.opts.max_attempts:
                    raise _GiveUp(ERROR, f"{what} failed {attempt} times: {exc}") from exc
                self.retries += 1
                await asyncio.sleep(self.backoff(attempt, exc))

    # --- the run --------------------------------------------------------------------
    async def run(self) -> BatchResult:
        start = time.monotonic()
        self.report("start")
        try:
            await asyncio.gather(*(self.run_job(i) for i in range(len(self.jobs))))
        finally:
            self.pool.shutdown(wait=True)
            self.prep_pool.shutdown(wait=True)
        return BatchResult(
            rows=self.rows,
            out_dir=self.out_dir,
            wall_s=time.monotonic() - start,
            limiter=self.limiter.stats(),
            retries=self.retries,
        )

    async def run_job(self, index: int) -> None:
        row = self.rows[index]
        job = row.job
        async with self.tickets:
            project: Project | None = None
            try:
                async with self.prep:
                    project = await self.retrying(
                        "opening the project", self.open_project, job, prep=True
                    )
                    record = await self.call(_active_record, project, prep=True)
                await self.drive(project, row, record)
            except _GiveUp as exc:
                row.status, row.error = exc.status, exc.message
            except KlingValidationError as exc:
                row.status, row.error = ERROR, str(exc)
            except KlingError as exc:
                row.status, row.error = ERROR, f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # one job's surprise must not stop the other jobs
                log.exception("batch job %s failed", job.output_name)
                row.status, row.error = ERROR, f"{type(exc).__name__}: {exc}"
            finally:
                if project is not None:
                    with contextlib.suppress(Exception):
                        await self.call(project.close)
        if row.status == DONE:
            self.done += 1
        else:
            self.failed += 1
        self.report(f"{row.name}: {row.status}")

    def open_project(self, job: Job) -> Project:
        from kling_widget.project import Project

        folder = self.root / job.output_name
        folder.mkdir(parents=True, exist_ok=True)
        manifest = folder / MANIFEST
        if not manifest.exists():
            manifest.write_text(json.dumps(_manifest(job), indent=1), encoding="utf-8")
        return Project(
            job.clip,
            self.client,
            video_url=job.video_url,
            uploader=self.uploads,
            root=folder,
        )

    async def drive(self, project: Project, row: JobOutcome, record: TaskRecord | None) -> None:
        job = row.job
        dest = self.out_dir / f"{job.output_name}.mp4"
        if record is not None and record.status == "succeed":
            row.task_id, row.external_task_id = record.task_id, record.external_task_id
            had = await self.call(project.result_path, record.external_task_id)
            row.note = "already done" if had is not None and dest.is_file() else "resumed"
            await self.finish(project, row, None, dest)
            return
        if record is not None and record.status == "failed" and not self.opts.retry_failed:
            row.task_id, row.external_task_id = record.task_id, record.external_task_id
            row.status = FAILED
            row.error = f"task failed (earlier run): {record.status_msg or 'no message'}"
            return
        if record is not None and record.status in _RUNNING:
            # Already counted by the account: hold a slot for it now.
            self.limiter.adopt()
            row.note = "resumed"
            row.external_task_id = record.external_task_id
            try:
                task = await self.settle(project, row)
            except _Refused:
                # The earlier run's create never reached Kling and the account is full now.
                task = await self.create(project, row)
        else:
            async with self.prep:
                await self.prepare(project, job)
            task = await self.create(project, row)
        self.report(f"{row.name}: running")
        final = await self.track(project, row, task)
        await self.finish(project, row, final, dest)

    async def prepare(self, project: Project, job: Job) -> None:
        """Everything before the create that needs no slot: upload, session, points.

        The clip is probed here too (the create checks its limits), so the time a slot is
        held before its task exists on Kling is the create request and a journal write.
        """
        await self.call(lambda: project.source, prep=True)
        if job.is_omni:
            await self.retrying("uploading the clip", project.video_url, prep=True)
            return
        await self.retrying("opening the selection session", project.ensure_session, prep=True)
        await self.retrying("marking the points", _mark_points, project, job, prep=True)

    async def create(self, project: Project, row: JobOutcome) -> Task:
        """Take a slot and create the task; returns it with the slot held."""
        job = row.job
        attempt = 0
        refusals = 0
        while True:
            seen = await self.limiter.acquire()
            try:
                row.attempts += 1
                task = await self.call(_send_create, project, job)
            except KlingRateLimitError as exc:
                if exc.code == CONCURRENCY_CODE:
                    await self.limiter.refused(seen)
                    refusals += 1
                    self.report(f"{row.name}: account busy (1303)")
                    await asyncio.sleep(self.backoff(refusals, exc))
                    continue
                await self.limiter.release(task_ended=False)
                attempt += 1
                if attempt >= self.opts.max_attempts:
                    raise _GiveUp(ERROR, f"create refused {attempt} times: {exc}") from exc
                self.retries += 1
                await asyncio.sleep(self.backoff(attempt, exc))
                continue
            except _AMBIGUOUS:
                # It may exist on Kling: keep the slot, find it by external_task_id.
                self.retries += 1
                await asyncio.sleep(self.backoff(1, KlingServerError("")))
                try:
                    return await self.settle(project, row)
                except _Refused:  # no task after all; settle gave the slot back
                    refusals += 1
                    await asyncio.sleep(self.backoff(refusals, KlingRateLimitError("")))
                    continue
            except BaseException:
                await self.limiter.release(task_ended=False)
                raise
            row.task_id, row.external_task_id = task.task_id, task.external_task_id
            return task

    async def settle(self, project: Project, row: JobOutcome) -> Task:
        """Resolve a ``creating`` (or running) journal row into Kling's task; slot held.

        Raises :class:`_Refused` when no task exists after all (the re-sent create met
        1303 or 1302): the caller creates it anew. On any exception the slot has been
        given back.
        """
        try:
            return await self._settle(project, row)
        except (_Refused, _GiveUp):
            raise  # the slot was already given back (or given up, after a 1303)
        except BaseException:
            await self.limiter.release(task_ended=False)
            raise

    async def _settle(self, project: Project, row: JobOutcome) -> Task:
        attempt = 0
        while True:
            try:
                found = await self.call(_reconcile, project)
            except KlingRateLimitError as exc:
                if exc.code == CONCURRENCY_CODE:
                    await self.limiter.refused()
                    raise _Refused() from exc
                error: Exception = exc
            except _AMBIGUOUS as exc:
                error = exc
            except KlingAPIError as exc:
                await self.limiter.release(task_ended=False)
                raise _GiveUp(ERROR, f"create rejected: {exc}") from exc
            else:
                if found is None:
                    await self.limiter.release(task_ended=False)
                    raise _Refused()
                row.task_id = found.task_id
                row.external_task_id = found.external_task_id or row.external_task_id
                return found
            attempt += 1
            if attempt >= self.opts.max_attempts:
                await self.limiter.release(task_ended=False)
                raise _GiveUp(
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

    async def track(self, project: Project, row: JobOutcome, task: Task) -> Task:
        """Poll until the task ends, then give its slot back."""
        get = self.client.get_omni_video if task.kind == "omni-video" else self.client.get_task
        started = time.monotonic()
        interval = self.next_poll(0.0)
        try:
            while not task.is_final:
                await asyncio.sleep(interval)
                age = time.monotonic() - started
                if age > self.opts.task_timeout:
                    raise _GiveUp(
                        TIMEOUT,
                        f"still {task.status} after {age:.0f} s; run the batch again to pick it up",
                    )
                try:
                    task = await self.call(get, task.task_id)
                except KlingRateLimitError:
                    interval = min(self.opts.poll_interval[1], interval * 2)
                    continue
                except _AMBIGUOUS:
                    continue  # a missed poll: the next one will do
                interval = self.next_poll(time.monotonic() - started)
        except BaseException:
            await self.limiter.release(task_ended=False)
            raise
        await self.limiter.release(task_ended=True)
        if task.succeeded:
            self.durations.append(time.monotonic() - started)
            del self.durations[:-DURATION_WINDOW]
        return task

    async def finish(
        self, project: Project, row: JobOutcome, task: Task | None, dest: Path
    ) -> None:
        """Journal the end, download the result and copy it to ``dest``."""
        if task is not None:
            row.task_id = task.task_id
            # Records the final state (and downloads a success into the project folder).
            task = await self.retrying("downloading the result", project.wait, task, 60.0)
            if not task.succeeded:
                row.status = FAILED
                row.error = f"task failed: {task.status_msg or 'no message'}"
                return
        ext = row.external_task_id or (task.external_task_id if task else None)
        ref: Any = ext if ext else task
        path = await self.retrying("downloading the result", project.download, ref, dest)
        row.result = Path(path)
        row.status = DONE


class _Refused(Exception):
    """No task exists after all (a re-sent create was refused); the slot was given back."""


def _manifest(job: Job) -> dict[str, Any]:
    return {
        "name": job.output_name,
        "fingerprint": job.fingerprint(),
        "clip": str(job.clip),
        "edit": job.edit,
        "points": [list(p) for p in job.points],
        "prompt": job.effective_prompt,
    }


def _active_record(project: Project) -> TaskRecord | None:
    """The job's task in its journal: the latest one that was not refused outright."""
    records = [r for r in project.history() if r.status != _REJECTED]
    return records[-1] if records else None


def _mark_points(project: Project, job: Job) -> None:
    want = job.frames()
    have = project.points
    if {f: list(p) for f, p in have.items()} == want:
        return  # marked by an earlier (killed) run: nothing to send
    if have:
        project.clear()
    for frame, points in want.items():
        project.select(frame, points)


def _send_create(project: Project, job: Job) -> Task:
    if job.is_omni:
        return project.omni(
            job.effective_prompt,
            images=list(job.images) or None,
            elements=list(job.elements) or None,
            keep_original_sound=job.keep_original_sound,
            model=job.model,
            mode=job.effective_mode,
        )
    return project.create(
        job.edit,
        prompt=job.effective_prompt,
        images=list(job.images) or None,
        negative_prompt=job.negative_prompt,
        mode=job.effective_mode,
    )


def _reconcile(project: Project) -> Task | None:
    """Look the job's unconfirmed or running task up (re-sending a create Kling never got).

    None when the latest create was refused outright (by a re-send that met 1302, say):
    no task exists, the job must be created anew.
    """
    records = project.history()
    if not records or records[-1].status == _REJECTED:
        return None
    record = records[-1]
    if record.status in _RUNNING:
        for task in project.resume():
            if task.external_task_id in (None, record.external_task_id):
                return task
    fresh = project.journal.task(record.external_task_id)
    if fresh is not None and fresh.status == _REJECTED:
        return None
    if fresh is not None and fresh.task_id:
        return _get(project, fresh)
    raise KlingValidationError("task", record.external_task_id, "not found after resume")


def _get(project: Project, record: TaskRecord) -> Task:
    client = project.client
    assert record.task_id is not None
    if record.kind == "omni-video":
        return client.get_omni_video(record.task_id)
    return client.get_task(record.task_id)


def _check_names(jobs: list[Job], root: Path) -> None:
    """A job name reused for a different job would mix two jobs' journals: refuse it."""
    for i, job in enumerate(jobs):
        manifest = root / job.output_name / MANIFEST
        if not manifest.is_file():
            continue
        try:
            known = json.loads(manifest.read_text(encoding="utf-8")).get("fingerprint")
        except (OSError, ValueError):
            continue
        if known and known != job.fingerprint():
            raise JobError(
                job.source or f"job {i + 1}",
                "name",
                job.output_name,
                f"was used for a different job in {root} (see {manifest}); give this job "
                "another name or delete that folder",
            )


async def edit_many_async(
    jobs: Iterable[Job],
    concurrency: int | None = None,
    on_progress: ProgressFn | None = None,
    client: KlingClient | None = None,
    out_dir: str | Path = "kling-batch",
    root: str | Path | None = None,
    *,
    uploader: Uploader | None = None,
    progress: bool | str = False,
    options: BatchOptions | None = None,
    **option_overrides: Any,
) -> BatchResult:
    """Run every job, at most ``concurrency`` Kling tasks at a time; see :func:`edit_many`."""
    opts = options or BatchOptions()
    if option_overrides:
        from dataclasses import replace

        opts = replace(opts, **option_overrides)
    limiter = SlotLimiter(concurrency, start=opts.learn_start)
    checked = check_jobs(jobs)
    out = Path(out_dir)
    journals = Path(root) if root is not None else out / "journals"
    if opts.check_media:
        await asyncio.to_thread(check_media, checked)
    _check_names(checked, journals)
    if client is None:
        from kling_widget.connect import default_client

        client, _ = default_client()
    if uploader is None:
        uploader = _default_uploader(client)
    out.mkdir(parents=True, exist_ok=True)
    reporter, close = _reporter(progress, len(checked))
    callback = _chain(on_progress, reporter)
    batch_client = _batch_client(client)
    try:
        batch = _Batch(checked, limiter, batch_client, uploader, out, journals, opts, callback)
        result = await batch.run()
    finally:
        batch_client.close()
    if close is not None:
        close(result.summary())
    return result


def _chain(*fns: ProgressFn | None) -> ProgressFn | None:
    live = [f for f in fns if f is not None]
    if not live:
        return None

    def both(p: BatchProgress) -> None:
        for f in live:
            f(p)

    return both


def _reporter(
    progress: bool | str, total: int
) -> tuple[ProgressFn | None, Callable[[str], None] | None]:
    """The progress display asked for: "auto", "widget", "text", True or False."""
    if progress == "auto":
        progress = "widget" if in_notebook() else ("text" if stderr_is_tty() else False)
    if progress == "widget":
        bar = WidgetProgress(total)
        bar.display()
        return bar, bar.close
    if progress is True or progress == "text":
        text = TextProgress()
        return text, text.close
    if progress is False or progress is None:
        return None, None
    raise ValueError(f"progress={progress!r}: must be 'auto', 'widget', 'text', True or False")


def edit_many(
    jobs: Iterable[Job],
    concurrency: int | None = None,
    on_progress: ProgressFn | None = None,
    client: KlingClient | None = None,
    out_dir: str | Path = "kling-batch",
    root: str | Path | None = None,
    *,
    uploader: Uploader | None = None,
    progress: bool | str = "auto",
    options: BatchOptions | None = None,
    **option_overrides: Any,
) -> BatchResult:
    """Edit many clips; returns a :class:`BatchResult` with one row per job.

    ``jobs``: :class:`Job` objects (or :func:`load_jobs` of a CSV/JSONL file); every job is
    checked (fields, clip and image limits, unique names) before anything is sent.
    ``concurrency``: the account's task limit; ``None`` learns it from Kling's 1303 answers
    (see :mod:`kling_widget.batch.limiter`). ``on_progress(BatchProgress)`` is called after
    every change; ``progress`` shows a bar ("auto": a widget in notebooks, a text bar on a
    terminal). ``client`` defaults to the environment's (or the local emulator);
    ``uploader`` (path -> public URL) to the emulator's upload when on the emulator.
    Results go to ``out_dir/<name>.mp4``; journals to ``root`` (default
    ``out_dir/journals``), one project per job, so running the same jobs again after a
    crash repeats nothing and loses nothing. Options: see :class:`BatchOptions`.

    Works inside Jupyter too: with an event loop already running in this thread, the batch
    runs on its own loop in a worker thread and this call blocks until it ends.
    """
    jobs = list(jobs)
    reporter, close = _reporter(progress, len(jobs)) if progress else (None, None)

    running: dict[str, Any] = {}

    async def main() -> BatchResult:
        running["loop"], running["task"] = asyncio.get_running_loop(), asyncio.current_task()
        return await edit_many_async(
            jobs,
            concurrency,
            _chain(on_progress, reporter),
            client,
            out_dir,
            root,
            uploader=uploader,
            progress=False,
            options=options,
            **option_overrides,
        )

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        result = asyncio.run(main())
    else:
        ex = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kling-batch-loop")
        future = ex.submit(asyncio.run, main())
        try:
            result = future.result()
        except KeyboardInterrupt:
            # Interrupting the cell stops the batch too; its journals let a re-run resume.
            loop, task = running.get("loop"), running.get("task")
            if loop is not None and task is not None:
                loop.call_soon_threadsafe(task.cancel)
            raise
        finally:
            ex.shutdown(wait=False)
    if close is not None:
        close(result.summary())
    return result


__all__ = ["BatchOptions", "edit_many", "edit_many_async"]
