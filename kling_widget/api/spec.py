"""The vocabulary of the sans-IO client core: the actions a call yields
(:class:`HttpRequest`, :class:`Sleep`), the replies it receives (:class:`HttpReply`,
:class:`TransportFailure`), :class:`RequestSpec` (one endpoint call), the endpoint paths,
and the small body helpers the endpoint modules share.

Imports only models, validation, the rules and the leaves; never the clients or ``core``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import httpx

from kling_widget.api import validation as v
from kling_widget.api.models import Task, TaskKind
from kling_widget.api.wire import bad
from kling_widget.errors import KlingError, KlingValidationError
from kling_widget.transfer.deadline import check_seconds

T = TypeVar("T")

MULTI_ELEMENTS_PATH = "/v1/videos/multi-elements"
OMNI_VIDEO_PATH = "/v1/videos/omni-video"
KIND_PATHS: dict[str, str] = {"multi-elements": MULTI_ELEMENTS_PATH, "omni-video": OMNI_VIDEO_PATH}
USER_AGENT = "kling-widget/0.1"
# A call's total deadline, when not given, is this many per-read timeouts...
DEADLINE_FACTOR = 4.0
# ...plus one second per this many bytes of request body (reference images make creates
# of up to ~27 MB, which a slow uplink needs minutes to send).
UPLOAD_ALLOWANCE_BYTES_PER_S = 128 * 1024


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


def _task_parser(kind: TaskKind) -> Callable[[Any], Task]:
    def parse(data: Any) -> Task:
        return Task.from_json(data, kind)

    return parse


def _task_list_parser(kind: TaskKind) -> Callable[[Any], list[Task]]:
    def parse(data: Any) -> list[Task]:
        if data is None or data == {}:
            return []
        if not isinstance(data, list):
            raise bad("data", data, "a list of tasks")
        return [Task.from_json(t, kind) for t in data]

    return parse


def check_bounds(timeout: object, deadline: object) -> tuple[float, float]:
    """The per-read ``timeout`` and the whole-call ``deadline`` (None: 4 x timeout), both
    finite and positive."""
    read = check_seconds("timeout", timeout)
    total = DEADLINE_FACTOR * read if deadline is None else check_seconds("deadline", deadline)
    return read, total


def encode_body(req: HttpRequest) -> bytes | None:
    """The request's JSON body as sent (compact UTF-8), or None without one."""
    if req.json is None:
        return None
    text = json.dumps(req.json, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


def call_deadline(seconds: float, body: bytes | None) -> float:
    """The deadline of a call whose request carries ``body``."""
    return seconds + (len(body) / UPLOAD_ALLOWANCE_BYTES_PER_S if body else 0.0)


def replayable(response: httpx.Response, content: bytes) -> httpx.Response:
    """A closed, fully read copy of a streamed ``response`` holding ``content`` (decoded),
    so ``last_response.json()`` works for callers."""
    skip = {"content-encoding", "content-length", "transfer-encoding"}
    headers = [(k, val) for k, val in response.headers.items() if k.lower() not in skip]
    return httpx.Response(
        response.status_code, headers=headers, content=content, request=response.request
    )
