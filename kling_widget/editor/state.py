"""The editor's state as plain data: points, masks per frame, pending requests, prompts.

Nothing here touches a widget or the network, so every rule the editor applies (the
10-frame / 10-point limits, which point a Remove click deletes, which frames the strip
marks) is testable without a browser or a server.
Frame indices in this module are always the clip's own (local) frame indices.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from kling_widget import limits, rules
from kling_widget.errors import KlingValidationError

Point = tuple[float, float]
Tool = Literal["add", "remove"]


def check_edit_mode(edit_mode: str) -> None:
    """Raise ``KlingValidationError`` unless ``edit_mode`` is a documented edit mode."""
    rules.check_choice("edit_mode", edit_mode, limits.EDIT_MODES)


def check_point(point: Sequence[float] | Mapping[str, float]) -> Point:
    """Normalize one point to ``(x, y)`` floats in [0, 1], or raise naming the value."""
    if isinstance(point, Mapping):
        try:
            x, y = point["x"], point["y"]
        except KeyError:
            raise KlingValidationError(
                "points", point, "each point needs 'x' and 'y' keys"
            ) from None
    else:
        if len(point) != 2:
            raise KlingValidationError("points", point, "each point is (x, y)")
        x, y = point
    try:
        xf, yf = float(x), float(y)
    except (TypeError, ValueError):
        raise KlingValidationError("points", point, "x and y must be numbers") from None
    if not (0.0 <= xf <= 1.0 and 0.0 <= yf <= 1.0) or math.isnan(xf) or math.isnan(yf):
        raise KlingValidationError(
            "points", point, "x and y are normalized: each must be within [0, 1]"
        )
    return (xf, yf)


def check_points(points: Iterable[Sequence[float] | Mapping[str, float]]) -> list[Point]:
    """Normalize a list of points; at least one, each within [0, 1]."""
    out = [check_point(p) for p in points]
    if not out:
        raise KlingValidationError("points", [], "give at least one point")
    return out


def check_frame(frame: int, frame_count: int) -> int:
    """Raise ``KlingValidationError`` unless ``frame`` is a frame of the clip."""
    if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)):
        raise KlingValidationError("frame", frame, "must be an integer frame index")
    if not 0 <= int(frame) < frame_count:
        raise KlingValidationError(
            "frame", frame, f"must be within 0..{frame_count - 1} (the clip has {frame_count})"
        )
    return int(frame)


def nearest_point(
    points: Sequence[Point], target: Point, aspect: float = 1.0, max_dist: float | None = None
) -> int | None:
    """Index of the point nearest to ``target``, measured in display space.

    ``aspect`` is width / height of the frame, so a distance along x counts as much as the
    same number of screen pixels along y. ``max_dist`` (in units of the frame height)
    rejects clicks too far from any point; ``None`` accepts any distance.
    """
    best: int | None = None
    best_d = math.inf
    for i, (x, y) in enumerate(points):
        d = math.hypot((x - target[0]) * aspect, y - target[1])
        if d < best_d:
            best, best_d = i, d
    if best is not None and max_dist is not None and best_d > max_dist:
        return None
    return best


def time_label(frame: int, frame_count: int, fps: float) -> str:
    """``"frame 12 / 150 · 0.40 s"``: the label next to the slider."""
    seconds = frame / fps if fps > 0 else 0.0
    return f"frame {frame} / {frame_count - 1} · {seconds:.2f} s"


def play_step(fps: float, max_redraws_per_s: float = 15.0) -> tuple[int, int]:
    """(step, interval_ms) for ``ipywidgets.Play`` so playback runs at the clip's speed.

    Each redraw is a round trip through the kernel, so frames are skipped (step > 1)
    rather than asking for more than ``max_redraws_per_s`` redraws a second.
    """
    fps = fps if fps > 0 else 30.0
    step = max(1, math.ceil(fps / max_redraws_per_s))
    return step, max(1, round(1000.0 * step / fps))


@dataclass
class FrameMasks:
    """The masks known for one frame: object ids and their full-resolution arrays."""

    object_ids: list[object]
    arrays: list[np.ndarray]
    # "selection" (a click's reply) outranks "tracked" (from the preview).
    source: Literal["selection", "tracked"] = "selection"


@dataclass
class EditorState:
    """Points, pending requests and masks of one editing session, by local frame index.

    Thread-safe: the widget thread and the API worker both read and write it.
    """

    frame_count: int
    fps: float
    width: int
    height: int
    frame: int = 0
    tool: Tool = "add"
    points: dict[int, list[Point]] = field(default_factory=dict)
    pending: dict[int, list[Point]] = field(default_factory=dict)
    masks: dict[int, FrameMasks] = field(default_factory=dict)
    # Bumped on every change of a frame's masks, so cached renderings know they are stale.
    versions: dict[int, int] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def aspect(self) -> float:
        """Width / height of the frame."""
        return self.width / self.height

    # --- points -----------------------------------------------------------------
    def marked_frames(self) -> list[int]:
        """Frames that carry points, confirmed or pending, in order."""
        with self._lock:
            keys = {f for f, p in self.points.items() if p}
            keys |= {f for f, p in self.pending.items() if p}
            return sorted(keys)

    def check_can_add(self, frame: int, n_new: int = 1) -> None:
        """Raise before sending when adding ``n_new`` points to ``frame`` breaks a limit."""
        with self._lock:
            marked = self.marked_frames()
            if frame not in marked:
                try:
                    rules.check_marked_frames(len(marked) + 1)
                except KlingValidationError as exc:
                    raise KlingValidationError(
                        "frame",
                        frame,
                        f"Kling allows {exc.rule} and frames {marked} already carry points; "
                        "remove the points of one of them first, or Clear",
                    ) from None
            have = len(self.points.get(frame, [])) + len(self.pending.get(frame, []))
            try:
                rules.check_points_per_frame(have + n_new)
            except KlingValidationError as exc:
                raise KlingValidationError(
                    "points", n_new, f"Kling allows {exc.rule}; frame {frame} already has {have}"
                ) from None

    def add_pending(self, frame: int, points: Sequence[Point]) -> None:
        """Record points sent but not answered yet (drawn at once, hollow)."""
        with self._lock:
            self.pending.setdefault(frame, []).extend(points)

    def drop_pending(self, frame: int, points: Sequence[Point]) -> None:
        """Forget pending points (their request finished, or failed)."""
        with self._lock:
            left = self.pending.get(frame, [])
            for p in points:
                if p in left:
                    left.remove(p)
            if not left:
                self.pending.pop(frame, None)

    def confirm_add(self, frame: int, points: Sequence[Point]) -> None:
        """Points that the server accepted."""
        with self._lock:
            self.drop_pending(frame, points)
            self.points.setdefault(frame, []).extend(points)

    def confirm_remove(self, frame: int, points: Sequence[Point]) -> None:
        """Points that the server deleted."""
        with self._lock:
            left = self.points.get(frame, [])
            for p in points:
                if p in left:
                    left.remove(p)
            if not left:
                self.points.pop(frame, None)

    def point_to_remove(self, frame: int, target: Point) -> Point | None:
        """The existing point a Remove click at ``target`` deletes (exact coordinates)."""
        with self._lock:
            pts = list(self.points.get(frame, []))
        i = nearest_point(pts, target, self.aspect)
        return None if i is None else pts[i]

    # --- masks ------------------------------------------------------------------
    def set_masks(self, frame: int, masks: FrameMasks) -> None:
        """Replace the masks shown on ``frame``."""
        with self._lock:
            current = self.masks.get(frame)
            if masks.source == "tracked" and current is not None and current.source == "selection":
                return  # a click's own reply is more exact than the tracker's guess
            self.masks[frame] = masks
            self.versions[frame] = self.versions.get(frame, 0) + 1

    def clear_masks(self, frame: int | None = None, source: str | None = None) -> None:
        """Forget masks (of one frame, or all; optionally only those of one source)."""
        with self._lock:
            frames = [frame] if frame is not None else list(self.masks)
            for f in frames:
                m = self.masks.get(f)
                if m is not None and (source is None or m.source == source):
                    del self.masks[f]
                    self.versions[f] = self.versions.get(f, 0) + 1

    def version(self, frame: int) -> int:
        """Change counter of ``frame``'s masks."""
        with self._lock:
            return self.versions.get(frame, 0)

    def tracked_frames(self) -> list[int]:
        """Frames whose masks came from the preview's tracking."""
        with self._lock:
            return sorted(f for f, m in self.masks.items() if m.source == "tracked")

    def clear_all(self) -> None:
        """Forget every point and mask (after clear-selection)."""
        with self._lock:
            self.points.clear()
            self.pending.clear()
            self.clear_masks()

    def all_object_ids(self) -> list[object]:
        """Every object id seen so far, in first-seen order (fixes each object's colour)."""
        with self._lock:
            seen: dict[object, None] = {}
            for f in sorted(self.masks):
                for oid in self.masks[f].object_ids:
                    seen.setdefault(oid, None)
            return list(seen)

    # --- snapshots (copies, taken under the lock: callers never touch it) ----------
    def points_on(self, frame: int) -> list[Point]:
        """Confirmed points of ``frame`` (a copy)."""
        with self._lock:
            return list(self.points.get(frame, []))

    def pending_on(self, frame: int) -> list[Point]:
        """Points of ``frame`` sent but not answered yet (a copy)."""
        with self._lock:
            return list(self.pending.get(frame, []))

    def all_points(self) -> dict[int, list[Point]]:
        """Confirmed points of every frame that has some (a copy)."""
        with self._lock:
            return {f: list(p) for f, p in self.points.items() if p}

    def point_count(self) -> int:
        """How many confirmed points there are over all frames."""
        with self._lock:
            return sum(len(p) for p in self.points.values())

    def missing_points(self, frame: int, points: Sequence[Point]) -> list[Point]:
        """Those of ``points`` that are not confirmed points of ``frame``."""
        with self._lock:
            have = self.points.get(frame, [])
            return [p for p in points if p not in have]

    def frame_masks(self, frame: int) -> FrameMasks | None:
        """The masks of ``frame`` (lists copied; arrays shared, never written in place)."""
        with self._lock:
            fm = self.masks.get(frame)
            if fm is None:
                return None
            return FrameMasks(list(fm.object_ids), list(fm.arrays), fm.source)

    def mask_key(self, frame: int) -> tuple[int, int] | None:
        """``(frame, version)`` of ``frame``'s masks, ``None`` when it has none."""
        with self._lock:
            if frame not in self.masks:
                return None
            return (frame, self.versions.get(frame, 0))

    def keyed_masks(self, frame: int) -> tuple[tuple[int, int], FrameMasks] | None:
        """``mask_key`` and ``frame_masks`` of ``frame`` read together (one version)."""
        with self._lock:
            fm = self.masks.get(frame)
            if fm is None:
                return None
            key = (frame, self.versions.get(frame, 0))
            return key, FrameMasks(list(fm.object_ids), list(fm.arrays), fm.source)

    def replace_masks(self, frame: int, masks: FrameMasks | None) -> tuple[int, int]:
        """Set (or with ``None`` forget) ``frame``'s masks; returns the old ``mask_key``."""
        with self._lock:
            old = (frame, self.versions.get(frame, 0))
            if masks is not None and masks.arrays:
                self.set_masks(frame, masks)
            else:
                self.clear_masks(frame)
            return old

    def reset(self) -> list[int]:
        """Forget every point and mask; returns the frames that had masks or points."""
        with self._lock:
            frames = sorted(set(self.masks) | set(self.points) | set(self.pending))
            self.clear_all()
            return frames

    def restore_points(self, frame: int, points: Sequence[Point]) -> None:
        """Points known from the journal (confirmed by the server in an earlier run)."""
        with self._lock:
            if points:
                self.points[frame] = [(float(x), float(y)) for x, y in points]


