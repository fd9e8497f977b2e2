"""``FrameCache``: every frame of a clip at display size, as JPEG bytes, decoded once.

The editor redraws a frame on every scrub; decoding (and seeking) a 4K H.264
stream each time would be felt. The cache decodes the clip once, in order, in
a background thread, scales each frame inside libswscale (PyAV's
``VideoFrame.reformat``) and keeps it as JPEG bytes (~60 KB at 960x540 instead
of 1.5 MB raw). The first frame is decoded in the constructor so something is
on screen at once; a frame the thread has not reached yet is decoded on demand
by a second decoder that never disturbs the first.
"""

from __future__ import annotations

import bisect
import io
import math
import os
import threading
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from kling_widget.media.video import VideoSource, local_index_at, upright

__all__ = [
    "FrameCache",
    "api_index_at",
    "api_to_local_index",
    "display_size_for",
    "local_index_at",
    "local_to_api_index",
]

# Decoding forward from the on-demand decoder's position beats a seek when the
# wanted frame is this close ahead of it (a keyframe is rarely nearer).
_FORWARD_WINDOW = 48


def display_size_for(width: int, height: int, display_width: int) -> tuple[int, int]:
    """(w, h) at most ``display_width`` wide, aspect ratio kept, never enlarged."""
    if display_width < 1:
        raise ValueError(f"display_width={display_width}: must be at least 1 px")
    w = min(width, int(display_width))
    h = max(1, round(height * w / width))
    return w, h


def _map_index(
    index: int, from_fps: float, to_fps: float, to_total: int, names: tuple[str, ...]
) -> int:
    i_name, from_name, to_name, total_name = names
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"{i_name} must be an int, got {type(index).__name__}")
    if index < 0:
        raise ValueError(f"{i_name}={index}: must be >= 0")
    for name, fps in ((from_name, from_fps), (to_name, to_fps)):
        if not (isinstance(fps, (int, float, Fraction)) and math.isfinite(fps) and fps > 0):
            raise ValueError(f"{name}={fps!r}: must be a positive frame rate")
    if to_total < 1:
        raise ValueError(f"{total_name}={to_total}: must be at least 1 frame")
    # The target frame on screen at the middle of this frame's display interval;
    # equal rates map every index to itself.
    mapped = math.floor((index + 0.5) * float(to_fps) / float(from_fps) + 1e-9)
    return min(max(mapped, 0), to_total - 1)


def local_to_api_index(index: int, local_fps: float, api_fps: float, api_total: int) -> int:
    """Kling's ``frame_index`` for local frame ``index``, mapped by time and clamped.

    The local clip may run at a different rate than the one Kling reports in
    ``init-selection`` (``fps``, ``total_frame``) after normalizing it.
    """
    return _map_index(
        index, local_fps, api_fps, api_total, ("index", "local_fps", "api_fps", "api_total")
    )


def api_to_local_index(index: int, api_fps: float, local_fps: float, local_total: int) -> int:
    """The local frame showing Kling's ``frame_index`` ``index``; inverse of the above."""
    return _map_index(
        index, api_fps, local_fps, local_total, ("index", "api_fps", "local_fps", "local_total")
    )


def api_index_at(seconds: float, api_fps: float, api_total: int) -> int:
    """Kling's ``frame_index`` on screen at ``seconds`` (Kling's frames are evenly spaced)."""
    if not (math.isfinite(api_fps) and api_fps > 0) or api_total < 1:
        raise ValueError(f"api_fps={api_fps!r}, api_total={api_total}: must be positive")
    return min(max(0, math.floor(seconds * api_fps + 1e-6)), api_total - 1)


class _Decoder:
    """One PyAV decoder that yields (index, frame) and can seek by index."""

    def __init__(
        self, path: Path, fps: Fraction, start_pts: int, times: Sequence[float] | None = None
    ):
        self.container: Any = av.open(str(path))
        self.stream: Any = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self.fps = fps
        self.start_pts = start_pts
        self.time_base = Fraction(self.stream.time_base or Fraction(1, 90000))
        self._frames: Any = self.container.decode(self.stream)
        self.next_index = 0
        # Unevenly spaced frames are numbered by their place in time, not by rate x time.
        self.times = times

    def index_of(self, frame: Any) -> int:
        if frame.pts is None:
            return self.next_index
        if self.times is not None:
            t = float(Fraction(frame.pts - self.start_pts) * self.time_base)
            i = bisect.bisect_left(self.times, t - 1e-6)
            return min(i, len(self.times) - 1)
        return round(Fraction(frame.pts - self.start_pts) * self.time_base * self.fps)

    def next(self) -> tuple[int, Any] | None:
        try:
            frame = next(self._frames)
        except StopIteration:
            return None
        index = self.index_of(frame)
        self.next_index = index + 1
        return index, frame

    def seek(self, index: int) -> None:
        """Position before ``index`` (at the keyframe at or before it)."""
        seconds = (
            Fraction(self.times[index]) if self.times is not None else Fraction(index) / self.fps
        )
        pts = self.start_pts + int(seconds / self.time_base)
        self.container.seek(pts, stream=self.stream, backward=True, any_frame=False)
        self._frames = self.container.decode(self.stream)
        self.next_index = -1  # unknown until a frame comes out

    def close(self) -> None:
        self.container.close()


