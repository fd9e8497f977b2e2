"""Vision quality on the sample clips, measured against their exact ground truth:
single-click IoU, tracked IoU over the whole clip, removal PSNR; outputs are H.264 yuv420p."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from emu_helpers import client_of

from kling_widget.emulator import Emulator
from kling_widget.media.samples import Sample, make_sample
from kling_widget.media.video import VideoSource
from kling_widget.rle import decode_rle


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.fixture(scope="module")
def client(live_emu: Emulator) -> Any:
    with client_of(live_emu, timeout=600) as c:
        yield c


def tracked_ious(
    doc: dict[str, Any], sample: Sample, ids: dict[int, int]
) -> dict[int, list[float]]:
    """Per sample object, the IoU of the tracked mask on every frame."""
    out: dict[int, list[float]] = {obj: [] for obj in ids}
    shape = (sample.height, sample.width)
    for entry in doc["frames"]:
        f = entry["frame_index"]
        by_id = {m["object_id"]: m["rle_mask"] for m in entry["rle_mask_list"]}
        for obj, oid in ids.items():
            mask = (
                decode_rle(by_id[oid], shape).astype(bool)
                if oid in by_id
                else np.zeros(shape, bool)
            )
            out[obj].append(iou(mask, sample.mask(f, obj)))
    return out


def assert_h264_like(path: Path, sample: Sample) -> list[np.ndarray]:
    src = VideoSource(path)
    assert src.codec == "h264" and src.pix_fmt == "yuv420p"
    assert (src.width, src.height, src.fps) == (sample.width, sample.height, sample.fps)
    frames = list(src.iter_frames())
    assert len(frames) == sample.frame_count
    return frames


@pytest.fixture(scope="module")
def static(live_emu: Emulator, client: Any) -> dict[str, Any]:
    sample = make_sample("static")
    session = client.init_selection(video_url=live_emu.upload(sample.path))
    return {"sample": sample, "sid": session.session_id}


@pytest.fixture(scope="module")
def pan(live_emu: Emulator, client: Any) -> dict[str, Any]:
    sample = make_sample("pan")
    session = client.init_selection(video_url=live_emu.upload(sample.path))
    return {"sample": sample, "sid": session.session_id}


def test_static_single_click_iou_and_tracking(client: Any, static: dict[str, Any]) -> None:
    sample, sid = static["sample"], static["sid"]
    [obj] = sample.object_ids
    sel = client.add_selection(sid, 0, [sample.centre(0, obj)])
    [mask] = sel.masks
    first = iou(mask.to_array().astype(bool), sample.mask(0, obj))
    assert first >= 0.9, first
    doc = json.loads(httpx.get(client.preview_selection(sid).tracking_output_url).content)
    ious = tracked_ious(doc, sample, {obj: mask.object_id})[obj]
    assert len(ious) == sample.frame_count
    assert float(np.mean(ious)) >= 0.85, np.mean(ious)
    static["object_id"] = mask.object_id


def test_static_removal_restores_the_background(
    client: Any, static: dict[str, Any], tmp_path: Path
) -> None:
    sample, sid = static["sample"], static["sid"]
    [obj] = sample.object_ids
    if "object_id" not in static:
        client.add_selection(sid, 0, [sample.centre(0, obj)])
    task = client.create_task(sid, "removal", "Delete the red ball from <<<video_1>>>")
    done = client.wait(task, timeout=900)
    assert done.status == "succeed", done.status_msg
    frames = assert_h264_like(client.download(done, tmp_path / "removed.mp4"), sample)
    err, count = 0.0, 0
    for f, frame in enumerate(frames):
        region = sample.mask(f, obj)
        diff = frame[region].astype(np.float64) - sample.background(f)[region]
        err += float((diff**2).sum())
        count += diff.size
    psnr = 10 * np.log10(255.0**2 / (err / count))
    assert psnr >= 30.0, psnr


def test_pan_clicks_on_two_objects_and_tracks_both(client: Any, pan: dict[str, Any]) -> None:
    sample, sid = pan["sample"], pan["sid"]
    ids: dict[int, int] = {}
    for obj in sample.object_ids:
        sel = client.add_selection(sid, 0, [sample.centre(0, obj)])
        found = [m for m in sel.masks if m.object_id not in ids.values()]
        assert len(found) == 1
        ids[obj] = found[0].object_id
        assert iou(found[0].to_array().astype(bool), sample.mask(0, obj)) >= 0.9
    assert len(set(ids.values())) == 2
    doc = json.loads(httpx.get(client.preview_selection(sid).tracking_output_url).content)
    ious = tracked_ious(doc, sample, ids)
    for obj, values in ious.items():
        assert float(np.mean(values)) >= 0.85, (obj, np.mean(values))
    occluded = sample.occluded_frames(sample.object_ids[0])
    assert occluded, "the pan sample has a partly hidden object"
    behind = [ious[sample.object_ids[0]][f] for f in occluded]
    assert float(np.mean(behind)) >= 0.85
