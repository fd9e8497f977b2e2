"""``VideoSource``: probing, ``check`` against Kling's clip limits, ``conform``, frame reads.

Clips are generated per session (``conftest.make_clip``), each frame carrying its
own index as a block code, so a test can tell which source frame a conformed
frame shows. Clips are kept small and 2-3 s long: the conform tests need
outputs of at least 720 px, so those are the slowest here.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
import wave
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kling_widget.errors import KlingValidationError
from kling_widget.limits import CLIP_LIMITS
from kling_widget.media.conform_plan import _target_size
from kling_widget.media.remote import open_clip
from kling_widget.media.video import VideoError, VideoSource
from kling_widget.media.violations import Violation

ClipMaker = Callable[..., Path]
CodeReader = Callable[[np.ndarray], int]


def fields(violations: list[Violation]) -> list[str]:
    return [v.field for v in violations]


def only(violations: list[Violation], field: str) -> Violation:
    found = [v for v in violations if v.field == field]
    assert len(found) == 1, violations
    return found[0]


# --- probing ---------------------------------------------------------------------------------
def test_probe_reads_size_rate_frames_duration_codec_and_file_size(make_clip: ClipMaker) -> None:
    path = make_clip("ok720.mp4", 720, 720, 24, 48)
    src = VideoSource(path)
    assert (src.width, src.height) == (720, 720)
    assert src.fps == 24.0 and src.fps_fraction == Fraction(24)
    assert src.frame_count == 48
    assert src.duration == pytest.approx(2.0, abs=1e-3)
    assert src.codec == "h264"
    assert src.file_size == path.stat().st_size
    assert src.check("multi-elements") == []
    # Omni wants 3-10 s: the same clip is refused there, for its duration only.
    assert fields(src.check("omni")) == ["duration"]


def test_ntsc_rate_is_probed_exactly(make_clip: ClipMaker) -> None:
    src = VideoSource(make_clip("ntsc.mp4", 64, 64, Fraction(30000, 1001), 12))
    assert src.fps_fraction == Fraction(30000, 1001)
    assert src.fps == pytest.approx(29.97, abs=1e-3)
    assert fields(src.check()) == ["fps", "resolution", "duration"]
    assert "resample to 30" in str(only(src.check(), "fps"))


def test_frame_count_is_counted_when_the_container_does_not_say(make_clip: ClipMaker) -> None:
    path = make_clip("small.webm", 96, 64, 30, 20)
    with av.open(str(path)) as c:
        assert c.streams.video[0].frames == 0  # WebM headers carry no frame count
    src = VideoSource(path)
    assert src.frame_count == 20
    assert src.codec == "vp8"
    assert src.duration == pytest.approx(20 / 30, abs=0.04)


def test_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(FileNotFoundError, match=r"nope\.mp4"):
        VideoSource(missing)


def test_not_a_video_container_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video\n" * 50)
    with pytest.raises(VideoError, match=r"notes\.mp4"):
        VideoSource(bad)


def test_truncated_file_is_refused(make_clip: ClipMaker, tmp_path: Path) -> None:
    # Without +faststart the moov atom sits at the end: half the file cannot be played.
    whole = make_clip("ok720.mp4", 720, 720, 24, 48).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(VideoError, match=r"cut\.mp4"):
        VideoSource(cut)


def test_file_without_video_stream_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sound.mov"
    with wave.open(str(tmp_path / "sound.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 8000)
    (tmp_path / "sound.wav").rename(path)
    with pytest.raises(VideoError, match="no video stream"):
        VideoSource(path)


# --- check -----------------------------------------------------------------------------------
def test_25_fps_is_reported_with_its_fix(make_clip: ClipMaker) -> None:
    src = VideoSource(make_clip("fps25.mp4", 720, 720, 25, 60))
    v = only(src.check(), "fps")
    assert v.value == 25.0
    assert v.rule == "must be 24, 30 or 60"
    assert v.fix == "conform() will resample to 30"
    assert str(v) == "fps 25: must be 24, 30 or 60 — conform() will resample to 30"
    assert fields(src.check()) == ["fps"]
    # Omni takes any rate in 24-60.
    assert "fps" not in fields(src.check("omni"))


def test_small_picture_is_reported_with_the_size_it_will_get(make_clip: ClipMaker) -> None:
    src = VideoSource(make_clip("small640.mp4", 640, 360, 30, 60))
    v = only(src.check(), "resolution")
    assert str(v) == (
        "resolution 640x360: each side must be 720–2160 px — conform() will scale to 1280x720"
    )
    assert fields(src.check()) == ["resolution"]


def test_extreme_aspect_ratio_says_it_will_pad(make_clip: ClipMaker) -> None:
    src = VideoSource(make_clip("wide.mp4", 1000, 200, 24, 48))
    v = only(src.check(), "resolution")
    assert "too extreme" in v.fix and "pad with black to 2160x720" in v.fix
    assert "scale to 2160x432" in v.fix


@pytest.mark.parametrize(
    ("name", "frames", "fix"),
    [
        ("long12.mp4", 288, "conform() will trim to 10.0 s"),
        ("six.mp4", 144, "conform() will trim to 5.0 s"),
        ("one.mp4", 24, "cannot be fixed by conform(): it does not lengthen clips"),
    ],
)
def test_duration_outside_the_brackets(
    make_clip: ClipMaker, name: str, frames: int, fix: str
) -> None:
    # Tiny pictures: only the duration matters here (the size is a second violation).
    src = VideoSource(make_clip(name, 64, 64, 24, frames))
    v = only(src.check(), "duration")
    assert v.value == pytest.approx(frames / 24, abs=1e-3)
    assert v.rule == "must be 2–5 s or 7–10 s"
    assert v.fix == fix
    assert fields(src.check()) == ["resolution", "duration"]


def test_omni_duration_bracket(make_clip: ClipMaker) -> None:
    six = VideoSource(make_clip("six.mp4", 64, 64, 24, 144))
    assert "duration" not in fields(six.check("omni"))  # 6 s is fine for Omni
    long = VideoSource(make_clip("long12.mp4", 64, 64, 24, 288))
    assert only(long.check("omni"), "duration").fix == "conform() will trim to 10.0 s"


@pytest.mark.parametrize(("name", "shown"), [("c.avi", ".avi (avi)"), ("c.webm", ".webm")])
def test_other_containers_are_reported(make_clip: ClipMaker, name: str, shown: str) -> None:
    src = VideoSource(make_clip(name, 64, 64, 24, 48))
    v = only(src.check(), "container")
    assert str(v.value).startswith(shown)
    assert v.rule == "must be .mp4 or .mov"
    assert v.fix == "conform() will write an H.264 .mp4"


def test_webm_renamed_to_mp4_is_still_reported(make_clip: ClipMaker, tmp_path: Path) -> None:
    disguised = tmp_path / "disguised.mp4"
    disguised.write_bytes(make_clip("c.webm", 64, 64, 24, 48).read_bytes())
    v = only(VideoSource(disguised).check(), "container")
    assert "webm" in str(v.value)


def test_omni_file_size_limit(make_clip: ClipMaker, monkeypatch: pytest.MonkeyPatch) -> None:
    src = VideoSource(make_clip("ok720.mp4", 720, 720, 24, 72))
    assert "file_size" not in fields(src.check("omni"))
    # A 250 MB clip is not generated in a test: the probed size is what check reads.
    monkeypatch.setattr(src, "file_size", 250 * 2**20)
    v = only(src.check("omni"), "file_size")
    assert v.value == "250.0 MB" and v.rule == "must be at most 200 MB"
    assert "file_size" not in fields(src.check("multi-elements"))


def test_unknown_target_is_a_validation_error(make_clip: ClipMaker) -> None:
    src = VideoSource(make_clip("ok720.mp4", 720, 720, 24, 48))
    with pytest.raises(KlingValidationError) as info:
        src.check("multi")
    assert info.value.field == "target" and info.value.value == "multi"


# --- conform ---------------------------------------------------------------------------------
def conformed(
    src: VideoSource, dest: Path, target: str = "multi-elements"
) -> tuple[VideoSource, list[float]]:
    seen: list[float] = []
    out = src.conform(dest, target=target, on_progress=seen.append)
    return out, seen


def assert_progress(seen: list[float]) -> None:
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert seen == sorted(seen)
    assert all(0.0 <= f <= 1.0 for f in seen)


def assert_h264_yuv420p_mp4(path: Path) -> None:
    with av.open(str(path)) as c:
        assert "mp4" in c.format.name
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"


def test_conform_resamples_25_to_30_fps_by_repeating_frames(
    make_clip: ClipMaker, tmp_path: Path, code_of: CodeReader
) -> None:
    src = VideoSource(make_clip("fps25.mp4", 720, 720, 25, 60))
    out, seen = conformed(src, tmp_path / "out.mp4")
    assert out.check() == []
    assert out.fps_fraction == Fraction(30)
    assert out.frame_count == 72 and out.duration == pytest.approx(2.4, abs=1e-3)
    assert (out.width, out.height) == (720, 720)
    assert_h264_yuv420p_mp4(out.path)
    # +faststart: the index (moov) comes before the media data, so players stream it.
    data = out.path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")
    assert_progress(seen)
    # Output frame k shows what was on screen at k/30 s: source frame floor(k * 25 / 30).
    shown = [code_of(f) for f in out.iter_frames()]
    assert shown == [k * 25 // 30 for k in range(72)]


def test_conform_scales_up_keeping_aspect_with_even_sides(
    make_clip: ClipMaker, tmp_path: Path, code_of: CodeReader
) -> None:
    src = VideoSource(make_clip("four3.mp4", 480, 360, 30, 60))
    out, seen = conformed(src, tmp_path / "out.mp4")
    assert out.check() == []
    assert (out.width, out.height) == (960, 720)
    assert out.frame_count == 60
    assert_progress(seen)
    assert code_of(out.read_frame(37)) == 37


def test_conform_scales_down_a_large_clip(make_clip: ClipMaker, tmp_path: Path) -> None:
    src = VideoSource(make_clip("big.mp4", 2400, 1350, 24, 48))
    plan = src.plan()
    assert only(src.check(), "resolution").fix == "conform() will scale to 2160x1216"
    out, _ = conformed(src, tmp_path / "out.mp4")
    assert out.check() == []
    assert (out.width, out.height) == plan.size == (2160, 1216)
    assert out.width % 2 == 0 and out.height % 2 == 0
    assert abs(out.width / out.height - 2400 / 1350) < 0.005


def test_clip_within_limits_is_copied_unchanged(make_clip: ClipMaker, tmp_path: Path) -> None:
    path = make_clip("fourk_ok.mp4", 2160, 1216, 24, 48)
    src = VideoSource(path)
    assert src.check() == [] and src.check("omni") != []
    out, seen = conformed(src, tmp_path / "same.mp4")
    assert out.path.read_bytes() == path.read_bytes()
    assert seen == [0.0, 1.0]


def test_conform_trims_12_s_to_10_s(
    make_clip: ClipMaker, tmp_path: Path, code_of: CodeReader
) -> None:
    src = VideoSource(make_clip("long12_720.mp4", 720, 720, 24, 288))
    assert fields(src.check()) == ["duration"]
    out, seen = conformed(src, tmp_path / "out.mp4")
    assert out.check() == [] and out.check("omni") == []
    assert out.frame_count == 240 and out.duration == pytest.approx(10.0, abs=1e-3)
    assert_progress(seen)
    assert len(seen) > 10  # reported along the way, not just at both ends
    # Trimmed from the start: the first 240 frames are kept, in order.
    assert code_of(out.read_frame(0)) == 0 and code_of(out.read_frame(239)) == 239


def test_conform_trims_6_s_to_5_s(make_clip: ClipMaker, tmp_path: Path) -> None:
    src = VideoSource(make_clip("six_720.mp4", 720, 720, 24, 144))
    out, _ = conformed(src, tmp_path / "out.mp4")
    assert out.check() == []
    assert out.frame_count == 120 and out.duration == pytest.approx(5.0, abs=1e-3)


def test_conform_refuses_a_clip_too_short_to_fix(make_clip: ClipMaker, tmp_path: Path) -> None:
    src = VideoSource(make_clip("one.mp4", 64, 64, 24, 24))
    dest = tmp_path / "never.mp4"
    with pytest.raises(KlingValidationError) as info:
        src.conform(dest)
    assert info.value.field == "duration"
    assert "cannot lengthen" in str(info.value)
    assert not dest.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "side", "broken"),
    [
        ("c720.avi", 720, ["container"]),
        # libvpx is slow to encode: a smaller WebM, scaled up by conform as well.
        ("c360.webm", 360, ["container", "resolution"]),
    ],
)
def test_conform_rewrites_other_containers_as_mp4(
    make_clip: ClipMaker,
    tmp_path: Path,
    code_of: CodeReader,
    name: str,
    side: int,
    broken: list[str],
) -> None:
    src = VideoSource(make_clip(name, side, side, 24, 48))
    assert fields(src.check()) == broken
    out, _ = conformed(src, tmp_path / "out.mp4")
    assert out.check() == []
    assert (out.width, out.height) == (720, 720)
    assert_h264_yuv420p_mp4(out.path)
    assert out.frame_count == 48
    assert [code_of(out.read_frame(i)) for i in (0, 20, 47)] == [0, 20, 47]


def test_conform_pads_an_extreme_aspect_ratio(
    make_clip: ClipMaker, tmp_path: Path, pattern: Callable[[int, int, int], np.ndarray]
) -> None:
    src = VideoSource(make_clip("wide.mp4", 1000, 200, 24, 48))
    out, _ = conformed(src, tmp_path / "out.mp4")
    assert out.check() == []
    assert (out.width, out.height) == (2160, 720)
    frame = out.read_frame(10).astype(np.int16)
    # Picture 2160x432 centred vertically (even offset 144), black above and below.
    assert np.abs(frame[:140]).max() <= 20 and np.abs(frame[-140:]).max() <= 20
    picture = frame[150:570].mean(axis=(0, 1))
    expected = pattern(10, 1000, 200).astype(np.int16)[10:190].mean(axis=(0, 1))
    assert np.abs(picture - expected).max() < 12


def test_conform_for_omni_keeps_an_allowed_rate(make_clip: ClipMaker, tmp_path: Path) -> None:
    src = VideoSource(make_clip("fps25_3s.mp4", 720, 720, 25, 80))
    assert src.check("omni") == []
    assert fields(src.check()) == ["fps"]
    out = src.conform(tmp_path / "omni.mp4", target="omni")
    # Omni takes 25 fps: the clip already passes, so it is copied as it is.
    assert out.fps == 25.0 and out.check("omni") == []


def test_conform_refuses_a_destination_that_is_not_mp4(
    make_clip: ClipMaker, tmp_path: Path
) -> None:
    src = VideoSource(make_clip("fps25.mp4", 720, 720, 25, 60))
    with pytest.raises(KlingValidationError) as info:
        src.conform(tmp_path / "out.avi")
    assert info.value.field == "dest"


@settings(max_examples=300, deadline=None)
@given(st.integers(16, 8000), st.integers(16, 8000))
def test_planned_size_is_even_within_limits_and_keeps_the_aspect(w: int, h: int) -> None:
    limits = CLIP_LIMITS["multi-elements"]
    (sw, sh), padded = _target_size(w, h, limits)
    assert sw % 2 == 0 and sh % 2 == 0
    assert max(sw, sh) <= limits.max_side
    if padded:
        # Only when no scale fits both sides: the long side is at its maximum.
        assert max(w, h) / min(w, h) > limits.max_side / limits.min_side
        assert max(sw, sh) >= limits.max_side - 2
    else:
        assert min(sw, sh) >= limits.min_side
        # Rounding to even sides moves the ratio by at most one pixel per side.
        assert abs(sw / sh - w / h) <= (w / h) * (1 / sw + 1 / sh) * 1.01 + 1e-9


# --- frames ----------------------------------------------------------------------------------
def test_read_frame_returns_that_frame(make_clip: ClipMaker, code_of: CodeReader) -> None:
    src = VideoSource(make_clip("bframes.mp4", 320, 180, 30, 60, preset="veryfast"))
    for i in (0, 59, 13, 12, 40, 1):
        frame = src.read_frame(i)
        assert frame.shape == (180, 320, 3) and frame.dtype == np.uint8
        assert code_of(frame) == i
    src.close()


def test_iter_frames_yields_every_frame_in_order(make_clip: ClipMaker, code_of: CodeReader) -> None:
    src = VideoSource(make_clip("bframes.mp4", 320, 180, 30, 60, preset="veryfast"))
    assert [code_of(f) for f in src.iter_frames()] == list(range(60))


def test_read_frame_rejects_bad_indices(make_clip: ClipMaker) -> None:
    src = VideoSource(make_clip("bframes.mp4", 320, 180, 30, 60, preset="veryfast"))
    with pytest.raises(IndexError, match="frame_index=60: must be 0–59"):
        src.read_frame(60)
    with pytest.raises(IndexError):
        src.read_frame(-1)
    with pytest.raises(TypeError):
        src.read_frame(1.5)  # type: ignore[arg-type]


# --- URLs ------------------------------------------------------------------------------------
@pytest.fixture
def served(make_clip: ClipMaker) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 serving one clip at /clip.mp4; yields (base, paths seen)."""
    body = make_clip("ok720.mp4", 720, 720, 24, 48).read_bytes()
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            if self.path.split("?")[0] != "/clip.mp4":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_url_is_downloaded_once_into_the_cache(
    served: tuple[str, list[str]], tmp_path: Path, make_clip: ClipMaker
) -> None:
    base, seen = served
    url = f"{base}/clip.mp4?token=s3cr3t"
    first = open_clip(url, cache_dir=tmp_path)
    second = open_clip(url, cache_dir=tmp_path)
    assert seen == ["/clip.mp4?token=s3cr3t"]
    assert first.path == second.path and first.path.parent == tmp_path
    assert first.path.name.startswith(hashlib.sha256(url.encode()).hexdigest()[:24])
    assert first.path.suffix == ".mp4"
    assert first.path.read_bytes() == make_clip("ok720.mp4", 720, 720, 24, 48).read_bytes()
    assert (first.width, first.frame_count) == (720, 48)
    assert [p.name for p in tmp_path.iterdir()] == [first.path.name]  # no partial file left


