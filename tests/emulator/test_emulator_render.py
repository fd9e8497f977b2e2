"""Swap, addition and Omni-Video renders on small clips: pixels where they should be."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from emu_helpers import OMNI, assert_envelope, call, client_of, disc_centre, disc_mask, png_b64
from PIL import Image

from kling_widget.emulator import Emulator
from kling_widget.media.video import VideoSource

BLUE = (30, 90, 230)
SIZE = 720


def truth(frame: int) -> np.ndarray:
    cx, cy = disc_centre(frame, SIZE, SIZE)
    return disc_mask(SIZE, SIZE, cx, cy, SIZE * 0.12)


def shrink(mask: np.ndarray, px: int) -> np.ndarray:
    out = mask.copy()
    for _ in range(px):
        out[1:] &= out[:-1].copy()
        out[:-1] &= out[1:].copy()
        out[:, 1:] &= out[:, :-1].copy()
        out[:, :-1] &= out[:, 1:].copy()
    return out


@pytest.fixture(scope="module")
def client(live_emu: Emulator) -> Any:
    with client_of(live_emu, timeout=600) as c:
        yield c


@pytest.fixture(scope="module")
def clip_url(live_emu: Emulator, small_clip: Path) -> str:
    return live_emu.upload(small_clip)


def run(client: Any, tmp_path: Path, name: str, **kwargs: Any) -> list[np.ndarray]:
    task = client.create_task(**kwargs)
    done = client.wait(task, timeout=900)
    assert done.status == "succeed", done.status_msg
    src = VideoSource(client.download(done, tmp_path / name))
    assert (src.codec, src.pix_fmt, src.width, src.height) == ("h264", "yuv420p", SIZE, SIZE)
    assert src.fps == 24
    return list(src.iter_frames())


def source_frames(small_clip: Path) -> list[np.ndarray]:
    return list(VideoSource(small_clip).iter_frames())


def test_swap_fills_the_object_with_the_reference_image(
    client: Any, clip_url: str, small_clip: Path, tmp_path: Path
) -> None:
    sid = client.init_selection(video_url=clip_url).session_id
    x, y = disc_centre(0, SIZE, SIZE)
    client.add_selection(sid, 0, [(x / SIZE, y / SIZE)])
    out = run(
        client,
        tmp_path,
        "swap.mp4",
        session_id=sid,
        edit_mode="swap",
        prompt="swap the blue square from <<<image_1>>> for the disc from <<<video_1>>>",
        image_list=[png_b64(colour=BLUE)],
    )
    src = source_frames(small_clip)
    assert len(out) == len(src) == 48
    for f in (0, 20, 47):
        inside = shrink(truth(f), 6)
        assert np.abs(out[f][inside].mean(axis=0) - BLUE).max() < 12
        outside = shrink(~truth(f), 12)
        diff = np.abs(out[f][outside].astype(int) - src[f][outside].astype(int))
        assert diff.mean() < 3


def test_addition_without_selection_goes_to_the_lower_third(
    client: Any, clip_url: str, small_clip: Path, tmp_path: Path
) -> None:
    sid = client.init_selection(video_url=clip_url).session_id
    out = run(
        client,
        tmp_path,
        "add.mp4",
        session_id=sid,
        edit_mode="addition",
        prompt="Using the context of <<<video_1>>>, seamlessly add the square from <<<image_1>>>",
        image_list=[png_b64(colour=BLUE)],
    )
    src = source_frames(small_clip)
    centre = out[10][SIZE * 5 // 6 - 20 : SIZE * 5 // 6 + 20, SIZE // 2 - 20 : SIZE // 2 + 20]
    assert np.abs(centre.reshape(-1, 3).mean(axis=0) - BLUE).max() < 12
    top = (slice(0, SIZE // 2), slice(SIZE // 2, SIZE))
    assert np.abs(out[10][top].astype(int) - src[10][top].astype(int)).mean() < 3


def test_addition_into_a_selected_region(client: Any, clip_url: str, tmp_path: Path) -> None:
    sid = client.init_selection(video_url=clip_url).session_id
    x, y = disc_centre(0, SIZE, SIZE)
    client.add_selection(sid, 0, [(x / SIZE, y / SIZE)])
    out = run(
        client,
        tmp_path,
        "add-in.mp4",
        session_id=sid,
        edit_mode="addition",
        prompt="Using the context of <<<video_1>>>, seamlessly add the square from <<<image_1>>>",
        image_list=[png_b64(colour=BLUE)],
    )
    inside = shrink(truth(30), 25)
    assert np.abs(out[30][inside].mean(axis=0) - BLUE).max() < 12


def omni_run(client: Any, tmp_path: Path, name: str, **kwargs: Any) -> VideoSource:
    task = client.create_omni_video(**kwargs)
    done = client.wait(task, timeout=900, kind="omni-video")
    assert done.status == "succeed", done.status_msg
    src = VideoSource(client.download(done, tmp_path / name))
    assert (src.codec, src.pix_fmt, src.fps) == ("h264", "yuv420p", 24)
    return src


def test_omni_base_edit_is_a_visible_deterministic_grade(
    live_emu: Emulator, client: Any, omni_clip: Path, tmp_path: Path
) -> None:
    url = live_emu.upload(omni_clip)
    grey = omni_run(
        client,
        tmp_path,
        "bw.mp4",
        prompt="make <<<video_1>>> black and white",
        video_list=[{"video_url": url, "refer_type": "base", "keep_original_sound": "no"}],
    )
    assert (grey.width, grey.height, grey.frame_count) == (720, 720, 72)
    frame = next(iter(grey.iter_frames())).astype(int)
    body = frame[: SIZE // 2]  # above the caption
    assert np.abs(body[..., 0] - body[..., 2]).mean() < 4
    warm = omni_run(
        client,
        tmp_path,
        "warm.mp4",
        prompt="a warm sunset look for <<<video_1>>>",
        video_list=[{"video_url": url, "refer_type": "base"}],
    )
    src = next(iter(VideoSource(omni_clip).iter_frames())).astype(float)[: SIZE // 2]
    got = next(iter(warm.iter_frames())).astype(float)[: SIZE // 2]
    assert got[..., 0].mean() > src[..., 0].mean() + 5
    assert got[..., 2].mean() < src[..., 2].mean() - 5


def test_omni_generation_without_a_video(client: Any, tmp_path: Path) -> None:
    src = omni_run(
        client,
        tmp_path,
        "gen.mp4",
        prompt="a paper boat on a pond",
        aspect_ratio="16:9",
        mode="std",
        duration=3,
        # O1 generates 5 or 10 s only; v3-omni takes 3-15 s (capability map).
        model_name="kling-v3-omni",
    )
    assert (src.width, src.height, src.frame_count) == (1280, 720, 72)
    buf = io.BytesIO()
    Image.new("RGB", (600, 400), (250, 200, 0)).save(buf, format="PNG")
    first = base64.b64encode(buf.getvalue()).decode()
    img = omni_run(
        client,
        tmp_path,
        "first.mp4",
        prompt="it moves",
        image_list=[{"image_url": first, "type": "first_frame"}],
        duration=3,
        mode="std",
        model_name="kling-v3-omni",
    )
    assert (img.width, img.height) == (1280, 720)
    top = next(iter(img.iter_frames()))[:300].reshape(-1, 3).mean(axis=0)
    assert np.abs(top - (250, 200, 0)).max() < 12


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"model_name": "kling-v9"}, "model_name"),
        ({"sound": "on"}, "sound"),
        ({"image_list": [{"image_url": png_b64()}] * 5}, "image_list"),
        (
            {"video_list": [{"video_url": "https://example.com/v.mp4", "refer_type": "base"}]},
            "not reachable",
        ),
        ({"prompt": None}, "prompt"),
        ({"mode": "ultra"}, "mode"),
    ],
)
def test_omni_rules_are_1201(
    live_emu: Emulator, clip_url: str, changes: dict[str, Any], named: str
) -> None:
    body: dict[str, Any] = {
        "model_name": "kling-video-o1",
        "prompt": "edit <<<video_1>>>",
        "video_list": [{"video_url": clip_url, "refer_type": "feature"}],
        "sound": "off",
        "aspect_ratio": "16:9",
    }
    body.update(changes)
    body = {k: v for k, v in body.items() if v is not None}
    resp = call(live_emu, "POST", OMNI, body)
    assert named in assert_envelope(resp, 400, 1201)["message"]


def test_omni_refuses_a_clip_outside_its_limits(live_emu: Emulator, clip_url: str) -> None:
    # The small clip lasts 2 s: fine for Multi-Elements, too short for Omni (3-10 s).
    body = {"prompt": "edit <<<video_1>>>", "video_list": [{"video_url": clip_url}]}
    message = assert_envelope(call(live_emu, "POST", OMNI, body), 400, 1201)["message"]
    assert "duration" in message and "video_list[0].video_url" in message
