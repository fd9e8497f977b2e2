"""The envelope, paths and methods, uploads and served files (Range, expiry)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from emu_helpers import ME, OMNI, assert_envelope, call

from kling_widget.emulator import Emulator, ManualClock


def test_unknown_path_is_404_1203_and_wrong_method_is_404_1202(emu: Emulator) -> None:
    body = assert_envelope(call(emu, "GET", "/v1/videos/nothing-here"), 404, 1203)
    assert "nothing-here" in body["message"]
    assert_envelope(call(emu, "DELETE", ME), 404, 1202)
    assert_envelope(call(emu, "GET", ME + "/init-selection/extra"), 404, 1203)
    assert_envelope(call(emu, "PUT", OMNI), 404, 1202)


def test_body_that_is_not_a_json_object_is_400_1200(emu: Emulator) -> None:
    resp = httpx.post(
        emu.base_url + ME + "/init-selection",
        content=b"{not json",
        headers={"Authorization": f"Bearer {emu.bearer_token()}"},
    )
    assert_envelope(resp, 400, 1200)
    assert_envelope(call(emu, "POST", ME + "/init-selection", [1, 2]), 400, 1200)


def test_every_answer_has_its_own_request_id(emu: Emulator) -> None:
    ids = {call(emu, "GET", ME).json()["request_id"] for _ in range(3)}
    assert len(ids) == 3
    assert all(uuid.UUID(i) for i in ids)


def test_relay_prefix_is_accepted(emu: Emulator) -> None:
    body = assert_envelope(call(emu, "GET", "/kling" + ME + "?pageNum=1&pageSize=2"), 200, 0)
    assert body["data"] == []


def test_info_is_public_and_says_emulator(emu: Emulator) -> None:
    body = assert_envelope(httpx.get(emu.base_url + "/emulator/info"), 200, 0)
    assert body["data"]["emulator"] is True
    assert isinstance(body["data"]["version"], str)


def test_requests_are_logged_with_json_bodies(emu: Emulator) -> None:
    call(emu, "POST", ME + "/clear-selection", {"session_id": "123"})
    last = emu.requests[-1]
    assert (last.method, last.path, last.json) == (
        "POST",
        ME + "/clear-selection",
        {"session_id": "123"},
    )
    assert last.headers["Authorization"] == "<redacted>"


def test_the_request_log_shortens_long_strings(emu: Emulator) -> None:
    call(emu, "POST", ME + "/clear-selection", {"session_id": "1", "image": "A" * 100_000})
    logged = emu.requests[-1].json
    assert logged["session_id"] == "1"
    assert logged["image"].startswith("<100000 characters, starting 'AAAA")


def test_upload_needs_auth_and_serves_the_bytes_with_ranges(emu: Emulator, tmp_path: Path) -> None:
    data = bytes(range(256)) * 40
    src = tmp_path / "blob.mp4"
    src.write_bytes(data)
    refused = httpx.post(emu.base_url + "/emulator/uploads?filename=x.mp4", content=data)
    assert_envelope(refused, 401, 1001)
    url = emu.upload(src)
    assert url.startswith(emu.base_url + "/emulator/files/") and url.endswith("/blob.mp4")
    whole = httpx.get(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["Accept-Ranges"] == "bytes"
    part = httpx.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == data[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    tail = httpx.get(url, headers={"Range": "bytes=10000-"})
    assert tail.status_code == 206 and tail.content == data[10000:]
    suffix = httpx.get(url, headers={"Range": "bytes=-5"})
    assert suffix.content == data[-5:]
    beyond = httpx.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{len(data)}"


def test_upload_with_filename_header(emu: Emulator) -> None:
    resp = httpx.post(
        emu.base_url + "/emulator/uploads",
        content=b"abc",
        headers={
            "Authorization": f"Bearer {emu.bearer_token()}",
            "X-Filename": "../../evil name.mov",
        },
    )
    body = assert_envelope(resp, 200, 0)
    assert body["data"]["name"] == "evil_name.mov"
    assert httpx.get(body["data"]["url"]).content == b"abc"


def test_unknown_file_is_404(emu: Emulator) -> None:
    resp = httpx.get(emu.base_url + "/emulator/files/0123abcd/none.mp4")
    assert_envelope(resp, 404, 1203)


def test_served_files_with_an_expiry_disappear_on_the_clock(
    emu: Emulator, clock: ManualClock
) -> None:
    stored = emu.files.add_bytes("result.mp4", b"video", expires_in=30 * 24 * 3600)
    url = emu.files.url(stored)
    assert httpx.get(url).content == b"video"
    clock.advance(30 * 24 * 3600 - 1)
    assert httpx.get(url).status_code == 200
    clock.advance(1)
    assert_envelope(httpx.get(url), 404, 1203)
    assert not stored.path.exists()