class FrameCache:
    """JPEG-encoded display-size frames of ``source``, filled by a background thread.

    ``source`` is a ``VideoSource`` or a path. ``get_jpeg(i)`` and
    ``get_array(i)`` always answer: from the cache, or by decoding frame ``i``
    on demand. Use as a context manager or call ``close()`` to stop the thread.
    """

    def __init__(
        self,
        source: VideoSource | str | os.PathLike[str],
        display_width: int = 960,
        quality: int = 85,
    ):
        self.source = source if isinstance(source, VideoSource) else VideoSource(source)
        if not 1 <= quality <= 95:
            raise ValueError(f"quality={quality}: must be 1–95 (Pillow's JPEG quality scale)")
        self.quality = quality
        self.display_size = display_size_for(self.source.width, self.source.height, display_width)
        self.frame_count = self.source.frame_count
        self._jpegs: list[bytes | None] = [None] * self.frame_count
        self._nbytes = 0
        self._store_lock = threading.Lock()
        self._demand_lock = threading.Lock()
        self._demand: _Decoder | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.error: BaseException | None = None

        self._times = self.source.frame_times() if self.source.variable_frame_rate else None
        self._main = _Decoder(
            self.source.path, self.source.fps_fraction, self.source._start_pts, self._times
        )
        try:
            first = self._main.next()
            if first is None:
                raise ValueError(f"{self.source.path}: no frame could be decoded")
            self._store(0, first[1])
        except BaseException:
            self._main.close()
            raise
        self._thread = threading.Thread(
            target=self._fill, name=f"FrameCache({self.source.path.name})", daemon=True
        )
        self._thread.start()

    # --- background fill -------------------------------------------------------------------
    def _fill(self) -> None:
        try:
            while not self._stop.is_set():
                item = self._main.next()
                if item is None:
                    break
                index, frame = item
                if 0 <= index < self.frame_count and self._jpegs[index] is None:
                    self._store(index, frame)
        except BaseException as exc:  # kept for the caller: the thread must not die silently
            self.error = exc
        finally:
            self._main.close()
            self._ready.set()

    def _encode(self, frame: Any) -> bytes:
        w, h = self.display_size
        rotation = self.source.rotation
        if rotation % 180:
            w, h = h, w  # scaled as stored, then turned upright
        small = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA")
        picture = upright(small.to_ndarray(), rotation)
        buf = io.BytesIO()
        Image.fromarray(picture).save(buf, "JPEG", quality=self.quality)
        return buf.getvalue()

    def _store(self, index: int, frame: Any) -> bytes:
        data = self._encode(frame)
        with self._store_lock:
            if self._jpegs[index] is None:
                self._jpegs[index] = data
                self._nbytes += len(data)
            return self._jpegs[index] or data

    # --- on demand -------------------------------------------------------------------------
    def _decode_on_demand(self, index: int) -> bytes:
        with self._demand_lock:
            cached = self._jpegs[index]
            if cached is not None:
                return cached
            if self._demand is None:
                self._demand = _Decoder(
                    self.source.path, self.source.fps_fraction, self.source._start_pts, self._times
                )
            dec = self._demand
            if not dec.next_index <= index <= dec.next_index + _FORWARD_WINDOW:
                dec.seek(index)
            last: Any = None
            while True:
                item = dec.next()
                if item is None:
                    break
                got, frame = item
                last = frame
                if got >= index:
                    break
            if last is None:
                raise IndexError(
                    f"frame_index={index}: could not be decoded from {self.source.path}"
                )
            return self._store(index, last)

    # --- public ----------------------------------------------------------------------------
    def _check(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"frame index must be an int, got {type(index).__name__}")
        if not 0 <= index < self.frame_count:
            raise IndexError(
                f"frame_index={index}: must be 0–{self.frame_count - 1} "
                f"(the clip has {self.frame_count} frames)"
            )
        return int(index)

    def get_jpeg(self, index: int) -> bytes:
        """Frame ``index`` as JPEG bytes at ``display_size``."""
        i = self._check(index)
        cached = self._jpegs[i]
        return cached if cached is not None else self._decode_on_demand(i)

    def get_array(self, index: int) -> np.ndarray:
        """Frame ``index`` as an (h, w, 3) uint8 RGB array at ``display_size``."""
        with Image.open(io.BytesIO(self.get_jpeg(index))) as img:
            return np.asarray(img.convert("RGB"))

    def is_cached(self, index: int) -> bool:
        """True when frame ``index`` is already in the cache."""
        return self._jpegs[self._check(index)] is not None

    @property
    def cached_count(self) -> int:
        """How many frames are cached so far."""
        return sum(1 for j in self._jpegs if j is not None)

    @property
    def nbytes(self) -> int:
        """Bytes held by the cached JPEGs."""
        return self._nbytes

    @property
    def ready(self) -> bool:
        """True once the background thread has gone through the whole clip."""
        return self._ready.is_set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the whole clip is cached (or ``timeout`` s); True when it is."""
        done = self._ready.wait(timeout)
        if done and self.error is not None:
            raise RuntimeError(f"background decoding of {self.source.path} failed: {self.error}")
        return done

    def close(self) -> None:
        """Stop the background thread and release both decoders."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join()
        with self._demand_lock:
            if self._demand is not None:
                self._demand.close()
                self._demand = None

    def __enter__(self) -> FrameCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self.frame_count

    def __repr__(self) -> str:
        w, h = self.display_size
        return (
            f"FrameCache({self.source.path.name!r}, {w}x{h}, "
            f"{self.cached_count}/{self.frame_count} frames, {self._nbytes / 1e6:.1f} MB)"
        )
