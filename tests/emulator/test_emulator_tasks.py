"""Multi-Elements tasks: validation (1201), the status machine, concurrency, pagination,
external ids, callbacks, result expiry."""

from __future__ import annotations

import base64
import http.server
import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from emu_helpers import (
    ME,
    assert_envelope,
    call,
    client_of,
    disc_centre,
    png_b64,
    write_clip,
)
from PIL import Image

from kling_widget.api.webhooks import verify_webhook
from kling_widget.emulator import Emulator, ManualClock
from kling_widget.errors import KlingNotFoundError

PROMPT = "Delete the red disc from <<<video_1>>>"
LONG = "x" * 2501


def wait_rendered(emu: Emulator, task_id: str, timeout: float = 600.0) -> None:
    """Block until the task's render finished (a wait, not a timed assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = next(t for t in emu.tasks() if t.task_id == task_id)
        if record.render_done:
            return
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish rendering")


@pytest.fixture
def marked(emu: Emulator, client: Any, small_clip: Path) -> str:
    """A session on the small clip with the disc marked on frame 0."""
    session = client.init_selection(video_url=emu.upload(small_clip))
    x, y = disc_centre(0, 720, 720)
    client.add_selection(session.session_id, 0, [(x / 720, y / 720)])
    return str(session.session_id)


def body(sid: str, **changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model_name": "kling-v1-6",
        "session_id": sid,
        "edit_mode": "removal",
        "prompt": PROMPT,
    }
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


def create_raw(emu: Emulator, payload: dict[str, Any]) -> httpx.Response:
    return call(emu, "POST", ME, payload)


def image_b64(width: int, height: int, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 100, 50)).save(buf, format=fmt)
    return base64.b64encode(buf.getvalue()).decode("ascii")


BAD_FIELDS: list[tuple[dict[str, Any], str]] = [
    ({"model_name": "kling-v2"}, "model_name"),
    ({"model_name": 16}, "model_name"),
    ({"session_id": None}, "session_id"),
    ({"edit_mode": "erase"}, "edit_mode"),
    ({"edit_mode": "addition"}, "image_list"),
    ({"edit_mode": "addition", "image_list": [{"image": png_b64()}] * 3}, "image_list"),
    ({"edit_mode": "swap", "image_list": [{"image": png_b64()}] * 2}, "image_list"),
    ({"edit_mode": "removal", "image_list": [{"image": png_b64()}]}, "image_list"),
    ({"edit_mode": "swap", "image_list": [{"image": "%%%not-base64"}]}, "image_list[0].image"),
    (
        {"edit_mode": "swap", "image_list": [{"image": "data:image/png;base64," + png_b64()}]},
        "data:",
    ),
    ({"edit_mode": "swap", "image_list": [{"image": image_b64(200, 400)}]}, "300"),
    ({"edit_mode": "swap", "image_list": [{"image": image_b64(900, 300)}]}, "aspect"),
    ({"edit_mode": "swap", "image_list": [{"image": image_b64(400, 400, "GIF")}]}, "format"),
    (
        {"edit_mode": "swap", "image_list": [{"image": "https://example.com/a.png"}]},
        "not reachable",
    ),
    ({"edit_mode": "swap", "image_list": ["just-a-string"]}, "image_list[0]"),
    ({"prompt": None}, "prompt"),
    ({"prompt": "   "}, "prompt"),
    ({"prompt": LONG}, "prompt"),
    ({"negative_prompt": LONG}, "negative_prompt"),
    ({"mode": "fast"}, "mode"),
    ({"duration": "10"}, "duration"),
    ({"duration": "7"}, "duration"),
    ({"duration": 5}, "duration"),
    ({"watermark_info": {"enabled": "yes"}}, "watermark_info"),
    ({"watermark_info": {"on": True}}, "watermark_info"),
    ({"callback_url": "ftp://example.com/hook"}, "callback_url"),
]


@pytest.fixture(scope="module")
def shared_marked(live_emu: Emulator, small_clip: Path) -> str:
    """One marked session for the validation tests (they never create a task)."""
    with client_of(live_emu) as client:
        session = client.init_selection(video_url=live_emu.upload(small_clip))
        x, y = disc_centre(0, 720, 720)
        client.add_selection(session.session_id, 0, [(x / 720, y / 720)])
    return str(session.session_id)


@pytest.mark.parametrize(("changes", "named"), BAD_FIELDS)
def test_each_create_rule_is_1201_naming_the_field(
    live_emu: Emulator, shared_marked: str, changes: dict[str, Any], named: str
) -> None:
    resp = create_raw(live_emu, body(shared_marked, **changes))
    message = assert_envelope(resp, 400, 1201)["message"]
    assert named in message
    assert live_emu.tasks() == []


def test_removal_and_swap_need_a_selection(emu: Emulator, client: Any, small_clip: Path) -> None:
    session = client.init_selection(video_url=emu.upload(small_clip))
    resp = create_raw(emu, body(session.session_id))
    assert "add-selection" in assert_envelope(resp, 400, 1201)["message"]
    assert emu.tasks() == []


def test_status_moves_on_the_clock_and_the_result_is_served(
    emu: Emulator, client: Any, marked: str, clock: ManualClock
) -> None:
    task = client.create_task(marked, "removal", PROMPT, external_task_id="ext-1")
    assert task.status == "submitted"
    assert client.get_task(task.task_id).status == "submitted"
    clock.advance(1.0)
    assert client.get_task("ext-1").status == "processing"
    wait_rendered(emu, task.task_id)
    assert client.get_task(task.task_id).status == "processing"
    clock.advance(2.0)
    done = client.get_task("ext-1")
    assert done.status == "succeed" and done.task_id == task.task_id
    [video] = done.videos
    assert video.session_id == marked
    assert video.duration == pytest.approx(2.0)
    resp = httpx.get(video.url)
    assert resp.status_code == 200 and resp.content[4:8] == b"ftyp"
    raw = assert_envelope(call(emu, "GET", f"{ME}/{task.task_id}"), 200, 0)["data"]
    assert set(raw) == {
        "task_id",
        "task_status",
        "task_status_msg",
        "task_info",
        "task_result",
        "final_unit_deduction",
        "final_balance_deduction",
        "created_at",
        "updated_at",
    }
    assert raw["final_balance_deduction"] == {
        "quota": raw["final_unit_deduction"],
        "list_price": raw["final_unit_deduction"],
    }
    assert raw["task_info"] == {"external_task_id": "ext-1"}
    assert raw["updated_at"] - raw["created_at"] == 3000
    # Thirty days later the result is gone.
    clock.advance(30 * 24 * 3600)
    assert_envelope(httpx.get(video.url), 404, 1203)


def test_create_answer_has_the_documented_fields(emu: Emulator, marked: str) -> None:
    data = assert_envelope(create_raw(emu, body(marked, prompt="fail please")), 200, 0)["data"]
    assert set(data) == {
        "task_id",
        "task_status",
        "task_info",
        "final_balance_deduction",
        "created_at",
        "updated_at",
    }
    assert data["task_status"] == "submitted"
    assert data["task_info"] == {}
    assert data["task_id"].isdigit()


def test_the_word_fail_in_the_prompt_fails_the_task(
    emu: Emulator, client: Any, marked: str, clock: ManualClock
) -> None:
    task = client.create_task(marked, "removal", "Delete it and fail <<<video_1>>>")
    clock.advance(3.0)
    failed = client.get_task(task.task_id)
    assert failed.status == "failed"
    assert "fail" in (failed.status_msg or "")
    assert failed.videos == []


def test_external_task_id_is_unique(emu: Emulator, marked: str) -> None:
    assert_envelope(create_raw(emu, body(marked, prompt="fail", external_task_id="same")), 200, 0)
    resp = create_raw(emu, body(marked, prompt="fail", external_task_id="same"))
    assert "external_task_id" in assert_envelope(resp, 400, 1201)["message"]
    assert len(emu.tasks()) == 1


def test_concurrency_limit_is_429_1303_until_a_task_ends(
    tmp_path: Path, small_clip: Path, clock: ManualClock
) -> None:
    with Emulator(clock=clock, concurrency_limit=2, task_delays=(1, 1), data_dir=tmp_path) as emu:
        with client_of(emu) as client:
            sid = client.init_selection(video_url=emu.upload(small_clip)).session_id
            client.add_selection(sid, 0, [(0.3, 0.5)])
        for _ in range(2):
            assert_envelope(create_raw(emu, body(sid, prompt="fail")), 200, 0)
        resp = create_raw(emu, body(sid, prompt="fail"))
        assert "concurrent" in assert_envelope(resp, 429, 1303)["message"]
        assert len(emu.tasks()) == 2
        clock.advance(2)
        assert_envelope(create_raw(emu, body(sid, prompt="fail")), 200, 0)


def test_list_pagination_newest_first(emu: Emulator, client: Any, marked: str) -> None:
    ids = [
        client.create_task(marked, "removal", "fail " + str(i), external_task_id=f"p{i}").task_id
        for i in range(3)
    ]
    page1 = client.list_tasks(page=1, page_size=2)
    page2 = client.list_tasks(page=2, page_size=2)
    assert [t.task_id for t in page1] == [ids[2], ids[1]]
    assert [t.task_id for t in page2] == [ids[0]]
    assert client.list_tasks(page=3, page_size=2) == []
    assert_envelope(call(emu, "GET", ME, params={"pageNum": 0}), 400, 1201)
    assert_envelope(call(emu, "GET", ME, params={"pageSize": 501}), 400, 1201)
    assert_envelope(call(emu, "GET", ME, params={"pageSize": "ten"}), 400, 1201)


def test_unknown_task_is_404_1203(emu: Emulator, client: Any) -> None:
    with pytest.raises(KlingNotFoundError) as info:
        client.get_task("999")
    assert info.value.code == 1203


class Hook:
    """A loopback HTTP server recording POSTed callbacks."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        hook = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers["Content-Length"]))
                hook.calls.append((dict(self.headers.items()), data))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, n: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.calls) < n and time.monotonic() < deadline:
            time.sleep(0.02)


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.server.shutdown()
    h.server.server_close()


