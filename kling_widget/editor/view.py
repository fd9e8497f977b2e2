"""The canvas: frame, masks and points on an ``ipycanvas.MultiCanvas``, and where clicks land.

Clicks are read by ``ClickSurface``: a transparent element laid over the canvas, watched
through ``ipyevents``. The canvas itself never receives a mouse event, because ipycanvas's
own mouse-down handler focuses the canvas before it reads the position, and focusing
scrolls a partly hidden canvas into view: the position would be read after the page
moved. The surface takes the position from the event and the element's box measured in
the same handler, before any default action, and it does not cancel wheel events, so
the page scrolls with the wheel over the frame.

What goes to the browser is always an encoded image: the frame as the cache's JPEG bytes,
the masks as one palette PNG with a transparent background. Each is wrapped in an
``ipywidgets.Image`` that is never changed after creation (one per frame, one per mask
version): ``draw_image`` then refers to a model the browser already holds, so there is no
race between a value update and the draw command, and going back to a frame seen before
sends a few bytes of drawing commands instead of the picture again.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence

import ipywidgets as widgets
import numpy as np
from ipycanvas import Canvas, MultiCanvas, hold_canvas
from ipyevents import Event

from kling_widget.editor.state import strip_hit, strip_x

Point = tuple[float, float]

# ipycanvas batches commands in one process-wide cache (``hold_canvas``); the kernel's
# thread (slider, clicks) and the API worker (replies) both draw, so batches are taken
# one at a time or their commands could interleave onto the wrong canvas.
DRAW_LOCK = threading.RLock()

# Layer order, bottom to top; the top layer receives the mouse events.
LAYER_FRAME, LAYER_MASKS, LAYER_POINTS = 0, 1, 2
N_LAYERS = 3

ADD_COLOR = "#22c55e"  # green: points that add to the selection
PENDING_COLOR = "#facc15"  # amber: sent, reply not in yet
POINT_OUTLINE = "#052e16"
POINT_RADIUS_PX = 6.0
# Browser-side image models kept per kind; the least recently used beyond a count or a
# byte budget are closed (a frame seen again is then re-sent). The budgets hold a whole
# clip's display-size frames (Kling's clips are at most 10 s), so playing it again sends
# no picture twice.
MAX_FRAME_IMAGES = 1200
MAX_FRAME_BYTES = 192 * 1024 * 1024
MAX_MASK_IMAGES = 1200
MAX_MASK_BYTES = 64 * 1024 * 1024
_batch_depth = [0]  # guarded by DRAW_LOCK


@contextlib.contextmanager
def one_batch() -> Iterator[None]:
    """Everything drawn inside reaches the browser as one message, on any canvas.

    ``hold_canvas`` flushes when it exits, even nested; so only the outermost use holds,
    and an inner one (a layer drawn as part of a whole frame) joins its batch.
    """
    with DRAW_LOCK:
        if _batch_depth[0]:
            yield
            return
        _batch_depth[0] += 1
        try:
            with hold_canvas():
                yield
        finally:
            _batch_depth[0] -= 1


def _number(event: Mapping[str, object], key: str) -> float | None:
    value = event.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def event_to_norm(event: Mapping[str, object]) -> Point | None:
    """Normalized (x, y) of a pointer event inside the element it was watched on.

    ``clientX - boundingRectLeft`` (both unrounded, measured in the same handler) over the
    box's width; ``None`` for an event without a usable position or an element of no size.
    """
    values = [
        _number(event, k)
        for k in (
            "clientX",
            "clientY",
            "boundingRectLeft",
            "boundingRectTop",
            "boundingRectWidth",
            "boundingRectHeight",
        )
    ]
    if any(v is None for v in values):
        return None
    cx, cy, left, top, w, h = (float(v or 0.0) for v in values)
    if w <= 0 or h <= 0:
        return None
    return (min(1.0, max(0.0, (cx - left) / w)), min(1.0, max(0.0, (cy - top) / h)))


class ClickSurface:
    """A transparent layer over ``canvas`` that reports presses as normalized (x, y).

    ``widget`` is what goes in the layout: a one-cell grid holding the canvas and the
    layer on top of it, so the layer always has the canvas's exact box.
    """

    def __init__(self, canvas: widgets.DOMWidget, css_class: str) -> None:
        cell = "1 / 1 / 2 / 2"
        canvas.layout.grid_area = cell
        self.layer = widgets.Box(layout=widgets.Layout(width="100%", height="100%", grid_area=cell))
        self.layer.add_class(css_class)
        self.widget = widgets.GridBox(
            [canvas, self.layer],
            layout=widgets.Layout(
                width="100%", grid_template_columns="100%", grid_template_rows="auto"
            ),
        )
        # Default action off: a press starts no text selection and focuses nothing.
        self.events = Event(
            source=self.layer, watched_events=["mousedown"], prevent_default_action=True
        )
        self._callbacks: list[Callable[[float, float], None]] = []
        self.events.on_dom_event(self._on_event)

    def on_press(self, callback: Callable[[float, float], None]) -> None:
        """Register ``callback(x, y)`` (normalized, in [0, 1]) for primary-button presses."""
        self._callbacks.append(callback)

    def _on_event(self, event: Mapping[str, object]) -> None:
        if event.get("type") != "mousedown" or event.get("button", 0) not in (0, None):
            return
        xy = event_to_norm(event)
        if xy is None:
            return
        for cb in list(self._callbacks):
            cb(*xy)

    def close(self) -> None:
        """Close the layer, its event watcher and the grid (not the canvas)."""
        self.events.close()
        self.layer.close()
        self.widget.close()


class CoordinateMap:
    """Maps between canvas pixels (the drawing surface) and normalized frame coordinates."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height

    def to_norm(self, px: float, py: float) -> Point:
        """Canvas pixel -> normalized (x, y), clamped into [0, 1]."""
        x = min(1.0, max(0.0, px / self.width))
        y = min(1.0, max(0.0, py / self.height))
        return (x, y)

    def to_canvas(self, x: float, y: float) -> tuple[float, float]:
        """Normalized (x, y) -> canvas pixel."""
        return (x * self.width, y * self.height)


