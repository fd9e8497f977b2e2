"""init/add/delete/clear/preview-selection over loopback with the real client."""

from __future__ import annotations

import base64
import functools
import http.server
import io
import json
import threading
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from emu_helpers import ME, assert_envelope, call, disc_centre, disc_mask, write_clip
from PIL import Image

from kling_widget.emulator import Emulator, ManualClock
from kling_widget.errors import KlingInvalidRequestError, KlingSessionExpiredError
from kling_widget.rle import decode_rle

SIZE = 720
RADIUS = SIZE * 0.12


def truth(frame: int) -> np.ndarray:
    cx, cy = disc_centre(frame, SIZE, SIZE)
    return disc_mask(SIZE, SIZE, cx, cy, RADIUS)


def centre(frame: int) -> tuple[float, float]:
    cx, cy = disc_centre(frame, SIZE, SIZE)
    return cx / SIZE, cy / SIZE


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.fixture
def session(emu: Emulator, client: Any, small_clip: Path) -> Any:
    return client.init_selection(video_url=emu.upload(small_clip))


def add_raw(emu: Emulator, sid: str, frame: int, points: list[dict[str, Any]]) -> httpx.Response:
    return call(
        emu,
        "POST",
        ME + "/add-selection",
        {"session_id": sid, "frame_index": frame, "points": points},
    )


def test_init_selection_answers_the_documented_fields(
    emu: Emulator, client: Any, small_clip: Path
) -> None:
    url = emu.upload(small_clip)
    raw = assert_envelope(call(emu, "POST", ME + "/init-selection", {"video_url": url}), 200, 0)
    data = raw["data"]
    assert set(data) == {
        "status",
        "session_id",
        "fps",
        "original_duration",
        "total_frame",
        "width",
        "height",
        "normalized_video",
        "final_unit_deduction",
        "final_balance_deduction",
    }
    assert data["status"] == 0
    assert (data["fps"], data["total_frame"], data["width"], data["height"]) == (24, 48, 720, 720)
    assert data["original_duration"] == 2000  # milliseconds
    assert httpx.get(data["normalized_video"]).content == small_clip.read_bytes()
    session = client.init_selection(video_url=url)
    assert session.session_id != data["session_id"]
    assert session.total_frame == 48


def test_init_from_file_url_and_loopback_http(emu: Emulator, client: Any, small_clip: Path) -> None:
    raw = call(emu, "POST", ME + "/init-selection", {"video_url": small_clip.as_uri()})
    assert assert_envelope(raw, 200, 0)["data"]["width"] == 720
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(small_clip.parent)
    )
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/{small_clip.name}"
        s2 = client.init_selection(video_url=url)
        assert s2.total_frame == 48
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_unreachable_video_url_is_1201(emu: Emulator) -> None:
    body = assert_envelope(
        call(emu, "POST", ME + "/init-selection", {"video_url": "https://example.com/clip.mp4"}),
        400,
        1201,
    )
    assert "video_url" in body["message"] and "not reachable" in body["message"]
    both = {"video_url": "https://example.com/a.mp4", "video_id": "1"}
    assert (
        "exactly one"
        in assert_envelope(call(emu, "POST", ME + "/init-selection", both), 400, 1201)["message"]
    )


@pytest.mark.parametrize(
    ("kwargs", "rule"),
    [
        ({"width": 640, "height": 360}, "resolution"),
        ({"fps": 25}, "fps"),
        ({"seconds": 1.0}, "duration"),
    ],
)
def test_clips_outside_the_limits_are_1201_naming_the_rule(
    emu: Emulator, clip_dir: Path, kwargs: dict[str, Any], rule: str
) -> None:
    name = "bad-" + "-".join(f"{k}{v}" for k, v in kwargs.items()) + ".mp4"
    path = clip_dir / name
    if not path.exists():
        write_clip(path, disc=False, **kwargs)
    body = assert_envelope(
        call(emu, "POST", ME + "/init-selection", {"video_url": emu.upload(path)}), 400, 1201
    )
    assert rule in body["message"]
    assert "video_url" in body["message"]


