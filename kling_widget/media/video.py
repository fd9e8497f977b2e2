"""``VideoSource``: probe a clip, check it against Kling's limits, conform it, read frames.

Frames are read through imageio's PyAV plugin. Probing, conforming and the
display cache talk to PyAV directly where imageio does not expose what is
needed: the exact frame rate as a fraction, the stream's own frame count and
codec, the demuxer name, muxer options (``+faststart``) and scaling inside
libswscale while converting (``VideoFrame.reformat``), which is much faster
than converting to RGB first and resizing afterwards.

At about 520 lines it is a little over the package's 500-line guide: probing, checking,
conforming and reading share one open container and one probe, and splitting them would
pass that state between modules (the arithmetic of a conform plan already lives in
``conform_plan``).
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import math
import os
import shutil
import tempfile
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from kling_widget.errors import KlingValidationError
from kling_widget.media.conform_plan import (
    DURATION_TOLERANCE,
    ConformPlan,
    _brackets_text,
    _duration_ok,
    _fps_ok,
    _fps_rule,
    _limits_for,
    _target_fps,
    _target_size,
    _trim_target,
)
from kling_widget.media.violations import Violation

__all__ = [
    "VideoError",
    "VideoSource",
    "Violation",
    "local_index_at",
    "upright",
]

# Demuxers that read .mp4/.mov; a file renamed to .mp4 but holding WebM is not accepted.
_MP4_DEMUXERS = {"mov", "mp4", "m4a", "3gp", "3g2", "mj2"}
_KNOWN_SUFFIXES = (".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi")
_CRF = "18"
_PRESET = "veryfast"
_KEYFRAME_INTERVAL_S = 2


class VideoError(ValueError):
    """A clip that cannot be opened, probed or decoded (wrong container, damaged file...)."""


def _public_url(url: str) -> str:
    """The URL without its query string: signed links carry tokens that must not be logged."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _quarter_turns(rotation: object) -> int:
    """Counter-clockwise quarter turns that show a stored picture upright (PyAV's
    ``VideoFrame.rotation``, in degrees, rounded to a multiple of 90)."""
    try:
        degrees = float(rotation)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0
    if not math.isfinite(degrees):
        return 0
    turns = round(degrees / 90) % 4
    return turns - 4 if turns > 2 else turns


def upright(picture: np.ndarray, rotation: int) -> np.ndarray:
    """``picture`` (h, w, ...) turned as the clip's rotation says (a no-op for 0)."""
    k = _quarter_turns(rotation)
    return np.ascontiguousarray(np.rot90(picture, k)) if k else picture


def local_index_at(times: Sequence[float], seconds: float) -> int:
    """The clip's frame on screen at ``seconds``: the last one shown at or before it."""
    if not times:
        raise ValueError("times=[]: a clip has at least one frame")
    return max(0, bisect.bisect_right(times, seconds + 1e-6) - 1)


def _open_container(path: Path) -> Any:
    try:
        return av.open(str(path))
    except av.error.FFmpegError as exc:
        raise VideoError(
            f"{path}: not a video container FFmpeg can read ({exc.__class__.__name__}: "
            f"{getattr(exc, 'strerror', None) or exc})"
        ) from None


