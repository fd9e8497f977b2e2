"""Client-side memory of each selection session's marked frames and points.

Used by the clients to refuse an 11th marked frame or an 11th point locally, before it is
sent. Imports only the rules; never the clients.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kling_widget.limits import MAX_MARKED_FRAMES, MAX_POINTS_PER_FRAME
from kling_widget.rules import fail as _fail

Point = tuple[float, float]


class SelectionTracker:
    """Client-side memory of the marked frames of each session.

    Kling allows at most ``MAX_MARKED_FRAMES`` frames per session and
    ``MAX_POINTS_PER_FRAME`` points per frame; the 11th frame is refused here, before it
    is sent. A frame stops counting when all its points are deleted, and ``clear`` forgets
    them all. A session restored from elsewhere can be seeded with :meth:`restore`.
    """

    def __init__(self) -> None:
        self._frames: dict[str, dict[int, list[Point]]] = {}
        # The editor calls from its worker thread while the UI thread may read.
        self._lock = threading.RLock()

    def frames(self, session_id: str) -> dict[int, list[Point]]:
        """Marked frames of a session -> their points (a copy)."""
        with self._lock:
            return {f: list(p) for f, p in self._frames.get(session_id, {}).items()}

    def check_add(
        self, session_id: str, frame_index: int, points: Sequence[Mapping[str, Any]]
    ) -> None:
        """Raise when adding ``points`` on ``frame_index`` would break a per-session limit."""
        with self._lock:
            frames = {f: list(p) for f, p in self._frames.get(session_id, {}).items()}
        if frame_index not in frames and len(frames) >= MAX_MARKED_FRAMES:
            raise _fail(
                "frame_index",
                frame_index,
                f"at most {MAX_MARKED_FRAMES} marked frames per session "
                f"(already marked: {sorted(frames)})",
            )
        total = len(frames.get(frame_index, [])) + len(points)
        if total > MAX_POINTS_PER_FRAME:
            raise _fail(
                "points",
                f"{total} points on frame {frame_index}",
                f"at most {MAX_POINTS_PER_FRAME} points per frame",
            )

    def record_add(
        self, session_id: str, frame_index: int, points: Sequence[Mapping[str, Any]]
    ) -> None:
        """Remember points the server accepted."""
        with self._lock:
            frame = self._frames.setdefault(session_id, {}).setdefault(frame_index, [])
            frame.extend((float(p["x"]), float(p["y"])) for p in points)

    def record_delete(
        self, session_id: str, frame_index: int, points: Sequence[Mapping[str, Any]]
    ) -> None:
        """Forget deleted points; a frame left without points no longer counts."""
        with self._lock:
            frames = self._frames.get(session_id)
            if not frames or frame_index not in frames:
                return
            remaining = frames[frame_index]
            for p in points:
                key = (float(p["x"]), float(p["y"]))
                if key in remaining:
                    remaining.remove(key)
            if not remaining:
                del frames[frame_index]

    def record_clear(self, session_id: str) -> None:
        """Forget every point of a session (clear-selection, or the session is gone)."""
        with self._lock:
            self._frames.pop(session_id, None)

    def restore(self, session_id: str, frames: Mapping[int, Iterable[Point]]) -> None:
        """Seed the memory for a session whose points were added by another process."""
        seeded = {
            int(f): [(float(x), float(y)) for x, y in pts] for f, pts in frames.items() if pts
        }
        with self._lock:
            self._frames[session_id] = seeded