class _ImageLRU:
    """``ipywidgets.Image`` models by key, closing the least recently used beyond a cap."""

    def __init__(self, cap: int, fmt: str, max_bytes: int) -> None:
        self.cap = cap
        self.fmt = fmt
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._items: OrderedDict[Hashable, widgets.Image] = OrderedDict()

    def get(self, key: Hashable, make: Callable[[], bytes]) -> widgets.Image:
        with DRAW_LOCK:
            return self._get(key, make)

    def _get(self, key: Hashable, make: Callable[[], bytes]) -> widgets.Image:
        img = self._items.get(key)
        if img is not None:
            self._items.move_to_end(key)
            return img
        data = make()
        img = widgets.Image(value=data, format=self.fmt)
        self._items[key] = img
        self.nbytes += len(data)
        while len(self._items) > 1 and (
            len(self._items) > self.cap or self.nbytes > self.max_bytes
        ):
            _, old = self._items.popitem(last=False)
            self._close(old)
        return img

    def _close(self, img: widgets.Image) -> None:
        self.nbytes -= len(img.value)
        img.close()

    def peek(self, key: Hashable) -> widgets.Image | None:
        return self._items.get(key)

    def discard(self, pred: Callable[[Hashable], bool]) -> None:
        with DRAW_LOCK:
            for key in [k for k in self._items if pred(k)]:
                self._close(self._items.pop(key))

    def close(self) -> None:
        for img in self._items.values():
            img.close()
        self._items.clear()
        self.nbytes = 0


