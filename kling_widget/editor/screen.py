"""``Screen``: what the user sees of one clip: the view, the strip, the mask layer, the
controls and the status line, drawn from an ``EditorState``.

It implements the controller's ``EditorUI`` protocol (status, redraws, task progress,
the result panel), and knows nothing of the API. Imports ``editor.view``,
``editor.masklayer``, ``editor.controls``, ``editor.state`` and ``media``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path

import ipywidgets as widgets
import numpy as np

from kling_widget import rules
from kling_widget.api.models import Preview
from kling_widget.editor.controls import Controls
from kling_widget.editor.masklayer import MaskLayer
from kling_widget.editor.messages import clip_fixable, clip_problem
from kling_widget.editor.playback import PlayedFrames, composite_jpeg
from kling_widget.editor.state import EditorState, time_label
from kling_widget.editor.view import FrameView, Strip, one_batch
from kling_widget.errors import KlingValidationError
from kling_widget.media.frames import FrameCache
from kling_widget.media.video import VideoSource
from kling_widget.media.violations import Violation

# Videos are sent to the browser inside the widget state; past this the original is not.
MAX_INLINE_VIDEO_BYTES = 64 * 1024 * 1024
# While playing, the strip and the time label are updated at most this often (s).
PLAYING_FOLLOW_S = 0.25
# The frame cache's pictures fit in this box (CSS scales them to the screen).
DISPLAY_BOX_PX = 960


def display_width_for(source: VideoSource, display_width: int) -> int:
    """Width of the cached frames: at most ``display_width`` wide and the box tall."""
    by_height = round(DISPLAY_BOX_PX * source.width / max(1, source.height))
    return max(1, min(display_width, source.width, by_height))


def duration_text(source: VideoSource) -> str:
    """The label next to the quality buttons: the duration Kling will produce."""
    seconds = source.frame_count / source.fps if source.fps else source.duration
    try:
        return f"duration {rules.duration_for_clip(seconds)} s (from the clip, {seconds:.2f} s)"
    except KlingValidationError:
        return f"clip is {seconds:.2f} s: no duration Kling accepts"


class Screen:
    """The view, strip, mask layer and controls of one clip, and the status line."""

    def __init__(self, source: VideoSource, display_width: int) -> None:
        self._status_text = ""
        # While playing, a frame goes out as one JPEG with its masks burned in (see
        # editor.playback); the mask and points layers stay clear until playback stops.
        self.playing = False
        self._followed_at = 0.0
        self.clock: Callable[[], float] = time.monotonic
        self.played = PlayedFrames()
        self._say_lock = threading.Lock()
        # Set by the editor's workbench: the preview video and a result are shown there.
        self.on_preview: Callable[[Preview], None] | None = None
        self.on_result: Callable[[Path], None] | None = None
        self.controls = Controls(source.frame_count, source.fps, duration_text(source))
        self.build(source, display_width)
        self.widget = self.controls.rows(self.view.widget, self.strip.widget, self.view.size)

    def build(self, source: VideoSource, display_width: int) -> None:
        """(Re)build everything that depends on the clip."""
        self.source = source
        self.frames = FrameCache(source, display_width=display_width_for(source, display_width))
        dw, dh = self.frames.display_size
        self.state = EditorState(
            frame_count=source.frame_count, fps=source.fps, width=source.width, height=source.height
        )
        self.view = FrameView(dw, dh)
        self.strip = Strip(dw, source.frame_count)
        self.mask_layer = MaskLayer((dw, dh))
        self.violations: list[Violation] = list(source.check("multi-elements"))
        self.controls.show_preflight(
            [clip_problem(v) for v in self.violations], clip_fixable(self.violations)
        )

    def rebuild(self, source: VideoSource, display_width: int) -> None:
        """Swap in a new clip (after a conform): new canvas, strip, cache and state."""
        old_view, old_strip, old_frames = self.view, self.strip, self.frames
        self.build(source, display_width)
        c = self.controls
        last = max(0, source.frame_count - 1)
        c.play.max = last
        c.slider.max = last
        c.duration.value = duration_text(source)
        c.set_stage(self.view.widget, self.strip.widget, self.view.size)
        old_view.close()
        old_strip.close()
        old_frames.close()

    # --- EditorUI -------------------------------------------------------------------
    def say(self, text: str, level: str = "info", near: str | None = None) -> None:
        """Status line; with ``near``, the same words next to that control."""
        with self._say_lock:
            self._status_text = text
            self.controls.set_status(text, level)
            if near is not None:
                self.controls.note(near, text, level)

    def masks_changed(self, frame: int) -> None:
        """Redraw after a reply: the new mask at once when its frame is on screen."""
        if frame == self.state.frame:
            self.draw_masks(frame)
            self.draw_points(frame)
        self.draw_strip()

    def selection_cleared(self, frames: Sequence[int]) -> None:
        """Every point and mask is gone."""
        self.mask_layer.clear()
        self.view.forget_masks(lambda k: True)
        self.controls.preview_out.value = ""
        self.masks_changed(self.state.frame)

    def tracked(self, frames: Sequence[int], preview: Preview) -> None:
        """Tracked masks arrived: show them, mark them, render every frame's PNG now."""
        url = preview.video_url
        if self.on_preview is not None:
            self.on_preview(preview)
        elif url:
            self.controls.preview_out.value = (
                f"<a href='{url}' target='_blank' rel='noopener'>Open the preview video</a> "
                "(the clip with the tracked masks drawn by Kling)"
            )
        self.view.forget_masks(lambda k: True)
        self.draw_masks(self.state.frame)
        self.draw_strip()
        # Rendered now, so playing and scrubbing only read the cache.
        for frame in frames:
            self.mask_png(frame)
        jobs = (self._played_picture(frame) for frame in frames)
        self.played.prepare(job for job in jobs if job is not None)

    def task_progress(self, status: str, elapsed: float) -> None:
        """A running task: the bar shows the phase and creeps while rendering."""
        # Kling reports no percentage.
        if status == "submitted":
            pct = 10
        elif status == "processing":
            pct = 25 + int(65 * (1 - np.exp(-elapsed / 60)))
        else:
            pct = 100
        self.controls.show_progress(True, pct, f"{status} · {elapsed:.0f} s")
        self.say(f"Task {status}, {elapsed:.0f} s elapsed…", "busy")

    def task_finished(self, path: Path | None, elapsed: float) -> None:
        """The wait ended: show the result next to the original (or just stop the bar)."""
        if path is None:
            self.controls.show_progress(False)
            return
        self.controls.show_progress(False, 100, f"done in {elapsed:.0f} s" if elapsed else "")
        if self.on_result is not None:
            self.on_result(path)
            return
        before = None
        if self.source.path.stat().st_size <= MAX_INLINE_VIDEO_BYTES:
            before = self.source.path.read_bytes()
        self.controls.show_result(path.read_bytes(), before, str(path))

    # --- drawing --------------------------------------------------------------------
    def show(self, frame: int) -> None:
        """Put ``frame`` on screen: cached JPEG, cached mask PNG, points, strip marks."""
        self.state.frame = frame
        frames = self.frames
        # While playing, the strip's playhead and the time label follow a few times a
        # second: each update is browser work (a canvas repaint, a relayout) that a frame
        # due every 33 ms cannot spare; the slider still moves with every frame.
        now = self.clock()
        follow = not self.playing or now - self._followed_at >= PLAYING_FOLLOW_S
        # The frame, its masks, its points and the strip's marks: one message to the browser.
        with one_batch():
            if self.playing:
                self._show_played(frame)
            else:
                self.view.show_frame(frame, lambda: frames.get_jpeg(frame))
                self.draw_masks(frame)
                self.draw_points(frame)
            if follow:
                self.draw_strip()
        if not follow:
            return
        self._followed_at = now
        label = time_label(frame, self.state.frame_count, self.state.fps)
        if self.controls.frame_label.value != label:  # an unchanged value is not sent
            self.controls.frame_label.value = label

    def set_playing(self, on: bool) -> None:
        """Enter or leave the playing mode (leaving it draws the frame on screen in full)."""
        if on == self.playing:
            return
        self.playing = on
        self._followed_at = float("-inf")  # the first played frame updates everything
        if on:
            with one_batch():
                self.view.show_masks(None, lambda: None)
                self.view.show_points([])
        else:
            self.show(self.state.frame)

    def _show_played(self, frame: int) -> None:
        made = self._played_picture(frame)
        if made is None:
            self.view.show_frame(frame, lambda: self.frames.get_jpeg(frame))
            return
        key, make = made
        self.view.show_frame(key, lambda: self.played.take(key) or make() or b"")

    def _played_picture(self, frame: int) -> tuple[Hashable, Callable[[], bytes | None]] | None:
        """The key and maker of ``frame``'s played picture; ``None`` when it has no masks."""
        key = self.state.mask_key(frame)
        png = self.mask_png(frame) if key is not None else None
        if key is None or png is None:
            return None
        frames, opacity = self.frames, self.view.opacity
        shown = ("played", *key, self.mask_layer.generation, opacity)
        return shown, lambda: composite_jpeg(frames.get_jpeg(frame), png, opacity, frames.quality)

    def mask_png(self, frame: int) -> bytes | None:
        """The mask layer PNG of ``frame``'s current masks (rendered once, then cached)."""
        got = self.state.keyed_masks(frame)
        if got is None:
            return None
        key, fm = got
        return self.mask_layer.png(key, fm.object_ids, fm.arrays)

    def draw_masks(self, frame: int) -> None:
        """Draw ``frame``'s mask layer."""
        if self.playing:
            return  # burned into the frame; drawn again when playback stops
        key = self.state.mask_key(frame)
        # Hiding an object changes every frame's picture: the layer's generation says so.
        shown = None if key is None else (*key, self.mask_layer.generation)
        self.view.show_masks(shown, lambda: self.mask_png(frame))

    def draw_points(self, frame: int) -> None:
        """Draw ``frame``'s points (pending ones hollow)."""
        if self.playing:
            return
        self.view.show_points(self.state.points_on(frame), self.state.pending_on(frame))

    def draw_strip(self) -> None:
        """Redraw the strip's marks."""
        self.strip.draw(self.state.marked_frames(), self.state.tracked_frames(), self.state.frame)

    def close_widgets(self) -> None:
        """Close the canvas, the cache and every widget of the editor."""
        # The cache's decoder may already be gone.
        self.played.close()
        with contextlib.suppress(Exception):
            self.frames.close()
        self.view.close()
        self.strip.close()
        _close_tree(self.widget)


def _close_tree(widget: widgets.Widget) -> None:
    """Close a widget and everything inside it (only ours: never ``Widget.close_all``)."""
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()