def test_add_selection_shape_and_quality(emu: Emulator, session: Any) -> None:
    body = assert_envelope(
        add_raw(emu, session.session_id, 0, [{"x": centre(0)[0], "y": centre(0)[1]}]), 200, 0
    )
    data = body["data"]
    assert set(data) == {
        "status",
        "session_id",
        "final_unit_deduction",
        "final_balance_deduction",
        "res",
    }
    assert data["final_balance_deduction"] == {"quota": "0", "list_price": "0"}
    assert data["status"] == 0 and data["session_id"] == session.session_id
    assert set(data["res"]) == {"frame_index", "rle_mask_list"}
    assert data["res"]["frame_index"] == 0
    [item] = data["res"]["rle_mask_list"]
    assert set(item) == {"object_id", "rle_mask", "png_mask"}
    assert item["rle_mask"]["size"] == [720, 720] and isinstance(item["rle_mask"]["counts"], str)
    assert item["png_mask"]["size"] == [720, 720]
    assert not item["png_mask"]["base64"].startswith("data:")
    png = np.asarray(Image.open(io.BytesIO(base64.b64decode(item["png_mask"]["base64"]))))
    rle = decode_rle(item["rle_mask"]).astype(bool)
    assert np.array_equal(png > 0, rle)
    assert iou(rle, truth(0)) >= 0.9


def test_points_on_one_object_merge_and_other_objects_get_new_ids(
    client: Any, session: Any
) -> None:
    sid = session.session_id
    x, y = centre(0)
    first = client.add_selection(sid, 0, [(x, y)])
    [obj] = first.masks
    second = client.add_selection(sid, 0, [(x + 0.03, y - 0.03)])
    assert [m.object_id for m in second.masks] == [obj.object_id]
    third = client.add_selection(sid, 0, [(0.85, 0.1)])
    ids = sorted(m.object_id for m in third.masks)
    # Numbered from 0 in the order objects are first clicked, as in Kling's example.
    assert obj.object_id == 0 and ids == [0, 1]
    other = next(m for m in third.masks if m.object_id != obj.object_id).to_array().astype(bool)
    assert not (other & truth(0)).any()


def test_closing_a_session_ends_its_background_threads(
    emu: Emulator, client: Any, session: Any
) -> None:
    sid = session.session_id
    client.add_selection(sid, 0, [centre(0)])  # starts decoding and tracking
    held = emu.sessions.get(sid)
    workers = [t for t in threading.enumerate() if sid in t.name or held.clip.path.name in t.name]
    assert held.close()
    assert not any(t.is_alive() for t in workers)
    assert held.points == {}


def test_object_ids_follow_the_object_to_other_frames(client: Any, session: Any) -> None:
    sid = session.session_id
    [a] = client.add_selection(sid, 0, [centre(0)]).masks
    [b] = client.add_selection(sid, 40, [centre(40)]).masks
    assert a.object_id == b.object_id
    assert iou(b.to_array().astype(bool), truth(40)) >= 0.9


def test_point_and_frame_limits_are_enforced_server_side(emu: Emulator, session: Any) -> None:
    sid = session.session_id
    eleven = [{"x": 0.05 + 0.02 * i, "y": 0.05} for i in range(11)]
    body = assert_envelope(add_raw(emu, sid, 0, eleven), 400, 1201)
    assert "at most 10 points" in body["message"]
    for frame in range(10):
        x, y = centre(frame)
        assert_envelope(add_raw(emu, sid, frame, [{"x": x, "y": y}]), 200, 0)
    x, y = centre(10)
    body = assert_envelope(add_raw(emu, sid, 10, [{"x": x, "y": y}]), 400, 1201)
    assert "at most 10 marked frames" in body["message"]
    x, y = centre(3)
    assert_envelope(add_raw(emu, sid, 3, [{"x": x + 0.01, "y": y}]), 200, 0)


@pytest.mark.parametrize(
    ("frame", "points", "field"),
    [
        (0, [{"x": 1.5, "y": 0.5}], "points"),
        (0, [{"x": 0.5}], "points"),
        (0, [], "points"),
        (-1, [{"x": 0.5, "y": 0.5}], "frame_index"),
        (48, [{"x": 0.5, "y": 0.5}], "frame_index"),
        ("3", [{"x": 0.5, "y": 0.5}], "frame_index"),
    ],
)
def test_bad_selection_fields_are_1201(
    emu: Emulator, session: Any, frame: Any, points: Any, field: str
) -> None:
    body = assert_envelope(add_raw(emu, session.session_id, frame, points), 400, 1201)
    assert field in body["message"]


def test_delete_needs_the_exact_points(emu: Emulator, client: Any, session: Any) -> None:
    sid = session.session_id
    x, y = centre(5)
    client.add_selection(sid, 5, [(x, y), (0.9, 0.9)])
    wrong = call(
        emu,
        "POST",
        ME + "/delete-selection",
        {"session_id": sid, "frame_index": 5, "points": [{"x": x + 1e-6, "y": y}]},
    )
    body = assert_envelope(wrong, 400, 1201)
    assert "points[0]" in body["message"] and "exact" in body["message"]
    left = client.delete_selection(sid, 5, [(x, y)])
    assert len(left.masks) == 1
    assert not (left.masks[0].to_array().astype(bool) & truth(5)).any()
    gone = client.delete_selection(sid, 5, [(0.9, 0.9)])
    assert gone.masks == []


