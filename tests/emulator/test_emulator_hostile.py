"""The emulator as a careful server: authentication before the body is read, body-size caps,
JSON depth limits, redirects only on loopback, broken reference images answered 1201."""

from __future__ import annotations

import base64
import http.server
import io
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from emu_helpers import ME, OMNI, assert_envelope, call, client_of, disc_centre
from PIL import Image

from kling_widget.emulator import BodyLimits, Emulator, fetch

PROMPT = "Delete the red disc from <<<video_1>>>"


def stored_folders(emu: Emulator) -> set[str]:
    """The folders of the emulator's file store (one per stored file)."""
    return {p.name for p in emu.files.root.iterdir()}


def png_bytes(width: int = 400, height: int = 400) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (20, 140, 220)).save(buf, format="PNG")
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming ``width`` x ``height`` whose pixel data is one empty row."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\0"))
        + _chunk(b"IEND", b"")
    )


class Redirector:
    """A loopback server: ``/to?url=U`` answers 302 to ``U``; ``/file.png`` serves a PNG;
    ``/loop`` redirects to itself. Records every path it was asked for."""

    def __init__(self, payload: bytes) -> None:
        self.seen: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.seen.append(self.path)
                parts = urlsplit(self.path)
                if parts.path == "/to":
                    self._redirect(parse_qs(parts.query)["url"][0])
                elif parts.path == "/loop":
                    self._redirect("/loop")
                elif parts.path in ("/endless.png", "/drip.png"):
                    self._endless(pause=0.05 if parts.path == "/drip.png" else 0.0)
                else:
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)

            def _endless(self, pause: float) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()
                self.close_connection = True
                piece = payload[:1024] if pause else b"\0" * (1 << 16)
                try:
                    while True:
                        self.wfile.write(piece)
                        time.sleep(pause)
                except OSError:
                    return

            def _redirect(self, where: str) -> None:
                self.send_response(302)
                self.send_header("Location", where)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def redirector() -> Iterator[Redirector]:
    r = Redirector(png_bytes())
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def marked(emu: Emulator, small_clip: Path) -> str:
    with client_of(emu) as client:
        session = client.init_selection(video_url=emu.upload(small_clip))
        x, y = disc_centre(0, 720, 720)
        client.add_selection(session.session_id, 0, [(x / 720, y / 720)])
    return str(session.session_id)


def swap_body(sid: str, image: str) -> dict[str, object]:
    return {
        "session_id": sid,
        "edit_mode": "swap",
        "prompt": "swap the disc from <<<image_1>>> for the disc from <<<video_1>>>",
        "image_list": [{"image": image}],
    }


# -- authentication first, sizes capped -----------------------------------------------------


