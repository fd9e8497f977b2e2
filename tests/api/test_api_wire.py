"""Every endpoint: exact method, path, query, JSON body and headers; typed results."""

from __future__ import annotations

import base64
import io
from datetime import datetime, timezone
from typing import Any

import jwt
import numpy as np
import pytest
from kling_fake_server import SECRET_KEY, FakeKling, SleepLog, shared_http, task_json
from PIL import Image

from kling_widget.api.client import KlingClient
from kling_widget.api.models import Task

ME = "/v1/videos/multi-elements"
OMNI = "/v1/videos/omni-video"


def png_bytes(w: int = 400, h: int = 300, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (200, 30, 40)).save(buf, format=fmt)
    return buf.getvalue()


def selection_data(frame: int = 3) -> dict[str, Any]:
    from pycocotools import mask as cocomask

    mask = np.zeros((6, 8), dtype=np.uint8)
    mask[1:4, 2:5] = 1
    rle = cocomask.encode(np.asfortranarray(mask))
    return {
        "status": 0,
        "session_id": "s-1",
        "final_unit_deduction": "0",
        "res": {
            "frame_index": frame,
            "rle_mask_list": [
                {
                    "object_id": 7,
                    "rle_mask": {"size": [6, 8], "counts": rle["counts"].decode()},
                    "png_mask": {"size": [6, 8], "base64": "iVBORw0KGgo="},
                }
            ],
        },
    }


def test_init_selection_wire_and_session(client: KlingClient, server: FakeKling) -> None:
    server.ok(
        {
            "status": 0,
            "session_id": "s-1",
            "fps": 30.0,
            "original_duration": 5000,
            "total_frame": 150,
            "width": 1280,
            "height": 720,
            "normalized_video": "https://cdn/n.mp4",
            "final_unit_deduction": "0",
            "future_field": {"kept": True},
        }
    )
    session = client.init_selection(video_url="https://example.com/clip.mp4")
    req = server.requests[0]
    assert (req.method, req.path) == ("POST", f"{ME}/init-selection")
    assert req.json == {"video_url": "https://example.com/clip.mp4"}
    assert req.headers["Content-Type"] == "application/json"
    assert session.session_id == "s-1"
    assert (session.fps, session.total_frame, session.width, session.height) == (
        30.0,
        150,
        1280,
        720,
    )
    assert session.original_duration == 5000.0
    assert session.normalized_video == "https://cdn/n.mp4"
    assert session.raw["future_field"] == {"kept": True}


def test_init_selection_by_video_id_with_task_id(client: KlingClient, server: FakeKling) -> None:
    server.ok({"status": 0, "session_id": "s-2"})
    client.init_selection(video_id="784912347344945152", task_id="784912347277836288")
    assert server.requests[0].json == {
        "video_id": "784912347344945152",
        "task_id": "784912347277836288",
    }


def test_add_selection_wire_points_and_masks(client: KlingClient, server: FakeKling) -> None:
    server.ok(selection_data(3))
    sel = client.add_selection("s-1", np.int64(3), [(0.25, 0.5), {"x": 1, "y": 0}])
    req = server.requests[0]
    assert (req.method, req.path) == ("POST", f"{ME}/add-selection")
    assert req.json == {
        "session_id": "s-1",
        "frame_index": 3,
        "points": [{"x": 0.25, "y": 0.5}, {"x": 1.0, "y": 0.0}],
    }
    assert sel.frame_index == 3
    assert len(sel.masks) == 1
    m = sel.masks[0]
    assert m.object_id == 7 and m.size == (6, 8) and m.png_base64 == "iVBORw0KGgo="
    expected = np.zeros((6, 8), dtype=np.uint8)
    expected[1:4, 2:5] = 1
    np.testing.assert_array_equal(m.to_array(), expected)
    assert client.selections.frames("s-1") == {3: [(0.25, 0.5), (1.0, 0.0)]}


def test_delete_clear_preview_wire(client: KlingClient, server: FakeKling) -> None:
    server.ok(selection_data(3))
    server.ok(selection_data(3))
    server.ok({"status": 0, "session_id": "s-1", "final_unit_deduction": "0"})
    server.ok(
        {
            "status": 0,
            "session_id": "s-1",
            "res": {
                "video": "https://cdn/p.mp4",
                "video_cover": "https://cdn/c.jpg",
                "tracking_output": "https://cdn/t.bin",
            },
        }
    )
    client.add_selection("s-1", 3, [(0.1, 0.2)])
    client.delete_selection("s-1", 3, [(0.1, 0.2)])
    client.clear_selection("s-1")
    preview = client.preview_selection("s-1")
    paths = [(r.method, r.path) for r in server.requests]
    assert paths == [
        ("POST", f"{ME}/add-selection"),
        ("POST", f"{ME}/delete-selection"),
        ("POST", f"{ME}/clear-selection"),
        ("POST", f"{ME}/preview-selection"),
    ]
    assert server.requests[1].json == {
        "session_id": "s-1",
        "frame_index": 3,
        "points": [{"x": 0.1, "y": 0.2}],
    }
    assert server.requests[2].json == {"session_id": "s-1"}
    assert server.requests[3].json == {"session_id": "s-1"}
    assert preview.video_url == "https://cdn/p.mp4"
    assert preview.cover_url == "https://cdn/c.jpg"
    assert preview.tracking_output_url == "https://cdn/t.bin"


