"""Selection sessions: marked points, objects, their masks and their tracks.

A session holds one clip. Each marked point belongs to an object: a click inside an
object's mask on that frame (or inside its tracked mask, when it was marked on another
frame) joins that object, so an object's id follows it through the clip; a click whose
region overlaps an object's mask by more than half joins it too; anything else starts a
new object. An object's mask on a marked frame is the segmentation seeded by all of its
points there; on other frames it is tracked from the nearest marked frame.

Sessions expire ``SESSION_LIFETIME_S`` after creation on the business clock. Unknown and
expired sessions both answer HTTP 400 with code 1201 and a message starting
"session expired or not found", which the client maps to ``KlingSessionExpiredError``.
"""

from __future__ import annotations

import base64
import contextlib
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from kling_widget.emulator.clip import Clip
from kling_widget.emulator.envelope import INVALID_PARAMETER, ApiError, invalid
from kling_widget.emulator.vision.ops import BoolArray, dilate, rgb_to_lab, upscale_mask
from kling_widget.emulator.vision.segment import (
    ColourModel,
    Segmentation,
    refine,
    segment_frame,
    to_work_seeds,
)
from kling_widget.emulator.vision.track import resolve_overlaps, track, track_to
from kling_widget.limits import MAX_MARKED_FRAMES, MAX_POINTS_PER_FRAME, SESSION_LIFETIME_S
from kling_widget.rle import encode_rle

# Sessions whose decoded work frames are kept in memory at once.
MAX_DECODED_SESSIONS = 6
# A click's own region joins an existing object when it overlaps it by more than this
# fraction of the smaller of the two.
MERGE_OVERLAP = 0.5
# When nothing stands out around a click, its object is a small disc of this radius
# (fraction of the frame's shorter side).
FALLBACK_RADIUS = 0.02


@dataclass(frozen=True)
class MarkedPoint:
    """A point as sent (exact floats) and the object it was assigned to."""

    x: float
    y: float
    object_id: int


def png_base64(mask: BoolArray) -> str:
    """A mask as raw base64 of a greyscale PNG (0 / 255), without a ``data:`` prefix."""
    buf = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255, mode="L").save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def mask_entry(object_id: int, mask: BoolArray) -> dict[str, Any]:
    """One item of ``rle_mask_list``."""
    h, w = mask.shape
    return {
        "object_id": object_id,
        "rle_mask": encode_rle(mask),
        "png_mask": {"size": [h, w], "base64": png_base64(mask)},
    }


