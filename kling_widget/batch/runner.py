"""``edit_many``: many clips through Kling under the account's concurrency limit.

The public entry points: :func:`edit_many` (blocking; also inside Jupyter) and
:func:`edit_many_async`. They check every job before anything is sent, pick the client,
the uploader and the progress display, and run the engine
(:class:`kling_widget.batch.engine.Batch`; its docstring describes the stages).

The batch does its own retrying (the client it uses has its retries turned off) so that it
knows what each failure means for the slots: 1303 (account concurrency) gives the slot back,
lowers the limit and waits >= 1 s, doubling, with jitter; 1302 (rate limit) backs off the
same way; 5xxx and network failures back off from ``retry_base`` seconds, doubling, with
jitter, and a create that may have reached Kling keeps its slot and is looked up by its
``external_task_id`` before it is ever sent again.

Imports the batch's own modules and the workflow; never the command line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kling_widget.backoff import RetryPolicy
from kling_widget.batch.engine import Batch
from kling_widget.batch.jobs import Job, check_jobs, check_media
from kling_widget.batch.limiter import SlotLimiter
from kling_widget.batch.options import BatchOptions
from kling_widget.batch.progress import ProgressFn, chain, reporter
from kling_widget.batch.result import BatchResult
from kling_widget.batch.steps import Uploader, check_names
from kling_widget.workflow import default_client, uploader_for

if TYPE_CHECKING:
    from kling_widget.api.client import KlingClient


def _batch_client(client: KlingClient) -> KlingClient:
    """The caller's credentials and host, with the client's own retries off (see above)."""
    from kling_widget.api.client import KlingClient

    return KlingClient(
        credentials=client.credentials,
        base_url=client.base_url,
        retry_policy=RetryPolicy(max_retries=0),
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
        opts = replace(opts, **option_overrides)
    limiter = SlotLimiter(concurrency, start=opts.learn_start)
    checked = check_jobs(jobs)
    out = Path(out_dir)
    journals = Path(root) if root is not None else out / "journals"
    if opts.check_media:
        await asyncio.to_thread(check_media, checked)
    check_names(checked, journals)
    if client is None:
        client, _ = default_client()
    if uploader is None:
        uploader = uploader_for(client)
    out.mkdir(parents=True, exist_ok=True)
    display, close = reporter(progress, len(checked))
    callback = chain(on_progress, display)
    batch_client = _batch_client(client)
    try:
        batch = Batch(checked, limiter, batch_client, uploader, out, journals, opts, callback)
        result = await batch.run()
    finally:
        batch_client.close()
    if close is not None:
        close(result.summary())
    return result


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
    display, close = reporter(progress, len(jobs)) if progress else (None, None)

    running: dict[str, Any] = {}

    async def main() -> BatchResult:
        running["loop"], running["task"] = asyncio.get_running_loop(), asyncio.current_task()
        return await edit_many_async(
            jobs,
            concurrency,
            chain(on_progress, display),
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