def test_create_task_full_body(client: KlingClient, server: FakeKling) -> None:
    server.ok(task_json(external="my-ext"))
    image = png_bytes()
    task = client.create_task(
        "s-1",
        "swap",
        "swap the hat from <<<image_1>>> for the cap from <<<video_1>>>",
        image_list=["data:image/png;base64," + base64.b64encode(image).decode()],
        negative_prompt="blur",
        mode="pro",
        duration=5,
        watermark=True,
        callback_url="https://hooks.example.com/kling",
        external_task_id="my-ext",
    )
    req = server.requests[0]
    assert (req.method, req.path) == ("POST", ME)
    assert req.json == {
        "model_name": "kling-v1-6",
        "session_id": "s-1",
        "edit_mode": "swap",
        "image_list": [{"image": base64.b64encode(image).decode()}],
        "prompt": "swap the hat from <<<image_1>>> for the cap from <<<video_1>>>",
        "negative_prompt": "blur",
        "mode": "pro",
        "duration": "5",
        "watermark_info": {"enabled": True},
        "callback_url": "https://hooks.example.com/kling",
        "external_task_id": "my-ext",
    }
    assert task.task_id == "t-1" and task.status == "submitted"
    assert task.external_task_id == "my-ext"
    assert task.kind == "multi-elements"
    assert task.created_at == datetime(2024, 8, 4, 11, 5, 57, 708000, tzinfo=timezone.utc)
    assert task.created_at.tzinfo is not None
    assert task.final_unit_deduction == 1.5


def test_create_task_removal_minimal_body_gets_external_id(
    client: KlingClient, server: FakeKling
) -> None:
    server.ok(task_json())
    client.create_task("s-1", "removal", "Delete the cup from <<<video_1>>>")
    body = server.requests[0].json
    ext = body.pop("external_task_id")
    assert ext.startswith("kw-") and len(ext) == 35 and int(ext[3:], 16) >= 0
    assert body == {
        "model_name": "kling-v1-6",
        "session_id": "s-1",
        "edit_mode": "removal",
        "prompt": "Delete the cup from <<<video_1>>>",
        "mode": "std",
    }


def test_images_from_path_pil_array_and_url(
    client: KlingClient, server: FakeKling, tmp_path: Any
) -> None:
    jpg = png_bytes(600, 400, "JPEG")
    path = tmp_path / "ref.jpg"
    path.write_bytes(jpg)
    server.ok(task_json())
    server.ok(task_json())
    client.create_task("s-1", "addition", "add <<<image_1>>> <<<image_2>>>", [path, str(path)])
    sent = server.requests[0].json["image_list"]
    assert sent == [{"image": base64.b64encode(jpg).decode()}] * 2
    arr = np.full((320, 500, 3), 9, dtype=np.uint8)
    client.create_task(
        "s-1",
        "addition",
        "add <<<image_1>>> <<<image_2>>>",
        [{"image": Image.new("RGB", (300, 700))}, arr],
    )
    sent2 = server.requests[1].json["image_list"]
    decoded = [Image.open(io.BytesIO(base64.b64decode(i["image"]))) for i in sent2]
    assert [(d.format, d.size) for d in decoded] == [("PNG", (300, 700)), ("PNG", (500, 320))]
    np.testing.assert_array_equal(np.asarray(decoded[1].convert("RGB")), arr)


def test_get_and_list_tasks(client: KlingClient, server: FakeKling) -> None:
    video = {
        "id": "v-1",
        "session_id": "s-1",
        "url": "https://cdn/out.mp4",
        "watermark_url": "https://cdn/wm.mp4",
        "duration": "5.1",
    }
    server.ok(task_json(status="succeed", videos=[video]))
    server.ok([task_json("a"), task_json("b", status="failed")])
    task = client.get_task("ext-1")
    tasks = client.list_tasks(page=2, page_size=50)
    r0, r1 = server.requests
    assert (r0.method, r0.path) == ("GET", f"{ME}/ext-1")
    assert r0.body == b""
    assert (r1.method, r1.path, r1.query) == ("GET", ME, {"pageNum": ["2"], "pageSize": ["50"]})
    assert task.succeeded and task.is_final
    assert task.videos[0].url == "https://cdn/out.mp4"
    assert task.videos[0].watermark_url == "https://cdn/wm.mp4"
    assert task.videos[0].duration == 5.1
    assert [t.task_id for t in tasks] == ["a", "b"]
    assert tasks[1].failed and tasks[1].is_final and not tasks[0].is_final