class SelectionSession:
    """One session: a clip and the points marked on it."""

    def __init__(self, session_id: str, clip: Clip, created: float, video_url: str) -> None:
        self.session_id = session_id
        self.clip = clip
        self.created = created
        self.video_url = video_url
        self.points: dict[int, list[MarkedPoint]] = {}
        self.version = 0
        self.lock = threading.RLock()
        self._next_id = 1
        self._segs: dict[tuple[int, int, tuple[tuple[float, float], ...]], Segmentation] = {}
        self._object_tracks: dict[
            int, tuple[tuple[Any, ...], list[tuple[BoolArray, ColourModel]]]
        ] = {}
        self.preview: dict[str, Any] | None = None
        self.last_used = created
        self.preview_version = -1

    def __repr__(self) -> str:
        return f"SelectionSession({self.session_id!r}, {self.clip!r})"

    # -- objects ---------------------------------------------------------------------------

    def object_points(self, frame: int) -> dict[int, list[tuple[float, float]]]:
        """Points per object on ``frame``, in the order they were added."""
        out: dict[int, list[tuple[float, float]]] = {}
        for p in self.points.get(frame, []):
            out.setdefault(p.object_id, []).append((p.x, p.y))
        return out

    def object_ids(self) -> list[int]:
        """Every object with at least one point, in id order."""
        return sorted({p.object_id for pts in self.points.values() for p in pts})

    def _segmentation(
        self, frame: int, object_id: int, pts: list[tuple[float, float]]
    ) -> Segmentation:
        key = (frame, object_id, tuple(pts))
        seg = self._segs.get(key)
        if seg is None:
            seg = self._segment(frame, pts)
            self._segs[key] = seg
        return seg

    def _segment(self, frame: int, pts: list[tuple[float, float]]) -> Segmentation:
        image = self.clip.frame(frame)
        seg = segment_frame(image, pts)
        if seg is not None:
            return seg
        return self._fallback(image, pts)

    def _fallback(self, image: NDArray[np.uint8], pts: list[tuple[float, float]]) -> Segmentation:
        # Nothing stands out (a flat area): a small disc around each point, so the flow
        # goes on as Kling's would with whatever it segmented.
        factor = self.clip.factor
        wh, ww = self.clip.work_shape()
        work = np.zeros((wh, ww), dtype=bool)
        for r, c in to_work_seeds(pts, (wh, ww)):
            work[r, c] = True
        work = dilate(work, max(1, int(FALLBACK_RADIUS * min(wh, ww))))
        lab = rgb_to_lab(image[::factor, ::factor][:wh, :ww])
        fg = lab[work].reshape(-1, 3)[:6].astype(np.float32)
        model = ColourModel(fg, np.zeros((0, 3), np.float32), threshold=1e9)
        full = upscale_mask(work, factor, image.shape[:2])
        return Segmentation(work, full, model, factor)

    def frame_masks(self, frame: int) -> list[tuple[int, BoolArray]]:
        """(object id, full-resolution mask) of every object with points on ``frame``."""
        out = []
        for oid, pts in sorted(self.object_points(frame).items()):
            out.append((oid, self._segmentation(frame, oid, pts).mask))
        return out

    def anchors(self) -> dict[int, dict[int, tuple[BoolArray, ColourModel]]]:
        """Per object, its mask and colour model on each frame it is marked on."""
        with self.lock:
            out: dict[int, dict[int, tuple[BoolArray, ColourModel]]] = {}
            for frame in sorted(self.points):
                for oid, pts in self.object_points(frame).items():
                    seg = self._segmentation(frame, oid, pts)
                    out.setdefault(oid, {})[frame] = (seg.work_mask, seg.model)
            return out

    def _anchor_key(self, oid: int) -> tuple[tuple[int, tuple[tuple[float, float], ...]], ...]:
        return tuple(
            (frame, tuple((p.x, p.y) for p in pts if p.object_id == oid))
            for frame, pts in sorted(self.points.items())
            if any(p.object_id == oid for p in pts)
        )

    def tracks(self) -> dict[int, list[tuple[BoolArray, ColourModel]]]:
        """Work-resolution masks of every object on every frame.

        Cached per object: marking another object does not re-track this one.
        """
        with self.lock:
            anchors = self.anchors()
            result: dict[int, list[tuple[BoolArray, ColourModel]]] = {}
            count = self._frame_count()
            for oid, marks in anchors.items():
                key = self._anchor_key(oid)
                cached = self._object_tracks.get(oid)
                if cached is None or cached[0] != key:
                    cached = (key, track(self.clip.work_frame, count, marks))
                    self._object_tracks[oid] = cached
                result[oid] = cached[1]
            for oid in list(self._object_tracks):
                if oid not in anchors:
                    del self._object_tracks[oid]
            return result

    def tracked(self, oid: int, frame: int) -> tuple[BoolArray, ColourModel] | None:
        """One object's work mask on one frame (tracking only what is needed)."""
        with self.lock:
            marks = self.anchors().get(oid)
            if not marks or frame >= self.clip.frame_count:
                return None
            cached = self._object_tracks.get(oid)
            if cached is not None and cached[0] == self._anchor_key(oid):
                return cached[1][frame] if frame < len(cached[1]) else None
            return track_to(self.clip.work_frame, marks, frame)

    def track_anchors(
        self, anchors: dict[int, dict[int, tuple[BoolArray, ColourModel]]]
    ) -> dict[int, list[tuple[BoolArray, ColourModel]]]:
        """Track each object from its anchors through the whole clip."""
        count = self._frame_count()
        return {oid: track(self.clip.work_frame, count, marks) for oid, marks in anchors.items()}

    def _frame_count(self) -> int:
        # Waits for the background decode so the count is what really decodes.
        last = self.clip.frame_count - 1
        with contextlib.suppress(IndexError):
            self.clip.work_frame(last)
        return self.clip.frame_count

    def full_masks(
        self,
        tracks: dict[int, list[tuple[BoolArray, ColourModel]]],
        index: int,
        frame: NDArray[np.uint8],
    ) -> list[tuple[int, BoolArray]]:
        """Full-resolution masks of every object on frame ``index`` (overlaps resolved)."""
        ids = sorted(tracks)
        masks, models = [], []
        for oid in ids:
            per_frame = tracks[oid]
            if index >= len(per_frame):
                masks.append(np.zeros(frame.shape[:2], dtype=bool))
                models.append(per_frame[-1][1])
                continue
            work, model = per_frame[index]
            masks.append(refine(frame, work, self.clip.factor, model))
            models.append(model)
        return list(zip(ids, resolve_overlaps(masks, models, frame), strict=True))

    # -- edits -----------------------------------------------------------------------------

    def add(self, frame: int, points: list[tuple[float, float]]) -> list[dict[str, Any]]:
        """Mark ``points`` on ``frame``; returns ``rle_mask_list`` for that frame."""
        with self.lock:
            existing = self.points.get(frame, [])
            # A point already marked on this frame is not marked twice: a client that re-sends
            # an add-selection whose reply was lost must not double its points (the emulator's
            # choice; Kling does not document it).
            marked = {(p.x, p.y) for p in existing}
            points = [p for p in dict.fromkeys(points) if p not in marked]
            if frame not in self.points and len(self.points) >= MAX_MARKED_FRAMES:
                raise invalid(
                    "frame_index",
                    frame,
                    f"at most {MAX_MARKED_FRAMES} marked frames; frames "
                    f"{sorted(self.points)} are marked already",
                )
            if len(existing) + len(points) > MAX_POINTS_PER_FRAME:
                raise invalid(
                    "points",
                    f"{len(existing)} marked + {len(points)} new",
                    f"at most {MAX_POINTS_PER_FRAME} points per frame",
                )
            for x, y in points:
                oid = self._assign(frame, x, y)
                self.points.setdefault(frame, []).append(MarkedPoint(x, y, oid))
                self.version += 1
            return [mask_entry(oid, m) for oid, m in self.frame_masks(frame)]

    def _assign(self, frame: int, x: float, y: float) -> int:
        h, w = self.clip.height, self.clip.width
        r, c = min(h - 1, int(y * h)), min(w - 1, int(x * w))
        on_frame = self.frame_masks(frame)
        for oid, mask in on_frame:
            if mask[r, c]:
                return oid
        current = dict(on_frame)
        others = [oid for oid in self.object_ids() if oid not in current]
        if others:
            wr, wc = to_work_seeds([(x, y)], self.clip.work_shape())[0]
            for oid in others:
                found = self.tracked(oid, frame)
                if found is None:
                    continue
                work_mask, model = found
                if work_mask[wr, wc]:
                    return oid
                current[oid] = refine(self.clip.frame(frame), work_mask, self.clip.factor, model)
        alone = self._segment(frame, [(x, y)]).mask
        area = int(alone.sum())
        best, best_overlap = None, 0.0
        for oid, mask in current.items():
            smaller = max(1, min(area, int(mask.sum())))
            overlap = int((alone & mask).sum()) / smaller
            if overlap > best_overlap:
                best, best_overlap = oid, overlap
        if best is not None and best_overlap > MERGE_OVERLAP:
            return best
        oid = self._next_id
        self._next_id += 1
        self._segs[(frame, oid, ((x, y),))] = self._segment(frame, [(x, y)])
        return oid

    def delete(self, frame: int, points: list[tuple[float, float]]) -> list[dict[str, Any]]:
        """Remove exactly these points from ``frame``; returns ``rle_mask_list`` for it."""
        with self.lock:
            marked = list(self.points.get(frame, []))
            for i, (x, y) in enumerate(points):
                for j, p in enumerate(marked):
                    if p.x == x and p.y == y:
                        del marked[j]
                        break
                else:
                    raise invalid(
                        f"points[{i}]",
                        {"x": x, "y": y},
                        f"not a marked point of frame {frame}; delete-selection needs the exact "
                        "coordinates that were added",
                    )
            if marked:
                self.points[frame] = marked
            else:
                self.points.pop(frame, None)
            self.version += 1
            return [mask_entry(oid, m) for oid, m in self.frame_masks(frame)]

    def clear(self) -> None:
        """Wipe every marked point."""
        with self.lock:
            self.points.clear()
            self.version += 1


