"""Typed errors, following the error table of Kling's API pages (HTTP status and ``code``).

``KlingValidationError`` is raised *before* anything is sent; every other
``KlingError`` carries what the server (or the network) said. A leaf module: imports
nothing from the package.
"""

from __future__ import annotations

import os
from typing import Any


class KlingError(Exception):
    """Base class of every error this package raises about the Kling API.

    Attributes are always present (``None`` when unknown) so callers can log
    ``err.code`` and ``err.request_id`` without ``getattr`` dances.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        code: int | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.code = code
        self.request_id = request_id
        self.body = body

    def __str__(self) -> str:
        parts = [self.message]
        extra = []
        if self.http_status is not None:
            extra.append(f"HTTP {self.http_status}")
        if self.code is not None:
            extra.append(f"code {self.code}")
        if self.request_id:
            extra.append(f"request_id {self.request_id}")
        if extra:
            parts.append(f"({', '.join(extra)})")
        return " ".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, http_status={self.http_status!r}, "
            f"code={self.code!r}, request_id={self.request_id!r})"
        )


class KlingValidationError(KlingError, ValueError):
    """Input breaks a documented rule; raised locally, nothing was sent or spent."""

    def __init__(self, field: str, value: Any, rule: str) -> None:
        shown = short_repr(value)
        super().__init__(f"{field}={shown}: {rule}")
        self.field = field
        self.value = value
        self.rule = rule


class KlingAPIError(KlingError):
    """The server answered with a non-zero ``code`` or an error status."""


class KlingAuthError(KlingAPIError):
    """401, codes 1000-1004: missing, invalid, not-yet-valid or expired credentials."""


class KlingAccountError(KlingAPIError):
    """429, codes 1100-1102: account problem, arrears, resource pack exhausted."""


class KlingPermissionError(KlingAPIError):
    """403, code 1103 (and 1304, IP whitelist): not allowed to use this API or model."""


class KlingInvalidRequestError(KlingAPIError):
    """400, codes 1200-1201: a parameter was rejected by the server."""


class KlingNotFoundError(KlingAPIError):
    """404, codes 1202-1203: wrong method, or resource or model not found."""


class KlingContentPolicyError(KlingAPIError):
    """400, codes 1300-1301: platform policy or content safety."""


class KlingRateLimitError(KlingAPIError):
    """429, codes 1302 (rate limit) and 1303 (concurrent tasks over the limit)."""


class KlingServerError(KlingAPIError):
    """500/503/504, codes 5000-5002, and any 5xx."""


class KlingSelectionError(KlingAPIError):
    """A selection call answered ``code`` 0 but a non-zero ``data.status``.

    Kling uses it when the frame or video could not be recognised; nothing was selected.
    """


class KlingSessionExpiredError(KlingInvalidRequestError):
    """The selection session is gone (24 h passed, or unknown to the server)."""


class KlingTransportError(KlingError):
    """The request may not have reached the server, or its reply never arrived."""


class KlingDeadlineError(KlingTransportError):
    """A call's total deadline (connect, send and every read together) passed.

    Distinct from the per-read timeout: a server that trickles one byte at a time never
    trips a read timeout, but it does trip the deadline.
    """


class KlingResponseError(KlingError):
    """The reply could not be understood or broke a bound: HTML from a proxy, empty or
    malformed JSON, a field of the wrong type or range, a reply over its size cap, a bad
    ``Content-Range``, a redirect loop."""


class KlingTimeoutError(KlingError):
    """``wait()`` gave up; the task keeps running on Kling's side."""

    def __init__(self, message: str, *, task_id: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.task_id = task_id


class KlingTaskFailedError(KlingError):
    """The task ended with status ``failed``."""

    def __init__(self, message: str, *, task_id: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.task_id = task_id


def error_class_for(http_status: int | None, code: int | None) -> type[KlingAPIError]:
    """Pick the error class for a (status, code) pair from the documented table."""
    if code is not None:
        if 1000 <= code <= 1004:
            return KlingAuthError
        if 1100 <= code <= 1102:
            return KlingAccountError
        if code in (1103, 1304):
            return KlingPermissionError
        if 1200 <= code <= 1201:
            return KlingInvalidRequestError
        if 1202 <= code <= 1203:
            return KlingNotFoundError
        if 1300 <= code <= 1301:
            return KlingContentPolicyError
        if code in (1302, 1303):
            return KlingRateLimitError
        if 5000 <= code <= 5999:
            return KlingServerError
    if http_status is not None:
        if http_status == 401:
            return KlingAuthError
        if http_status == 403:
            return KlingPermissionError
        if http_status == 404:
            return KlingNotFoundError
        if http_status == 429:
            return KlingRateLimitError
        if http_status >= 500:
            return KlingServerError
        if http_status >= 400:
            return KlingInvalidRequestError
    return KlingAPIError


# A file path is shown whole up to this length: a user must recognise the file named.
_PATH_LIMIT = 400


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` for a message, at most about ``limit`` characters.

    A longer text keeps its start and its end (where a path's file name is) around its full
    length. Strings and paths may be up to 400 characters long before they are cut.
    """
    text = repr(value)
    if isinstance(value, (str, os.PathLike)):
        limit = max(limit, _PATH_LIMIT)
    if len(text) > limit:
        keep = max(10, limit - 20)
        head = keep * 2 // 3
        text = f"{text[:head]}...({len(text)} chars)...{text[head - keep :]}"
    return text
