"""The one downloader against plain httpx streaming, and the cost of typed reply parsing.

Run: ``python benchmarks/bench_transfer.py [--mb 64] [--rounds 5]``. A loopback server (a
child thread, 127.0.0.1 only) serves a random payload; each round downloads it to a temp
file with ``transfer.download`` (part file, length and SHA-256 verified, deadline-aware
sockets) and with a bare ``httpx.Client.stream`` + ``iter_raw`` into a file (no checks),
alternating. Printed: median seconds and MB/s of each, the ratio (the figure), and the
median time of ``Task.from_json`` on a 500-task list page against ``json.loads`` of it.
Prints ``os.getloadavg()`` first: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kling_widget import transfer
from kling_widget.api.models import Task


def serve(payload: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            view = memoryview(payload)
            for i in range(0, len(payload), 1 << 20):
                self.wfile.write(view[i : i + (1 << 20)])

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def plain(url: str, dest: Path) -> None:
    with (
        httpx.Client(timeout=30) as client,
        client.stream("GET", url) as resp,
        open(dest, "wb") as fh,
    ):
        for chunk in resp.iter_raw():
            fh.write(chunk)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"loadavg {os.getloadavg()}")
    payload = os.urandom(args.mb * 1024 * 1024)
    server = serve(payload)
    url = f"http://127.0.0.1:{server.server_address[1]}/r.mp4"
    ours: list[float] = []
    theirs: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            for name, runs in (("ours", ours), ("plain", theirs)):
                dest = Path(tmp) / f"{name}-{i}.mp4"
                start = time.perf_counter()
                if name == "ours":
                    result = transfer.download(url, dest)
                    assert result.size == len(payload)
                else:
                    plain(url, dest)
                runs.append(time.perf_counter() - start)
                dest.unlink()
    server.shutdown()
    mb = args.mb
    o, p = statistics.median(ours), statistics.median(theirs)
    print(f"transfer.download: median {o:.3f} s ({mb / o:.0f} MB/s), verified + SHA-256")
    print(f"httpx stream only: median {p:.3f} s ({mb / p:.0f} MB/s), no checks")
    print(f"ratio ours/plain: {o / p:.2f}x")

    page = [
        {
            "task_id": f"t-{i}",
            "task_status": "succeed",
            "task_info": {"external_task_id": f"kw-{i}"},
            "created_at": 1722769557708,
            "updated_at": 1722769557708,
            "final_unit_deduction": "1",
            "task_result": {
                "videos": [{"id": "v", "url": "https://cdn.example/r.mp4", "duration": "5"}]
            },
        }
        for i in range(500)
    ]
    text = json.dumps(page)
    loads, typed = [], []
    for _ in range(20):
        start = time.perf_counter()
        data = json.loads(text)
        loads.append(time.perf_counter() - start)
        start = time.perf_counter()
        [Task.from_json(t) for t in data]
        typed.append(time.perf_counter() - start)
    lo, ty = statistics.median(loads), statistics.median(typed)
    print(f"500-task page: json.loads {lo * 1000:.2f} ms, typed parse {ty * 1000:.2f} ms more")


if __name__ == "__main__":
    main()
