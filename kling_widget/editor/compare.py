"""Two videos in one view: a wipe (left of the line one, right the other) or side by side.

Both videos are drawn on one canvas from one position, so play, pause, seek and frame
steps always move both: there is nothing to drift apart. The position is counted in
frames of the first video (``a``); the second (``b``) shows the frame at the same time,
so a result at another frame rate (Omni renders 24 fps) or another length still lines up
in time. When one video is longer, the other holds its last frame.

Frames come from ``FrameCache`` (decoded once, kept as display-size JPEG) and are drawn as
``ipywidgets.Image`` models made once per frame, like the editor's own canvas; playing
uses :class:`~kling_widget.editor.playback.Player` (the clip's speed, frames skipped rather
than falling behind).

Imports ``ipywidgets``, ``ipycanvas``, ``kling_widget.media`` and its siblings ``playback``,
``keys`` and ``view`` (for the drawing lock); nothing from the workflow or the network.
"""

from __future__ import annotations

import html
import math
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Literal

import ipywidgets as widgets
from ipycanvas import Canvas, hold_canvas

from kling_widget.editor.keys import Keys
from kling_widget.editor.playback import Player
from kling_widget.editor.view import DRAW_LOCK
from kling_widget.media.frames import FrameCache

Mode = Literal["wipe", "side"]

__all__ = ["Compare", "Mode", "frame_for_time", "timeline_length"]

WIPE_LINE = "#f8fafc"
WIPE_LINE_PX = 2
# Browser-side image models kept per video; older ones are closed and re-sent when needed.
MAX_IMAGES = 160


def frame_for_time(seconds: float, fps: float, frame_count: int) -> int:
    """The frame on screen at ``seconds`` in a video of ``fps`` and ``frame_count`` frames."""
    n = math.floor(seconds * fps + 1e-6)
    return min(frame_count - 1, max(0, n))


def timeline_length(a_count: int, a_fps: float, b_count: int, b_fps: float) -> int:
    """Positions on the shared timeline (frames of ``a``, long enough to reach ``b``'s end)."""
    return max(a_count, math.ceil(b_count / b_fps * a_fps - 1e-6))


def wipe_split(wipe: float, width: int) -> int:
    """Canvas x where the wipe line sits (``a`` left of it, ``b`` right)."""
    return min(width, max(0, round(wipe * width)))


class _Images:
    """``ipywidgets.Image`` models of one video's frames, made once, least recently used out."""

    def __init__(self, frames: FrameCache) -> None:
        self.frames = frames
        self._models: OrderedDict[int, widgets.Image] = OrderedDict()

    def get(self, index: int) -> widgets.Image:
        model = self._models.get(index)
        if model is None:
            model = widgets.Image(value=self.frames.get_jpeg(index), format="jpeg")
            self._models[index] = model
            while len(self._models) > MAX_IMAGES:
                _, old = self._models.popitem(last=False)
                old.close()
        else:
            self._models.move_to_end(index)
        return model

    def close(self) -> None:
        for model in self._models.values():
            model.close()
        self._models.clear()


def _cache(video: str | Path | FrameCache, display_width: int) -> tuple[FrameCache, bool]:
    if isinstance(video, FrameCache):
        return video, False
    return FrameCache(video, display_width=display_width), True