@dataclass(frozen=True)
class StripMark:
    """One mark on the strip under the frame."""

    frame: int
    kind: Literal["points", "tracked", "current"]


def strip_marks(state: EditorState) -> list[StripMark]:
    """Marks for the strip: frames with points, frames with a tracked mask, the current frame."""
    marks = [StripMark(f, "tracked") for f in state.tracked_frames()]
    marks += [StripMark(f, "points") for f in state.marked_frames()]
    marks.append(StripMark(state.frame, "current"))
    return marks


def strip_x(frame: int, frame_count: int, width: float) -> float:
    """Centre x of ``frame``'s slot on a strip ``width`` pixels wide."""
    return (frame + 0.5) * width / max(1, frame_count)


def strip_hit(
    x: float, width: float, frame_count: int, marked: Sequence[int], tolerance_px: float = 6.0
) -> int:
    """The frame a click at ``x`` on the strip seeks to.

    A click within ``tolerance_px`` of a marked frame snaps to it (marks are thin and a
    frame slot is often under a pixel wide); elsewhere it seeks to the frame under it.
    """
    best: int | None = None
    best_d = math.inf
    for f in marked:
        d = abs(strip_x(f, frame_count, width) - x)
        if d < best_d:
            best, best_d = f, d
    if best is not None and best_d <= tolerance_px:
        return best
    return min(frame_count - 1, max(0, int(x * frame_count / max(width, 1e-9))))
