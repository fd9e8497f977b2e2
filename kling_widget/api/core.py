"""The sans-IO core of the Kling client: one place per endpoint, one retry policy.

``ClientCore`` builds a :class:`RequestSpec` for every endpoint (validating its input first)
and runs calls as *generators* that yield actions — :class:`HttpRequest` ("send this") and
:class:`Sleep` ("wait this long") — and receive :class:`HttpReply` or
:class:`TransportFailure` back. ``KlingClient`` drives them with httpx, ``AsyncKlingClient``
with httpx's async client and ``asyncio.sleep``; neither repeats any endpoint or policy.

Decisions taken here:

* **Errors**: the HTTP status *and* the envelope ``code`` are checked, and for selection
  calls ``data.status`` too. A body that is not a JSON envelope (an HTML page from a proxy,
  an empty body) raises :class:`KlingResponseError` with the status and a short excerpt.
* **Session gone**: on a call bound to a session, an answer with code 1201, 1202 or 1203 (or
  HTTP 404 without a code) whose message mentions "session" raises
  :class:`KlingSessionExpiredError` (Kling documents no dedicated code for it).
* **Retries**: 1302/1303 (and a bare 429), 5000-5002 and any 5xx, connection errors and
  timeouts are retried with exponential backoff and jitter (first delay >= 1 s, capped,
  ``max_retries`` retries at most); a ``Retry-After`` header is honoured. A 401 or code
  1003/1004 with JWT credentials re-mints the token once and retries immediately.
* **No double billing**: creates always carry an ``external_task_id``. When a create may
  have reached the server (the connection dropped after sending, a read timeout, a 5xx,
  an unreadable reply) the task is first looked up by that id; the create is sent again only
  when the lookup answers "not found".
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import re
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from kling_widget.api import validation as v
from kling_widget.api.credentials import Credentials
from kling_widget.api.models import Preview, Selection, Session, Task, TaskKind
from kling_widget.errors import (
    KlingAPIError,
    KlingAuthError,
    KlingError,
    KlingInvalidRequestError,
    KlingNotFoundError,
    KlingRateLimitError,
    KlingResponseError,
    KlingSelectionError,
    KlingServerError,
    KlingSessionExpiredError,
    KlingTaskFailedError,
    KlingTimeoutError,
    KlingTransportError,
    KlingValidationError,
    error_class_for,
)
from kling_widget.limits import DEFAULT_BASE_URL, MULTI_ELEMENTS_MODEL, OMNI_DEFAULT_MODEL

logger = logging.getLogger("kling_widget")

T = TypeVar("T")

MULTI_ELEMENTS_PATH = "/v1/videos/multi-elements"
OMNI_VIDEO_PATH = "/v1/videos/omni-video"
KIND_PATHS: dict[str, str] = {"multi-elements": MULTI_ELEMENTS_PATH, "omni-video": OMNI_VIDEO_PATH}

USER_AGENT = "kling-widget/0.1"
# Codes that mean "slow down and try again"; other 429 codes (1100-1102, 1304) are final.
RETRYABLE_CODES = frozenset({1302, 1303, 5000, 5001, 5002})
REMINT_CODES = frozenset({1003, 1004})
SESSION_GONE_CODES = frozenset({1201, 1202, 1203})
NOT_FOUND_CODES = frozenset({1202, 1203})
_EXCERPT_CHARS = 160


# --- actions and replies ----------------------------------------------------------------


@dataclass(frozen=True)
class HttpRequest:
    """Action: send this request (the driver adds nothing but transport)."""

    method: str
    url: str
    path: str
    headers: Mapping[str, str] = field(repr=False)
    json: Any = None
    params: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Sleep:
    """Action: wait ``seconds`` before the next step."""

    seconds: float


@dataclass(frozen=True)
class HttpReply:
    """Reply: what the server answered (``response`` is the driver's object, for callers)."""

    status: int
    headers: Mapping[str, str]
    content: bytes
    response: Any = None


@dataclass(frozen=True)
class TransportFailure:
    """Reply: no answer. ``sent`` is False only when the request surely never left."""

    error: BaseException
    sent: bool


Action = HttpRequest | Sleep
Reply = HttpReply | TransportFailure | None
Steps = Generator[Action, Reply, T]


def transport_failure(exc: httpx.TransportError) -> TransportFailure:
    """Classify an httpx error: could the server have received the request?"""
    never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
    return TransportFailure(exc, sent=not never_sent)


# --- request specs ----------------------------------------------------------------------


@dataclass(frozen=True)
class RequestSpec(Generic[T]):
    """One endpoint call: what to send and how to read the answer."""

    method: str
    path: str
    parse: Callable[[Any], T] = field(repr=False)
    json: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    # Selection calls also fail on a non-zero ``data.status``.
    check_data_status: bool = False
    # Set on calls bound to a session, so "session not found" becomes KlingSessionExpiredError.
    session_id: str | None = None
    # Creates: how to find the task by its external id after an ambiguous failure.
    lookup: RequestSpec[T] | None = field(default=None, repr=False)
    after: Callable[[T], None] | None = field(default=None, repr=False)


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter: ``base * 2**n`` (capped) times a factor in [1, 1.5)."""

    max_retries: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0
    # A Retry-After beyond this is not waited for; the error is raised instead.
    max_retry_after: float = 120.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def delay(self, retry: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait before retry number ``retry`` (0-based); None: do not retry."""
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            return max(0.0, retry_after)
        raw = min(self.max_delay, self.base_delay * (2.0**retry))
        return min(self.max_delay, raw * (1.0 + self.jitter * self.rng.random()))


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); None when absent/bad."""
    value = _header(headers, "retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
        return seconds if math.isfinite(seconds) else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _header(headers: Mapping[str, str], name: str) -> str | None:
    if isinstance(headers, httpx.Headers):
        found: str | None = headers.get(name)
        return found
    for k, val in headers.items():
        if k.lower() == name:
            return val
    return None


@dataclass(frozen=True)
class _Failure:
    error: KlingError
    retry_after: float | None = None
    # The server may have acted on the request (matters for creates only).
    maybe_processed: bool = False


# --- the core -----------------------------------------------------------------------------


class ClientCore:
    """Builds every request, reads every answer, decides every retry."""

    def __init__(
        self,
        credentials: Credentials,
        base_url: str | None = None,
        policy: RetryPolicy | None = None,
        tracker: v.SelectionTracker | None = None,
    ) -> None:
        self.credentials = credentials
        self.base_url = normalize_base_url(base_url or DEFAULT_BASE_URL)
        self.policy = policy or RetryPolicy()
        self.selections = tracker or v.SelectionTracker()

    # -- Multi-Elements ------------------------------------------------------------------

    def init_selection(
        self, video_url: str | None = None, video_id: str | None = None, task_id: str | None = None
    ) -> RequestSpec[Session]:
        """POST init-selection with ``video_url`` or ``video_id`` (+ its ``task_id``)."""
        body = _drop_none({"video_id": video_id, "video_url": video_url, "task_id": task_id})
        v.validate_init_selection(body)
        return RequestSpec(
            "POST",
            f"{MULTI_ELEMENTS_PATH}/init-selection",
            Session.from_json,
            json=body,
            check_data_status=True,
        )

    def add_selection(
        self, session_id: str, frame_index: int, points: Sequence[Any]
    ) -> RequestSpec[Selection]:
        """POST add-selection: mark ``points`` on one frame."""
        body = self._selection_body(session_id, frame_index, points)
        sid, frame, pts = body["session_id"], body["frame_index"], body["points"]
        self.selections.check_add(sid, frame, pts)
        return RequestSpec(
            "POST",
            f"{MULTI_ELEMENTS_PATH}/add-selection",
            Selection.from_json,
            json=body,
            check_data_status=True,
            session_id=sid,
            after=lambda _sel: self.selections.record_add(sid, frame, pts),
        )

    def delete_selection(
        self, session_id: str, frame_index: int, points: Sequence[Any]
    ) -> RequestSpec[Selection]:
        """POST delete-selection: the points must equal the ones added."""
        body = self._selection_body(session_id, frame_index, points)
        sid, frame, pts = body["session_id"], body["frame_index"], body["points"]
        return RequestSpec(
            "POST",
            f"{MULTI_ELEMENTS_PATH}/delete-selection",
            Selection.from_json,
            json=body,
            check_data_status=True,
            session_id=sid,
            after=lambda _sel: self.selections.record_delete(sid, frame, pts),
        )

    def clear_selection(self, session_id: str) -> RequestSpec[Selection]:
        """POST clear-selection: wipe every marked point of the session."""
        body = {"session_id": session_id}
        v.validate_session_body(body)
        return RequestSpec(
            "POST",
            f"{MULTI_ELEMENTS_PATH}/clear-selection",
            Selection.from_json,
            json=body,
            check_data_status=True,
            session_id=session_id,
            after=lambda _sel: self.selections.record_clear(session_id),
        )

    def preview_selection(self, session_id: str) -> RequestSpec[Preview]:
        """POST preview-selection: the clip with the masks drawn."""
        body = {"session_id": session_id}
        v.validate_session_body(body)
        return RequestSpec(
            "POST",
            f"{MULTI_ELEMENTS_PATH}/preview-selection",
            Preview.from_json,
            json=body,
            check_data_status=True,
            session_id=session_id,
        )

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
    ) -> RequestSpec[Task]:
        """POST a Multi-Elements task (always with an ``external_task_id``)."""
        # Cheap checks first, so a wrong count or prompt fails before any image is read.
        if isinstance(image_list, (str, bytes)) or not (
            image_list is None or isinstance(image_list, Sequence)
        ):
            raise KlingValidationError("image_list", image_list, "must be a list of images")
        images = [] if image_list is None else list(image_list)
        v.check_id("session_id", session_id)
        v.check_edit_mode_images(edit_mode, len(images))
        v.check_prompt("prompt", prompt, required=True)
        wire_images = [
            _image_item(item, f"image_list[{i}]", "image") for i, item in enumerate(images)
        ]
        ext = external_task_id if v.is_given(external_task_id) else v.new_external_task_id()
        body = _drop_none(
            {
                "model_name": MULTI_ELEMENTS_MODEL,
                "session_id": session_id,
                "edit_mode": edit_mode,
                "image_list": wire_images or None,
                "prompt": prompt,
                "negative_prompt": negative_prompt,
                "mode": mode,
                "duration": v.normalize_duration(duration),
                "watermark_info": None if watermark is None else {"enabled": watermark},
                "callback_url": callback_url,
                "external_task_id": ext,
            }
        )
        v.validate_create_task(body)
        return self._create_spec(MULTI_ELEMENTS_PATH, "multi-elements", body, session_id)

    def get_task(self, task_id: str, kind: TaskKind = "multi-elements") -> RequestSpec[Task]:
        """GET one task by ``task_id`` or ``external_task_id``."""
        tid = v.check_id("task_id", task_id)
        return RequestSpec("GET", f"{KIND_PATHS[kind]}/{quote(tid, safe='')}", _task_parser(kind))

    def list_tasks(
        self, page: int = 1, page_size: int = 30, kind: TaskKind = "multi-elements"
    ) -> RequestSpec[list[Task]]:
        """GET a page of tasks (``pageNum`` 1-1000, ``pageSize`` 1-500)."""
        v.validate_page(page, page_size)
        return RequestSpec(
            "GET",
            KIND_PATHS[kind],
            _task_list_parser(kind),
            params={"pageNum": int(page), "pageSize": int(page_size)},
        )

    # -- Omni-Video ------------------------------------------------------------------------

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
        callback_url: str | None = None,
        external_task_id: str | None = None,
    ) -> RequestSpec[Task]:
        """POST an Omni-Video task (always with an ``external_task_id``)."""
        ext = external_task_id if v.is_given(external_task_id) else v.new_external_task_id()
        body = _drop_none(
            {
                "model_name": model_name,
                "prompt": prompt,
                "multi_shot": multi_shot,
                "shot_type": shot_type,
                "multi_prompt": _shots(multi_prompt),
                "video_list": _videos(video_list),
                "image_list": _omni_images(image_list),
                "element_list": _elements(element_list),
                "mode": mode,
                "aspect_ratio": aspect_ratio,
                "duration": v.normalize_duration(duration),
                "sound": v.on_off(sound),
                "callback_url": callback_url,
                "external_task_id": ext,
            }
        )
        v.validate_omni_video(body)
        return self._create_spec(OMNI_VIDEO_PATH, "omni-video", body, None)

    def get_omni_video(self, task_id: str) -> RequestSpec[Task]:
        """GET one Omni-Video task by ``task_id`` or ``external_task_id``."""
        return self.get_task(task_id, "omni-video")

    def list_omni_videos(self, page: int = 1, page_size: int = 30) -> RequestSpec[list[Task]]:
        """GET a page of Omni-Video tasks."""
        return self.list_tasks(page, page_size, "omni-video")

    # -- helpers -----------------------------------------------------------------------------

    def _selection_body(
        self, session_id: str, frame_index: int, points: Sequence[Any]
    ) -> dict[str, Any]:
        sid = v.check_id("session_id", session_id)
        frame = v.check_frame_index(frame_index)
        body = {"session_id": sid, "frame_index": frame, "points": v.normalize_points(points)}
        v.validate_selection_body(body)
        return body

    def _create_spec(
        self, base: str, kind: TaskKind, body: dict[str, Any], session_id: str | None
    ) -> RequestSpec[Task]:
        ext = str(body["external_task_id"])
        lookup = RequestSpec("GET", f"{base}/{quote(ext, safe='')}", _task_parser(kind))
        return RequestSpec(
            "POST", base, _task_parser(kind), json=body, session_id=session_id, lookup=lookup
        )

    def request(self, spec: RequestSpec[Any], *, now: float | None = None) -> HttpRequest:
        """The concrete request for a spec, with a fresh ``Authorization`` header."""
        headers = {
            "Authorization": self.credentials.authorization(now),
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if spec.json is not None:
            headers["Content-Type"] = "application/json"
        return HttpRequest(
            spec.method, self.base_url + spec.path, spec.path, headers, spec.json, spec.params
        )

    # -- running a call ---------------------------------------------------------------------

    def execute(self, spec: RequestSpec[T]) -> Steps[T]:
        """Run one call: send, read, retry, re-mint, look up creates. Returns the result."""
        retries = 0
        reminted = False
        looking_up = False
        ever_ambiguous = False
        while True:
            current = spec.lookup if (looking_up and spec.lookup is not None) else spec
            reply = yield self.request(current)
            outcome = self.interpret(current, reply)
            if not isinstance(outcome, _Failure):
                result = current.parse(outcome)
                if current is spec.lookup:
                    logger.debug("create found by external_task_id after an ambiguous failure")
                if spec.after is not None:
                    spec.after(result)
                return result
            err = outcome.error
            if current is spec.lookup and _is_not_found(err):
                # The create never happened: send it (again) now.
                looking_up = False
                continue
            if (
                isinstance(err, KlingAuthError)
                and self.credentials.uses_jwt
                and not reminted
                and (err.code in REMINT_CODES or err.http_status == 401)
            ):
                reminted = True
                self.credentials.invalidate()
                continue
            ambiguous = spec.lookup is not None and current is spec and outcome.maybe_processed
            # After an earlier ambiguous attempt, a rejected create may be "external id taken".
            if (
                ever_ambiguous
                and current is spec
                and type(err) is KlingInvalidRequestError
                and spec.lookup is not None
            ):
                ambiguous = True
            ever_ambiguous = ever_ambiguous or ambiguous
            if not (ambiguous or _retryable(outcome)):
                raise self._final_error(spec, err, ever_ambiguous)
            delay = None
            if retries < self.policy.max_retries:
                delay = self.policy.delay(retries, outcome.retry_after)
            if delay is None:
                raise self._final_error(spec, err, ever_ambiguous)
            if ambiguous:
                looking_up = True
            retries += 1
            logger.debug(
                "retry %d/%d of %s %s in %.2f s after %s",
                retries,
                self.policy.max_retries,
                current.method,
                current.path,
                delay,
                type(err).__name__,
            )
            yield Sleep(delay)

    def interpret(self, spec: RequestSpec[Any], reply: Reply) -> Any:
        """An answer's ``data`` on success, or a :class:`_Failure`."""
        if isinstance(reply, TransportFailure):
            exc = reply.error
            what = "the reply never arrived" if reply.sent else "could not connect"
            detail = self.redact(f"{type(exc).__name__}: {exc}")
            logger.debug("%s %s -> %s (%s)", spec.method, spec.path, what, type(exc).__name__)
            err = KlingTransportError(f"{spec.method} {spec.path}: {what} ({detail})")
            return _Failure(err, None, maybe_processed=reply.sent)
        if not isinstance(reply, HttpReply):
            raise TypeError(f"expected an HttpReply, got {type(reply).__name__}")
        try:
            data = self.parse_envelope(spec, reply)
        except KlingError as err:
            server_side = (reply.status >= 500) or isinstance(
                err, (KlingServerError, KlingResponseError)
            )
            return _Failure(err, parse_retry_after(reply.headers), maybe_processed=server_side)
        return data

    def parse_envelope(self, spec: RequestSpec[Any], reply: HttpReply) -> Any:
        """Check status, envelope ``code`` and (selection calls) ``data.status``."""
        status = reply.status
        # Redact first: a proxy that echoes our Authorization header must not leak it into
        # error messages or ``err.body``.
        text = self.redact(reply.content.decode("utf-8", errors="replace"))
        body: Any = None
        if text.strip():
            try:
                body = json.loads(text)
            except ValueError:
                body = None
        if not isinstance(body, dict):
            what = (
                "an empty body"
                if not text.strip()
                else f"not a JSON envelope: {self._excerpt(text)}"
            )
            logger.debug("%s %s -> HTTP %s, unreadable body", spec.method, spec.path, status)
            raise KlingResponseError(
                f"{spec.method} {spec.path} answered {what}", http_status=status
            )
        code = body.get("code")
        request_id = body.get("request_id")
        request_id = str(request_id) if request_id is not None else None
        message = self.redact(str(body.get("message") or ""))
        logger.debug(
            "%s %s -> HTTP %s code %s request_id %s",
            spec.method,
            spec.path,
            status,
            code,
            request_id,
        )
        if isinstance(code, bool) or not isinstance(code, int):
            if status < 400:
                raise KlingResponseError(
                    f"{spec.method} {spec.path} answered an envelope without a numeric code: "
                    f"{self._excerpt(text)}",
                    http_status=status,
                    request_id=request_id,
                )
            code = None
        if status >= 400 or (code is not None and code != 0):
            the_code = code if code else None
            cls = error_class_for(status, the_code)
            msg = message or f"{spec.method} {spec.path} failed"
            if spec.session_id is not None and _mentions_session_gone(status, the_code, message):
                self.selections.record_clear(spec.session_id)
                cls = KlingSessionExpiredError
                msg = f"session {spec.session_id} is gone (expired or unknown): {message}"
            raise cls(msg, http_status=status, code=the_code, request_id=request_id, body=body)
        data = body.get("data")
        if spec.check_data_status and isinstance(data, Mapping):
            d_status = data.get("status")
            if d_status not in (None, 0, "0"):
                raise KlingSelectionError(
                    f"{spec.method} {spec.path}: data.status={d_status!r} "
                    f"(the video or frame could not be recognised) {message}".rstrip(),
                    http_status=status,
                    code=code,
                    request_id=request_id,
                    body=body,
                )
        return data if data is not None else {}

    def redact(self, text: str) -> str:
        """Replace any secret this client holds by ``***``."""
        for secret in self.credentials.secrets():
            if secret and secret in text:
                text = text.replace(secret, "***")
        return text

    def _excerpt(self, text: str) -> str:
        flat = re.sub(r"\s+", " ", text).strip()
        if len(flat) > _EXCERPT_CHARS:
            flat = flat[:_EXCERPT_CHARS] + "..."
        return repr(self.redact(flat))

    def _final_error(self, spec: RequestSpec[Any], err: KlingError, ambiguous: bool) -> KlingError:
        if not ambiguous or spec.json is None:
            return err
        ext = spec.json.get("external_task_id")
        note = (
            f"{err.message} — the task may have been created: look it up with "
            f"get_task({ext!r}) before creating it again"
        )
        try:
            return type(err)(
                note,
                http_status=err.http_status,
                code=err.code,
                request_id=err.request_id,
                body=err.body,
            )
        except TypeError:
            return err

    # -- waiting ---------------------------------------------------------------------------

    def wait(
        self,
        task: Task | str,
        *,
        kind: TaskKind = "multi-elements",
        timeout: float = 600.0,
        on_progress: Callable[[Task], None] | None = None,
        poll_interval: float = 1.0,
        max_poll_interval: float = 10.0,
        raise_on_failure: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> Steps[Task]:
        """Poll until the task ends; see ``KlingClient.wait``."""
        if isinstance(task, Task):
            kind, task_id = task.kind, task.task_id or (task.external_task_id or "")
        else:
            task_id = v.check_id("task", task)
        if not (isinstance(timeout, (int, float)) and timeout >= 0):
            raise KlingValidationError("timeout", timeout, "must be a number of seconds >= 0")
        start = clock()
        delay = max(0.0, poll_interval)
        while True:
            current = yield from self.execute(self.get_task(task_id, kind))
            if on_progress is not None:
                on_progress(current)
            if current.is_final:
                if current.failed and raise_on_failure:
                    raise KlingTaskFailedError(
                        f"task {current.task_id} failed: {current.status_msg or 'no reason given'}",
                        task_id=current.task_id,
                    )
                return current
            remaining = timeout - (clock() - start)
            if remaining <= 0:
                raise KlingTimeoutError(
                    f"task {current.task_id} still {current.status!r} after {timeout:g} s; "
                    f"it keeps running on Kling's side: wait({current.task_id!r}) again later",
                    task_id=current.task_id,
                )
            yield Sleep(min(delay, remaining))
            delay = min(max_poll_interval, max(delay, 0.1) * 1.5)


# --- downloads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadPlan:
    """How to treat a download answer: append to the partial file or start over."""

    append: bool
    total: int | None
    complete: bool = False


def result_url(task_or_url: Task | str, watermark: bool = False) -> tuple[str, str]:
    """The URL to download and a default file name for it."""
    if isinstance(task_or_url, Task):
        task = task_or_url
        if not task.succeeded or not task.videos:
            raise KlingValidationError(
                "task",
                task.task_id,
                f"has no result video to download (status {task.status!r})",
            )
        video = task.videos[0]
        url = video.watermark_url if watermark else video.url
        if not url:
            what = "watermark_url" if watermark else "url"
            raise KlingValidationError("task", task.task_id, f"its result video has no {what}")
        return url, f"{task.task_id or 'kling-result'}{'-watermark' if watermark else ''}.mp4"
    url = v.check_url("url", task_or_url)
    name = Path(urlsplit(url).path).name or "kling-result.mp4"
    return url, name


def download_paths(dest: str | Path | None, default_name: str) -> tuple[Path, Path]:
    """Final path and its ``.part`` sibling; ``dest`` may be a directory or None (cwd)."""
    if dest is None:
        final = Path.cwd() / default_name
    else:
        p = Path(dest).expanduser()
        final = p / default_name if p.is_dir() else p
    final.parent.mkdir(parents=True, exist_ok=True)
    return final, final.with_name(final.name + ".part")


def range_headers(offset: int) -> dict[str, str]:
    """Ask for the rest of a partial file; never compress (lengths must match bytes)."""
    headers = {"Accept-Encoding": "identity", "User-Agent": USER_AGENT}
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
    return headers


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_CONTENT_RANGE_UNSAT = re.compile(r"bytes\s+\*/(\d+)")


def download_plan(url: str, status: int, headers: Mapping[str, str], offset: int) -> DownloadPlan:
    """Read a download answer's status and headers (raises on an error status)."""
    length_text = _header(headers, "content-length")
    length = int(length_text) if length_text and length_text.isdigit() else None
    if status == 206 and offset > 0:
        m = _CONTENT_RANGE.match(_header(headers, "content-range") or "")
        if m and int(m.group(1)) == offset:
            total = int(m.group(3)) if m.group(3) != "*" else None
            if total is None and length is not None:
                total = offset + length
            return DownloadPlan(append=True, total=total)
        return DownloadPlan(append=False, total=None)
    if status == 416 and offset > 0:
        m2 = _CONTENT_RANGE_UNSAT.match(_header(headers, "content-range") or "")
        if m2 and int(m2.group(1)) == offset:
            return DownloadPlan(append=True, total=offset, complete=True)
        return DownloadPlan(append=False, total=None, complete=False)
    if 200 <= status < 300:
        return DownloadPlan(append=False, total=length)
    shown = _strip_query(url)
    cls: type[KlingError] = KlingServerError if status >= 500 else KlingAPIError
    if status == 404 or status == 410:
        cls = KlingNotFoundError
    raise cls(f"download of {shown} failed", http_status=status)


def finish_download(part: Path, final: Path, total: int | None, url: str) -> Path:
    """Check the partial file's length, then move it into place atomically."""
    size = part.stat().st_size
    if total is not None and size != total:
        if size > total:
            part.unlink()
        raise KlingTransportError(
            f"download of {_strip_query(url)} has {size} bytes, expected {total}"
        )
    part.replace(final)
    return final


def _strip_query(url: str) -> str:
    # Signed CDN URLs carry tokens in the query; keep them out of logs and errors.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


# --- helpers --------------------------------------------------------------------------------


def normalize_base_url(url: str) -> str:
    """``https://host[/prefix]`` without a trailing slash; a relay prefix is kept."""
    if not isinstance(url, str) or not v.is_url(url.strip()):
        raise KlingValidationError("base_url", url, "must be an http:// or https:// URL")
    parts = urlsplit(url.strip())
    if parts.query or parts.fragment:
        raise KlingValidationError("base_url", url, "must not have a query or fragment")
    return url.strip().rstrip("/")


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    # "Not given" is one rule (``rules.is_given``): the client never sends an empty field.
    return {k: val for k, val in d.items() if v.is_given(val)}


def _retryable(outcome: _Failure) -> bool:
    err = outcome.error
    if isinstance(err, KlingTransportError):
        return True
    if isinstance(err, KlingServerError):
        return True
    if isinstance(err, KlingResponseError):
        return (err.http_status or 0) >= 500
    if isinstance(err, KlingRateLimitError):
        return err.code is None or err.code in RETRYABLE_CODES
    return isinstance(err, KlingAPIError) and err.code in RETRYABLE_CODES


def _is_not_found(err: KlingError) -> bool:
    if isinstance(err, KlingSessionExpiredError):
        return False
    return err.code in NOT_FOUND_CODES or (err.code is None and err.http_status == 404)


def _mentions_session_gone(status: int, code: int | None, message: str) -> bool:
    if code in SESSION_GONE_CODES or (code is None and status == 404):
        return "session" in message.lower()
    return False


def _task_parser(kind: TaskKind) -> Callable[[Any], Task]:
    def parse(data: Any) -> Task:
        return Task.from_json(data if isinstance(data, Mapping) else {}, kind)

    return parse


def _task_list_parser(kind: TaskKind) -> Callable[[Any], list[Task]]:
    def parse(data: Any) -> list[Task]:
        items = data if isinstance(data, list) else []
        return [Task.from_json(t, kind) for t in items if isinstance(t, Mapping)]

    return parse


def _image_item(item: Any, field_name: str, key: str) -> dict[str, Any]:
    """One image list entry: a bare image source or a dict holding one under ``key``."""
    if isinstance(item, Mapping):
        src_key = key if key in item else ("image" if "image" in item else "image_url")
        if src_key not in item:
            raise KlingValidationError(field_name, item, f"needs {key!r}")
        out = {k: val for k, val in item.items() if k not in ("image", "image_url")}
        out[key] = v.normalize_image(item[src_key], f"{field_name}.{key}")
        return out
    return {key: v.normalize_image(item, field_name)}


def _omni_images(images: Sequence[Any] | None) -> list[dict[str, Any]] | None:
    if images is None:
        return None
    if isinstance(images, (str, bytes)) or not isinstance(images, Sequence):
        raise KlingValidationError("image_list", images, "must be a list of images")
    return [_image_item(item, f"image_list[{i}]", "image_url") for i, item in enumerate(images)]


def _videos(videos: Sequence[Any] | None) -> list[dict[str, Any]] | None:
    if videos is None:
        return None
    if isinstance(videos, (str, bytes)) or not isinstance(videos, Sequence):
        raise KlingValidationError("video_list", videos, "must be a list of videos")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(videos):
        if isinstance(item, str):
            out.append({"video_url": item, "refer_type": "base"})
        elif isinstance(item, Mapping):
            entry = dict(item)
            if "keep_original_sound" in entry:
                entry["keep_original_sound"] = v.yes_no(entry["keep_original_sound"])
            out.append(entry)
        else:
            raise KlingValidationError(f"video_list[{i}]", item, "must be a URL or a dict")
    return out


def _elements(elements: Sequence[Any] | None) -> list[dict[str, Any]] | None:
    if elements is None:
        return None
    if isinstance(elements, (str, bytes)) or not isinstance(elements, Sequence):
        raise KlingValidationError("element_list", elements, "must be a list of element ids")
    return [dict(e) if isinstance(e, Mapping) else {"element_id": e} for e in elements]


def _shots(shots: Sequence[Any] | None) -> list[dict[str, Any]] | None:
    if shots is None:
        return None
    if isinstance(shots, (str, bytes)) or not isinstance(shots, Sequence):
        raise KlingValidationError("multi_prompt", shots, "must be a list of shots")
    out: list[dict[str, Any]] = []
    for i, shot in enumerate(shots):
        if isinstance(shot, Mapping):
            entry = dict(shot)
        elif isinstance(shot, Sequence) and not isinstance(shot, str) and len(shot) == 2:
            entry = {"prompt": shot[0], "duration": shot[1]}
        else:
            raise KlingValidationError(
                f"multi_prompt[{i}]", shot, "must be {'prompt', 'duration'} or (prompt, duration)"
            )
        entry.setdefault("index", i + 1)
        entry["duration"] = v.normalize_duration(entry.get("duration"))
        out.append(entry)
    return out


__all__ = [
    "ClientCore",
    "DownloadPlan",
    "HttpReply",
    "HttpRequest",
    "RequestSpec",
    "RetryPolicy",
    "Sleep",
    "TransportFailure",
    "download_paths",
    "download_plan",
    "finish_download",
    "parse_retry_after",
    "range_headers",
    "result_url",
    "transport_failure",
]
