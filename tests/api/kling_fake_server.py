"""Test helper for tests/api: a scripted loopback HTTP server for the real httpx path.

Every request is recorded (method, path, query, headers, JSON body). Replies come from a
queue filled by the test; a reply may also drop the connection after reading the request
(the "reply never arrives" case) or cut a body short.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

ACCESS_KEY = "ak-test-0123456789abcdef"
SECRET_KEY = "sk-SECRET-test-0123456789abcdef0123456789"
API_KEY = "kl-APIKEY-test-0123456789abcdef0123456789"


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    """A scripted answer."""

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Close the connection after reading the request, without answering.
    drop: bool = False
    # Send headers and only this many body bytes, then close (a broken transfer).
    cut_after: int | None = None
    delay: float = 0.0


Responder = Callable[[Recorded], Reply]


class FakeKling:
    """The server: ``reply(...)`` queues answers, ``requests`` holds what arrived."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.queue: list[Reply | Responder] = []
        self.default: Responder | None = None
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                # The client may give up first (timeout tests): nothing left to answer.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._answer()

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                rec = Recorded(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k: v for k, v in self.headers.items()},
                    body,
                )
                with fake._lock:
                    fake.requests.append(rec)
                    item = fake.queue.pop(0) if fake.queue else fake.default
                if item is None:
                    reply = Reply(500, {"code": 5000, "message": "no scripted reply"})
                elif isinstance(item, Reply):
                    reply = item
                else:
                    reply = item(rec)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    return
                payload = reply.body
                if payload is None:
                    payload = b"" if reply.json is None else json.dumps(reply.json).encode()
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for k, v in headers.items():
                    self.send_header(k, v)
                if "Content-Length" not in reply.headers:
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if reply.cut_after is not None:
                    self.wfile.write(payload[: reply.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()
        host, port = self.server.server_address[:2]
        self.url = f"http://{host}:{port}"

    def reply(self, *replies: Reply | Responder) -> None:
        with self._lock:
            self.queue.extend(replies)

    def ok(self, data: Any, request_id: str = "req-1", **kw: Any) -> None:
        self.reply(Reply(200, envelope(data, request_id=request_id), **kw))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def envelope(data: Any, code: int = 0, message: str = "SUCCEED", request_id: str = "req-1") -> Any:
    return {"code": code, "message": message, "request_id": request_id, "data": data}


def task_json(
    task_id: str = "t-1",
    status: str = "submitted",
    external: str | None = "ext-1",
    videos: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "task_id": task_id,
        "task_status": status,
        "task_status_msg": "",
        "task_info": {"external_task_id": external},
        "created_at": 1722769557708,
        "updated_at": 1722769557708,
        "final_unit_deduction": "1.5",
    }
    if videos is not None:
        out["task_result"] = {"videos": videos}
    return out


class SleepLog:
    """Injected ``sleep``: records delays and advances a fake clock instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.now = 1000.0

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self(seconds)

    def clock(self) -> float:
        return self.now


_SHARED: httpx.Client | None = None


def shared_http() -> httpx.Client:
    """One httpx client for many tests: building one (its SSL context) costs ~0.1 s each."""
    global _SHARED
    if _SHARED is None:
        _SHARED = httpx.Client(timeout=5.0)
    return _SHARED