class Compare:
    """Compare ``a`` and ``b`` (paths or frame caches) in one synchronized view.

    ``labels`` name them in the view ("Original", "Result" by default). ``widget`` is what
    to display; the methods are what its buttons and keys call.
    """

    def __init__(
        self,
        a: str | Path | FrameCache,
        b: str | Path | FrameCache,
        *,
        labels: tuple[str, str] = ("Original", "Result"),
        mode: Mode = "wipe",
        display_width: int = 960,
    ) -> None:
        self.a, own_a = _cache(a, display_width)
        try:
            self.b, own_b = _cache(b, display_width)
        except BaseException:
            if own_a:
                self.a.close()
            raise
        self._owned = [c for c, own in ((self.a, own_a), (self.b, own_b)) if own]
        self.labels = labels
        self.a_fps = float(self.a.source.fps)
        self.b_fps = float(self.b.source.fps)
        self.length = timeline_length(
            self.a.frame_count, self.a_fps, self.b.frame_count, self.b_fps
        )
        self._images = (_Images(self.a), _Images(self.b))
        self._lock = threading.RLock()
        self._position = 0
        self._mode: Mode = mode
        self._wipe = 0.5
        self._closed = False
        w, h = self.a.display_size
        self.size = (w, h)
        self.canvas = Canvas(width=w, height=h, layout=widgets.Layout(width="100%"))
        self.canvas.add_class("kling-compare-canvas")
        self.player = Player(
            self._show_from_player,
            self.length,
            self.a_fps,
            on_state=self._playing_changed,
            on_error=lambda exc: self._set_note(f"Playback stopped: {exc}"),
        )
        self._build_controls()
        self.keys = Keys(
            self.frame_box,
            {
                "prev_frame": lambda: self.step(-1),
                "next_frame": lambda: self.step(1),
                "back_second": lambda: self.step(-round(self.a_fps)),
                "forward_second": lambda: self.step(round(self.a_fps)),
                "first_frame": lambda: self.seek(0),
                "last_frame": lambda: self.seek(self.length - 1),
                "play_pause": self.toggle,
            },
        )
        self.set_mode(mode)

    # --- widgets ----------------------------------------------------------------------
    def _build_controls(self) -> None:
        a_name, b_name = (html.escape(t) for t in self.labels)
        self.caption = widgets.HTML(
            f"<div style='font:600 13px sans-serif'>{a_name} ◀ │ ▶ {b_name}</div>"
        )
        self.mode_toggle = widgets.ToggleButtons(
            options=[("Wipe", "wipe"), ("Side by side", "side")],
            value=self._mode,
            style={"button_width": "100px"},
        )
        self.mode_toggle.observe(lambda ch: self.set_mode(ch["new"]), "value")
        self.wipe_slider = widgets.FloatSlider(
            value=self._wipe,
            min=0.0,
            max=1.0,
            step=0.005,
            readout=False,
            description="Wipe",
            layout=widgets.Layout(width="100%"),
        )
        self.wipe_slider.observe(lambda ch: self.set_wipe(ch["new"]), "value")
        button = widgets.Layout(width="40px")

        # Icons, not characters: the media symbols are missing from many system fonts.
        def icon_button(icon: str, tooltip: str) -> widgets.Button:
            return widgets.Button(description="", icon=icon, tooltip=tooltip, layout=button)

        self.first_button = icon_button("fast-backward", "First frame")
        self.back_button = icon_button("step-backward", "One frame back")
        self.play_button = icon_button("play", "Play / pause")
        self.next_button = icon_button("step-forward", "One frame on")
        self.last_button = icon_button("fast-forward", "Last frame")
        self.play_button.add_class("kling-compare-play")
        self.first_button.on_click(lambda _: self.seek(0))
        self.back_button.on_click(lambda _: self.step(-1))
        self.play_button.on_click(lambda _: self.toggle())
        self.next_button.on_click(lambda _: self.step(1))
        self.last_button.on_click(lambda _: self.seek(self.length - 1))
        self.slider = widgets.IntSlider(
            value=0,
            min=0,
            max=self.length - 1,
            readout=False,
            layout=widgets.Layout(width="100%"),
        )
        self.slider.add_class("kling-compare-slider")
        self.slider.observe(lambda ch: self._slider_moved(int(ch["new"])), "value")
        self.time_label = widgets.HTML()
        self.note = widgets.HTML()
        self.frame_box = widgets.Box([self.canvas], layout=widgets.Layout(width="100%"))
        transport = widgets.HBox(
            [
                self.first_button,
                self.back_button,
                self.play_button,
                self.next_button,
                self.last_button,
                self.slider,
                self.time_label,
            ],
            layout=widgets.Layout(width="100%", align_items="center", flex_flow="row wrap"),
        )
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.caption, self.mode_toggle], layout=_row()),
                self.frame_box,
                self.wipe_slider,
                transport,
                self.note,
            ],
            layout=widgets.Layout(width="100%"),
        )
        self.widget.add_class("kling-compare")

    # --- state ------------------------------------------------------------------------
    @property
    def position(self) -> int:
        """The shared position, in frames of ``a``."""
        with self._lock:
            return self._position

    @property
    def frames(self) -> tuple[int, int]:
        """The frame of ``a`` and of ``b`` on screen."""
        with self._lock:
            return self._frames_at(self._position)

    @property
    def mode(self) -> Mode:
        """``"wipe"`` or ``"side"``."""
        return self._mode

    @property
    def wipe(self) -> float:
        """Where the wipe line is, 0 (all ``b``) to 1 (all ``a``)."""
        return self._wipe

    def _frames_at(self, position: int) -> tuple[int, int]:
        seconds = position / self.a_fps
        a = min(position, self.a.frame_count - 1)
        return a, frame_for_time(seconds, self.b_fps, self.b.frame_count)

    # --- actions ----------------------------------------------------------------------
    def seek(self, position: int) -> None:
        """Show ``position`` (a frame of ``a``) on both sides."""
        if isinstance(position, bool) or not isinstance(position, int):
            raise TypeError(f"position={position!r}: must be an integer frame")
        position = min(self.length - 1, max(0, position))
        if self.player.playing:
            self.player.seek(position)
        self._show(position)

    def step(self, frames: int) -> None:
        """Move both videos ``frames`` frames (negative: back); pauses playback."""
        if self.player.playing:
            self.player.pause()
        self.seek(self.position + frames)

    def play(self) -> None:
        """Play both from the current position."""
        self.player.seek(self.position)
        self.player.play()

    def pause(self) -> None:
        """Pause both."""
        self.player.pause()

    def toggle(self) -> None:
        """Play or pause."""
        if self.player.playing:
            self.pause()
        else:
            self.play()

    def set_mode(self, mode: Mode) -> None:
        """``"wipe"`` (one frame, a line between the two) or ``"side"`` (side by side)."""
        if mode not in ("wipe", "side"):
            raise ValueError(f"mode={mode!r}: must be 'wipe' or 'side'")
        self._mode = mode
        if self.mode_toggle.value != mode:
            self.mode_toggle.value = mode
        w, h = self.size
        with DRAW_LOCK:
            self.canvas.width = w * (2 if mode == "side" else 1)
            self.canvas.height = h
        self.wipe_slider.layout.display = "flex" if mode == "wipe" else "none"
        self._show(self.position)

    def set_wipe(self, wipe: float) -> None:
        """Move the wipe line (0..1 of the width)."""
        value = float(wipe)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"wipe={wipe!r}: must be within 0..1")
        self._wipe = value
        if self.wipe_slider.value != value:
            self.wipe_slider.value = value
        if self._mode == "wipe":
            self._show(self.position)

    # --- drawing ----------------------------------------------------------------------
    def _slider_moved(self, position: int) -> None:
        if position != self.position:
            self.seek(position)

    def _show_from_player(self, position: int) -> None:
        self._show(position)

    def _show(self, position: int) -> None:
        with self._lock:
            if self._closed:
                return
            self._position = position
            fa, fb = self._frames_at(position)
            img_a, img_b = self._images[0].get(fa), self._images[1].get(fb)
            w, h = self.size
            mode, split = self._mode, wipe_split(self._wipe, w)
            with DRAW_LOCK, hold_canvas():
                c = self.canvas
                c.clear()
                if mode == "side":
                    c.draw_image(img_a, 0, 0, w, h)
                    c.draw_image(img_b, w, 0, w, h)
                else:
                    c.draw_image(img_a, 0, 0, w, h)
                    if split < w:
                        c.save()
                        c.begin_path()
                        c.rect(split, 0, w - split, h)
                        c.clip()
                        c.draw_image(img_b, 0, 0, w, h)
                        c.restore()
                    c.fill_style = WIPE_LINE
                    c.fill_rect(split - WIPE_LINE_PX / 2, 0, WIPE_LINE_PX, h)
            if self.slider.value != position:
                self.slider.value = position
            self.time_label.value = (
                f"<span style='font:12px monospace'>{position / self.a_fps:5.2f} s · "
                f"{html.escape(self.labels[0])} {fa} · {html.escape(self.labels[1])} {fb}</span>"
            )

    def _playing_changed(self, playing: bool) -> None:
        self.play_button.icon = "pause" if playing else "play"

    def _set_note(self, text: str) -> None:
        self.note.value = f"<span style='font:12px sans-serif'>{html.escape(text)}</span>"

    # --- lifetime ---------------------------------------------------------------------
    def close(self) -> None:
        """Stop playing and close every widget and cache this view made."""
        self.player.pause()
        with self._lock:
            self._closed = True
        self.keys.close()
        for images in self._images:
            images.close()
        for cache in self._owned:
            cache.close()
        _close_tree(self.widget)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)  # type: ignore[no-untyped-call]


def _row() -> widgets.Layout:
    return widgets.Layout(
        width="100%", justify_content="space-between", align_items="center", flex_flow="row wrap"
    )


def _close_tree(widget: widgets.Widget) -> None:
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()
