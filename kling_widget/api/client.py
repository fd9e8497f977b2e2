"""``KlingClient``: the synchronous Kling client, a thin httpx shell over ``core.ClientCore``.

It sends what the core asks for on an HTTP pool whose sockets honour the call's deadline,
reads each reply capped, sleeps the core's backoff, and downloads results with
:func:`kling_widget.transfer.download`. Imports the rest of ``api`` and the leaves.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from kling_widget import transfer
from kling_widget.api import core, spec
from kling_widget.api.credentials import ENV_BASE_URL, Credentials
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


def make_core(
    api_key: str | None,
    access_key: str | None,
    secret_key: str | None,
    base_url: str | None,
    max_retries: int,
    credentials: Credentials | None,
    retry_policy: core.RetryPolicy | None,
) -> core.ClientCore:
    """Shared constructor logic of both clients (arguments first, then the environment)."""
    if credentials is None:
        if api_key is None and access_key is None and secret_key is None:
            credentials = Credentials.from_env()
        else:
            credentials = Credentials(api_key=api_key, access_key=access_key, secret_key=secret_key)
    policy = retry_policy or core.RetryPolicy(max_retries=max_retries)
    url = base_url or os.environ.get(ENV_BASE_URL) or None
    return core.ClientCore(credentials, url, policy, SelectionTracker())


class KlingClient:
    """Synchronous client for Kling's Multi-Elements and Omni-Video endpoints.

    With no arguments, credentials come from ``KLING_API_KEY`` or ``KLING_ACCESS_KEY`` +
    ``KLING_SECRET_KEY`` and the host from ``KLING_BASE_URL`` (default Singapore). A base URL
    with a path prefix (a relay) works. Every input is validated before anything is sent;
    see :mod:`kling_widget.api.core` for the retry and idempotency rules.

    ``sleep`` and ``clock`` replace ``time.sleep`` / ``time.monotonic`` (tests, custom
    schedulers); ``last_response`` is the last ``httpx.Response`` received.
    """

    def __init__(
        self,
        api_key: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 4,
        http_client: httpx.Client | None = None,
        *,
        credentials: Credentials | None = None,
        retry_policy: core.RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
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
        self._http = http_client or transfer.make_http_client(self._timeout)
        self._sleep = sleep or time.sleep
        self._clock = clock or time.monotonic
        self.last_response: httpx.Response | None = None

    # -- properties -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API root, e.g. ``https://api-singapore.klingai.com`` (no trailing slash)."""
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
        """Backoff settings (``max_retries``, ``base_delay``, ``max_delay``...)."""
        return self._core.policy

    def __repr__(self) -> str:
        return f"KlingClient(base_url={self.base_url!r}, credentials={self.credentials!r})"

    # -- driver -----------------------------------------------------------------------------

    def _run(self, steps: core.Steps[T], *, bounded: bool = True) -> T:
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
                    self._sleep(
                        action.seconds if left is None else min(action.seconds, max(left, 0))
                    )
                    reply = None
                else:
                    body = spec.encode_body(action)
                    if bounded and total is None:
                        total = transfer.Deadline(spec.call_deadline(self._deadline, body))
                    reply = self._send(action, body, total)
        except StopIteration as stop:
            result: T = stop.value
            return result

    def _send(
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
            with (
                transfer.deadline_scope(limit),
                self._http.stream(
                    req.method,
                    req.url,
                    headers=dict(req.headers),
                    content=body,
                    params=req.params,
                    timeout=limit.bound(self._timeout),
                ) as response,
            ):
                content = transfer.read_capped(response, self._max_reply_bytes, limit, what)
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

    def init_selection(
        self, video_url: str | None = None, video_id: str | None = None, task_id: str | None = None
    ) -> Session:
        """Open an editing session for a clip (``video_url``) or a Kling video (``video_id``)."""
        return self._run(
            self._core.execute(self._core.init_selection(video_url, video_id, task_id))
        )

    def add_selection(self, session_id: str, frame_index: int, points: Sequence[Any]) -> Selection:
        """Mark points (normalized ``(x, y)`` or ``{"x", "y"}``) on one frame; returns masks."""
        spec = self._core.add_selection(session_id, frame_index, points)
        return self._run(self._core.execute(spec))

    def delete_selection(
        self, session_id: str, frame_index: int, points: Sequence[Any]
    ) -> Selection:
        """Remove points, given exactly as they were added."""
        spec = self._core.delete_selection(session_id, frame_index, points)
        return self._run(self._core.execute(spec))

    def clear_selection(self, session_id: str) -> Selection:
        """Remove every marked point of the session."""
        return self._run(self._core.execute(self._core.clear_selection(session_id)))

    def preview_selection(self, session_id: str) -> Preview:
        """URLs of the clip with the selected objects' masks drawn."""
        return self._run(self._core.execute(self._core.preview_selection(session_id)))

    def create_task(
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
        """Create a Multi-Elements edit (addition / swap / removal). Never billed twice.

        ``image_list`` items may be URLs, paths, bytes, base64 (a ``data:`` prefix is
        stripped), PIL images, uint8 arrays, or ``{"image": ...}``.
        """
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
        return self._run(self._core.execute(spec))

    def get_task(self, task_id_or_external_id: str) -> Task:
        """One Multi-Elements task, by ``task_id`` or ``external_task_id``."""
        return self._run(self._core.execute(self._core.get_task(task_id_or_external_id)))

    def list_tasks(self, page: int = 1, page_size: int = 30) -> list[Task]:
        """A page of Multi-Elements tasks."""
        return self._run(self._core.execute(self._core.list_tasks(page, page_size)))

    # -- Omni-Video -------------------------------------------------------------------------

    def create_omni_video(
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
        """Create an Omni-Video task. Never billed twice.

        ``video_list`` items: a URL (``refer_type`` "base") or ``{"video_url", "refer_type",
        "keep_original_sound"}`` (``True``/``False`` become "yes"/"no"). ``image_list`` items:
        an image source or ``{"image_url": ..., "type": "first_frame" | "end_frame"}``.
        ``element_list``: ids or ``{"element_id"}``. ``multi_prompt``: ``{"prompt",
        "duration"}`` dicts or ``(prompt, duration)`` pairs. ``sound``: "on"/"off" or a bool.
        ``watermark``: ``watermark_info.enabled`` (also a watermarked copy of the result).
        """
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
        return self._run(self._core.execute(spec))

    def get_omni_video(self, task_id: str) -> Task:
        """One Omni-Video task, by ``task_id`` or ``external_task_id``."""
        return self._run(self._core.execute(self._core.get_omni_video(task_id)))

    def list_omni_videos(self, page: int = 1, page_size: int = 30) -> list[Task]:
        """A page of Omni-Video tasks."""
        return self._run(self._core.execute(self._core.list_omni_videos(page, page_size)))

    # -- waiting and downloading ------------------------------------------------------------

    def wait(
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
        """Poll until the task is ``succeed`` or ``failed`` and return it.

        Polls after ~1 s, growing to 10 s. A failed task is *returned* (check
        ``task.succeeded``) unless ``raise_on_failure=True`` (then
        :class:`KlingTaskFailedError`). After ``timeout`` seconds raises
        :class:`KlingTimeoutError` whose ``task_id`` lets you wait again later.
        ``kind`` is only needed when ``task`` is an id of an Omni-Video task.
        """
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
        return self._run(steps, bounded=False)

    def download(
        self,
        task_or_url: Task | str,
        dest: str | Path | None = None,
        *,
        watermark: bool = False,
        on_progress: Callable[[int, int | None], None] | None = None,
        max_bytes: int = MAX_DOWNLOAD_BYTES,
        deadline: float | None = DOWNLOAD_DEADLINE_S,
    ) -> Path:
        """Stream a result video to ``dest`` (a file, a directory, or the cwd) and return it.

        Writes ``<dest>.part`` then renames, so ``dest`` is never half-written; an existing
        ``.part`` is resumed with a ``Range`` request (when the server answers 206); the
        final length is checked against ``Content-Length``/``Content-Range``. Broken
        transfers are resumed up to ``max_retries`` times. No credentials are sent to the
        result host. ``on_progress(bytes_done, total)`` is called per chunk.
        """
        url, name = result_url(task_or_url, watermark)
        result = transfer.download(
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

    def close(self) -> None:
        """Close the HTTP connections (not those of an ``http_client`` you passed in)."""
        if self._own_http:
            self._http.close()

    def __enter__(self) -> KlingClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