def test_clear_wipes_every_point(emu: Emulator, client: Any, session: Any) -> None:
    sid = session.session_id
    for frame in range(10):
        client.add_selection(sid, frame, [centre(frame)])
    client.clear_selection(sid)
    # An 11th frame is fine again: nothing is marked.
    x, y = centre(20)
    assert_envelope(add_raw(emu, sid, 20, [{"x": x, "y": y}]), 200, 0)
    raw = assert_envelope(call(emu, "POST", ME + "/clear-selection", {"session_id": sid}), 200, 0)
    assert raw["data"] == {
        "status": 0,
        "session_id": sid,
        "final_unit_deduction": "0",
        "final_balance_deduction": {"quota": "0", "list_price": "0"},
    }


def test_sessions_expire_after_24_hours(
    emu: Emulator, client: Any, session: Any, clock: ManualClock
) -> None:
    sid = session.session_id
    clock.advance(23 * 3600)
    client.add_selection(sid, 0, [centre(0)])
    clock.advance(2 * 3600)
    with pytest.raises(KlingSessionExpiredError):
        client.add_selection(sid, 1, [centre(1)])
    body = assert_envelope(
        call(emu, "POST", ME + "/preview-selection", {"session_id": sid}), 400, 1201
    )
    assert "session expired or not found" in body["message"]


def test_unknown_session_maps_to_session_expired(client: Any) -> None:
    with pytest.raises(KlingSessionExpiredError) as info:
        client.clear_selection("123456789")
    assert isinstance(info.value, KlingInvalidRequestError)
    assert info.value.code == 1201


def test_preview_serves_video_cover_and_tracking(client: Any, session: Any) -> None:
    sid = session.session_id
    client.add_selection(sid, 10, [centre(10)])
    preview = client.preview_selection(sid)
    video = httpx.get(preview.video_url)
    assert video.status_code == 200
    with av.open(io.BytesIO(video.content)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = [f for f in container.decode(stream)]
        assert frames[0].format.name == "yuv420p"
        assert (frames[0].width, frames[0].height, len(frames)) == (720, 720, 48)
        assert float(stream.average_rate) == 24
    cover = Image.open(io.BytesIO(httpx.get(preview.cover_url).content))
    assert cover.format == "JPEG" and cover.size == (720, 720)
    doc = json.loads(httpx.get(preview.tracking_output_url).content)
    assert doc["format"] == "kling-widget-emulator/tracking-v1"
    assert [f["frame_index"] for f in doc["frames"]] == list(range(48))
    ious = []
    for entry in doc["frames"]:
        [item] = entry["rle_mask_list"]
        ious.append(iou(decode_rle(item["rle_mask"]).astype(bool), truth(entry["frame_index"])))
    assert min(ious) >= 0.85
    # The same selection gives the same preview (cached), a changed one a new render.
    assert client.preview_selection(sid).video_url == preview.video_url
    client.add_selection(sid, 30, [(0.9, 0.9)])
    assert client.preview_selection(sid).video_url != preview.video_url


def test_segmentation_is_deterministic(emu: Emulator, client: Any, small_clip: Path) -> None:
    url = emu.upload(small_clip)
    counts = []
    for _ in range(2):
        sid = client.init_selection(video_url=url).session_id
        [mask] = client.add_selection(sid, 7, [centre(7)]).masks
        counts.append(mask.counts)
    assert counts[0] == counts[1]


def test_a_re_sent_add_does_not_double_the_point(emu: Emulator, session: Any) -> None:
    # A client re-sends add-selection when the first reply was lost: the point stays single,
    # so one delete-selection of it leaves the frame empty.
    sid = session.session_id
    x, y = centre(3)
    first = assert_envelope(add_raw(emu, sid, 3, [{"x": x, "y": y}]), 200, 0)
    again = assert_envelope(add_raw(emu, sid, 3, [{"x": x, "y": y}]), 200, 0)
    assert again["data"]["res"] == first["data"]["res"]
    body = {"session_id": sid, "frame_index": 3, "points": [{"x": x, "y": y}]}
    gone = assert_envelope(call(emu, "POST", ME + "/delete-selection", body), 200, 0)
    assert gone["data"]["res"]["rle_mask_list"] == []