def test_callbacks_are_posted_on_each_status_change_and_signed(
    tmp_path: Path, small_clip: Path, clock: ManualClock, hook: Hook
) -> None:
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    with Emulator(clock=clock, task_delays=(1, 1), data_dir=tmp_path, webhook_secret=secret) as emu:
        with client_of(emu) as client:
            sid = client.init_selection(video_url=emu.upload(small_clip)).session_id
            client.add_selection(sid, 0, [(0.3, 0.5)])
            task = client.create_task(sid, "removal", "fail now", callback_url=hook.url)
        hook.wait_for(1)
        clock.advance(1)
        emu.tasks()
        hook.wait_for(2)
        clock.advance(1)
        emu.tasks()
        hook.wait_for(3)
    statuses = [json.loads(b)["task_status"] for _, b in hook.calls]
    assert statuses == ["submitted", "processing", "failed"]
    for headers, raw in hook.calls:
        assert json.loads(raw)["task_id"] == task.task_id
        verify_webhook(secret, headers, raw)


def test_watermark_and_video_id_reuse(
    emu: Emulator, client: Any, marked: str, clock: ManualClock
) -> None:
    task = client.create_task(marked, "removal", PROMPT, watermark=True)
    wait_rendered(emu, task.task_id)
    clock.advance(3)
    done = client.get_task(task.task_id)
    [video] = done.videos
    assert video.watermark_url and video.watermark_url != video.url
    assert httpx.get(video.watermark_url).status_code == 200
    again = client.init_selection(video_id=video.id, task_id=task.task_id)
    assert (again.width, again.height, again.total_frame) == (720, 720, 48)
    unknown = call(emu, "POST", ME + "/init-selection", {"video_id": "123", "task_id": "456"})
    assert "video_id" in assert_envelope(unknown, 400, 1201)["message"]