class VideoSource:
    """A clip on disk with its probed properties (``media.remote.open_clip`` downloads one).

    ``path, width, height, fps, fps_fraction, frame_count, duration, codec,
    pix_fmt, container, file_size`` are read when the source is created; a
    missing, unreadable or undecodable file raises at once.
    """

    def __init__(self, path: str | os.PathLike[str], *, url: str | None = None):
        text = os.fspath(path)
        if text.startswith(("http://", "https://")):
            raise VideoError(
                f"{_public_url(text)}: VideoSource reads a local file; open a URL with "
                "kling_widget.media.remote.open_clip(url), which downloads it once"
            )
        # Where the clip was downloaded from (``open_clip``), else None.
        self.url = url
        self.path = Path(text).expanduser()
        if not self.path.exists():
            raise FileNotFoundError(f"video file not found: {self.path}")
        if not self.path.is_file():
            raise VideoError(f"{self.path}: not a file")
        self.file_size = self.path.stat().st_size
        self._probe()
        self._reader: Any = None
        self._reader_lock = threading.Lock()

    # --- probing ---------------------------------------------------------------------------
    def _probe(self) -> None:
        container = _open_container(self.path)
        try:
            if not container.streams.video:
                raise VideoError(f"{self.path}: the file holds no video stream")
            stream = container.streams.video[0]
            self.container = str(container.format.name)
            self.codec = str(stream.codec_context.name)
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            if not rate:
                raise VideoError(f"{self.path}: the video stream has no frame rate")
            self.fps_fraction = Fraction(rate.numerator, rate.denominator)
            self.fps = float(self.fps_fraction)
            try:
                first = next(container.decode(stream))
            except (av.error.FFmpegError, StopIteration) as exc:
                raise VideoError(
                    f"{self.path}: the video stream cannot be decoded ({exc})"
                ) from None
            # Phones store the picture as recorded and a display rotation beside it; the
            # source describes the clip as it is seen (upright).
            self.rotation = _quarter_turns(getattr(first, "rotation", 0)) * 90
            self.coded_size = (int(first.width), int(first.height))
            if self.rotation % 180:
                self.width, self.height = int(first.height), int(first.width)
            else:
                self.width, self.height = int(first.width), int(first.height)
            self.pix_fmt = str(first.format.name)
            self._start_pts = int(first.pts or 0)
            frames = int(stream.frames or 0)
            if frames <= 0:
                # WebM/Matroska headers carry no frame count: count packets (no decoding).
                container.seek(0)
                frames = sum(1 for p in container.demux(stream) if p.size)
            self.frame_count = frames
            if stream.duration is not None and stream.time_base is not None:
                self.duration = float(stream.duration * stream.time_base)
            else:
                self.duration = frames / self.fps
            self._time_base = stream.time_base
        finally:
            container.close()

    def __repr__(self) -> str:
        return (
            f"VideoSource({str(self.path)!r}, {self.width}x{self.height}, {self.fps:g} fps, "
            f"{self.frame_count} frames, {self.duration:.3f} s, {self.codec})"
        )

    def frame_times(self) -> list[float]:
        """Presentation time (s, from the first frame) of every frame, in order.

        Read from the packets' timestamps (nothing is decoded), once.
        """
        cached: list[float] | None = getattr(self, "_frame_times", None)
        if cached is not None:
            return cached
        container = _open_container(self.path)
        try:
            stream = container.streams.video[0]
            base = Fraction(stream.time_base or Fraction(1, 90000))
            pts = sorted(p.pts for p in container.demux(stream) if p.size and p.pts is not None)
        finally:
            container.close()
        if len(pts) < self.frame_count:
            # No usable timestamps: frames are evenly spaced at the stream's rate.
            times = [i / self.fps for i in range(self.frame_count)]
        else:
            times = [float((p - pts[0]) * base) for p in pts[: self.frame_count]]
        self._frame_times = times
        return times

    @property
    def variable_frame_rate(self) -> bool:
        """True when frames are not evenly spaced (phones often record this way)."""
        times = self.frame_times()
        if len(times) < 3:
            return False
        step = 1.0 / self.fps
        return any(abs((b - a) - step) > 0.25 * step for a, b in itertools.pairwise(times))

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return (self.width, self.height)

    # --- checking --------------------------------------------------------------------------
    def plan(self, target: str = "multi-elements") -> ConformPlan:
        """What ``conform(target=...)`` would do: output fps, size, frame count, trim."""
        limits = _limits_for(target)
        fps = _target_fps(self.fps_fraction, limits)
        scaled, padded = _target_size(self.width, self.height, limits)
        size = (
            (max(scaled[0], limits.min_side), max(scaled[1], limits.min_side)) if padded else scaled
        )
        # The bracket is chosen from the same duration ``check`` reports (the stream's,
        # which Kling also sees); the frames actually there bound what can be written.
        source_seconds = self.duration
        available = self.frame_count / self.fps
        trim = _trim_target(source_seconds, limits)
        impossible = None
        if trim is None:
            impossible = (
                f"duration {source_seconds:.2f} s: must be {_brackets_text(limits)}; "
                "conform() cannot lengthen a clip: record or export a longer one"
            )
            frames = 0
        else:
            frames = min(math.floor(available * fps + 1e-6), math.floor(trim * fps + 1e-6))
        return ConformPlan(
            fps=fps,
            scaled_size=scaled,
            size=size,
            frame_count=frames,
            trim_to=None if trim is None or trim >= source_seconds - DURATION_TOLERANCE else trim,
            impossible=impossible,
        )

    def check(self, target: str = "multi-elements") -> list[Violation]:
        """Every documented clip limit this clip breaks for ``target``, each with its fix.

        ``target`` is ``"multi-elements"`` or ``"omni"``. An empty list means the
        clip can be sent as it is.
        """
        limits = _limits_for(target)
        plan = self.plan(target)
        out: list[Violation] = []
        suffix = self.path.suffix.lower()
        demuxers = set(self.container.split(","))
        if suffix not in limits.containers or not demuxers & _MP4_DEMUXERS:
            shown = suffix or "(no extension)"
            if not demuxers & _MP4_DEMUXERS:
                shown = f"{shown} ({self.container})"
            out.append(
                Violation(
                    "container",
                    shown,
                    "must be " + " or ".join(limits.containers),
                    "conform() will write an H.264 .mp4",
                )
            )
        if self.rotation:
            out.append(
                Violation(
                    "rotation",
                    f"turned {abs(self.rotation)}° "
                    f"{'clockwise' if self.rotation < 0 else 'anticlockwise'} to be seen upright",
                    "must be stored upright (the picture is stored turned, with a rotation "
                    "flag that Kling may not apply)",
                    "conform() will turn the picture upright",
                )
            )
        if not _fps_ok(self.fps, limits):
            out.append(
                Violation(
                    "fps",
                    self.fps,
                    _fps_rule(limits),
                    f"conform() will resample to {float(plan.fps):g}",
                )
            )
        lo, hi = limits.min_side, limits.max_side
        if not (lo <= self.width <= hi and lo <= self.height <= hi):
            w, h = plan.size
            fix = f"conform() will scale to {w}x{h}"
            if plan.padded:
                sw, sh = plan.scaled_size
                fix = (
                    f"the aspect ratio is too extreme to fit by scaling: conform() will scale "
                    f"to {sw}x{sh} and pad with black to {w}x{h}"
                )
            out.append(
                Violation(
                    "resolution",
                    f"{self.width}x{self.height}",
                    f"each side must be {lo}–{hi} px",
                    fix,
                )
            )
        if not _duration_ok(self.duration, limits):
            if plan.impossible:
                fix = "cannot be fixed by conform(): it does not lengthen clips"
            else:
                fix = f"conform() will trim to {plan.duration:.1f} s"
            out.append(
                Violation(
                    "duration", round(self.duration, 3), f"must be {_brackets_text(limits)}", fix
                )
            )
        if limits.max_bytes is not None and self.file_size > limits.max_bytes:
            out.append(
                Violation(
                    "file_size",
                    f"{self.file_size / 2**20:.1f} MB",
                    f"must be at most {limits.max_bytes / 2**20:g} MB",
                    "conform() re-encodes with H.264 (CRF 18); trim or scale down if still too big",
                )
            )
        return out

    # --- conforming ------------------------------------------------------------------------
    def conform(
        self,
        dest: str | os.PathLike[str],
        target: str = "multi-elements",
        on_progress: Callable[[float], None] | None = None,
    ) -> VideoSource:
        """Write an H.264 yuv420p .mp4 at ``dest`` that passes ``check(target)`` and open it.

        Frame rate goes to the nearest allowed one (frames repeated or dropped by
        time), the picture is scaled into the side limits keeping its aspect ratio
        (padded with black only when the aspect ratio makes that impossible), and
        the clip is trimmed from the start into the nearest duration bracket below
        it. Frames are streamed one at a time; the file appears atomically.
        ``on_progress(fraction)`` is called with 0.0 first, 1.0 last.
        Raises ``KlingValidationError`` for a clip too short to fix.
        """
        out_path = Path(dest).expanduser()
        if out_path.suffix.lower() not in (".mp4", ".mov"):
            raise KlingValidationError(
                "dest", str(out_path), "must end in .mp4 or .mov (conform writes H.264 MP4)"
            )
        plan = self.plan(target)
        if plan.impossible:
            raise KlingValidationError("duration", round(self.duration, 3), plan.impossible)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            dir=out_path.parent, prefix=f".{out_path.stem}.", suffix=out_path.suffix
        )
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            if on_progress:
                on_progress(0.0)
            if self._conforms_as_is(target):
                shutil.copyfile(self.path, tmp)
            else:
                self._encode(tmp, plan, on_progress)
            os.replace(tmp, out_path)
        finally:
            tmp.unlink(missing_ok=True)
        if on_progress:
            on_progress(1.0)
        return VideoSource(out_path)

    def _conforms_as_is(self, target: str) -> bool:
        return (
            not self.check(target)
            and not self.rotation
            and self.codec == "h264"
            and self.pix_fmt == "yuv420p"
            and self.width % 2 == 0
            and self.height % 2 == 0
            and self.path.suffix.lower() == ".mp4"
        )

    def _encode(
        self, dest: Path, plan: ConformPlan, on_progress: Callable[[float], None] | None
    ) -> None:
        sw, sh = plan.scaled_size
        w, h = plan.size
        # Area averaging when shrinking (no aliasing on 4K), bicubic when enlarging.
        interpolation = "AREA" if sw * sh < self.width * self.height else "BICUBIC"
        total = plan.frame_count
        step = max(1, total // 100)
        src = _open_container(self.path)
        out = av.open(
            str(dest),
            "w",
            format="mov" if dest.suffix.lower() == ".mov" else "mp4",
            options={"movflags": "+faststart"},
        )
        try:
            vin = src.streams.video[0]
            vin.thread_type = "AUTO"
            vout = out.add_stream(
                "libx264", rate=plan.fps, options={"crf": _CRF, "preset": _PRESET}
            )
            vout.width, vout.height, vout.pix_fmt = w, h, "yuv420p"
            vout.codec_context.gop_size = max(1, round(float(plan.fps) * _KEYFRAME_INTERVAL_S))
            time_base = Fraction(plan.fps.denominator, plan.fps.numerator)
            vout.codec_context.time_base = time_base
            ratio = self.fps_fraction / plan.fps
            times = self.frame_times() if self.variable_frame_rate else None

            def shown_at(k: int) -> int:
                # Output frame k shows the source frame on screen at time k / out_fps.
                if times is not None:
                    return local_index_at(times, k / float(plan.fps))
                return int((k * ratio) // 1)

            k = 0
            last: Any = None
            for j, frame in enumerate(src.decode(vin)):
                if k >= total:
                    break
                if shown_at(k) > j:
                    continue
                last = self._converted(frame, plan, interpolation, self.rotation)
                while k < total and shown_at(k) == j:
                    last.pts, last.time_base = k, time_base
                    out.mux(vout.encode(last))
                    k += 1
                    if on_progress and k % step == 0 and k < total:
                        on_progress(k / total)
            # A container that over-reported its frame count: hold the last frame.
            while last is not None and k < total:
                last.pts, last.time_base = k, time_base
                out.mux(vout.encode(last))
                k += 1
            out.mux(vout.encode(None))
        except av.error.FFmpegError as exc:
            raise VideoError(
                f"{self.path}: decoding or encoding failed while conforming ({exc})"
            ) from None
        finally:
            out.close()
            src.close()

    @staticmethod
    def _converted(frame: Any, plan: ConformPlan, interpolation: str, rotation: int = 0) -> Any:
        if rotation:
            # Baked in: the copy is stored upright, with no rotation flag.
            turned = upright(frame.to_ndarray(format="rgb24"), rotation)
            frame = av.VideoFrame.from_ndarray(turned, format="rgb24")
        sw, sh = plan.scaled_size
        scaled = frame.reformat(width=sw, height=sh, format="yuv420p", interpolation=interpolation)
        if not plan.padded:
            return scaled
        # Pad in YUV (planes copied into a black canvas): no round trip through RGB.
        w, h = plan.size
        # Even offsets keep the picture aligned with the 2x2 chroma blocks.
        x0, y0 = ((w - sw) // 4) * 2, ((h - sh) // 4) * 2
        src = scaled.to_ndarray().reshape(-1)  # Y, U, V planes back to back
        out = np.empty(w * h * 3 // 2, np.uint8)
        offsets = ((0, 0), (w * h, sw * sh), (w * h * 5 // 4, sw * sh * 5 // 4))
        for plane, (o_out, o_src) in enumerate(offsets):
            k = 1 if plane == 0 else 2  # chroma planes are half size each way
            cw, ch, pw, ph = w // k, h // k, sw // k, sh // k
            canvas = out[o_out : o_out + cw * ch].reshape(ch, cw)
            # Limited-range black: Y 16, neutral chroma 128.
            canvas[:] = 16 if plane == 0 else 128
            picture = src[o_src : o_src + pw * ph].reshape(ph, pw)
            canvas[y0 // k : y0 // k + ph, x0 // k : x0 // k + pw] = picture
        return av.VideoFrame.from_ndarray(out.reshape(h * 3 // 2, w), format="yuv420p")

    # --- frames ----------------------------------------------------------------------------
    def _check_index(self, index: int) -> int:
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(f"frame index must be an int, got {type(index).__name__}")
        if not 0 <= index < self.frame_count:
            raise IndexError(
                f"frame_index={index}: must be 0–{self.frame_count - 1} "
                f"(the clip has {self.frame_count} frames)"
            )
        return int(index)

    def read_frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as an (h, w, 3) uint8 RGB array (seeks to the nearest keyframe)."""
        import imageio.v3 as iio

        i = self._check_index(index)
        with self._reader_lock:
            if self._reader is None:
                self._reader = iio.imopen(self.path, "r", plugin="pyav")
            frame: np.ndarray = self._reader.read(index=i, constant_framerate=True)
        return upright(frame, self.rotation)

    def iter_frames(self) -> Iterator[np.ndarray]:
        """Every frame in order, as (h, w, 3) uint8 RGB arrays, one at a time."""
        import imageio.v3 as iio

        for frame in iio.imiter(self.path, plugin="pyav", thread_type="AUTO"):
            yield upright(frame, self.rotation)

    def close(self) -> None:
        """Release the frame reader (the source stays usable; it reopens on demand)."""
        with self._reader_lock:
            if self._reader is not None:
                with contextlib.suppress(Exception):
                    self._reader.close()
                self._reader = None

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
