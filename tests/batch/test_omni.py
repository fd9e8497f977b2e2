"""Omni-Video prompt edits end to end: the widget's fourth mode, ``Project.omni`` and
multi-shot storyboards through the Python API, all against the emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from kling_widget.api.client import KlingClient
from kling_widget.errors import KlingValidationError

OMNI_PATH = "/v1/videos/omni-video"


def omni_creates(emu: Any) -> list[Any]:
    return [r for r in emu.requests if r.method == "POST" and r.path == OMNI_PATH]


def probe(path: Path) -> tuple[float, int, np.ndarray]:
    """(fps, frame count, middle frame as RGB) of a video file."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        fps = float(stream.average_rate)
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(stream)]
    return fps, len(frames), frames[len(frames) // 2]


def make_editor(clip: Path, emu: Any, root: Path) -> Any:
    from kling_widget.editor.editor import Editor

    return Editor(
        clip, KlingClient(**emu.client_options()), uploader=emu.upload, root=root, autodisplay=False
    )


def test_widget_omni_mode_button_edits_the_whole_clip(
    clip3s: Path, emu: Any, tmp_path: Path
) -> None:
    ed = make_editor(clip3s, emu, tmp_path)
    try:
        c = ed.controls
        assert "omni" in [value for _, value in c.edit_mode.options]
        c.edit_mode.value = "omni"
        # Omni has no template: the box empties and quality switches to Omni's default.
        assert c.prompt.value == "" and c.quality.value == "pro"
        c.prompt.value = "Make <<<video_1>>> black and white"
        c.create_button.click()
        ed.wait_idle(timeout=300)
        assert ed.status.startswith("Done"), ed.status
        result = ed.result
        assert result is not None and result.is_file()
    finally:
        ed.close()

    # The wire: one Omni create, the clip as the base video, sound off, no selection calls.
    creates = omni_creates(emu)
    assert len(creates) == 1
    body = creates[0].json
    # The documented default model (kling_widget.rules.DEFAULT_OMNI_MODEL).
    assert body["model_name"] == "kling-video-o1" and body["mode"] == "pro"
    assert body["prompt"] == "Make <<<video_1>>> black and white"
    assert body["sound"] == "off"
    (video,) = body["video_list"]
    assert video["refer_type"] == "base" and video["keep_original_sound"] == "yes"
    assert video["video_url"].startswith(emu.base_url)
    assert not [r for r in emu.requests if "multi-elements" in r.path]

    # The result: 24 fps, as long as the clip (3 s), graded grey (R = G = B) by the emulator.
    fps, count, middle = probe(result)
    assert fps == pytest.approx(24.0)
    assert count == 72
    centre = middle[200:520, 200:520].astype(int)
    assert np.abs(centre[..., 0] - centre[..., 1]).max() <= 6
    assert np.abs(centre[..., 1] - centre[..., 2]).max() <= 6
    # The red disc became grey: it is no longer red.
    disc = middle[350:370, 360:380].astype(int)
    assert disc[..., 0].mean() < 200

    # Journaled like the other modes: an omni-video task with its download.
    from kling_widget.workflow import Project

    with Project(clip3s, KlingClient(**emu.client_options()), root=tmp_path) as project:
        (record,) = project.history()
        assert record.kind == "omni-video" and record.status == "succeed"
        assert record.task_id == emu.tasks()[0].task_id
        assert project.result_path(record) == result


def test_widget_omni_mode_without_prompt_says_so_and_sends_nothing(
    clip3s: Path, emu: Any, tmp_path: Path
) -> None:
    ed = make_editor(clip3s, emu, tmp_path)
    try:
        ed.controls.edit_mode.value = "omni"
        ed.controls.prompt.value = "   "
        ed.controls.create_button.click()
        ed.wait_idle(timeout=60)
        assert ed.status.startswith("Could not") and "must not be blank" in ed.status.lower()
        assert not ed.controls.create_button.disabled
    finally:
        ed.close()
    assert omni_creates(emu) == []


def test_editor_omni_python_api_then_wait(clip3s: Path, emu: Any, tmp_path: Path) -> None:
    ed = make_editor(clip3s, emu, tmp_path)
    try:
        task = ed.omni("Give <<<video_1>>> a sepia look", mode="std", keep_original_sound=False)
        assert task.kind == "omni-video"
        path = ed.wait(timeout=300)
        assert path.is_file() and path == ed.result
    finally:
        ed.close()
    (create,) = omni_creates(emu)
    assert create.json["mode"] == "std"
    assert create.json["video_list"][0]["keep_original_sound"] == "no"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x" * 2501}, "prompt"),
        ({"prompt": "ok", "model": "kling-v1-6"}, "model"),
        ({"prompt": "ok", "mode": "ultra"}, "mode"),
        ({"prompt": "ok", "elements": ["1", "2", "3", "4", "5"]}, "image_list"),
    ],
)
def test_editor_omni_refuses_bad_input_before_sending(
    clip3s: Path, emu: Any, tmp_path: Path, kwargs: dict[str, Any], field: str
) -> None:
    ed = make_editor(clip3s, emu, tmp_path)
    try:
        with pytest.raises(KlingValidationError) as info:
            ed.omni(**kwargs)
        assert info.value.field == field
    finally:
        ed.close()
    assert omni_creates(emu) == []


