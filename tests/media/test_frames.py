"""``FrameCache`` (display-size JPEG frames filled in the background) and index mapping."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from kling_widget.media import frames as frames_module
from kling_widget.media.frames import (
    FrameCache,
    api_to_local_index,
    display_size_for,
    local_to_api_index,
)
from kling_widget.media.video import VideoSource

ClipMaker = Callable[..., Path]
CodeReader = Callable[[np.ndarray], int]
FRAMES = 60


@pytest.fixture(scope="module")
def clip(make_clip: ClipMaker) -> Path:
    # veryfast: B-frames, so decode order differs from display order like most real clips.
    return make_clip("cache320.mp4", 320, 180, 30, FRAMES, preset="veryfast")


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Hold every FrameCache's background thread until the event is set."""
    go = threading.Event()
    fill = FrameCache._fill

    def held_fill(self: FrameCache) -> None:
        go.wait(60)
        fill(self)

    monkeypatch.setattr(FrameCache, "_fill", held_fill)
    yield go
    go.set()


def jpeg_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "JPEG"
        return img.size


def test_first_frame_is_there_before_the_thread_runs(
    clip: Path, held: threading.Event, code_of: CodeReader
) -> None:
    cache = FrameCache(clip)
    try:
        assert cache.is_cached(0)
        assert cache.cached_count == 1 and not cache.ready
        assert jpeg_size(cache.get_jpeg(0)) == (320, 180)
        assert code_of(cache.get_array(0)) == 0
        assert cache.nbytes == len(cache.get_jpeg(0))
    finally:
        held.set()
        cache.close()


def test_uncached_frames_are_decoded_on_demand_in_any_order(
    clip: Path, held: threading.Event, code_of: CodeReader
) -> None:
    cache = FrameCache(VideoSource(clip))
    try:
        # Forward jumps, backward seeks, the last frame: each answered from the second decoder.
        for i in (45, 5, 59, 44, 46, 12, 1):
            assert not cache.is_cached(i)
            assert code_of(cache.get_array(i)) == i
            assert cache.is_cached(i)
        assert cache.cached_count == 8
        before = {i: cache.get_jpeg(i) for i in (45, 5, 59)}
        held.set()
        assert cache.wait_ready(120)
        assert cache.cached_count == FRAMES
        # The background pass keeps what was decoded on demand: same bytes, no double count.
        assert {i: cache.get_jpeg(i) for i in before} == before
        assert cache.nbytes == sum(len(cache.get_jpeg(i)) for i in range(FRAMES))
        assert [code_of(cache.get_array(i)) for i in range(FRAMES)] == list(range(FRAMES))
    finally:
        cache.close()


def test_every_cached_frame_matches_a_direct_decode(clip: Path) -> None:
    source = VideoSource(clip)
    with FrameCache(source) as cache:
        assert cache.wait_ready(120) and cache.ready
        assert cache.cached_count == len(cache) == FRAMES
        for i, direct in enumerate(source.iter_frames()):
            got = cache.get_array(i)
            assert got.shape == direct.shape
            diff = np.abs(got.astype(np.int16) - direct.astype(np.int16))
            # JPEG at quality 85: small on average, bounded at hard edges.
            assert diff.mean() < 2.5, (i, diff.mean())
            assert np.percentile(diff, 99) < 24, i


def test_frames_are_scaled_to_the_display_width(make_clip: ClipMaker, code_of: CodeReader) -> None:
    source = VideoSource(make_clip("wide1280.mp4", 1280, 720, 30, 12))
    with FrameCache(source, display_width=960) as cache:
        assert cache.display_size == (960, 540)
        assert cache.wait_ready(120)
        frame = cache.get_array(7)
        assert frame.shape == (540, 960, 3)
        assert code_of(frame) == 7
        direct = np.asarray(
            Image.fromarray(source.read_frame(7)).resize((960, 540), Image.Resampling.BOX)
        )
        assert np.abs(frame.astype(np.int16) - direct).mean() < 3
        raw = 960 * 540 * 3 * 12
        assert cache.nbytes < raw / 8  # a compact cache, not raw arrays


