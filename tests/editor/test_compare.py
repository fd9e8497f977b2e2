"""Compare: one position drives both videos; wipe and side by side draw what they say."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from editor_helpers import CommRecorder, canvas_commands

from kling_widget.editor.compare import Compare, frame_for_time, timeline_length, wipe_split


def write(path: Path, fps: int, frames: int, colour: tuple[int, int, int]) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        for i in range(frames):
            img = np.zeros((96, 160, 3), np.uint8)
            img[:] = colour
            img[:8, : 8 * (i + 1) % 160] = 255  # a bar growing with the frame index
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode(None))
    return path


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    a = write(tmp_path / "a.mp4", 30, 30, (200, 30, 30))  # 1.0 s
    b = write(tmp_path / "b.mp4", 24, 30, (30, 30, 200))  # 1.25 s: longer
    return a, b


def test_time_mapping_between_frame_rates() -> None:
    assert frame_for_time(0.0, 24, 30) == 0
    assert frame_for_time(10 / 30, 24, 30) == 8
    assert frame_for_time(1.0, 24, 30) == 24
    assert frame_for_time(9.0, 24, 30) == 29  # past the end: holds the last frame
    assert timeline_length(30, 30, 30, 24) == 38  # b lasts 1.25 s = 37.5 frames of a
    assert timeline_length(120, 30, 30, 24) == 120
    assert wipe_split(0.25, 160) == 40 and wipe_split(2.0, 160) == 160


def test_seek_and_steps_move_both(pair: tuple[Path, Path]) -> None:
    cmp = Compare(*pair)
    try:
        assert cmp.length == 38
        cmp.seek(15)
        assert cmp.frames == (15, 12) and cmp.slider.value == 15
        cmp.step(1)
        assert cmp.frames == (16, 12)
        cmp.step(-10)
        assert cmp.frames == (6, 4)
        cmp.slider.value = 36  # the user drags the shared slider
        assert cmp.frames == (29, 28)  # a holds its last frame
        cmp.seek(999)
        assert cmp.position == 37
        cmp.back_button.click()
        assert cmp.position == 36
        cmp.first_button.click()
        assert cmp.frames == (0, 0)
        cmp.keys.handle({"type": "keydown", "key": "End"})
        assert cmp.position == 37
        cmp.keys.handle({"type": "keydown", "key": "ArrowLeft", "shiftKey": True})
        assert cmp.position == 7
        assert "Original 7 · Result 5" in cmp.time_label.value
    finally:
        cmp.close()


def test_wipe_and_side_by_side_draw_both_videos(pair: tuple[Path, Path]) -> None:
    cmp = Compare(*pair, labels=("Before", "After"))
    try:
        assert (cmp.canvas.width, cmp.canvas.height) == (160, 96)
        assert cmp.wipe_slider.layout.display == "flex"
        cmp.set_wipe(0.25)
        assert cmp.wipe == 0.25 and cmp.wipe_slider.value == 0.25
        cmp.mode_toggle.value = "side"
        assert cmp.mode == "side"
        assert (cmp.canvas.width, cmp.canvas.height) == (320, 96)
        assert cmp.wipe_slider.layout.display == "none"
        cmp.set_mode("wipe")
        assert cmp.canvas.width == 160
        with pytest.raises(ValueError, match="mode='both'"):
            cmp.set_mode("both")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"wipe=1\.5"):
            cmp.set_wipe(1.5)
        assert "Before" in cmp.caption.value and "After" in cmp.caption.value
    finally:
        cmp.close()


def test_drawn_frames_are_the_two_videos_frames(
    pair: tuple[Path, Path], sent: CommRecorder
) -> None:
    cmp = Compare(*pair)
    try:
        mark = sent.mark()
        cmp.seek(20)
        cmds = canvas_commands(sent.since(mark))
        drawn = [str(args[0]).removeprefix("IPY_MODEL_") for n, args in cmds if n == "drawImage"]
        # Position 20 of a (30 fps) is 0.667 s: frame 16 of b (24 fps).
        assert drawn == [cmp._images[0].get(20).model_id, cmp._images[1].get(16).model_id]
        names = [n for n, _ in cmds]
        # b is drawn clipped to the right of the wipe line, then the line on top.
        assert names.index("clip") < names.index("restore") < names.index("fillRect")
    finally:
        cmp.close()


def test_playing_moves_both_to_the_end(pair: tuple[Path, Path]) -> None:
    cmp = Compare(*pair)
    try:
        cmp.a.wait_ready(60)
        cmp.b.wait_ready(60)
        stopped = threading.Event()
        cmp.player.on_state = lambda on: None if on else stopped.set()
        cmp.play_button.click()
        assert stopped.wait(60)
        assert cmp.position == cmp.length - 1
        assert cmp.frames == (29, 29)
        assert cmp.play_button.icon == "play"
    finally:
        cmp.close()
