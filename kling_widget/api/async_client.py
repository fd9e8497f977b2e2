"""``AsyncKlingClient``: the asyncio Kling client, a thin httpx shell over ``core.ClientCore``.

Same constructor, methods and behaviour as :class:`~kling_widget.api.client.KlingClient`;
every method is a coroutine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from kling_widget import transfer
from kling_widget.api import core, spec
from kling_widget.api.client import make_core
from kling_widget.api.credentials import Credentials
from kling_widget.api.downloads import result_path, result_url
from kling_widget.api.models import Preview, Selection, Session, Task, TaskKind
from kling_widget.api.validation import SelectionTracker
from kling_widget.errors import KlingError, KlingResponseError
from kling_widget.limits import (
    DOWNLOAD_DEADLINE_S,
    MAX_DOWNLOAD_BYTES,
    MAX_JSON_REPLY_BYTES,
    OMNI_DEFAULT_MODEL,
)

T = TypeVar("T")


class AsyncKlingClient:
    """Asynchronous client for Kling's Multi-Elements and Omni-Video endpoints.

    See :class:`~kling_widget.api.client.KlingClient`; ``sleep`` here is an async callable
    (default ``asyncio.sleep``). Use ``async with`` or ``await client.close()``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 4,
        http_client: httpx.AsyncClient | None = None,
        *,
        credentials: Credentials | None = None,
        retry_policy: core.RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] | None = None,
        deadline: float | None = None,
        max_reply_bytes: int = MAX_JSON_REPLY_BYTES,
    ) -> None:
        self._core = make_core(
            api_key, access_key, secret_key, base_url, max_retries, credentials, retry_policy
        )
        self._own_http = http_client is None
        self._timeout, self._deadline = spec.check_bounds(timeout, deadline)
        self._max_reply_bytes = max_reply_bytes
        self._http = http_client or transfer.make_async_http_client(self._timeout)
        self._sleep = sleep or asyncio.sleep
        self._clock = clock or time.monotonic
        self.last_response: httpx.Response | None = None

    @property
    def base_url(self) -> str:
        """The API root (no trailing slash)."""
        return self._core.base_url

    @property
    def credentials(self) -> Credentials:
        """The credentials in use (their ``repr`` never shows a secret)."""
        return self._core.credentials

    @property
    def selections(self) -> SelectionTracker:
        """Client-side memory of marked frames per session (the 10-frame limit)."""
        return self._core.selections

    @property
    def retry_policy(self) -> core.RetryPolicy:
        """Backoff settings."""
        return self._core.policy

    def __repr__(self) -> str:
        return f"AsyncKlingClient(base_url={self.base_url!r}, credentials={self.credentials!r})"

    async def _run(self, steps: core.Steps[T], *, bounded: bool = True) -> T:
        # The whole call (every attempt and backoff) ends within the deadline; wait() has
        # its own timeout and bounds each poll instead.
        total: transfer.Deadline | None = None
        reply: core.Reply = None
        try:
            while True:
                action = steps.send(reply)
                if isinstance(action, core.Sleep):
                    left = None if total is None else total.remaining()
                    # Never sleep past the deadline; the next send then fails at once.
                    await self._sleep(
                        action.seconds if left is None else min(action.seconds, max(left, 0))
                    )
                    reply = None
                else:
                    body = spec.encode_body(action)
                    if bounded and total is None:
                        total = transfer.Deadline(spec.call_deadline(self._deadline, body))
                    reply = await self._send(action, body, total)
        except StopIteration as stop:
            result: T = stop.value
            return result

    async def _send(
        self, req: core.HttpRequest, body: bytes | None, total: transfer.Deadline | None
    ) -> core.HttpReply | core.TransportFailure:
        what = f"{req.method} {req.path}"
        seconds = spec.call_deadline(self._deadline, body)
        if total is not None:
            left = total.remaining()
            if left is not None and left <= 0:
                # Handed to the core (not raised) so a create keeps its "look it up" note.
                return core.TransportFailure(total.error(what), sent=False)
            seconds = min(seconds, left) if left is not None else seconds
        limit = transfer.Deadline(seconds)
        try:
            with transfer.deadline_scope(limit):
                async with self._http.stream(
                    req.method,
                    req.url,
                    headers=dict(req.headers),
                    content=body,
                    params=req.params,
                    timeout=limit.bound(self._timeout),
                ) as response:
                    content = await transfer.aread_capped(
                        response, self._max_reply_bytes, limit, what
                    )
        except httpx.TransportError as exc:
            if limit.expired():
                return core.TransportFailure(limit.error(what), sent=True)
            return core.transport_failure(exc)
        except KlingError as err:
            # Too big, or out of time mid-body: the server may have acted on the request.
            return core.TransportFailure(err, sent=True)
        except httpx.HTTPError as exc:
            return core.TransportFailure(
                KlingResponseError(f"{what}: unreadable reply ({type(exc).__name__})"), sent=True
            )
        self.last_response = spec.replayable(response, content)
        return core.HttpReply(response.status_code, response.headers, content, self.last_response)

    # -- Multi-Elements ---------------------------------------------------------------------

    async def init_selection(
        self, video_url: str | None = None, video_id: str | None = None, task_id: str | None = None
    ) -> Session:
        """Open an editing session for a clip (``video_url``) or a Kling video (``video_id``)."""
        spec = self._core.init_selection(video_url, video_id, task_id)
        return await self._run(self._core.execute(spec))

    async def add_selection(
        self, session_id: str, frame_index: int, points: Sequence[Any]
    ) -> Selection:
        """Mark points on one frame; returns the masks."""
        spec = self._core.add_selection(session_id, frame_index, points)
        return await self._run(self._core.execute(spec))

    async def delete_selection(
        self, session_id: str, frame_index: int, points: Sequence[Any]
    ) -> Selection:
        """Remove points, given exactly as they were added."""
        spec = self._core.delete_selection(session_id, frame_index, points)
        return await self._run(self._core.execute(spec))

    async def clear_selection(self, session_id: str) -> Selection:
        """Remove every marked point of the session."""
        return await self._run(self._core.execute(self._core.clear_selection(session_id)))

    async def preview_selection(self, session_id: str) -> Preview:
        """URLs of the clip with the selected objects' masks drawn."""
        return await self._run(self._core.execute(self._core.preview_selection(session_id)))

    async def create_task(
        self,
        session_id: str,
        edit_mode: str,
        prompt: str,
        image_list: Sequence[Any] | None = None,
        negative_prompt: str | None = None,
        mode: str = "std",
        duration: str | int | None = None,
        watermark: bool | None = None,
        callback_url: str | None = None,
        external_task_id: str | None = None,
    ) -> Task:
        """Create a Multi-Elements edit. Never billed twice."""
        spec = self._core.create_task(
            session_id,
            edit_mode,
            prompt,
            image_list,
            negative_prompt,
            mode,
            duration,
            watermark,
            callback_url,
            external_task_id,
        )
        return await self._run(self._core.execute(spec))

    async def get_task(self, task_id_or_external_id: str) -> Task:
        """One Multi-Elements task, by ``task_id`` or ``external_task_id``."""
        return await self._run(self._core.execute(self._core.get_task(task_id_or_external_id)))

    async def list_tasks(self, page: int = 1, page_size: int = 30) -> list[Task]:
        """A page of Multi-Elements tasks."""
        return await self._run(self._core.execute(self._core.list_tasks(page, page_size)))

    # -- Omni-Video -------------------------------------------------------------------------

    async def create_omni_video(
        self,
        prompt: str | None = None,
        *,
        model_name: str = OMNI_DEFAULT_MODEL,
        video_list: Sequence[Any] | None = None,
        image_list: Sequence[Any] | None = None,
        element_list: Sequence[Any] | None = None,
        mode: str | None = None,
        aspect_ratio: str | None = None,
        duration: str | int | None = None,
        multi_shot: bool | None = None,
        shot_type: str | None = None,
        multi_prompt: Sequence[Any] | None = None,
        sound: str | bool | None = None,
        watermark: bool | None = None,
        callback_url: str | None = None,
        external_task_id: str | None = None,
    ) -> Task:
        """Create an Omni-Video task. Never billed twice."""
        spec = self._core.create_omni_video(
            prompt,
            model_name=model_name,
            video_list=video_list,
            image_list=image_list,
            element_list=element_list,
            mode=mode,
            aspect_ratio=aspect_ratio,
            duration=duration,
            multi_shot=multi_shot,
            shot_type=shot_type,
            multi_prompt=multi_prompt,
            sound=sound,
            watermark=watermark,
            callback_url=callback_url,
            external_task_id=external_task_id,
        )
        return await self._run(self._core.execute(spec))

    async def get_omni_video(self, task_id: str) -> Task:
        """One Omni-Video task, by ``task_id`` or ``external_task_id``."""
        return await self._run(self._core.execute(self._core.get_omni_video(task_id)))

    async def list_omni_videos(self, page: int = 1, page_size: int = 30) -> list[Task]:
        """A page of Omni-Video tasks."""
        return await self._run(self._core.execute(self._core.list_omni_videos(page, page_size)))

    # -- waiting and downloading ------------------------------------------------------------

    async def wait(
        self,
        task: Task | str,
        timeout: float = 600.0,
        on_progress: Callable[[Task], None] | None = None,
        *,
        kind: TaskKind = "multi-elements",
        poll_interval: float = 1.0,
        max_poll_interval: float = 10.0,
        raise_on_failure: bool = False,
    ) -> Task:
        """Poll until the task ends; see ``KlingClient.wait``."""
        steps = self._core.wait(
            task,
            kind=kind,
            timeout=timeout,
            on_progress=on_progress,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            raise_on_failure=raise_on_failure,
            clock=self._clock,
        )
        return await self._run(steps, bounded=False)

    async def download(
        self,
        task_or_url: Task | str,
        dest: str | Path | None = None,
        *,
        watermark: bool = False,
        on_progress: Callable[[int, int | None], None] | None = None,
        max_bytes: int = MAX_DOWNLOAD_BYTES,
        deadline: float | None = DOWNLOAD_DEADLINE_S,
    ) -> Path:
        """Stream a result video to disk atomically, resuming; see ``KlingClient.download``."""
        url, name = result_url(task_or_url, watermark)
        result = await transfer.adownload(
            url,
            result_path(dest, name),
            client=self._http,
            max_bytes=max_bytes,
            deadline=deadline,
            timeout=self._timeout,
            on_progress=on_progress,
            policy=self._core.policy,
            sleep=self._sleep,
        )
        return result.path

    # -- lifetime ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the HTTP connections (not those of an ``http_client`` you passed in)."""
        if self._own_http:
            await self._http.aclose()

    aclose = close

    async def __aenter__(self) -> AsyncKlingClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