class FrameView:
    """The frame canvas: draws frames, the mask layer and points; reports clicks.

    ``on_click(x, y)`` callbacks receive normalized frame coordinates. ``widget`` is the
    canvas with its click surface; its width is set by the layout around it (the drawing
    surface keeps the display resolution, CSS scales the element).
    """

    def __init__(self, width: int, height: int) -> None:
        self.coords = CoordinateMap(width, height)
        self.canvas = MultiCanvas(
            N_LAYERS,
            width=width,
            height=height,
            layout=widgets.Layout(width="100%", height="auto"),
        )
        self.canvas.add_class("kling-frame-canvas")
        self.surface = ClickSurface(self.canvas, "kling-frame-surface")
        self.widget = self.surface.widget
        self._frames = _ImageLRU(MAX_FRAME_IMAGES, "jpeg", MAX_FRAME_BYTES)
        self._masks = _ImageLRU(MAX_MASK_IMAGES, "png", MAX_MASK_BYTES)
        self._click_callbacks: list[Callable[[float, float], None]] = []
        self.opacity = 1.0
        # What is on screen now, for redraws (client ready) and for tests.
        self.frame_key: Hashable = None
        self.mask_key: Hashable = None
        self._frame_bytes: Callable[[], bytes] | None = None
        self._mask_bytes: Callable[[], bytes | None] | None = None
        self._points: list[Point] = []
        self._pending: list[Point] = []
        self.surface.on_press(self._on_press)
        self.canvas.on_client_ready(self.redraw)

    @property
    def size(self) -> tuple[int, int]:
        """Display size (w, h) of the canvas."""
        return (self.coords.width, self.coords.height)

    def on_click(self, callback: Callable[[float, float], None]) -> None:
        """Register ``callback(x, y)`` for clicks, in normalized frame coordinates."""
        self._click_callbacks.append(callback)

    def _on_press(self, x: float, y: float) -> None:
        for cb in list(self._click_callbacks):
            cb(x, y)

    # --- drawing ----------------------------------------------------------------
    def show_frame(self, key: Hashable, jpeg: Callable[[], bytes]) -> None:
        """Draw the frame ``key`` (its JPEG made by ``jpeg()`` the first time only)."""
        self.frame_key = key
        self._frame_bytes = jpeg
        img = self._frames.get(key, jpeg)
        w, h = self.size
        layer = self.canvas[LAYER_FRAME]
        with one_batch():
            layer.draw_image(img, 0, 0, w, h)

    def show_masks(self, key: Hashable, png: Callable[[], bytes | None]) -> None:
        """Draw the mask layer ``key`` (a PNG from ``png()``, ``None`` for no mask)."""
        self.mask_key = key
        self._mask_bytes = png
        layer = self.canvas[LAYER_MASKS]
        img: widgets.Image | None = None
        if key is not None:
            img = self._masks.peek(key)
            if img is None:
                data = png()
                if data is not None:
                    img = self._masks.get(key, lambda: data)
        w, h = self.size
        with one_batch():
            layer.clear()
            if img is not None:
                layer.global_alpha = self.opacity
                layer.draw_image(img, 0, 0, w, h)

    def forget_masks(self, pred: Callable[[Hashable], bool]) -> None:
        """Close cached mask images whose key matches (they are stale)."""
        self._masks.discard(lambda k: k != self.mask_key and pred(k))

    @property
    def mask_png(self) -> bytes | None:
        """The PNG currently drawn on the mask layer (``None`` when the layer is empty)."""
        if self.mask_key is None:
            return None
        img = self._masks.peek(self.mask_key)
        return None if img is None else bytes(img.value)

    @property
    def frame_jpeg(self) -> bytes | None:
        """The JPEG currently drawn on the frame layer."""
        img = self._frames.peek(self.frame_key)
        return None if img is None else bytes(img.value)

    def set_opacity(self, opacity: float) -> None:
        """Change the mask layer's opacity (a canvas setting: no image is re-sent)."""
        self.opacity = float(opacity)
        if self._mask_bytes is not None:
            self.show_masks(self.mask_key, self._mask_bytes)

    def show_points(self, points: Sequence[Point], pending: Sequence[Point] = ()) -> None:
        """Draw the points of the current frame: green dots, hollow amber while pending."""
        self._points = list(points)
        self._pending = list(pending)
        layer = self.canvas[LAYER_POINTS]
        w, h = self.size
        r = POINT_RADIUS_PX * max(1.0, w / 960)
        with one_batch():
            layer.clear()
            if self._points:
                xs = np.array([p[0] * w for p in self._points])
                ys = np.array([p[1] * h for p in self._points])
                # A dark ring, a white ring, a green dot: visible on any frame and mask.
                layer.fill_style = POINT_OUTLINE
                layer.fill_circles(xs, ys, r + 3)
                layer.fill_style = "white"
                layer.fill_circles(xs, ys, r + 1.5)
                layer.fill_style = ADD_COLOR
                layer.fill_circles(xs, ys, r)
            if self._pending:
                xs = np.array([p[0] * w for p in self._pending])
                ys = np.array([p[1] * h for p in self._pending])
                layer.stroke_style = PENDING_COLOR
                layer.line_width = 3
                layer.stroke_circles(xs, ys, r)

    def redraw(self) -> None:
        """Draw everything again (a new browser view came up: page reload, Voila)."""
        if self._frame_bytes is not None:
            self.show_frame(self.frame_key, self._frame_bytes)
        if self._mask_bytes is not None:
            self.show_masks(self.mask_key, self._mask_bytes)
        self.show_points(self._points, self._pending)

    def close(self) -> None:
        """Close the canvas and every image model it holds."""
        self._frames.close()
        self._masks.close()
        self.surface.close()
        self.canvas.close()