class SessionStore:
    """Every session of the emulator, with expiry on the business clock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._sessions: dict[str, SelectionSession] = {}
        self._lock = threading.Lock()

    def add(self, session: SelectionSession) -> None:
        """Keep a new session (releasing the frames of long-unused ones)."""
        with self._lock:
            self._sessions[session.session_id] = session
            session.last_used = self._clock()
            self._release_idle()

    def _release_idle(self) -> None:
        # Work frames cost memory (~25 MB for a 5 s 720p clip); keep those of the most
        # recently used sessions only. A released session decodes again on demand.
        holding = sorted(
            (s for s in self._sessions.values() if s.clip.decoded),
            key=lambda s: s.last_used,
            reverse=True,
        )
        for idle in holding[MAX_DECODED_SESSIONS:]:
            if idle.lock.acquire(blocking=False):
                try:
                    idle.clip.release()
                finally:
                    idle.lock.release()

    def get(self, session_id: Any) -> SelectionSession:
        """The live session, or ``ApiError`` 400/1201 "session expired or not found"."""
        with self._lock:
            session = self._sessions.get(str(session_id))
            if session is not None and self._clock() >= session.created + SESSION_LIFETIME_S:
                del self._sessions[session.session_id]
                session.clip.close()
                session = None
        if session is not None:
            session.last_used = self._clock()
        if session is None:
            raise ApiError(
                INVALID_PARAMETER,
                f"session expired or not found: session_id={session_id!r} (sessions last "
                f"{SESSION_LIFETIME_S // 3600} h; init-selection again)",
            )
        return session

    def all(self) -> list[SelectionSession]:
        """Every session still held (expired ones until next looked up)."""
        with self._lock:
            return list(self._sessions.values())
