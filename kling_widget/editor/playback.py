"""Playing the clip in the canvas at its frame rate, and the preview video inline.

:class:`Player` runs a wall clock on its own thread: at each moment the frame to show is
``start + floor(elapsed * fps)``. When drawing a frame takes longer than a frame lasts,
the frames in between are skipped (counted in :class:`PlaybackStats`), so playback keeps
the clip's speed and never drifts behind. Drawing goes through the ``show`` callable the
editor gives (frames and masks come from its caches: nothing is decoded while playing).

While playing, :func:`composite_jpeg` makes each frame one JPEG with its mask layer
burned in (kept for the next play-through like any frame picture): the browser then
decodes one picture a frame and repaints the canvas once, where the frame, mask and
points layers would cost two pictures and three repaints of every layer (ipycanvas
composites its layers again for each layer a message touches). :class:`PlayedFrames`
makes those pictures on a background thread as soon as Preview's masks arrive, so the
first play-through only sends them. :func:`frames_in_flight` is how many sent frames may
await the browser's answer before the player skips instead: a fifth of a second of the
clip, because a JupyterLab round trip takes 100-200 ms and a 3-frame window held a 30 fps
clip to about 25 fps.

:func:`preview_video` is the preview-selection video as an inline ``ipywidgets.Video``
(sent inside the widget state when its bytes are at hand and small enough, referenced by
URL otherwise) instead of a link to a new tab.

Imports only ``ipywidgets`` and Pillow; no network (the caller fetches the bytes).
"""

from __future__ import annotations

import contextlib
import io
import math
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

import ipywidgets as widgets
from PIL import Image

__all__ = [
    "MAX_INLINE_PREVIEW_BYTES",
    "PlaybackStats",
    "PlayedFrames",
    "Player",
    "composite_jpeg",
    "frames_in_flight",
    "preview_video",
]

# A preview larger than this is referenced by URL rather than sent inside the widget state.
MAX_INLINE_PREVIEW_BYTES = 64 * 1024 * 1024
# A played frame's round trip (kernel -> browser -> the slider's echo back) may take this
# long before the player holds frames back: 100-200 ms in JupyterLab on a 2-core machine,
# so a shorter window held a 30 fps clip to 25 fps; the picture is at most this late.
IN_FLIGHT_S = 0.2
# Longest single sleep of the clock thread: bounds how late a pause is noticed.
_MAX_SLEEP_S = 0.05
# How often a held player asks again whether the display has caught up.
_HELD_POLL_S = 0.004


@dataclass(frozen=True)
class PlaybackStats:
    """What one run of the player did (since the last ``play``)."""

    shown: int
    dropped: int
    elapsed: float
    frame_time_max: float

    @property
    def fps(self) -> float:
        """Frames actually drawn per second."""
        return self.shown / self.elapsed if self.elapsed > 0 else 0.0