def test_failed_download_names_the_url_without_its_token(
    served: tuple[str, list[str]], tmp_path: Path
) -> None:
    base, _ = served
    with pytest.raises(VideoError) as info:
        open_clip(f"{base}/gone.mp4?token=s3cr3t", cache_dir=tmp_path)
    assert "HTTP 404" in str(info.value) and "/gone.mp4" in str(info.value)
    assert "s3cr3t" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def _rotated_clip(path: Path) -> None:
    """A 320x180 clip stored as shot by a phone held upright: a display matrix that turns
    it 90° clockwise. The left edge of the stored picture is white, so upright the top is."""
    import struct

    plain = path.with_name("stored.mp4")
    with av.open(str(plain), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        for _ in range(84):  # 3.5 s: long enough for every target
            a = np.full((180, 320, 3), 40, np.uint8)
            a[:, :40] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(a, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    data = bytearray(plain.read_bytes())
    p = data.find(b"tkhd")
    assert data[p + 4] == 0  # version 0: the matrix is 40 bytes into the box's body
    matrix = [0, 0x10000, 0, (-0x10000) & 0xFFFFFFFF, 0, 0, 0, 0, 0x40000000]
    data[p + 44 : p + 80] = struct.pack(">9I", *matrix)
    path.write_bytes(bytes(data))


def test_a_phone_clip_is_shown_upright_and_conform_bakes_the_rotation_in(tmp_path: Path) -> None:
    from kling_widget.media.frames import FrameCache

    clip = tmp_path / "phone.mp4"
    _rotated_clip(clip)
    src = VideoSource(clip)
    assert src.rotation == -90 and src.coded_size == (320, 180)
    assert (src.width, src.height) == (180, 320)  # as seen
    assert any(v.field == "rotation" for v in src.check())
    frame = src.read_frame(0)
    assert frame.shape[:2] == (320, 180)
    assert frame[:30].mean() > 200 and frame[-100:].mean() < 80  # white edge on top
    with FrameCache(src, display_width=90) as cache:
        shown = cache.get_array(0)
    assert shown.shape[:2] == (160, 90) and shown[:12].mean() > 180
    fixed = src.conform(tmp_path / "upright.mp4", target="omni")
    assert fixed.rotation == 0 and fixed.width < fixed.height
    assert not any(v.field == "rotation" for v in fixed.check("omni"))
    top = fixed.read_frame(0)
    assert top[: top.shape[0] // 10].mean() > 200 and top[-top.shape[0] // 3 :].mean() < 80


def _vfr_clip(path: Path, times_ms: list[int]) -> None:
    """Frames at the given times (ms), each a flat grey of level 10 * its index."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(
                np.full((240, 320, 3), 10 * i, np.uint8), format="rgb24"
            )
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def test_variable_frame_rate_frames_are_numbered_and_mapped_by_time(tmp_path: Path) -> None:
    from kling_widget.media.frames import FrameCache, api_index_at
    from kling_widget.media.video import local_index_at

    # Bursts and gaps, as phones record: 20 frames over 1 s.
    times_ms = [0, 33, 67, 100, 200, 300, 333, 367, 400, 500, 600, 633, 667, 700, 800, 900,
                933, 967, 990, 1000]  # fmt: skip
    clip = tmp_path / "vfr.mp4"
    _vfr_clip(clip, times_ms)
    src = VideoSource(clip)
    assert src.frame_count == len(times_ms) and src.variable_frame_rate
    assert [round(t * 1000) for t in src.frame_times()] == times_ms
    with FrameCache(src, display_width=64) as cache:
        cache.wait_ready(60)
        for i in range(len(times_ms)):
            # Each frame is the picture written i-th (no slot shared, none skipped).
            assert abs(float(cache.get_array(i).mean()) - 10 * i) < 4, i
    # Kling's frames are evenly spaced at its rate: frame 4 (0.2 s) is Kling's 6 at 30 fps.
    assert api_index_at(src.frame_times()[4], 30.0, 30) == 6
    assert local_index_at(src.frame_times(), 6 / 30) == 4
    assert local_index_at(src.frame_times(), 5 / 30) == 3  # the gap shows frame 3
