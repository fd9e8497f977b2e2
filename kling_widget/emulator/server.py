"""The emulator's HTTP layer: a threaded HTTP/1.1 server in front of a ``Backend``.

The server knows nothing of Kling: it asks its ``Backend`` (a small protocol the emulator
implements) for the route of a request, to authenticate it, whether a fault is planned,
where an upload goes, and to log it. Order of work for every request, so that nothing
unauthenticated or oversized is ever read into memory or onto disk:

1. route (unknown path -> 404/1203, wrong method -> 404/1202);
2. authenticate, before a byte of the body is read (401/1000-1004);
3. check the declared size against the cap (uploads and JSON bodies have their own caps;
   over it -> 400/1200); a chunked body is counted against the same cap as it arrives;
4. read the body: an upload is streamed to its file, JSON is parsed within the depth and
   size limits of ``emulator.wire`` (-> 400/1200);
5. apply a planned fault, call the handler, answer the envelope ``{code, message,
   request_id, data}`` (``X-Request-Id`` header too) or serve a file with ``Range``.

A refused request's body is read and thrown away (up to the upload cap, never stored) so
the client, which sends its whole body before reading, gets the error instead of a reset
connection; then the connection is closed. A client that sent ``Expect: 100-continue`` is
refused before it sends the body.

Imports only ``emulator.envelope``, ``emulator.faults``, ``emulator.routing`` and
``emulator.wire``; never the emulator itself.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from kling_widget.emulator.envelope import (
    BAD_REQUEST,
    INTERNAL,
    ApiError,
    envelope,
    new_request_id,
)
from kling_widget.emulator.faults import Fault
from kling_widget.emulator.routing import FileReply, JsonValue, Request, Route, strip_prefix
from kling_widget.emulator.wire import (
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    parse_json,
    parse_range,
    upload_name,
)

logger = logging.getLogger("kling_widget.emulator")

CHUNK = 1 << 16
# A chunk-size or trailer line longer than this is malformed; so is a body with more
# trailer lines than MAX_TRAILERS.
MAX_CHUNK_LINE = 1024
MAX_TRAILERS = 64
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:;[^\r\n]*)?\r?\n")
# How long a refused client may take to send the rest of its body.
DISCARD_TIMEOUT_S = 30.0
# A connection that sends nothing for this long (mid-request, or idle between keep-alive
# requests) is closed, so a client that stalls cannot hold a server thread forever.
IDLE_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class BodyLimits:
    """Caps on request bodies (bytes and JSON nesting depth)."""

    max_json_bytes: int = MAX_JSON_BYTES
    max_upload_bytes: int = 1 << 30
    max_json_depth: int = MAX_JSON_DEPTH


class Backend(Protocol):
    """What the HTTP layer needs from the service behind it."""

    @property
    def body_limits(self) -> BodyLimits:
        """The caps on request bodies."""
        ...

    def route(self, method: str, path: str) -> Route:
        """The route for a request; ``ApiError`` (404) when there is none."""
        ...

    def authenticate(self, authorization: str | None) -> None:
        """Return if the ``Authorization`` header is accepted; ``ApiError`` (401) otherwise."""
        ...

    def fault_for(self, method: str, path: str) -> tuple[float, Fault | None]:
        """Seconds to wait first, and the fault to inject (or None)."""
        ...

    def upload_target(self, name: str) -> Path:
        """A fresh path to stream an upload named ``name`` into."""
        ...

    def discard_upload(self, path: Path) -> None:
        """Remove an upload that was refused or failed."""
        ...

    def record(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: JsonValue,
    ) -> None:
        """Log a request."""
        ...


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], backend: Backend) -> None:
        self.backend = backend
        super().__init__(address, BackendHandler)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up (or a "drop" fault) is not an emulator error.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        logger.exception("emulator: error while serving %s", client_address)


class BackendHandler(BaseHTTPRequestHandler):
    """Turns HTTP requests into route calls on the server's ``Backend``."""

    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "KlingEmulator/0.1"
    timeout = IDLE_TIMEOUT_S
    _expects_continue = False

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("emulator %s - %s", self.address_string(), format % args)

    def handle_expect_100(self) -> bool:
        # Decide after routing and authentication whether the body is wanted.
        self._expects_continue = True
        return True

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_GET

    # -- the pipeline ----------------------------------------------------------------------

    def _handle(self) -> None:
        backend = self.server.backend
        request_id = new_request_id()
        parts = urlsplit(self.path)
        path = strip_prefix(parts.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        headers = dict(self.headers.items())
        try:
            route = backend.route(self.command, path)
            if route.auth:
                backend.authenticate(self.headers.get("Authorization"))
            length = self._declared_length(backend.body_limits, route.streams_body)
            cap = (
                backend.body_limits.max_upload_bytes
                if route.streams_body
                else backend.body_limits.max_json_bytes
            )
        except ApiError as err:
            backend.record(self.command, path, query, headers, None)
            self._refuse(err, request_id)
            return
        upload_path: Path | None = None
        parsed: JsonValue = None
        raw = b""
        try:
            if route.streams_body:
                name = upload_name(self.path, self.headers.get("X-Filename"))
                upload_path = backend.upload_target(name)
                self._stream_to(upload_path, length, cap)
            else:
                raw = self._read(length, cap)
                if raw:
                    parsed = parse_json(raw, backend.body_limits.max_json_depth)
        except ApiError as err:
            if upload_path is not None:
                backend.discard_upload(upload_path)
            backend.record(self.command, path, query, headers, None)
            self._send_error(err, request_id, close=self.close_connection)
            return
        except OSError:
            # The client stalled past the timeout or hung up mid-body: nobody to answer.
            if upload_path is not None:
                backend.discard_upload(upload_path)
            self.close_connection = True
            return
        backend.record(self.command, path, query, headers, parsed)
        delay, fault = backend.fault_for(self.command, path)
        if delay:
            time.sleep(delay)
        if fault is not None and fault.kind in ("error", "html"):
            if upload_path is not None:
                backend.discard_upload(upload_path)
            if fault.kind == "html":
                self._send_html(fault.status)
            else:
                self._send_error(
                    ApiError((fault.status, fault.code), _fault_message(fault)), request_id
                )
            return
        request = Request(
            self.command, path, route.params, query, headers, raw, parsed, upload_path
        )
        try:
            result = route.handler(request)
        except ApiError as err:
            if upload_path is not None:
                backend.discard_upload(upload_path)
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

    # -- the body --------------------------------------------------------------------------

    def _declared_length(self, limits: BodyLimits, upload: bool) -> int | None:
        """The body's length from ``Content-Length``, or None for a chunked body."""
        cap = limits.max_upload_bytes if upload else limits.max_json_bytes
        what = "an upload" if upload else "a JSON body"
        encoding = self.headers.get("Transfer-Encoding")
        text = self.headers.get("Content-Length")
        if encoding is not None:
            if encoding.strip().lower() != "chunked":
                raise ApiError(BAD_REQUEST, f"Transfer-Encoding={encoding!r}: only chunked")
            if text is not None:
                # Both framings at once is how requests are smuggled past proxies.
                raise ApiError(BAD_REQUEST, "both Content-Length and Transfer-Encoding given")
            return None
        if text is not None and not re.fullmatch(r"\s*[0-9]{1,19}\s*", text):
            raise ApiError(BAD_REQUEST, f"Content-Length={text!r}: not a byte count")
        length = int(text) if text else 0
        if length > cap:
            raise ApiError(
                BAD_REQUEST, f"request body of {length} bytes: {what} is at most {cap} bytes"
            )
        return length

    def _continue(self) -> None:
        if self._expects_continue:
            self._expects_continue = False
            self.send_response_only(100)
            self.end_headers()

    def _pieces(self, length: int | None, cap: int) -> Iterator[bytes]:
        """The body in pieces: ``length`` bytes, or a chunked body of at most ``cap`` bytes."""
        self._continue()
        if length is None:
            yield from self._chunked(cap)
            return
        remaining = length
        while remaining > 0:
            piece = self.rfile.read(min(CHUNK, remaining))
            if not piece:
                self.close_connection = True
                raise ApiError(
                    BAD_REQUEST, f"request body ended after {length - remaining} of {length} bytes"
                )
            remaining -= len(piece)
            yield piece

    def _chunked(self, cap: int) -> Iterator[bytes]:
        # Where a bad chunked body ends is unknown, so any error ends the connection.
        keep = self.close_connection
        self.close_connection = True
        total = 0
        while True:
            line = self.rfile.readline(MAX_CHUNK_LINE)
            m = _CHUNK_SIZE.fullmatch(line)
            if m is None:
                raise ApiError(BAD_REQUEST, "malformed chunked body: bad chunk size line")
            size = int(m.group(1), 16)
            if size == 0:
                break
            total += size
            if total > cap:
                raise ApiError(BAD_REQUEST, f"chunked request body over the cap of {cap} bytes")
            left = size
            while left > 0:
                piece = self.rfile.read(min(CHUNK, left))
                if not piece:
                    raise ApiError(BAD_REQUEST, "chunked request body ended early")
                left -= len(piece)
                yield piece
            if self.rfile.readline(MAX_CHUNK_LINE) not in (b"\r\n", b"\n"):
                raise ApiError(BAD_REQUEST, "malformed chunked body: no line end after a chunk")
        for _ in range(MAX_TRAILERS):
            if self.rfile.readline(MAX_CHUNK_LINE) in (b"\r\n", b"\n", b""):
                self.close_connection = keep
                return
        raise ApiError(BAD_REQUEST, "malformed chunked body: too many trailer lines")

    def _read(self, length: int | None, cap: int) -> bytes:
        return b"".join(self._pieces(length, cap))

    def _stream_to(self, dest: Path, length: int | None, cap: int) -> None:
        with dest.open("wb") as fh:
            for piece in self._pieces(length, cap):
                fh.write(piece)

    def _refuse(self, err: ApiError, request_id: str) -> None:
        """Answer ``err`` to a request whose body was not read, then end the connection."""
        self._send_error(err, request_id, close=True)
        if self._expects_continue or self.command == "HEAD":
            return
        # Read what the client is sending (never stored) so it gets to read the answer.
        cap = self.server.backend.body_limits.max_upload_bytes
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        text = (self.headers.get("Content-Length") or "0").strip()
        length = None if chunked else (int(text) if text.isdigit() else 0)
        if length is not None and length > cap:
            return
        with contextlib.suppress(OSError, ApiError):
            self.connection.settimeout(DISCARD_TIMEOUT_S)
            for _ in self._pieces(length, cap):
                pass
        self.close_connection = True

    # -- replies ---------------------------------------------------------------------------

    def _send_error(self, err: ApiError, request_id: str, *, close: bool = False) -> None:
        payload = envelope(err.code, err.message, request_id, None)
        self._send(err.http_status, payload, "application/json", request_id, None, close=close)

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
        *,
        close: bool = False,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if request_id is not None:
            self.send_header("X-Request-Id", request_id)
        if close:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        if fault is not None and fault.kind == "truncate":
            cut = fault.truncate_at if fault.truncate_at is not None else len(payload) // 2
            self.wfile.write(payload[: max(0, min(cut, len(payload) - 1))])
            self._drop()
            return
        self.wfile.write(payload)
        if close:
            with contextlib.suppress(OSError):
                self.wfile.flush()

    def _send_file(self, reply: FileReply, request_id: str, fault: Fault | None) -> None:
        size = reply.path.stat().st_size
        start, end = 0, size - 1
        status = 200
        rng = self.headers.get("Range")
        if rng:
            parsed = parse_range(rng, size)
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
        if fault is not None and truncated:
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


def make_server(backend: Backend, host: str, port: int) -> _Server:
    """Bind an HTTP server for ``backend`` (port 0 picks a free one)."""
    return _Server((host, port), backend)


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