def test_editor_omni_refuses_a_clip_outside_omni_limits(
    clip2s: Path, emu: Any, tmp_path: Path
) -> None:
    # 2 s is fine for Multi-Elements but below Omni's 3 s minimum.
    ed = make_editor(clip2s, emu, tmp_path)
    try:
        with pytest.raises(KlingValidationError) as info:
            ed.omni("make it snow on <<<video_1>>>")
        assert info.value.field == "duration" and "3" in info.value.rule
    finally:
        ed.close()
    assert omni_creates(emu) == []
    assert not [r for r in emu.requests if r.path.startswith("/emulator/uploads")]


def test_project_omni_end_to_end_with_reference_image(
    clip3s: Path, ref_image: Path, emu: Any, tmp_path: Path
) -> None:
    from kling_widget.workflow import Project

    with Project(
        clip3s, KlingClient(**emu.client_options()), uploader=emu.upload, root=tmp_path
    ) as project:
        task = project.omni("Put the logo from <<<image_1>>> into <<<video_1>>>", [ref_image])
        final = project.wait(task, timeout=300)
        assert final.succeeded
        path = project.download(final, tmp_path / "out" / "omni.mp4")
    assert path.is_file() and path.stat().st_size > 1000
    (create,) = omni_creates(emu)
    (image,) = create.json["image_list"]
    # Local images go as raw base64 (no data: prefix), as the docs require.
    assert not image["image_url"].startswith("data:")
    assert create.json["external_task_id"] == emu.tasks()[0].external_task_id


# --- multi-shot storyboards through the Python API ----------------------------------------
def test_multi_shot_storyboard_is_accepted_and_rendered(emu: Any, tmp_path: Path) -> None:
    client = KlingClient(**emu.client_options())
    task = client.create_omni_video(
        model_name="kling-v3-omni",
        multi_shot=True,
        shot_type="customize",
        multi_prompt=[("a red kite over a beach", 1), ("the kite lands in the sand", 2)],
        duration=3,
        aspect_ratio="1:1",
        mode="std",
    )
    (create,) = omni_creates(emu)
    assert create.json["multi_prompt"] == [
        {"prompt": "a red kite over a beach", "duration": "1", "index": 1},
        {"prompt": "the kite lands in the sand", "duration": "2", "index": 2},
    ]
    assert create.json["multi_shot"] is True and create.json["shot_type"] == "customize"
    final = client.wait(task, timeout=300, kind="omni-video", poll_interval=0.1)
    assert final.succeeded
    path = client.download(final, tmp_path / "story.mp4")
    fps, count, _ = probe(path)
    assert fps == pytest.approx(24.0) and count == 3 * 24


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        # durations must sum to the total
        ({"multi_prompt": [("a", 2), ("b", 2)], "duration": 5}, "multi_prompt"),
        # at most 6 shots
        ({"multi_prompt": [(f"s{i}", 1) for i in range(7)], "duration": 7}, "multi_prompt"),
        # each shot prompt at most 512 characters
        ({"multi_prompt": [("x" * 513, 5)], "duration": 5}, "multi_prompt[0].prompt"),
        # every shot at least 1 s
        ({"multi_prompt": [("a", 0), ("b", 5)], "duration": 5}, "multi_prompt[0].duration"),
        # shots only with multi_shot
        (
            {
                "multi_prompt": [("a", 5)],
                "duration": 5,
                "multi_shot": False,
                "prompt": "p",
                "shot_type": None,
            },
            "multi_prompt",
        ),
        # a storyboard needs shot_type customize
        ({"multi_prompt": [("a", 5)], "duration": 5, "shot_type": "auto"}, "shot_type"),
    ],
)
def test_multi_shot_rules_are_checked_before_sending(
    emu: Any, kwargs: dict[str, Any], field: str
) -> None:
    client = KlingClient(**emu.client_options())
    args: dict[str, Any] = {
        "model_name": "kling-v3-omni",
        "multi_shot": True,
        "shot_type": "customize",
        "aspect_ratio": "16:9",
    }
    args.update(kwargs)
    with pytest.raises(KlingValidationError) as info:
        client.create_omni_video(**args)
    assert info.value.field == field
    assert omni_creates(emu) == []
