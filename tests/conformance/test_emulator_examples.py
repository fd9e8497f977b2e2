"""Kling's own example request bodies, sent as raw HTTP (httpx, no Kling client) to the
emulator: each is answered with code 0 in the documented shape.

The bodies are the examples of the Multi-Elements and Omni-Video pages and of a relay's
pages, as in the shared API notes; only URLs and ids are replaced by ones the emulator
serves (it reaches loopback only). Outcomes, one line each, are in ``OUTCOMES``.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from PIL import Image

from kling_widget.emulator import Emulator

ME = "/v1/videos/multi-elements"
OMNI = "/v1/videos/omni-video"
RELAY = "/kling"

OUTCOMES = """
ME init {"video_id": "", "video_url": U}                 -> 0, + final_balance_deduction
ME add (official point) / relay add {x: 0, y: 1}          -> 0, res.rle_mask_list with object_id
ME delete (same points) / clear / preview {session_id}    -> 0
ME create (removal, "image_list": [], "" fields, no model) -> 0, task_id, task_info {}
ME query by id / list pageNum=1&pageSize=30               -> 0, task objects
relay init {"video_id", "task_id"} of a result             -> 0 (under the /kling prefix)
Omni next shot (feature video, no aspect_ratio)            -> 0, output sized like the video
Omni base edit (video_list example, keep_original_sound)   -> 0
Omni first/end frame (image_list example, duration "5")    -> 0
Omni multi_shot customize (multi_prompt) / intelligence    -> 0
Omni watermark_info {"enabled": true}                      -> 0, echoed in the task object
Omni kling-video-o1 duration "11" / kling-v3-omni "11"     -> 1201 / 0
"""


def write_clip(path: Path, width: int, height: int, seconds: float, fps: int = 24) -> Path:
    """A clip with a red disc where the docs' example point is (x 0.77, y 0.30)."""
    ys, xs = np.mgrid[0:height, 0:width]
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps), options={"crf": "28"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for f in range(round(seconds * fps)):
            img = np.full((height, width, 3), (40, 140, 60), dtype=np.uint8)
            cx, cy = 0.77 * width - 2 * f, 0.30 * height
            img[(xs - cx) ** 2 + (ys - cy) ** 2 <= (0.1 * width) ** 2] = (220, 40, 50)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    data = tmp_path_factory.mktemp("emu")
    with Emulator(task_delays=(0.0, 0.0), concurrency_limit=50, data_dir=data) as e:
        yield e


@pytest.fixture(scope="module")
def http(emu: Emulator) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {emu.bearer_token()}"}
    with httpx.Client(base_url=emu.base_url, headers=headers, timeout=300.0) as c:
        yield c


@pytest.fixture(scope="module")
def portrait_url(emu: Emulator, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The docs' example clip is 720 wide and 1280 high and lasts 5 s at most."""
    folder = tmp_path_factory.mktemp("clips")
    return emu.upload(write_clip(folder / "animals-output-5s.mp4", 720, 1280, 3.0))


def ok(resp: httpx.Response) -> Any:
    """The ``data`` of a code-0 envelope (HTTP 200, message as the relays show it)."""
    body = resp.json()
    assert resp.status_code == 200, body
    assert set(body) == {"code", "message", "request_id", "data"}, body
    assert (body["code"], body["message"]) == (0, "SUCCEED"), body
    return body["data"]


def refused(resp: httpx.Response, field: str) -> str:
    body = resp.json()
    assert (resp.status_code, body["code"]) == (400, 1201), body
    assert body["message"].startswith(f"{field}="), body
    return str(body["message"])


def charged_nothing(data: dict[str, Any]) -> None:
    assert data["final_unit_deduction"] == "0"
    assert data["final_balance_deduction"] == {"quota": "0", "list_price": "0"}


def wait_final(http: httpx.Client, path: str, task_id: str) -> dict[str, Any]:
    """Poll a task until it ends (a wait for a condition, with a generous bound)."""
    for _ in range(3000):
        task: dict[str, Any] = ok(http.get(f"{path}/{task_id}"))
        if task["task_status"] in ("succeed", "failed"):
            return task
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not end")


def test_multi_elements_examples(emu: Emulator, http: httpx.Client, portrait_url: str) -> None:
    init = ok(http.post(f"{ME}/init-selection", json={"video_id": "", "video_url": portrait_url}))
    assert (init["width"], init["height"], init["total_frame"], init["status"]) == (
        720,
        1280,
        72,
        0,
    )
    charged_nothing(init)
    sid = init["session_id"]

    add = {
        "session_id": sid,
        "frame_index": 0,
        "points": [{"x": 0.7738498789346246, "y": 0.297142857142857}],
    }
    added = ok(http.post(f"{ME}/add-selection", json=add))
    charged_nothing(added)
    [mask] = added["res"]["rle_mask_list"]
    # Kling's example answer numbers the first object 0.
    assert mask["object_id"] == 0
    assert mask["rle_mask"]["size"] == [1280, 720]

    relay_add = {"session_id": sid, "frame_index": 1, "points": [{"x": 0, "y": 1}]}
    ok(http.post(f"{RELAY}{ME}/add-selection", json=relay_add))
    charged_nothing(ok(http.post(f"{ME}/delete-selection", json=relay_add)))
    preview = ok(http.post(f"{ME}/preview-selection", json={"session_id": sid}))
    assert set(preview["res"]) >= {"video", "video_cover", "tracking_output"}

    create = {
        "session_id": sid,
        "edit_mode": "removal",
        "image_list": [],
        "prompt": "删除<<<video_1>>>中的【小鸡】",
        "negative_prompt": "",
        "mode": "std",
        "duration": "5",
        "callback_url": "",
        "external_task_id": "",
    }
    created = ok(http.post(ME, json=create))
    assert created["task_status"] == "submitted" and created["task_info"] == {}
    assert set(created) == {
        "task_id",
        "task_status",
        "task_info",
        "final_balance_deduction",
        "created_at",
        "updated_at",
    }
    task = wait_final(http, ME, created["task_id"])
    assert task["task_status"] == "succeed", task["task_status_msg"]
    [video] = task["task_result"]["videos"]
    assert set(video) >= {"id", "session_id", "url", "duration"}
    assert task["final_balance_deduction"]["quota"] == task["final_unit_deduction"]
    listed = ok(http.get(ME, params={"pageNum": 1, "pageSize": 30}))
    assert created["task_id"] in [t["task_id"] for t in listed]

    relay_init = {"video_id": video["id"], "task_id": created["task_id"]}
    again = ok(http.post(f"{RELAY}{ME}/init-selection", json=relay_init))
    charged_nothing(again)
    charged_nothing(ok(http.post(f"{ME}/clear-selection", json={"session_id": sid})))


def test_create_without_duration_defaults_to_5_checked_against_the_clip(
    emu: Emulator, http: httpx.Client, tmp_path: Path
) -> None:
    long_url = emu.upload(write_clip(tmp_path / "eight.mp4", 720, 720, 8.0))
    sid = ok(http.post(f"{ME}/init-selection", json={"video_url": long_url}))["session_id"]
    body = {"session_id": sid, "edit_mode": "addition", "prompt": "add a hat <<<video_1>>>"}
    body["image_list"] = [{"image": base64.b64encode(png(400, 400, (9, 9, 200))).decode()}]
    message = refused(http.post(ME, json=body), "duration")
    assert "'10'" in message
    assert ok(http.post(ME, json={**body, "duration": "10", "prompt": "fail <<<video_1>>>"}))


def test_omni_examples(
    emu: Emulator, http: httpx.Client, portrait_url: str, tmp_path: Path
) -> None:
    next_shot = {
        "model_name": "kling-video-o1",
        "prompt": "Based on <<<video_1>>>, generate the next shot",
        "video_list": [
            {"video_url": portrait_url, "refer_type": "feature", "keep_original_sound": "yes"}
        ],
        "mode": "std",
    }
    shot = ok(http.post(OMNI, json=next_shot))
    base_edit = {
        "prompt": "Make <<<video_1>>> black and white",
        "video_list": [
            {"video_url": portrait_url, "refer_type": "base", "keep_original_sound": "yes"}
        ],
        "mode": "std",
    }
    ok(http.post(OMNI, json=base_edit))
    (tmp_path / "first.png").write_bytes(png(600, 400, (250, 200, 0)))
    (tmp_path / "end.png").write_bytes(png(600, 400, (0, 80, 250)))
    first, end = emu.upload(tmp_path / "first.png"), emu.upload(tmp_path / "end.png")
    frames = {
        "prompt": "The scene turns from <<<image_1>>> into <<<image_2>>>",
        "image_list": [
            {"image_url": first, "type": "first_frame"},
            {"image_url": end, "type": "end_frame"},
        ],
        "duration": "5",
        "mode": "std",
    }
    ok(http.post(OMNI, json=frames))
    customize = {
        "model_name": "kling-v3-omni",
        "multi_shot": True,
        "shot_type": "customize",
        "multi_prompt": [
            {"index": 1, "prompt": "a paper boat sets off", "duration": "2"},
            {"index": 2, "prompt": "it drifts into the fog", "duration": "3"},
        ],
        "aspect_ratio": "16:9",
        "duration": "5",
        "mode": "std",
    }
    ok(http.post(OMNI, json=customize))
    intelligence = {
        "model_name": "kling-v3-omni",
        "multi_shot": True,
        "shot_type": "intelligence",
        "prompt": "a paper boat on a pond, then a storm",
        "aspect_ratio": "1:1",
        "duration": "5",
        "mode": "std",
    }
    ok(http.post(OMNI, json=intelligence))
    marked = {
        "prompt": "a lighthouse at dusk",
        "aspect_ratio": "9:16",
        "watermark_info": {"enabled": True},
        "mode": "std",
    }
    wm = ok(http.post(OMNI, json=marked))
    assert ok(http.get(f"{OMNI}/{wm['task_id']}"))["watermark_info"] == {"enabled": True}

    done = wait_final(http, OMNI, shot["task_id"])
    assert done["task_status"] == "succeed", done["task_status_msg"]
    [video] = done["task_result"]["videos"]
    out = httpx.get(video["url"], timeout=120)
    with av.open(io.BytesIO(out.content)) as container:
        stream = container.streams.video[0]
        # No aspect_ratio: the output follows the feature video (portrait).
        assert (stream.codec_context.width, stream.codec_context.height) == (720, 1280)


def test_omni_durations_per_model(http: httpx.Client) -> None:
    body = {"prompt": "fail: a boat", "aspect_ratio": "16:9", "duration": "11", "mode": "std"}
    assert "kling-video-o1" in refused(http.post(OMNI, json=body), "duration")
    assert ok(http.post(OMNI, json={**body, "model_name": "kling-v3-omni"}))
