"""One loopback HTTP server with a mode for each hostile reply (127.0.0.1 only).

A request to ``/m/<mode>/...`` is answered the way ``<mode>`` says; the API client is
pointed at ``http://127.0.0.1:PORT/m/<mode>`` as a relay prefix, so its requests land here.
Every mode is bounded: dripping stops after ``DRIP_LIMIT_S`` and endless bodies after
``ENDLESS_LIMIT`` bytes, so a client that does not stop still ends, and the server's
threads always finish.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes
DRIP_LIMIT_S = 30.0
ENDLESS_LIMIT = 256 * 1024 * 1024
SECRET_ECHO = "Authorization"


def envelope(data: object, code: int = 0, message: str = "SUCCEED") -> bytes:
    return json.dumps(
        {"code": code, "message": message, "request_id": "r-1", "data": data}
    ).encode()


def task(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "task_id": "t-1",
        "task_status": "succeed",
        "task_info": {"external_task_id": "e-1"},
        "created_at": 1700000000000,
        "updated_at": 1700000000000,
        "task_result": {"videos": [{"id": "v", "url": "http://127.0.0.1/x.mp4", "duration": "5"}]},
    }
    base.update(over)
    return base


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HostileServer

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 1 << 20))
        self._dispatch()

    # -- helpers -------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        sent = {k.lower() for k in (headers or {})}
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if "content-length" not in sent:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def _drip(self, data: bytes, every: float = 0.2) -> None:
        end = time.monotonic() + DRIP_LIMIT_S
        try:
            for i in range(len(data)):
                if time.monotonic() > end or self.server.stopping.is_set():
                    break
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
                time.sleep(every)
        except OSError:
            pass
        self.close_connection = True

    def _range_start(self) -> int | None:
        value = self.headers.get("Range")
        if not value or not value.startswith("bytes="):
            return None
        return int(value[6:].split("-")[0])

    def _chunks(self, source: Iterator[bytes]) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        sent = 0
        try:
            for piece in source:
                if sent > ENDLESS_LIMIT or self.server.stopping.is_set():
                    break
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                sent += len(piece)
        except OSError:
            pass
        self.close_connection = True

    # -- modes ---------------------------------------------------------------------------

    def _dispatch(self) -> None:
        parts = self.path.split("?")[0].split("/")
        mode = parts[2] if len(parts) > 2 and parts[1] == "m" else "file"
        self.server.seen.append((self.command, self.path, dict(self.headers)))
        getattr(self, "mode_" + mode.replace("-", "_"))()

    def mode_file(self) -> None:
        start = self._range_start()
        if start is None:
            self._send(200, PAYLOAD, {"Content-Type": "video/mp4"})
        elif start >= len(PAYLOAD):
            self._send(416, b"", {"Content-Range": f"bytes */{len(PAYLOAD)}"})
        else:
            end = len(PAYLOAD) - 1
            self._send(
                206, PAYLOAD[start:], {"Content-Range": f"bytes {start}-{end}/{len(PAYLOAD)}"}
            )

    def mode_break_once(self) -> None:
        # The first request sends 40% of the file and drops the connection; later ones serve.
        if self.server.counts.setdefault("break", 0) == 0:
            self.server.counts["break"] = 1
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(PAYLOAD[: len(PAYLOAD) * 2 // 5])
            self.wfile.flush()
            self.close_connection = True
            return
        self.mode_file()

    def mode_wrong_offset(self) -> None:
        # Answers every range request with a 206 that starts at 0.
        n = len(PAYLOAD)
        if self._range_start():
            self._send(206, PAYLOAD, {"Content-Range": f"bytes 0-{n - 1}/{n}"})
        else:
            self._send(200, PAYLOAD)

    def mode_bad_range(self) -> None:
        self._send(206, PAYLOAD[10:20], {"Content-Range": "bytes 10-19/abc"})

    def mode_huge(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(10 * 1024**3))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def mode_endless(self) -> None:
        self._chunks(iter(lambda: b"[" * 65536, None))  # type: ignore[arg-type]

    def mode_drip(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.send_header("Connection", "close")
        self.end_headers()
        self._drip(PAYLOAD)

    def mode_drip_headers(self) -> None:
        body = envelope([])
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + "X-Slow: "
            + "a" * 200
            + f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        self._drip(head.encode() + body)

    def mode_loop(self) -> None:
        self._send(302, b"", {"Location": self.path})

    def mode_ping_pong(self) -> None:
        other = "pong" if "ping" in self.path else "ping"
        self._send(302, b"", {"Location": f"/m/ping-pong/{other}"})

    def mode_to_ftp(self) -> None:
        self._send(302, b"", {"Location": "ftp://127.0.0.1/x.mp4"})

    def mode_to_file(self) -> None:
        self._send(302, b"", {"Location": "file:///dev/zero"})

    def mode_missing(self) -> None:
        self._send(404, b"not here")

    # -- API replies -------------------------------------------------------------------------

    def mode_data_list(self) -> None:
        self._send(200, json.dumps({"code": 0, "message": "", "data": [1, 2]}).encode())

    def mode_huge_time(self) -> None:
        self._send(200, envelope(task(created_at=1e300)))

    def mode_wrong_types(self) -> None:
        self._send(200, envelope(task(task_status=7, task_result={"videos": "nope"})))

    def mode_deep(self) -> None:
        self._send(200, b'{"code":0,"data":' + b"[" * 100_000 + b"]" * 100_000 + b"}")

    def mode_echo_auth(self) -> None:
        auth = self.headers.get(SECRET_ECHO, "")
        body = json.dumps({"code": 1201, "message": f"bad header {auth}", "data": None})
        self._send(400, body.encode(), {"X-Echo": auth})

    def mode_html(self) -> None:
        self._send(502, b"<html>" + self.headers.get(SECRET_ECHO, "").encode() + b"</html>")

    def mode_page(self) -> None:
        self._send(200, envelope([task(), task(task_id="t-2")]))


class HostileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.counts: dict[str, int] = {}
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def mode(self, name: str) -> str:
        return f"{self.url}/m/{name}"

    def start(self) -> HostileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=30)