def test_display_width_never_upscales() -> None:
    assert display_size_for(320, 180, 960) == (320, 180)
    assert display_size_for(3840, 2160, 960) == (960, 540)
    assert display_size_for(1080, 1920, 960) == (960, 1707)
    assert display_size_for(2160, 720, 480) == (480, 160)
    with pytest.raises(ValueError, match="display_width=0"):
        display_size_for(320, 180, 0)


def test_bad_indices_and_quality(clip: Path) -> None:
    with FrameCache(clip, display_width=160) as cache:
        assert cache.display_size == (160, 90)
        with pytest.raises(IndexError, match="frame_index=60: must be 0–59"):
            cache.get_jpeg(FRAMES)
        with pytest.raises(IndexError):
            cache.get_array(-1)
        with pytest.raises(TypeError):
            cache.get_jpeg("3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="quality=0"):
        FrameCache(clip, quality=0)


def test_close_stops_the_background_thread(clip: Path, held: threading.Event) -> None:
    cache = FrameCache(clip)
    held.set()
    cache.close()
    assert not cache._thread.is_alive()
    # Still answers after close: frames it lacks are decoded on demand.
    assert cache.get_jpeg(FRAMES - 1)[:2] == b"\xff\xd8"


def test_a_failing_background_decode_is_reported(
    clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: object) -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(frames_module._Decoder, "next", broken, raising=True)
    # The constructor decodes the first frame itself: the failure surfaces at once.
    with pytest.raises(OSError, match="disk went away"):
        FrameCache(clip)


def test_thread_failure_is_raised_by_wait_ready(
    clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_next = frames_module._Decoder.next
    calls = {"n": 0}

    def flaky(self: frames_module._Decoder) -> object:
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError("disk went away")
        return real_next(self)

    monkeypatch.setattr(frames_module._Decoder, "next", flaky)
    cache = FrameCache(clip)
    with pytest.raises(RuntimeError, match="disk went away"):
        cache.wait_ready(60)
    cache.close()


# --- index mapping ---------------------------------------------------------------------------
def test_equal_rates_map_each_frame_to_itself() -> None:
    assert [local_to_api_index(i, 30, 30, 150) for i in range(150)] == list(range(150))
    assert [api_to_local_index(i, 24, 24, 48) for i in range(48)] == list(range(48))


def test_25_fps_local_clip_maps_by_time_to_kling_30_fps() -> None:
    # Local frame i is on screen for [i/25, (i+1)/25): Kling's frame at its middle.
    assert [local_to_api_index(i, 25, 30, 150) for i in (0, 1, 2, 5, 24, 124)] == [
        0,
        1,
        3,
        6,
        29,
        149,
    ]
    assert api_to_local_index(149, 30, 25, 125) == 124
    assert api_to_local_index(6, 30, 25, 125) == 5


def test_mapping_clamps_to_the_api_range() -> None:
    assert local_to_api_index(299, 60, 30, 150) == 149
    assert local_to_api_index(400, 30, 30, 150) == 149
    assert api_to_local_index(10_000, 30, 24, 120) == 119


def test_mapping_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="api_fps=0"):
        local_to_api_index(3, 30, 0, 150)
    with pytest.raises(ValueError, match="index=-1"):
        local_to_api_index(-1, 30, 30, 150)
    with pytest.raises(ValueError, match="api_total=0"):
        local_to_api_index(1, 30, 30, 0)
    with pytest.raises(TypeError):
        local_to_api_index(1.5, 30, 30, 150)  # type: ignore[arg-type]


@given(
    st.sampled_from([24.0, 25.0, 29.97, 30.0, 50.0, 60.0]),
    st.sampled_from([24.0, 30.0, 60.0]),
    st.integers(0, 599),
)
def test_mapping_round_trips_and_stays_in_range(local: float, api: float, i: int) -> None:
    local_total = 600
    api_total = round(local_total * api / local)
    j = local_to_api_index(i, local, api, api_total)
    assert 0 <= j < api_total
    # The API frame's time lies within the local frame's display interval (± one API frame).
    # The last API frame also absorbs the rounding of api_total (at most half an API frame).
    slack = 0.5 / api if j == api_total - 1 else 0.0
    assert abs((j + 0.5) / api - (i + 0.5) / local) <= 0.5 / min(local, api) + slack + 1e-9
    if api >= local:  # no API frame is skipped over, so the way back is exact
        assert api_to_local_index(j, api, local, local_total) == i
