"""Routes: what a handler receives (``Request``), what it may answer (``FileReply``), the
``Router`` that maps a method and path to a handler, and the log entry of a request.

Holds no HTTP and no emulator state. Imports only ``emulator.envelope``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from kling_widget.emulator.envelope import NOT_FOUND, WRONG_METHOD, ApiError

# JSON values are what a handler reads and answers; their shape is checked by the handler.
JsonValue = Any


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received (``Authorization`` redacted)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    json: JsonValue
    time: float


@dataclass
class Request:
    """What a route handler gets."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    json: JsonValue
    upload_path: Path | None = None


@dataclass
class FileReply:
    """A route's answer that is a file (served with Range support)."""

    path: Path
    content_type: str


Handler = Callable[[Request], "JsonValue | FileReply"]


@dataclass(frozen=True)
class Route:
    """A matched route: its handler, path parameters and how its body is read."""

    handler: Handler
    params: dict[str, str]
    auth: bool
    # The body is streamed to a file (uploads) instead of parsed as JSON.
    streams_body: bool


class Router:
    """Method + path pattern -> handler."""

    def __init__(self) -> None:
        self._routes: list[tuple[re.Pattern[str], str, Handler, bool, bool]] = []

    def add(
        self,
        method: str,
        pattern: str,
        handler: Handler,
        *,
        auth: bool = True,
        streams_body: bool = False,
    ) -> None:
        """Register ``handler`` for ``method`` on paths matching ``pattern`` (a regex)."""
        self._routes.append((re.compile(pattern + r"\Z"), method, handler, auth, streams_body))

    def match(self, method: str, path: str) -> Route:
        """The route for ``method`` and ``path``; ``ApiError`` 404/1202-1203 otherwise."""
        known_path = False
        for rx, m, handler, auth, streams in self._routes:
            found = rx.match(path)
            if found is None:
                continue
            known_path = True
            if m == method or (m == "GET" and method == "HEAD"):
                params = {k: unquote(v) for k, v in found.groupdict().items()}
                return Route(handler, params, auth, streams)
        if known_path:
            raise ApiError(WRONG_METHOD, f"method {method} is not allowed on {path}")
        raise ApiError(NOT_FOUND, f"no such resource: {method} {path}")


def strip_prefix(path: str) -> str:
    """Drop a relay prefix: ``/kling/v1/...`` -> ``/v1/...``."""
    for marker in ("/v1/", "/emulator/"):
        i = path.find(marker)
        if i > 0:
            return path[i:]
    return path
