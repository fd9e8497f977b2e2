"""The sans-IO core of the Kling client: one retry policy, one way to read a reply.

``ClientCore`` builds a :class:`RequestSpec` for every endpoint (the endpoint mixins in
``selection``, ``tasks`` and ``omni`` validate their input first)
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
  when the lookup answers "not found" in a documented form (404, code 1202/1203, or 400/1201
  whose message says the task does not exist). Any other answer raises, naming the id to
  look up: a second paid task is never risked.
* **Bounded**: the drivers read each reply streamed up to ``max_reply_bytes`` and end a
  call within its deadline (:mod:`kling_widget.transfer`); a reply they could not finish
  comes back here as a :class:`TransportFailure` holding a typed error.

Imports the endpoint mixins, models, ``wire``, ``credentials`` and the leaves (``backoff``
for :class:`RetryPolicy`); never the clients.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from kling_widget.api import validation as v
from kling_widget.api.credentials import Credentials
from kling_widget.api.models import Task, TaskKind
from kling_widget.api.omni import OmniEndpoints
from kling_widget.api.selection import SelectionEndpoints
from kling_widget.api.spec import (
    USER_AGENT,
    Action,
    HttpReply,
    HttpRequest,
    Reply,
    RequestSpec,
    Sleep,
    Steps,
    T,
    TransportFailure,
    _Failure,
    normalize_base_url,
    transport_failure,
)
from kling_widget.api.wire import Fields, excerpt
from kling_widget.backoff import RetryPolicy, parse_retry_after
from kling_widget.errors import (
    KlingAPIError,
    KlingAuthError,
    KlingError,
    KlingInvalidRequestError,
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
from kling_widget.limits import DEFAULT_BASE_URL

logger = logging.getLogger("kling_widget")

# Codes that mean "slow down and try again"; other 429 codes (1100-1102, 1304) are final.
RETRYABLE_CODES = frozenset({1302, 1303, 5000, 5001, 5002})
REMINT_CODES = frozenset({1003, 1004})
SESSION_GONE_CODES = frozenset({1201, 1202, 1203})
NOT_FOUND_CODES = frozenset({1202, 1203})
_EXCERPT_CHARS = 160
_DOES_NOT_EXIST = re.compile(
    r"not (?:be )?(?:exist|found)|does ?n[o']t exist|no such|unknown task|不存在", re.IGNORECASE
)


class ClientCore(SelectionEndpoints, OmniEndpoints):
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
                try:
                    result = current.parse(outcome)
                except KlingResponseError as unreadable:
                    # A create answered code 0 but unreadably: it exists; say how to find it.
                    raise self._final_error(spec, unreadable, spec.lookup is not None) from None
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
            if isinstance(exc, KlingError):
                # The driver already typed it (deadline passed, reply over its cap).
                return _Failure(exc, None, maybe_processed=reply.sent)
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
            except (ValueError, RecursionError):
                # RecursionError: nesting deeper than Python's parser allows.
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
        envelope = Fields(body, "")
        try:
            request_id = envelope.text("request_id")
            message = self.redact(envelope.text("message") or "")
        except KlingResponseError:
            request_id, message = None, self.redact(excerpt(body.get("message")))
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
    """The lookup before a re-sent create says "no such task" in one of the documented
    forms: 404, code 1202/1203, or 400/1201 whose message says the task does not exist.
    Anything else is "unknown": the create is never sent again."""
    if isinstance(err, KlingSessionExpiredError):
        return False
    if err.code in NOT_FOUND_CODES or (err.code is None and err.http_status == 404):
        return True
    if err.code == 1201 or (err.code is None and err.http_status == 400):
        return bool(_DOES_NOT_EXIST.search(err.message))
    return False


def _mentions_session_gone(status: int, code: int | None, message: str) -> bool:
    if code in SESSION_GONE_CODES or (code is None and status == 404):
        return "session" in message.lower()
    return False


__all__ = [
    "Action",
    "ClientCore",
    "HttpReply",
    "HttpRequest",
    "Reply",
    "RequestSpec",
    "RetryPolicy",
    "Sleep",
    "Steps",
    "TransportFailure",
    "parse_retry_after",
    "transport_failure",
]
