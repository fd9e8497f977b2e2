"""An input clip held by the emulator: its probe, work-resolution frames, full frames.

Work-resolution frames (area-reduced to ``work_size``) are decoded once in a background
thread when the clip is opened, so ``init-selection`` answers at once and tracking never
decodes twice; full-resolution frames are read on demand (a few are cached, and the
first frame is read ahead: it is the one a user usually clicks first). The segmentation
features of a frame are computed once and kept for the next clicks on it (the first
frame's are computed ahead too).

Frames in order are decoded with PyAV directly (the same pixels as ``VideoSource``, whose
reader adds a few milliseconds a frame at 1080p). Imports only PyAV, the media package and
the vision helpers.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

from kling_widget.emulator.vision.ops import FloatArray, to_work, work_size
from kling_widget.emulator.vision.segment import frame_features
from kling_widget.media.video import VideoSource, upright

_FULL_CACHE = 4
# Frames whose segmentation features are kept (about 4 MB each).
_FEATURE_CACHE = 3
# Background threads still running when the interpreter exits are told to stop and
# waited for: killing one inside native code (a codec, OpenCV) aborts the process.
SHUTTING_DOWN = threading.Event()
_WORKERS: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
_EXIT_WAIT_S = 30.0


def start_background(target: Callable[[], None], name: str) -> threading.Thread:
    """Run ``target`` in a daemon thread, stopped cleanly at exit.

    The thread keeps the process's priority on purpose: a lowered (niced) thread that holds
    the interpreter lock, or decodes a frame, is starved by any busy process on the machine,
    and a click waiting for that lock waits with it. Background work gives way to a click
    cooperatively instead (``yield_to_foreground``).
    """
    thread = threading.Thread(target=target, name=name, daemon=True)
    _WORKERS.add(thread)
    thread.start()
    return thread


@atexit.register
def _stop_background() -> None:
    SHUTTING_DOWN.set()
    for thread in list(_WORKERS):
        thread.join(timeout=_EXIT_WAIT_S)


# While a request a user waits on (a click) runs, background work pauses between frames:
# niceness does not share Python's interpreter lock, and a frame being decoded holds it.
_foreground_lock = threading.Lock()
# "running": requests a user waits on (a click). "waiting": such requests that are
# themselves waiting for background work (a click that needs frames still being
# decoded); while there is one, background work does not pause, or the click would wait
# for work that waits for the click.
_foreground = {"running": 0, "waiting": 0}
_no_foreground = threading.Event()
_no_foreground.set()
# A background thread never waits longer than this for a request to finish.
_YIELD_LIMIT_S = 1.0


@contextlib.contextmanager
def _counted(kind: str) -> Iterator[None]:
    with _foreground_lock:
        _foreground[kind] += 1
        _update_pause()
    try:
        yield
    finally:
        with _foreground_lock:
            _foreground[kind] -= 1
            _update_pause()


def foreground() -> contextlib.AbstractContextManager[None]:
    """Mark the calling request as one a user waits on (background work pauses)."""
    return _counted("running")


def waiting_on_background() -> contextlib.AbstractContextManager[None]:
    """Mark the calling request as waiting for background work (which then does not pause)."""
    return _counted("waiting")


def _update_pause() -> None:
    # Called with _foreground_lock held.
    if _foreground["running"] == 0 or _foreground["waiting"] > 0:
        _no_foreground.set()
    else:
        _no_foreground.clear()


def yield_to_foreground() -> None:
    """Called by background work between steps: wait while a foreground request runs."""
    _no_foreground.wait(_YIELD_LIMIT_S)


class Clip:
    """A probed clip with frame access for segmentation, tracking and rendering."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.source = VideoSource(path)
        self.width = int(self.source.width)
        self.height = int(self.source.height)
        self.fps = float(self.source.fps)
        self.duration = float(self.source.duration)
        self.frame_count = int(self.source.frame_count)
        self.work_hw = work_size(self.height, self.width)
        # Full-resolution pixels per work-resolution pixel.
        self.scale = self.width / self.work_hw[1]
        self._work: list[NDArray[np.uint8]] = []
        self._cond = threading.Condition()
        self._done = False
        self._error: BaseException | None = None
        self._full: OrderedDict[int, NDArray[np.uint8]] = OrderedDict()
        self._full_lock = threading.Lock()
        self._features: OrderedDict[int, tuple[FloatArray, ...]] = OrderedDict()
        self._features_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._cancelled = threading.Event()

    def __repr__(self) -> str:
        return f"Clip({self.path.name!r}, {self.width}x{self.height}, {self.fps:g} fps)"

    def start_decoding(self) -> None:
        """Decode the work-resolution frames in a background thread (idempotent)."""
        with self._cond:
            if self._thread is not None:
                return
            self._thread = start_background(self._decode, f"emulator-decode-{self.path.name}")

    def _decode(self) -> None:
        try:
            for i, frame in enumerate(self._decoded()):
                if SHUTTING_DOWN.is_set() or self._cancelled.is_set():
                    raise RuntimeError("the emulator is shutting down")
                yield_to_foreground()
                if i == 0:
                    self._keep_full(0, np.ascontiguousarray(frame))
                small = to_work(frame, self.work_hw)
                with self._cond:
                    self._work.append(small)
                    self._cond.notify_all()
                if i == 0:
                    self.features(0)
        except BaseException as exc:  # reported to whoever waits for a frame
            with self._cond:
                self._error = exc
        finally:
            with self._cond:
                self._done = True
                # The container's count can disagree with what decodes; trust the decode.
                if self._work and self._error is None:
                    self.frame_count = len(self._work)
                self._cond.notify_all()

    def release(self) -> None:
        """Drop the decoded work frames (they are decoded again when next needed)."""
        with self._cond:
            if self._thread is None or not self._done:
                return
            self._work = []
            self._done = False
            self._thread = None
            self._error = None

    @property
    def decoded(self) -> bool:
        """Whether work frames are held (or being decoded)."""
        return self._thread is not None

    def work_frame(self, index: int) -> NDArray[np.uint8]:
        """Frame ``index`` at work resolution (waits for the background decode)."""
        self.start_decoding()
        with self._cond:
            if len(self._work) <= index and not self._done:
                with waiting_on_background():
                    while len(self._work) <= index and not self._done:
                        self._cond.wait()
            if index < len(self._work):
                return self._work[index]
            if self._error is not None:
                raise RuntimeError(f"decoding {self.path.name} failed: {self._error}")
            raise IndexError(f"frame {index} is past the end of the clip")

    def work_frame_now(self, index: int) -> NDArray[np.uint8]:
        """Frame ``index`` at work resolution without waiting for the background decode:
        its decoded copy when there is one, else the full frame reduced the same way."""
        with self._cond:
            if index < len(self._work):
                return self._work[index]
        return to_work(self.frame(index), self.work_hw)

    def features(self, index: int) -> tuple[FloatArray, ...]:
        """The segmentation features of frame ``index`` (computed once, a few kept)."""
        with self._features_lock:
            cached = self._features.get(index)
            if cached is not None:
                self._features.move_to_end(index)
                return cached
            # Under the lock: a click and the read-ahead never compute the same frame twice.
            feats = frame_features(self.work_frame_now(index))
            self._features[index] = feats
            while len(self._features) > _FEATURE_CACHE:
                self._features.popitem(last=False)
            return feats

    def rate(self) -> Fraction:
        """The clip's exact frame rate."""
        rate = getattr(self.source, "fps_fraction", None)
        if isinstance(rate, Fraction):
            return rate
        return Fraction(self.fps).limit_denominator(1001)

    def work_shape(self) -> tuple[int, int]:
        """(h, w) of work-resolution frames."""
        return self.work_hw

    def frame(self, index: int) -> NDArray[np.uint8]:
        """Full-resolution frame ``index`` (RGB uint8)."""
        with self._full_lock:
            cached = self._full.get(index)
            if cached is not None:
                self._full.move_to_end(index)
                return cached
        frame = np.ascontiguousarray(self.source.read_frame(index))
        self._keep_full(index, frame)
        return frame

    def _keep_full(self, index: int, frame: NDArray[np.uint8]) -> None:
        with self._full_lock:
            self._full[index] = frame
            self._full.move_to_end(index)
            while len(self._full) > _FULL_CACHE:
                self._full.popitem(last=False)

    def iter_frames(self) -> Iterator[NDArray[np.uint8]]:
        """Every full-resolution frame in order (at most ``frame_count``)."""
        for i, frame in enumerate(self._decoded()):
            if i >= self.frame_count:
                break
            yield np.ascontiguousarray(frame)

    def _decoded(self) -> Iterator[NDArray[np.uint8]]:
        # Converted by libswscale to RGB as ``VideoSource.read_frame`` does, so a frame
        # read in order and the same frame read on its own are identical.
        rotation = self.source.rotation
        with av.open(str(self.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                yield upright(frame.to_ndarray(format="rgb24"), rotation)

    def stop_decoding(self, timeout: float) -> bool:
        """Stop the background decode and wait up to ``timeout`` s for its thread to end.

        True when no decode thread runs any more (the reader can then be closed safely).
        """
        self._cancelled.set()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(max(0.0, timeout))
        return not thread.is_alive()

    def close(self) -> None:
        """Release the reader."""
        self.source.close()
