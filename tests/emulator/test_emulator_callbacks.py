"""Callbacks in both documented shapes, signed, read back by the client's webhook helpers."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from emu_helpers import ME, assert_envelope, call, client_of, disc_centre

from kling_widget.api.webhooks import verify_callback
from kling_widget.emulator import Emulator, ManualClock

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


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

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, n: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.calls) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.calls) >= n, self.calls


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.server.shutdown()
    h.server.server_close()


def run_task(emu: Emulator, clock: ManualClock, hook: Hook, small_clip: Path) -> str:
    """A removal with a callback, driven to ``succeed``; returns its task id."""
    with client_of(emu) as client:
        sid = client.init_selection(video_url=emu.upload(small_clip)).session_id
        x, y = disc_centre(0, 720, 720)
        client.add_selection(sid, 0, [(x / 720, y / 720)])
    body = {
        "session_id": sid,
        "edit_mode": "removal",
        "prompt": "Delete the disc from <<<video_1>>>",
        "callback_url": hook.url,
        "external_task_id": "cb-1",
        "watermark_info": {"enabled": True},
    }
    task_id = str(assert_envelope(call(emu, "POST", ME, body), 200, 0)["data"]["task_id"])
    hook.wait_for(1)
    clock.advance(1)
    emu.tasks()
    hook.wait_for(2)
    for _ in range(6000):
        if next(t for t in emu.tasks() if t.task_id == task_id).render_done:
            break
        time.sleep(0.05)
    clock.advance(1)
    emu.tasks()
    hook.wait_for(3)
    return task_id


def test_old_shape_is_the_task_object(
    tmp_path: Path, small_clip: Path, clock: ManualClock, hook: Hook
) -> None:
    with Emulator(clock=clock, task_delays=(1, 1), data_dir=tmp_path, webhook_secret=SECRET) as emu:
        task_id = run_task(emu, clock, hook, small_clip)
        final = assert_envelope(call(emu, "GET", f"{ME}/{task_id}"), 200, 0)["data"]
    bodies = [json.loads(raw) for _, raw in hook.calls]
    assert [b["task_status"] for b in bodies] == ["submitted", "processing", "succeed"]
    assert bodies[-1] == final
    headers, raw = hook.calls[-1]
    task = verify_callback(SECRET, headers, raw)
    assert task.task_id == task_id and task.succeeded and task.videos


def test_new_shape_has_id_status_outputs_and_billing(
    tmp_path: Path, small_clip: Path, clock: ManualClock, hook: Hook
) -> None:
    with Emulator(
        clock=clock,
        task_delays=(1, 1),
        data_dir=tmp_path,
        webhook_secret=SECRET,
        callback_shape="new",
    ) as emu:
        task_id = run_task(emu, clock, hook, small_clip)
        final = assert_envelope(call(emu, "GET", f"{ME}/{task_id}"), 200, 0)["data"]
    bodies = [json.loads(raw) for _, raw in hook.calls]
    assert [b["status"] for b in bodies] == ["submitted", "processing", "succeeded"]
    last = bodies[-1]
    assert last["id"] == task_id and last["external_id"] == "cb-1"
    assert (last["create_time"], last["update_time"]) == (final["created_at"], final["updated_at"])
    [video] = final["task_result"]["videos"]
    fields = ("id", "url", "watermark_url", "duration")
    assert last["outputs"] == [{"type": "video", **{k: video[k] for k in fields}}]
    [charge] = last["billing"]
    assert charge["amount"] == final["final_unit_deduction"]
    assert "billing" not in bodies[0] and bodies[0]["outputs"] == []
    headers, raw = hook.calls[-1]
    task = verify_callback(SECRET, headers, raw)
    assert task.task_id == task_id and task.succeeded
    assert [v.url for v in task.videos] == [video["url"]]


def test_an_unknown_callback_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="callback_shape"):
        Emulator(callback_shape="newest")
