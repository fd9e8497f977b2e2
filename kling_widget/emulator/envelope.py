"""The response envelope and the errors the emulator answers with.

Every answer is ``{"code", "message", "request_id", "data"}`` with the HTTP status and
code from Kling's error table. Imports only ``kling_widget.errors``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from kling_widget.errors import KlingValidationError

T = TypeVar("T")

# (http status, code) pairs the emulator uses, named for what they mean.
AUTH_FAILED = (401, 1000)
AUTH_EMPTY = (401, 1001)
AUTH_INVALID = (401, 1002)
AUTH_NOT_YET_VALID = (401, 1003)
AUTH_EXPIRED = (401, 1004)
BAD_REQUEST = (400, 1200)
INVALID_PARAMETER = (400, 1201)
WRONG_METHOD = (404, 1202)
NOT_FOUND = (404, 1203)
RATE_LIMITED = (429, 1302)
TOO_MANY_TASKS = (429, 1303)
INTERNAL = (500, 5000)


class ApiError(Exception):
    """Raised inside a handler; becomes an error envelope with this status and code."""

    def __init__(self, kind: tuple[int, int], message: str) -> None:
        super().__init__(message)
        self.http_status, self.code = kind
        self.message = message


def invalid(field: str, value: Any, rule: str) -> ApiError:
    """A 400/1201 naming the field, the value and the rule (same shape as the client's)."""
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:65] + f"... ({len(shown)} chars)"
    return ApiError(INVALID_PARAMETER, f"{field}={shown}: {rule}")


def checked(check: Callable[[], T]) -> T:
    """Run a rule from ``kling_widget.rules`` (or the api's wire checks); its
    ``KlingValidationError`` becomes the 400/1201 answer naming field, value and rule."""
    try:
        return check()
    except KlingValidationError as err:
        raise invalid(err.field, err.value, err.rule) from None


def new_request_id() -> str:
    """A fresh request id (a UUID4 string)."""
    return str(uuid.uuid4())


def envelope(code: int, message: str, request_id: str, data: Any) -> bytes:
    """Serialize one envelope as UTF-8 JSON."""
    body = {"code": code, "message": message, "request_id": request_id, "data": data}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
