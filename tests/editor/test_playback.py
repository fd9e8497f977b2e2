"""Playback: the clip's speed on a wall clock, skipping frames rather than falling behind."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest
import test_workbench as wb

from kling_widget.editor.playback import (
    MAX_INLINE_PREVIEW_BYTES,
    PlayedFrames,
    Player,
    composite_jpeg,
    frames_in_flight,
    preview_video,
)
from kling_widget.editor.state import time_label

# The editor on the emulator, from the workbench tests (a clip with a red square moving).
clip, emu, editor = wb.clip, wb.emu, wb.editor


def _wait_until(condition: Any, timeout: float = wb.TIMEOUT) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_frames_follow_the_wall_clock_at_the_clips_rate() -> None:
    clock, shown = Clock(), []
    p = Player(shown.append, 90, 30.0, clock=clock)
    p._begin(0, clock.now)
    for k in range(10):
        clock.now = 100.0 + k / 30.0
        p.tick(clock.now)
    assert shown == list(range(10))
    assert p.stats.dropped == 0 and p.stats.shown == 10


def test_a_slow_draw_skips_frames_instead_of_drifting() -> None:
    clock, shown = Clock(), []

    def slow_show(frame: int) -> None:
        shown.append(frame)
        clock.now += 0.1  # each draw takes three frame times at 30 fps

    p = Player(slow_show, 300, 30.0, clock=clock)
    p._begin(10, clock.now)
    for _ in range(5):
        p.tick(clock.now)
    # Each frame shown is the one due when its draw started: 10, 13, 16, ...
    assert shown == [10, 13, 16, 19, 22]
    assert p.stats.dropped == 8
    assert p.stats.frame_time_max == pytest.approx(0.1)


def test_nothing_is_redrawn_within_one_frame_time() -> None:
    clock, shown = Clock(), []
    p = Player(shown.append, 10, 25.0, clock=clock)
    p._begin(0, clock.now)
    assert p.tick(clock.now) == 0
    clock.now += 0.039
    assert p.tick(clock.now) is None
    clock.now += 0.002
    assert p.tick(clock.now) == 1
    assert shown == [0, 1]


def test_the_end_stops_or_loops() -> None:
    clock, shown = Clock(), []
    p = Player(shown.append, 5, 10.0, clock=clock)
    p._begin(3, clock.now)
    p.tick(clock.now)
    clock.now += 0.1
    p.tick(clock.now)
    clock.now += 0.1
    assert p.tick(clock.now) == -1
    looping = Player(shown.append, 5, 10.0, clock=clock, loop=True)
    looping._begin(4, clock.now)
    looping.tick(clock.now)
    clock.now += 0.2
    assert looping.tick(clock.now) == 1  # 4 -> 0 -> 1: frame 0 skipped
    assert looping.stats.dropped == 1


def test_a_thread_plays_to_the_end_and_reports_its_state() -> None:
    shown: list[int] = []
    states: list[bool] = []
    done = threading.Event()

    def on_state(playing: bool) -> None:
        states.append(playing)
        if not playing:
            done.set()

    # A clock that moves a tenth of a frame per reading: no frame is due twice or skipped,
    # however late the thread runs.
    ticks = itertools.count()
    p = Player(shown.append, 12, 240.0, on_state=on_state, clock=lambda: next(ticks) / 2400)
    p.play()
    assert done.wait(30)
    assert states == [True, False]
    assert not p.playing
    assert shown == sorted(set(shown)) and shown[0] == 0 and shown[-1] == 11
    assert p.position == 11
    assert p.stats.shown == len(shown) and p.stats.shown + p.stats.dropped == 12
    # Play again at the end: from the first frame.
    done.clear()
    shown.clear()
    p.play()
    assert done.wait(30)
    assert shown[0] == 0


def test_pause_stops_at_the_frame_on_screen_and_play_resumes_there() -> None:
    shown: list[int] = []
    gate = threading.Event()

    def show(frame: int) -> None:
        shown.append(frame)
        if len(shown) >= 3:  # a few frames in, whichever were skipped on a busy machine
            gate.set()

    p = Player(show, 100_000, 1000.0)
    p.play(start=0)
    assert gate.wait(30)
    p.pause()
    assert not p.playing
    stopped_at = p.position
    assert stopped_at == shown[-1]
    n = len(shown)
    p.play()
    p.pause()
    assert all(f >= stopped_at for f in shown[n:])
    assert p.toggle() is True
    assert p.toggle() is False


def test_a_failing_draw_stops_playback_and_is_reported() -> None:
    errors: list[BaseException] = []
    done = threading.Event()

    def show(frame: int) -> None:
        raise RuntimeError("canvas closed")

    p = Player(show, 10, 30.0, on_error=errors.append, on_state=lambda on: on or done.set())
    p.play()
    assert done.wait(30)
    assert [str(e) for e in errors] == ["canvas closed"]
    assert not p.playing


def test_a_display_that_has_not_caught_up_holds_frames_back() -> None:
    clock, shown = Clock(), []
    answered = {"ok": True}
    p = Player(shown.append, 30, 10.0, clock=clock, ready=lambda: answered["ok"])
    p._begin(0, clock.now)
    assert p.tick(clock.now) == 0
    answered["ok"] = False  # the browser is still busy with frame 0
    for _ in range(3):
        clock.now += 0.1
        assert p.tick(clock.now) is None
    answered["ok"] = True
    assert p.tick(clock.now) == 3  # frames 1 and 2 were skipped, not queued
    assert p.stats.dropped == 2
    answered["ok"] = False
    clock.now += 10.0
    assert p.tick(clock.now) == 29  # the clip still ends on its last frame
    assert p.tick(clock.now) == -1
    assert shown == [0, 3, 29]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"frame_count": 0, "fps": 30.0}, "frame_count=0"), ({"frame_count": 5, "fps": 0.0}, "fps=0")],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Player(lambda f: None, **kwargs)  # type: ignore[arg-type]
    p = Player(lambda f: None, 5, 30.0)
    with pytest.raises(ValueError, match="start=7"):
        p.play(start=7)


def test_the_preview_plays_inline() -> None:
    video = preview_video(b"\x00\x00\x00\x18ftypmp42", "http://example.invalid/p.mp4")
    assert video.format == "mp4" and bytes(video.value).startswith(b"\x00\x00\x00\x18ftyp")
    assert video.controls and video.loop and not video.autoplay
    assert "kling-preview-video" in video._dom_classes
    by_url = preview_video(None, "https://cdn.example/p.mp4")
    assert by_url.format == "url" and bytes(by_url.value) == b"https://cdn.example/p.mp4"
    assert MAX_INLINE_PREVIEW_BYTES >= 16 * 1024 * 1024
    with pytest.raises(ValueError, match="preview video"):
        preview_video(None, None)


def _jpeg(rgb: tuple[int, int, int], size: tuple[int, int] = (96, 64)) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, rgb).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _pixels(jpeg: bytes) -> Any:
    import io

    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")).astype(int)


def test_a_played_frame_is_the_picture_with_its_masks_over_it() -> None:
    import numpy as np

    from kling_widget.editor.masklayer import mask_png, object_color

    frame = _jpeg((128, 128, 128))
    labels = np.zeros((64, 96), dtype=np.uint8)
    labels[16:48, 24:72] = 1  # object 0
    png = mask_png(labels)
    out = _pixels(composite_jpeg(frame, png))
    assert out.shape == (64, 96, 3)
    grey = np.array([128, 128, 128])
    # Outside the mask: the frame as it was; inside: pulled towards the object's colour.
    assert np.abs(out[4, 4] - grey).max() <= 6
    inside = out[32, 48]
    colour = np.array(object_color(0))
    assert np.abs(inside - colour).sum() < np.abs(grey - colour).sum() - 30
    # Opacity 0 leaves the frame alone; the mask drawn at a smaller size is stretched.
    assert np.abs(_pixels(composite_jpeg(frame, png, opacity=0.0))[32, 48] - grey).max() <= 6
    small = mask_png(labels[::2, ::2])
    assert np.abs(_pixels(composite_jpeg(frame, small))[32, 48] - inside).max() <= 12


def test_while_playing_a_frame_goes_out_as_one_picture_with_its_masks(editor: Any) -> None:
    import numpy as np

    editor.screen.frames.wait_ready(wb.TIMEOUT)
    wb.click(editor, *wb.centre(0))
    editor.preview()
    screen, view = editor.screen, editor.view
    screen.set_playing(True)
    editor.seek(10)
    plain = screen.frames.get_jpeg(10)
    played = view.frame_jpeg
    assert played is not None and played != plain
    assert view.mask_png is None  # the mask layer stays clear: the masks are in the frame
    w, h = screen.frames.display_size
    x, y = wb.centre(10)
    i, j = int(y * h), int(x * w)
    assert np.abs(_pixels(played)[i, j] - _pixels(plain)[i, j]).sum() > 30
    # Stopping draws the layers again: the plain frame, its mask, its points.
    screen.set_playing(False)
    assert view.frame_jpeg == plain and view.mask_png is not None
    editor.seek(0)
    assert view.frame_jpeg == screen.frames.get_jpeg(0)


def test_played_frames_are_made_ahead_and_handed_over_once() -> None:
    made: list[int] = []
    gate = threading.Event()

    def maker(i: int) -> Any:
        def make() -> bytes | None:
            gate.wait(wb.TIMEOUT)
            made.append(i)
            return None if i == 2 else _jpeg((10 * i, 0, 0))

        return make

    played = PlayedFrames()
    played.prepare((("k", i), maker(i)) for i in range(4))
    gate.set()
    _wait_until(lambda: len(made) == 4 and ("k", 3) in played)
    # Frame 2 had nothing to show: nothing kept for it.
    assert played.take(("k", 2)) is None
    first = played.take(("k", 1))
    assert first is not None and _pixels(first)[0, 0][0] in range(4, 17)
    assert played.take(("k", 1)) is None  # handed over once
    # A new preparation forgets the pictures of the last one.
    played.prepare(iter(()))
    assert played.take(("k", 3)) is None


def test_after_preview_the_first_play_sends_pictures_made_in_advance(editor: Any) -> None:
    editor.screen.frames.wait_ready(wb.TIMEOUT)
    wb.click(editor, *wb.centre(0))
    editor.preview()
    screen = editor.screen
    made = screen._played_picture(12)
    assert made is not None
    key, make = made
    expected = make()
    # The background made the same picture before Play was pressed.
    _wait_until(lambda: key in screen.played)
    screen.set_playing(True)
    editor.seek(12)
    assert editor.view.frame_jpeg == expected and expected is not None
    assert _pixels(expected).shape[:2] == screen.frames.display_size[::-1]
    assert screen.played.take(key) is None  # now held by the view, not twice
    screen.set_playing(False)


def test_while_playing_the_strip_and_label_follow_a_few_times_a_second(editor: Any) -> None:
    screen = editor.screen
    screen.frames.wait_ready(wb.TIMEOUT)
    now = [100.0]
    screen.clock = lambda: now[0]
    label = editor.controls.frame_label
    screen.set_playing(True)
    editor.seek(1)
    shown = label.value
    assert shown == time_label(1, screen.state.frame_count, screen.state.fps)
    for frame in range(2, 6):  # 4 frames within 0.1 s: the label is not touched
        now[0] += 0.025
        editor.seek(frame)
        assert label.value == shown
    now[0] += 0.3
    editor.seek(6)
    assert label.value != shown
    # Stopping shows the exact frame on screen everywhere.
    editor.seek(7)
    screen.set_playing(False)
    assert label.value == time_label(7, screen.state.frame_count, screen.state.fps)


@pytest.mark.parametrize(("fps", "frames"), [(30, 6), (29.97, 6), (24, 5), (60, 12), (5, 3)])
def test_frames_awaiting_the_browser_cover_a_fifth_of_a_second(fps: float, frames: int) -> None:
    assert frames_in_flight(fps) == frames
