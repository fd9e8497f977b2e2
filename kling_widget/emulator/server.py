"""The emulator's HTTP server: a stdlib ``ThreadingHTTPServer`` on loopback.

Paths are Kling's (``/v1/videos/multi-elements...``, ``/v1/videos/omni-video...``) plus
the emulator's own under ``/emulator/``. A relay-style prefix before ``/v1/`` (as in
``https://api.cometapi.com/kling/v1/...``) is accepted and ignored. Every answer is the
envelope ``{code, message, request_id, data}`` (file downloads aside) with a
``X-Request-Id`` header; HTTP/1.1 keep-alive as httpx expects.

Errors: unknown path -> 404/1203, known path with the wrong method -> 404/1202, a body that
is not a JSON object -> 400/1200, a bad field -> 400/1201, unknown task -> 404/1203.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from kling_widget.emulator.envelope import (
    BAD_REQUEST,
    INTERNAL,
    NOT_FOUND,
    WRONG_METHOD,
    ApiError,
    envelope,
    new_request_id,
)
from kling_widget.emulator.faults import Fault

if TYPE_CHECKING:
    from kling_widget.emulator.emulator import Emulator

logger = logging.getLogger("kling_widget.emulator")

# JSON bodies larger than this are refused (base64 images are at most ~14 MB each).
MAX_JSON_BYTES = 64 * 1024 * 1024
CHUNK = 1 << 16

Handler = Callable[["Request"], Any]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received (``Authorization`` redacted)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    json: Any
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
    json: Any
    upload_path: Path | None = None


@dataclass
class FileReply:
    """A route's answer that is a file (served with Range support)."""

    path: Path
    content_type: str


class Router:
    """Method + path pattern -> handler."""

    def __init__(self) -> None:
        self._routes: list[tuple[re.Pattern[str], str, Handler, bool]] = []

    def add(self, method: str, pattern: str, handler: Handler, *, auth: bool = True) -> None:
        """Register ``handler`` for ``method`` on paths matching ``pattern`` (a regex)."""
        self._routes.append((re.compile(pattern + r"\Z"), method, handler, auth))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str], bool]:
        """The handler, its path params and whether it needs auth; ApiError 404 otherwise."""
        known_path = False
        for rx, m, handler, auth in self._routes:
            found = rx.match(path)
            if found is None:
                continue
            known_path = True
            if m == method or (m == "GET" and method == "HEAD"):
                return handler, {k: unquote(v) for k, v in found.groupdict().items()}, auth
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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: Emulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (or a "drop" fault) is not an emulator error.
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        logger.exception("emulator: error while serving %s", client_address)