def test_omni_video_full_body(client: KlingClient, server: FakeKling) -> None:
    server.ok(task_json("o-1"))
    task = client.create_omni_video(
        "Make <<<video_1>>> look like <<<image_1>>> with <<<element_1>>>",
        model_name="kling-v3-omni",
        video_list=[
            {"video_url": "https://cdn/in.mp4", "refer_type": "base", "keep_original_sound": True}
        ],
        image_list=["https://cdn/style.png"],
        element_list=[123],
        mode="std",
        sound=False,
        callback_url="https://hooks.example.com/omni",
        external_task_id="omni-ext",
    )
    req = server.requests[0]
    assert (req.method, req.path) == ("POST", OMNI)
    assert req.json == {
        "model_name": "kling-v3-omni",
        "prompt": "Make <<<video_1>>> look like <<<image_1>>> with <<<element_1>>>",
        "video_list": [
            {"video_url": "https://cdn/in.mp4", "refer_type": "base", "keep_original_sound": "yes"}
        ],
        "image_list": [{"image_url": "https://cdn/style.png"}],
        "element_list": [{"element_id": 123}],
        "mode": "std",
        "sound": "off",
        "callback_url": "https://hooks.example.com/omni",
        "external_task_id": "omni-ext",
    }
    assert task.kind == "omni-video" and task.task_id == "o-1"


def test_omni_multi_shot_body(client: KlingClient, server: FakeKling) -> None:
    server.ok(task_json("o-2"))
    client.create_omni_video(
        multi_shot=True,
        shot_type="customize",
        multi_prompt=[("a cat walks in", 4), {"prompt": "it sits", "duration": "6"}],
        duration=10,
        aspect_ratio="16:9",
        image_list=[{"image_url": "https://cdn/first.png", "type": "first_frame"}],
        external_task_id="x",
    )
    body = server.requests[0].json
    assert body == {
        "model_name": "kling-video-o1",
        "multi_shot": True,
        "shot_type": "customize",
        "multi_prompt": [
            {"prompt": "a cat walks in", "duration": "4", "index": 1},
            {"prompt": "it sits", "duration": "6", "index": 2},
        ],
        "image_list": [{"image_url": "https://cdn/first.png", "type": "first_frame"}],
        "aspect_ratio": "16:9",
        "duration": "10",
        "external_task_id": "x",
    }


def test_omni_get_and_list(client: KlingClient, server: FakeKling) -> None:
    server.ok(task_json("o-1"))
    server.ok([task_json("o-1")])
    assert client.get_omni_video("o-1").kind == "omni-video"
    assert client.list_omni_videos(1, 500)[0].kind == "omni-video"
    assert [(r.method, r.path) for r in server.requests] == [("GET", f"{OMNI}/o-1"), ("GET", OMNI)]
    assert server.requests[1].query == {"pageNum": ["1"], "pageSize": ["500"]}


@pytest.mark.parametrize("prefix", ["/kling", "/kling/", "/a/b"])
def test_relay_prefix_is_kept(server: FakeKling, sleeps: SleepLog, prefix: str) -> None:
    server.ok(task_json())
    with KlingClient(
        api_key="relay-key", base_url=server.url + prefix, sleep=sleeps, http_client=shared_http()
    ) as c:
        c.get_task("t-1")
    assert server.requests[0].path == prefix.rstrip("/") + f"{ME}/t-1"
    assert server.requests[0].headers["Authorization"] == "Bearer relay-key"


def test_every_request_carries_a_fresh_valid_jwt(client: KlingClient, server: FakeKling) -> None:
    server.ok(task_json())
    server.ok(task_json())
    client.get_task("a")
    client.get_task("b")
    for req in server.requests:
        token = req.headers["Authorization"].removeprefix("Bearer ")
        jwt.decode(token, SECRET_KEY, algorithms=["HS256"])


def test_task_from_callback_body_keeps_unknown_fields() -> None:
    data = task_json("t-9", status="processing")
    data["new_thing"] = [1, 2]
    task = Task.from_json(data)
    assert task.raw["new_thing"] == [1, 2]
    assert task.updated_at is not None and task.updated_at.utcoffset() is not None


def test_last_response_exposes_request_id(client: KlingClient, server: FakeKling) -> None:
    server.ok(task_json(), request_id="rid-42")
    client.get_task("t-1")
    assert client.last_response is not None
    assert client.last_response.json()["request_id"] == "rid-42"
