"""The batch engine: every job through prepare, a task slot, and finish.

One coroutine per job; the blocking work (the journaled
:class:`~kling_widget.workflow.Project` calls, HTTP, SQLite, file copies) runs in thread
pools. Three stages, each with its own bound so none waits behind another:

1. *prepare* (at most ``prep_concurrency`` at once): open the job's project, look at its
   journal, upload the clip (once per distinct clip), open the selection session and mark
   the points. Selection calls do not take a task slot (only task creation does, per the
   API docs), so they run ahead of the slots and a slot never waits for a selection;
2. *run* (at most ``limit`` at once, see :class:`~kling_widget.batch.limiter.SlotLimiter`):
   create the task (journaled before it is sent) and poll it until it ends
   (:mod:`kling_widget.batch.slots`);
3. *finish*: journal the final state, download the result into the project folder and
   copy it to ``out_dir/<name>.mp4``; the slot is already free again.

A batch killed at any point and run again with the same jobs finds each job's task by its
journaled ``external_task_id``: finished results are not fetched again, running tasks are
polled, creates whose answer never came are looked up before anything is re-sent.

Imports the batch's own modules and the workflow; never the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING

from kling_widget.api.models import Task
from kling_widget.batch import steps
from kling_widget.batch.jobs import Job
from kling_widget.batch.limiter import SlotLimiter
from kling_widget.batch.options import BatchOptions, GiveUp, Refused
from kling_widget.batch.progress import ProgressFn
from kling_widget.batch.result import DONE, ERROR, FAILED, BatchResult, JobOutcome
from kling_widget.batch.slots import SlotWork, log
from kling_widget.errors import KlingError, KlingValidationError
from kling_widget.journal import TaskRecord
from kling_widget.workflow import Project

if TYPE_CHECKING:
    from kling_widget.api.client import KlingClient


class Batch(SlotWork):
    """One run of :func:`~kling_widget.batch.edit_many` (see the module docstring)."""

    def __init__(
        self,
        jobs: list[Job],
        limiter: SlotLimiter,
        client: KlingClient,
        uploader: steps.Uploader | None,
        out_dir: Path,
        root: Path,
        opts: BatchOptions,
        on_progress: ProgressFn | None,
    ) -> None:
        super().__init__(len(jobs), limiter, opts, on_progress)
        self.jobs = jobs
        self.client = client
        self.uploads = steps.Uploads(uploader) if uploader is not None else None
        self.out_dir = out_dir
        self.root = root
        self.rows = [JobOutcome(job) for job in jobs]
        self.prep = asyncio.Semaphore(opts.prep_concurrency)
        # Jobs open at once (prepared, running or downloading): enough prepared jobs to
        # fill every slot that frees up, few enough to keep files and journals in check.
        self.tickets = asyncio.Semaphore(max(8, 2 * limiter.limit + 2 * opts.prep_concurrency))

    async def run(self) -> BatchResult:
        """Run every job; returns the outcome table."""
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
        """One job from opening its project to its row's final status."""
        row = self.rows[index]
        job = row.job
        async with self.tickets:
            project: Project | None = None
            try:
                async with self.prep:
                    project = await self.retrying(
                        "opening the project",
                        steps.open_project, job, self.root, self.client, self.uploads,
                        prep=True,
                    )  # fmt: skip
                    record = await self.call(steps.active_record, project, prep=True)
                await self.drive(project, row, record)
            except GiveUp as exc:
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

    async def drive(self, project: Project, row: JobOutcome, record: TaskRecord | None) -> None:
        """Pick the job up where its journal left it, or start it."""
        job = row.job
        dest = self.out_dir / f"{job.output_name}.mp4"
        if record is not None and record.succeeded:
            row.task_id, row.external_task_id = record.task_id, record.external_task_id
            had = record.result_path
            row.note = "already done" if had is not None and dest.is_file() else "resumed"
            await self.finish(project, row, None, dest)
            return
        if record is not None and record.failed and not self.opts.retry_failed:
            row.task_id, row.external_task_id = record.task_id, record.external_task_id
            row.status = FAILED
            row.error = f"task failed (earlier run): {record.status_msg or 'no message'}"
            return
        task: Task
        if record is not None and record.active:
            # Already counted by the account: hold a slot for it now.
            self.limiter.adopt()
            row.note = "resumed"
            row.external_task_id = record.external_task_id
            try:
                task = await self.settle(project, row, adopted=True)
            except Refused:
                # The earlier run's create never reached Kling and the account is full now.
                task = await self.create(project, row)
        else:
            async with self.prep:
                await self.prepare(project, job)
            task = await self.create(project, row)
        self.report(f"{row.name}: running")
        final = await self.track(project, task)
        await self.finish(project, row, final, dest)

    async def prepare(self, project: Project, job: Job) -> None:
        """Everything before the create that needs no slot: probe, upload, session, points.

        So the time a slot is held before its task exists on Kling is the create request
        and a journal write.
        """
        await self.call(steps.probe, project, prep=True)
        if job.is_omni:
            await self.retrying("uploading the clip", project.video_url, prep=True)
            return
        await self.retrying("opening the selection session", project.ensure_session, prep=True)
        await self.retrying("marking the points", steps.mark_points, project, job, prep=True)

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
        ref: str | Task | None = row.external_task_id or task
        path = await self.retrying("downloading the result", project.download, ref, dest)
        row.result = Path(path)
        row.status = DONE


__all__ = ["Batch"]