class EmulatorHandler(BaseHTTPRequestHandler):
    """Turns HTTP requests into route calls on the emulator."""

    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "KlingEmulator/0.1"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("emulator %s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    # -- the pipeline ----------------------------------------------------------------------

    def _handle(self) -> None:
        emu = self.server.emulator
        request_id = new_request_id()
        parts = urlsplit(self.path)
        path = strip_prefix(parts.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        headers = {k: v for k, v in self.headers.items()}
        try:
            handler, params, needs_auth = emu.router.match(self.command, path)
        except ApiError as err:
            handler, params, needs_auth = None, {}, False
            route_error: ApiError | None = err
        else:
            route_error = None
        upload = path == "/emulator/uploads" and self.command == "POST"
        try:
            body, upload_path = self._read_body(upload and route_error is None)
        except ApiError as err:
            self._drain()
            self._send_error(err, request_id)
            return
        parsed: Any = None
        body_error: ApiError | None = None
        if body and not upload:
            try:
                parsed = json.loads(body)
            except (UnicodeDecodeError, ValueError):
                body_error = ApiError(BAD_REQUEST, "request body is not valid JSON")
        emu.record(self.command, path, query, headers, parsed if body_error is None else body)
        delay, fault = emu.faults.decide(self.command, path)
        if delay:
            time.sleep(delay)
        if fault is not None and fault.kind == "error":
            self._send_error(
                ApiError((fault.status, fault.code), _fault_message(fault)), request_id
            )
            return
        if fault is not None and fault.kind == "html":
            self._send_html(fault.status)
            return
        try:
            if route_error is not None:
                raise route_error
            assert handler is not None
            if needs_auth:
                emu.auth.check(self.headers.get("Authorization"))
            if body_error is not None:
                raise body_error
            request = Request(
                method=self.command,
                path=path,
                params=params,
                query=query,
                headers=headers,
                body=body,
                json=parsed,
                upload_path=upload_path,
            )
            result = handler(request)
        except ApiError as err:
            if upload_path is not None:
                shutil.rmtree(upload_path.parent, ignore_errors=True)
            if fault is not None and fault.kind == "drop":
                self._drop()
                return
            self._send_error(err, request_id)
            return
        except Exception as exc:
            logger.exception("emulator route %s %s crashed", self.command, path)
            self._send_error(
                ApiError(INTERNAL, f"emulator internal error: {type(exc).__name__}"), request_id
            )
            return
        if fault is not None and fault.kind == "drop":
            self._drop()
            return
        if isinstance(result, FileReply):
            self._send_file(result, request_id, fault)
            return
        payload = envelope(0, "SUCCEED", request_id, result)
        if fault is not None and fault.kind == "malformed":
            payload = b'{"code": 0, "message": "SUCCEED", "data": {"task_id": '
        self._send(200, payload, "application/json", request_id, fault)

    def _read_body(self, to_file: bool) -> tuple[bytes, Path | None]:
        length_text = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise ApiError(
                BAD_REQUEST, "chunked request bodies are not supported: send Content-Length"
            )
        try:
            length = int(length_text) if length_text else 0
        except ValueError:
            raise ApiError(BAD_REQUEST, f"Content-Length={length_text!r}: not a number") from None
        if length < 0:
            raise ApiError(BAD_REQUEST, f"Content-Length={length}: negative")
        if to_file:
            emu = self.server.emulator
            name = _upload_name(self.path, self.headers)
            file_id, dest = emu.files.reserve(name)
            remaining = length
            with dest.open("wb") as fh:
                while remaining > 0:
                    chunk = self.rfile.read(min(CHUNK, remaining))
                    if not chunk:
                        break
                    fh.write(chunk)
                    remaining -= len(chunk)
            self._upload_id = file_id
            return b"", dest
        if length > MAX_JSON_BYTES:
            self._length_left = length
            raise ApiError(BAD_REQUEST, f"request body of {length} bytes is too large")
        return (self.rfile.read(length) if length else b""), None

    def _drain(self) -> None:
        left = getattr(self, "_length_left", 0)
        while left > 0:
            chunk = self.rfile.read(min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)

    # -- replies ---------------------------------------------------------------------------

    def _send_error(self, err: ApiError, request_id: str) -> None:
        payload = envelope(err.code, err.message, request_id, None)
        self._send(err.http_status, payload, "application/json", request_id, None)

    def _send_html(self, status: int) -> None:
        page = (
            f"<html><head><title>{status} Bad Gateway</title></head><body><center><h1>"
            f"{status} Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n"
        ).encode()
        self._send(status, page, "text/html", None, None)

    def _send(
        self,
        status: int,
        payload: bytes,
        content_type: str,
        request_id: str | None,
        fault: Fault | None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if request_id is not None:
            self.send_header("X-Request-Id", request_id)
        self.end_headers()
        if self.command == "HEAD":
            return
        if fault is not None and fault.kind == "truncate":
            cut = fault.truncate_at if fault.truncate_at is not None else len(payload) // 2
            self.wfile.write(payload[: max(0, min(cut, len(payload) - 1))])
            self._drop()
            return
        self.wfile.write(payload)

    def _send_file(self, reply: FileReply, request_id: str, fault: Fault | None) -> None:
        size = reply.path.stat().st_size
        start, end = 0, size - 1
        status = 200
        rng = self.headers.get("Range")
        if rng:
            parsed = _parse_range(rng, size)
            if parsed is None:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start, end = parsed
            status = 206
        length = end - start + 1 if size else 0
        self.send_response(status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("X-Request-Id", request_id)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return
        limit = length
        truncated = fault is not None and fault.kind == "truncate"
        if truncated:
            assert fault is not None
            cut = fault.truncate_at if fault.truncate_at is not None else length // 2
            limit = max(0, min(cut, length - 1))
        with reply.path.open("rb") as fh:
            fh.seek(start)
            left = limit
            while left > 0:
                chunk = fh.read(min(CHUNK, left))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)
        if truncated:
            self._drop()

    def _drop(self) -> None:
        """Close the connection now, without (the rest of) a reply."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _fault_message(fault: Fault) -> str:
    known = {
        5000: "internal server error (injected fault)",
        5001: "service under maintenance (injected fault)",
        5002: "server timeout (injected fault)",
        1302: "rate limit exceeded (injected fault)",
        1303: "concurrent tasks over the resource pack limit (injected fault)",
    }
    return known.get(fault.code, f"injected fault: HTTP {fault.status} code {fault.code}")


def _upload_name(raw_path: str, headers: Any) -> str:
    query = parse_qs(urlsplit(raw_path).query)
    names = query.get("filename") or query.get("name") or []
    name: str | None = names[0] if names else None
    if not name:
        name = headers.get("X-Filename")
    return unquote(name) if name else "upload.bin"


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if m is None or size == 0:
        return None
    first, last = m.group(1), m.group(2)
    if first == "" and last == "":
        return None
    if first == "":
        n = int(last)
        if n == 0:
            return None
        return max(0, size - n), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


def make_server(emulator: Emulator, host: str, port: int) -> _Server:
    """Bind the HTTP server for ``emulator``."""
    server = _Server((host, port), EmulatorHandler)
    server.emulator = emulator
    return server


def serve_in_thread(server: _Server) -> threading.Thread:
    """Run ``server.serve_forever`` in a daemon thread."""
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.1},
        name="emulator-http",
        daemon=True,
    )
    thread.start()
    return thread