class Strip:
    """The strip under the frame: frames with points, tracked frames, the current frame.

    ``on_seek(frame)`` callbacks fire when the strip is clicked.
    """

    HEIGHT = 18

    def __init__(self, width: int, frame_count: int) -> None:
        self.width = width
        self.frame_count = frame_count
        self.canvas = Canvas(
            width=width,
            height=self.HEIGHT,
            layout=widgets.Layout(width="100%", height="auto"),
        )
        self.canvas.add_class("kling-strip")
        self.surface = ClickSurface(self.canvas, "kling-strip-surface")
        self.widget = self.surface.widget
        self._seek_callbacks: list[Callable[[int], None]] = []
        self._last: tuple[list[int], list[int], int] = ([], [], 0)
        self._marked: list[int] = []
        self.surface.on_press(self._on_press)
        self.canvas.on_client_ready(lambda: self.draw(*self._last))

    def on_seek(self, callback: Callable[[int], None]) -> None:
        """Register ``callback(frame)`` for clicks on the strip."""
        self._seek_callbacks.append(callback)

    def _on_press(self, x: float, y: float) -> None:
        frame = strip_hit(x * self.width, self.width, self.frame_count, self._marked)
        for cb in list(self._seek_callbacks):
            cb(frame)

    def draw(self, points: Sequence[int], tracked: Sequence[int], current: int) -> None:
        """Redraw the strip's marks."""
        self._last = (list(points), list(tracked), current)
        self._marked = sorted(set(points) | set(tracked))
        c = self.canvas
        n, w, h = self.frame_count, self.width, self.HEIGHT
        slot = max(1.0, w / max(1, n))
        with one_batch():
            c.clear()
            c.fill_style = "#e5e7eb"
            c.fill_rect(0, 0, w, h)
            if tracked:
                xs = np.array([strip_x(f, n, w) - slot / 2 for f in tracked])
                c.fill_style = "rgba(116, 255, 82, 0.55)"
                c.fill_rects(xs, np.full(len(xs), h * 0.35), slot, h * 0.3)
            if points:
                xs = np.array([strip_x(f, n, w) for f in points])
                c.fill_style = ADD_COLOR
                c.fill_rects(xs - 3, np.zeros(len(xs)), 6, h)
            c.fill_style = "#111827"
            c.fill_rect(strip_x(current, n, w) - 1, 0, 2, h)

    def close(self) -> None:
        """Close the strip's canvas and click surface."""
        self.surface.close()
        self.canvas.close()