class Player:
    """Plays frames ``0 .. frame_count - 1`` at ``fps`` by calling ``show(frame)``.

    ``loop`` starts over after the last frame; otherwise playback stops there (and the
    next ``play()`` starts from the first frame). ``on_state(playing)`` is called when
    playback starts or stops; ``on_error(exc)`` when ``show`` raises (playback stops).
    ``ready()``, when given, says whether the display has caught up with what was sent
    (the browser answers each frame): while it says no, due frames are skipped instead of
    queued behind the ones still on their way. ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        show: Callable[[int], object],
        frame_count: int,
        fps: float,
        *,
        loop: bool = False,
        clock: Callable[[], float] = time.monotonic,
        on_state: Callable[[bool], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        ready: Callable[[], bool] | None = None,
    ) -> None:
        if isinstance(frame_count, bool) or not isinstance(frame_count, int) or frame_count < 1:
            raise ValueError(f"frame_count={frame_count!r}: must be a positive integer")
        if not math.isfinite(fps) or fps <= 0:
            raise ValueError(f"fps={fps!r}: must be a positive frame rate")
        self._show = show
        self.frame_count = frame_count
        self.fps = float(fps)
        self.loop = loop
        self._clock = clock
        self.on_state = on_state
        self.on_error = on_error
        self.ready = ready
        self._held = False
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_frame = 0
        self._t0 = 0.0
        self._last: int | None = None
        self._shown = 0
        self._dropped = 0
        self._frame_time_max = 0.0
        self._ended_at: float | None = None
        self.position = 0

    # --- state ------------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        """Whether the clock thread is running."""
        with self._lock:
            return self._thread is not None and not self._stop.is_set()

    @property
    def stats(self) -> PlaybackStats:
        """Frames drawn and skipped since the last ``play``."""
        with self._lock:
            end = self._ended_at if self._ended_at is not None else self._clock()
            return PlaybackStats(
                self._shown, self._dropped, max(0.0, end - self._t0), self._frame_time_max
            )

    # --- control ----------------------------------------------------------------------
    def play(self, start: int | None = None) -> None:
        """Start playing from ``start`` (default: where it stands; the first frame at the end)."""
        if self.playing:
            if start is None:
                return
            self.pause()
        with self._lock:
            first = self.position if start is None else start
            if not 0 <= first < self.frame_count:
                raise ValueError(f"start={first!r}: must be within 0..{self.frame_count - 1}")
            if start is None and first >= self.frame_count - 1 and not self.loop:
                first = 0
            self._begin(first, self._clock())
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="kling-player", daemon=True)
            self._thread.start()
        if self.on_state is not None:
            self.on_state(True)

    def pause(self) -> None:
        """Stop at the frame on screen."""
        with self._lock:
            thread = self._thread
            if thread is None:
                return
            self._stop.set()
            self._thread = None
            self._ended_at = self._clock()
        if thread is not threading.current_thread():
            thread.join(timeout=5)
        if self.on_state is not None:
            self.on_state(False)

    def toggle(self) -> bool:
        """Play if paused, pause if playing; returns whether it now plays."""
        if self.playing:
            self.pause()
            return False
        self.play()
        return True

    def seek(self, frame: int) -> None:
        """Continue from ``frame`` (while playing, the clock restarts there)."""
        if not 0 <= frame < self.frame_count:
            raise ValueError(f"frame={frame!r}: must be within 0..{self.frame_count - 1}")
        with self._lock:
            self.position = frame
            if self.playing:
                self._begin(frame, self._clock())

    def wait(self, timeout: float | None = None) -> bool:
        """Block until playback stops (or ``timeout``); returns whether it stopped."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    # --- the clock --------------------------------------------------------------------
    def _begin(self, first: int, now: float) -> None:
        self._start_frame = first
        self._t0 = now
        self._last = None
        self._shown = 0
        self._dropped = 0
        self._frame_time_max = 0.0
        self._ended_at = None
        self.position = first

    def due(self, now: float) -> int | None:
        """The frame to show at ``now``, or ``None`` when it is still the one shown.

        Past the last frame: the first frame again when looping, else ``-1`` (the end).
        """
        with self._lock:
            n = self._start_frame + math.floor((now - self._t0) * self.fps + 1e-9)
            if n >= self.frame_count:
                if not self.loop:
                    return -1
                n %= self.frame_count
            if n == self._last:
                return None
            return n

    def tick(self, now: float) -> int | None:
        """Show the frame due at ``now`` (one step of the clock thread); returns it.

        ``-1`` means the clip ended (not looping); ``None`` that nothing was drawn (the
        frame on screen is still due, or the display has not caught up).
        """
        frame = self.due(now)
        last = self.frame_count - 1
        if frame == -1 and self._last != last:
            frame = last  # the clip ends on its last frame, even after skipping
        elif frame is None or frame < 0:
            return frame
        elif self.ready is not None and not self.ready():
            self._held = True
            return None
        self._held = False
        with self._lock:
            if self._last is not None:
                gap = (frame - self._last) % self.frame_count
                self._dropped += max(0, gap - 1)
            self._last = frame
            self.position = frame
        started = self._clock()
        self._show(frame)
        spent = self._clock() - started
        with self._lock:
            self._shown += 1
            self._frame_time_max = max(self._frame_time_max, spent)
        return frame

    def _next_due_in(self, now: float) -> float:
        with self._lock:
            k = math.floor((now - self._t0) * self.fps + 1e-9) + 1
            return max(0.0, self._t0 + k / self.fps - now)

    def _run(self) -> None:
        stop = self._stop
        try:
            while not stop.is_set():
                frame = self.tick(self._clock())
                if frame == -1:
                    with self._lock:
                        self.position = self.frame_count - 1
                    break
                if self._held:
                    stop.wait(_HELD_POLL_S)
                else:
                    stop.wait(min(_MAX_SLEEP_S, self._next_due_in(self._clock())))
        except Exception as exc:
            if self.on_error is not None:
                self.on_error(exc)
        finally:
            ended = False
            with self._lock:
                if not stop.is_set():
                    stop.set()
                    self._thread = None
                    self._ended_at = self._clock()
                    ended = True
            if ended and self.on_state is not None:
                self.on_state(False)