def test_omni_tasks_are_queried_and_listed_apart(
    emu: Emulator, client: Any, clock: ManualClock
) -> None:
    first = client.create_omni_video(
        "fail: a boat", aspect_ratio="16:9", duration=5, external_task_id="omni-a"
    )
    second = client.create_omni_video("fail: a cat", aspect_ratio="1:1", duration=5)
    assert first.kind == "omni-video" and first.status == "submitted"
    assert client.get_omni_video("omni-a").task_id == first.task_id
    assert [t.task_id for t in client.list_omni_videos(page=1, page_size=1)] == [second.task_id]
    assert [t.task_id for t in client.list_omni_videos(page=2, page_size=1)] == [first.task_id]
    assert client.list_tasks() == []
    with pytest.raises(KlingNotFoundError):
        client.get_omni_video("no-such-task")
    with pytest.raises(KlingNotFoundError):
        client.get_task(first.task_id)  # a Multi-Elements query does not see Omni tasks
    clock.advance(3)
    assert client.get_omni_video(first.task_id).status == "failed"


def test_stopping_during_a_render_cancels_it_without_an_error(
    clip_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Long enough (10 s) that the render is still writing frames when the emulator stops.
    clip = write_clip(clip_dir / "ten-seconds.mp4", seconds=10.0)
    emu = Emulator(task_delays=(0.0, 0.0)).start()
    data = emu.data_dir
    assert data is not None
    try:
        with client_of(emu, timeout=600) as client:
            sid = client.init_selection(video_url=emu.upload(clip)).session_id
            client.add_selection(sid, 0, [(disc_centre(0, 720, 720)[0] / 720, 0.5)])
            client.create_task(sid, "removal", "Delete the object from <<<video_1>>>", duration=10)
        # The result file appears when the render starts writing frames.
        deadline = time.monotonic() + 120
        while not any(data.rglob("result.mp4")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(data.rglob("result.mp4"))
    finally:
        with caplog.at_level(logging.DEBUG, logger="kling_widget.emulator"):
            emu.stop()
    assert not data.exists()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    # The render was cut short: the task never succeeded.
    assert [t.status for t in emu.tasks()] != ["succeed"]