def test_an_unauthenticated_300_mb_upload_is_refused_without_touching_the_disk(
    emu: Emulator,
) -> None:
    size = 300 * 1024 * 1024
    block = b"\0" * (1 << 20)
    before = stored_folders(emu)

    def blocks() -> Iterator[bytes]:
        for _ in range(size // len(block)):
            yield block

    resp = httpx.post(
        emu.base_url + "/emulator/uploads?filename=big.mp4",
        content=blocks(),
        headers={"Content-Length": str(size)},
        timeout=300.0,
    )
    assert_envelope(resp, 401, 1001)
    assert stored_folders(emu) == before
    assert resp.headers["Connection"] == "close"


def test_a_client_expecting_100_continue_is_refused_before_it_sends_the_body(
    emu: Emulator,
) -> None:
    host, port = emu.host, emu.port
    with socket.create_connection((host, port), timeout=60) as sock:
        sock.sendall(
            b"POST /emulator/uploads?filename=a.mp4 HTTP/1.1\r\n"
            + f"Host: {host}:{port}\r\n".encode()
            + b"Content-Length: 1000000000\r\nExpect: 100-continue\r\n\r\n"
        )
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 401"), reply[:80]
    assert b"100 Continue" not in reply


def test_an_authenticated_client_expecting_100_continue_is_told_to_go_on(
    emu: Emulator,
) -> None:
    with socket.create_connection((emu.host, emu.port), timeout=60) as sock:
        sock.sendall(
            b"POST /emulator/uploads?filename=a.bin HTTP/1.1\r\n"
            + f"Host: {emu.host}:{emu.port}\r\n".encode()
            + f"Authorization: Bearer {emu.bearer_token()}\r\n".encode()
            + b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        interim = sock.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100"), interim
        sock.sendall(b"hello")
        reply = b""
        while not reply.endswith(b"}}"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200"), reply[:80]
    assert b'"size":5' in reply


def test_an_upload_cut_off_midway_leaves_no_file(emu: Emulator) -> None:
    before = stored_folders(emu)
    with socket.create_connection((emu.host, emu.port), timeout=60) as sock:
        sock.sendall(
            b"POST /emulator/uploads?filename=cut.mp4 HTTP/1.1\r\n"
            + f"Host: {emu.host}:{emu.port}\r\n".encode()
            + f"Authorization: Bearer {emu.bearer_token()}\r\n".encode()
            + b"Content-Length: 1000000\r\n\r\n"
            + b"x" * 1000
        )
    deadline = time.monotonic() + 60
    while not any(r.path == "/emulator/uploads" for r in emu.requests):
        assert time.monotonic() < deadline, "the cut-off upload was never finished with"
        time.sleep(0.02)
    assert stored_folders(emu) == before


def test_an_authenticated_upload_over_the_cap_is_refused_and_not_stored(tmp_path: Path) -> None:
    limits = BodyLimits(max_json_bytes=2000, max_upload_bytes=5000)
    with Emulator(data_dir=tmp_path, body_limits=limits) as emu:
        before = stored_folders(emu)
        resp = httpx.post(
            emu.base_url + "/emulator/uploads?filename=a.mp4",
            content=b"x" * 6000,
            headers={"Authorization": f"Bearer {emu.bearer_token()}"},
        )
        message = assert_envelope(resp, 400, 1200)["message"]
        assert "6000" in message and "5000" in message
        assert stored_folders(emu) == before
        small = httpx.post(
            emu.base_url + "/emulator/uploads?filename=a.mp4",
            content=b"x" * 5000,
            headers={"Authorization": f"Bearer {emu.bearer_token()}"},
        )
        assert assert_envelope(small, 200, 0)["data"]["size"] == 5000
        big_json = call(emu, "POST", ME + "/clear-selection", {"session_id": "1" * 3000})
        assert "2000" in assert_envelope(big_json, 400, 1200)["message"]


def test_chunked_bodies_are_read_within_the_caps(tmp_path: Path) -> None:
    limits = BodyLimits(max_json_bytes=2000, max_upload_bytes=5000)
    with Emulator(data_dir=tmp_path, body_limits=limits) as emu:
        auth = {"Authorization": f"Bearer {emu.bearer_token()}"}

        def pieces(*parts: bytes) -> Iterator[bytes]:
            yield from parts

        resp = httpx.post(
            emu.base_url + ME + "/clear-selection",
            content=pieces(b'{"session_id": ', b'"123"}'),
            headers=auth,
        )
        # Read and parsed: the session simply does not exist.
        assert "session" in assert_envelope(resp, 400, 1201)["message"]
        upload = httpx.post(
            emu.base_url + "/emulator/uploads?filename=c.bin",
            content=pieces(b"a" * 3000, b"b" * 2000),
            headers=auth,
        )
        url = assert_envelope(upload, 200, 0)["data"]["url"]
        assert httpx.get(url).content == b"a" * 3000 + b"b" * 2000
        before = stored_folders(emu)
        over = httpx.post(
            emu.base_url + "/emulator/uploads?filename=c.bin",
            content=pieces(b"a" * 3000, b"b" * 3000),
            headers=auth,
        )
        assert "cap" in assert_envelope(over, 400, 1200)["message"]
        assert over.headers["Connection"] == "close"
        assert stored_folders(emu) == before


@pytest.mark.parametrize(
    "head",
    [
        b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        b"Transfer-Encoding: gzip\r\n",
        b"Content-Length: -5\r\n",
        b"Content-Length: 0x10\r\n",
    ],
    ids=["both-framings", "gzip", "negative", "hex"],
)
def test_bad_body_framing_is_400_1200(emu: Emulator, head: bytes) -> None:
    with socket.create_connection((emu.host, emu.port), timeout=60) as sock:
        sock.sendall(
            b"POST /v1/videos/multi-elements/clear-selection HTTP/1.1\r\n"
            + f"Host: {emu.host}:{emu.port}\r\n".encode()
            + f"Authorization: Bearer {emu.bearer_token()}\r\n".encode()
            + head
            + b"\r\n0\r\n\r\n"
        )
        reply = b""
        while b"}" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400"), reply[:80]
    assert b'"code":1200' in reply


# -- JSON limits -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100_000 + b"]" * 100_000, b'{"points": ' + b"[" * 100_000, b'{"a":' * 50_000],
    ids=["array", "unclosed-in-object", "objects"],
)
def test_a_deeply_nested_body_gets_a_400_1200_answer(emu: Emulator, raw: bytes) -> None:
    resp = httpx.post(
        emu.base_url + ME + "/init-selection",
        content=raw,
        headers={"Authorization": f"Bearer {emu.bearer_token()}"},
        timeout=120.0,
    )
    assert "levels" in assert_envelope(resp, 400, 1200)["message"]
    # The connection and the server are fine afterwards.
    assert_envelope(call(emu, "GET", ME), 200, 0)


def test_brackets_inside_strings_do_not_count_as_nesting(emu: Emulator) -> None:
    text = "[{" * 5000
    resp = call(emu, "POST", ME + "/clear-selection", {"session_id": "1", "note": text})
    # The body is read; the session simply does not exist.
    assert "session" in assert_envelope(resp, 400, 1201)["message"]


@pytest.mark.parametrize("raw", [b'{"session_id": NaN}', b"{not json", b"\xff\xfe{}"])
def test_bodies_that_are_not_strict_json_are_400_1200(emu: Emulator, raw: bytes) -> None:
    resp = httpx.post(
        emu.base_url + ME + "/clear-selection",
        content=raw,
        headers={"Authorization": f"Bearer {emu.bearer_token()}"},
    )
    assert_envelope(resp, 400, 1200)


# -- no requests beyond the machine ------------------------------------------------------------


def test_a_loopback_video_url_redirecting_elsewhere_is_refused(
    emu: Emulator, redirector: Redirector
) -> None:
    outside = "http://192.0.2.10/clip.mp4"
    url = f"{redirector.base}/to?url={outside}"
    resp = call(emu, "POST", ME + "/init-selection", {"video_url": url})
    message = assert_envelope(resp, 400, 1201)["message"]
    assert "192.0.2.10" in message and "loopback" in message
    assert emu.sessions.all() == []


def test_redirects_on_loopback_are_followed_up_to_a_limit(
    emu: Emulator, redirector: Redirector, small_clip: Path
) -> None:
    url = emu.upload(small_clip)
    hop = f"{redirector.base}/to?url={url}"
    resp = call(emu, "POST", ME + "/init-selection", {"video_url": hop})
    assert assert_envelope(resp, 200, 0)["data"]["total_frame"] == 48
    looping = call(emu, "POST", ME + "/init-selection", {"video_url": f"{redirector.base}/loop"})
    assert "redirects" in assert_envelope(looping, 400, 1201)["message"]
    assert redirector.seen.count("/loop") == 6


def test_an_image_url_redirecting_elsewhere_is_refused(
    emu: Emulator, redirector: Redirector, marked: str
) -> None:
    url = f"{redirector.base}/to?url=http://example.com/cat.png"
    resp = call(emu, "POST", ME, swap_body(marked, url))
    message = assert_envelope(resp, 400, 1201)["message"]
    assert message.startswith("image_list[0].image=") and "example.com" in message
    fine = call(emu, "POST", ME, swap_body(marked, f"{redirector.base}/file.png"))
    assert_envelope(fine, 200, 0)
    assert len(emu.tasks()) == 1


def test_an_endless_image_download_stops_at_the_cap(
    emu: Emulator, redirector: Redirector, marked: str
) -> None:
    before = stored_folders(emu)
    resp = call(emu, "POST", ME, swap_body(marked, f"{redirector.base}/endless.png"))
    message = assert_envelope(resp, 400, 1201)["message"]
    assert "more than 10485760 bytes" in message
    assert stored_folders(emu) == before


def test_a_dripping_download_stops_at_the_deadline(
    emu: Emulator, redirector: Redirector, marked: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch, "FETCH_DEADLINE_S", 1.0)
    resp = call(emu, "POST", ME, swap_body(marked, f"{redirector.base}/drip.png"))
    assert "took over 1 s" in assert_envelope(resp, 400, 1201)["message"]


# -- broken images -----------------------------------------------------------------------------


def test_a_truncated_png_is_1201_not_500(
    emu: Emulator, redirector: Redirector, marked: str
) -> None:
    data = png_bytes()
    cut = base64.b64encode(data[: len(data) // 2]).decode()
    resp = call(emu, "POST", ME, swap_body(marked, cut))
    message = assert_envelope(resp, 400, 1201)["message"]
    assert message.startswith("image_list[0].image=") and "readable image" in message
    assert emu.tasks() == []


def test_an_image_too_large_in_pixels_is_1201(emu: Emulator, marked: str) -> None:
    bomb = base64.b64encode(png_header_only(20000, 20000)).decode()
    resp = call(emu, "POST", ME, swap_body(marked, bomb))
    message = assert_envelope(resp, 400, 1201)["message"]
    assert message.startswith("image_list[0].image=")
    assert emu.tasks() == []


def test_a_truncated_omni_first_frame_is_1201(emu: Emulator) -> None:
    data = png_bytes(600, 400)
    body = {
        "prompt": "it moves",
        "image_list": [
            {"image_url": base64.b64encode(data[:-200]).decode(), "type": "first_frame"}
        ],
    }
    message = assert_envelope(call(emu, "POST", OMNI, body), 400, 1201)["message"]
    assert message.startswith("image_list[0].image_url=")
    assert emu.tasks() == []