def composite_jpeg(frame: bytes, mask: bytes, opacity: float = 1.0, quality: int = 85) -> bytes:
    """The JPEG ``frame`` with the mask layer PNG ``mask`` drawn over it at ``opacity``
    (what the canvas shows with both layers), as one JPEG of the same size."""
    with Image.open(io.BytesIO(frame)) as f, Image.open(io.BytesIO(mask)) as m:
        base = f.convert("RGBA")
        over = m.convert("RGBA")
    if over.size != base.size:
        over = over.resize(base.size, Image.Resampling.NEAREST)
    if opacity < 1.0:
        alpha = over.getchannel("A").point(lambda a: round(a * max(0.0, opacity)))
        over.putalpha(alpha)
    out = io.BytesIO()
    Image.alpha_composite(base, over).convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def frames_in_flight(fps: float) -> int:
    """How many played frames may await the browser's answer: ``IN_FLIGHT_S`` of the
    clip, at least 3."""
    return max(3, math.ceil(fps * IN_FLIGHT_S - 1e-9))


class PlayedFrames:
    """Played pictures (a frame with its masks drawn in) made ahead of Play.

    ``prepare`` makes them on a background thread after the masks arrive, so the first
    play-through only sends pictures instead of also composing them in the kernel (up to
    a few tens of ms a frame, more than a 30 fps frame lasts on a loaded machine).
    ``take`` hands one over once (the view then keeps it as a picture in the browser).
    """

    def __init__(self, max_bytes: int = 192 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: dict[Hashable, bytes] = {}
        self._nbytes = 0
        self._lock = threading.Lock()
        self._run = 0

    def prepare(self, jobs: Iterable[tuple[Hashable, Callable[[], bytes | None]]]) -> None:
        """Make ``make()`` for each ``(key, make)`` in the background; forgets earlier ones."""
        with self._lock:
            self._run += 1
            run = self._run
            self._items.clear()
            self._nbytes = 0

        def work() -> None:
            # Whatever cannot be made now (a frame, or the list itself when the editor
            # changed under it) is composed when played instead.
            with contextlib.suppress(Exception):
                for key, make in jobs:
                    with self._lock:
                        if run != self._run or self._nbytes > self.max_bytes:
                            return
                        if key in self._items:
                            continue
                    try:
                        data = make()
                    except Exception:
                        continue
                    if data is None:
                        continue
                    with self._lock:
                        if run != self._run:
                            return
                        self._items[key] = data
                        self._nbytes += len(data)

        threading.Thread(target=work, name="kling-played-frames", daemon=True).start()

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def take(self, key: Hashable) -> bytes | None:
        """The picture made for ``key`` (once), or ``None``."""
        with self._lock:
            data = self._items.pop(key, None)
            if data is not None:
                self._nbytes -= len(data)
            return data

    def close(self) -> None:
        """Stop preparing and drop what was made."""
        with self._lock:
            self._run += 1
            self._items.clear()
            self._nbytes = 0


def preview_video(data: bytes | None, url: str | None) -> widgets.Video:
    """Kling's preview video as an inline player (looping, muted, with controls).

    ``data`` (the file's bytes) is sent inside the widget state when it is at most
    ``MAX_INLINE_PREVIEW_BYTES``; otherwise the player loads ``url`` itself.
    """
    # Beside the frame it is a reference, not the main picture: at most half as wide.
    layout = widgets.Layout(width="100%", max_width="min(100%, 480px)")
    common = {"autoplay": False, "loop": True, "controls": True, "layout": layout}
    if data is not None and len(data) <= MAX_INLINE_PREVIEW_BYTES:
        video = widgets.Video(value=data, format="mp4", **common)
    elif url:
        video = widgets.Video.from_url(url, **common)
    else:
        raise ValueError("preview video: neither its bytes nor its URL are available")
    video.add_class("kling-preview-video")
    return video
