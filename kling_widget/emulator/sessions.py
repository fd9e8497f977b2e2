"""Selection sessions: marked points, objects, their masks and their tracks.

A session holds one clip. Each marked point belongs to an object: a click inside an
object's mask on that frame (or inside its tracked mask, when it was marked on another
frame) joins that object, so an object's id follows it through the clip; a click whose
own region lies mostly (more than half) inside an object's mask joins it too; anything
else starts a new object. An object's mask on a marked frame is the segmentation seeded by
all of its points there; on other frames it is tracked from the nearest marked frame. A
pixel two objects claim goes to the one with the lower id.

Tracking runs in a background thread as soon as the points change (following the clip's
decode), and the preview is drawn beside it, each frame as soon as its masks are known,
so Preview usually finds its files ready, or waits for little more than the tracking.

Object ids are numbered from 0 in the order objects are first clicked, as in Kling's
example answer (``"object_id": 0``); an id is never reused within a session.

Imports only the clip, the envelope, the mask entries, the tracked-mask hand-over
(``tracked``), the vision package and the rules.
The store that keeps sessions and expires them is in :mod:`.session_store`.

A little over 500 lines on purpose: adding, deleting and assigning points, and keeping the
tracks they invalidate in step, share one lock and one version counter; split apart, each
half would have to reach into the other's state under that lock.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kling_widget.emulator.clip import (
    SHUTTING_DOWN,
    Clip,
    foreground,
    start_background,
    yield_to_foreground,
)
from kling_widget.emulator.envelope import checked, invalid
from kling_widget.emulator.mask_entries import mask_entry
from kling_widget.emulator.tracked import Anchors, TrackedFrames, refined_masks
from kling_widget.emulator.vision.cancel import cancel_requested
from kling_widget.emulator.vision.ops import (
    BoolArray,
    ByteArray,
    to_work_seeds,
)
from kling_widget.emulator.vision.preview import PreviewFiles, render_preview_files
from kling_widget.emulator.vision.segment import (
    Segmentation,
    disc_segmentation,
    refine,
    segment_frame,
)
from kling_widget.emulator.vision.track import nearest_anchor, track
from kling_widget.rules import check_marked_frames, check_points_per_frame

# A click's own region joins an existing object when more than this fraction of it lies
# inside the object's mask.
MERGE_OVERLAP = 0.5
# ``close`` waits this long for the background threads by default.
CLOSE_WAIT_S = 60.0
# Background tracking starts this long after the points change.
TRACK_START_DELAY_S = 0.15

ObjectTracks = dict[int, tuple[list[BoolArray], Anchors]]
"""Per object id: its work mask on every frame, and the anchors it was tracked from."""
AnchorKey = tuple[tuple[int, tuple[tuple[float, float], ...]], ...]


@dataclass(frozen=True)
class MarkedPoint:
    """A point as sent (exact floats) and the object it was assigned to."""

    x: float
    y: float
    object_id: int


class SelectionSession:
    """One session: a clip and the points marked on it.

    Tracking starts in a background thread whenever the marked points change, so a
    preview or an edit created a moment later finds the tracks (or most of them) ready.
    """

    def __init__(self, session_id: str, clip: Clip, created: float, video_url: str) -> None:
        self.session_id = session_id
        self.clip = clip
        self.created = created
        self.video_url = video_url
        self.points: dict[int, list[MarkedPoint]] = {}
        self.version = 0
        self.lock = threading.RLock()
        self._next_id = 0
        self._segs: dict[tuple[int, int, tuple[tuple[float, float], ...]], Segmentation] = {}
        self._object_tracks: dict[int, tuple[AnchorKey, list[BoolArray], Anchors]] = {}
        # One tracking run at a time; it never takes ``lock`` (it works on a snapshot).
        self._track_lock = threading.Lock()
        self._tracker: threading.Thread | None = None
        self._tracker_version = -1
        # The preview made in the background for a version of the selection; one
        # preview is made at a time (by the background thread or a request).
        self._draft: tuple[int, PreviewFiles] | None = None
        self._draft_lock = threading.Lock()
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
        full = self.clip.frame(frame)
        # The decoded work frame, or the same reduction of the full one: identical either way.
        work = self.clip.work_frame_now(frame)
        seeds = to_work_seeds(pts, work.shape[:2])
        seg = segment_frame(full, work, seeds, self.clip.features(frame))
        if seg is not None:
            return seg
        return disc_segmentation(full.shape[:2], work, seeds)

    def _forget_unused(self) -> None:
        """Drop segmentations no marked point uses any more (they hold full-size masks)."""
        current = {
            (frame, oid, tuple(pts))
            for frame in self.points
            for oid, pts in self.object_points(frame).items()
        }
        for key in [k for k in self._segs if k not in current]:
            del self._segs[key]

    def frame_masks(self, frame: int) -> list[tuple[int, BoolArray]]:
        """(object id, full-resolution mask) of every object with points on ``frame``."""
        out: list[tuple[int, BoolArray]] = []
        taken: BoolArray | None = None
        for oid, pts in sorted(self.object_points(frame).items()):
            mask = self._segmentation(frame, oid, pts).mask
            # A pixel claimed twice goes to the object with the lower id (as when tracked).
            if taken is not None:
                mask = mask & ~taken
            taken = mask.copy() if taken is None else taken | mask
            out.append((oid, mask))
        return out

    def anchors(self) -> dict[int, Anchors]:
        """Per object, its work mask and colour model on each frame it is marked on."""
        with self.lock:
            out: dict[int, Anchors] = {}
            for frame in sorted(self.points):
                for oid, pts in self.object_points(frame).items():
                    seg = self._segmentation(frame, oid, pts)
                    out.setdefault(oid, {})[frame] = (seg.work_mask, seg.model)
            return out

    def _anchor_key(self, oid: int) -> AnchorKey:
        return tuple(
            (frame, tuple((p.x, p.y) for p in pts if p.object_id == oid))
            for frame, pts in sorted(self.points.items())
            if any(p.object_id == oid for p in pts)
        )

    def _snapshot(self) -> tuple[dict[int, Anchors], dict[int, AnchorKey]]:
        anchors = self.anchors()
        return anchors, {oid: self._anchor_key(oid) for oid in anchors}

    def _track_missing(
        self,
        anchors: dict[int, Anchors],
        keys: dict[int, AnchorKey],
        still_wanted: Callable[[], bool],
        progress: TrackedFrames | None = None,
    ) -> None:
        """Track every object whose cached track is not for ``keys`` (under the track lock);
        each mask goes to ``progress`` too as soon as it is known."""
        with self._track_lock:
            # The container's count while the clip is still being decoded: tracking follows
            # the decode instead of waiting for its end; checked against the decode below.
            count = self.clip.frame_count
            for oid, marks in anchors.items():
                cached = self._object_tracks.get(oid)
                if cached is not None and cached[0] == keys[oid]:
                    if progress is not None:
                        progress.fill(oid, cached[1])
                    continue
                if not still_wanted():
                    return
                sink = None if progress is None else functools.partial(progress.put, oid)
                masks = track(self.clip.work_frame, count, marks, lambda: not still_wanted(), sink)
                if not still_wanted():
                    return
                real = self._frame_count()
                if real != len(masks):  # the container promised more (or fewer) frames
                    masks = track(self.clip.work_frame, real, marks, lambda: not still_wanted())
                self._object_tracks[oid] = (keys[oid], masks, marks)

    def _start_tracking(self) -> None:
        """Track the current selection in the background (called with ``lock`` held)."""
        if not self.points:
            return
        version = self.version
        anchors, keys = self._snapshot()

        def wanted() -> bool:
            yield_to_foreground()  # called between frames
            return self.version == version and not SHUTTING_DOWN.is_set()

        def run() -> None:
            # Let the request that changed the points send its answer first: the click's
            # mask is what the user waits for.
            time.sleep(TRACK_START_DELAY_S)
            if not wanted():
                return
            progress = TrackedFrames(sorted(anchors), self.clip.frame_count)

            def track_all() -> None:
                try:
                    self._track_missing(anchors, keys, wanted, progress)
                finally:
                    progress.end()

            # Tracking in a thread of its own, the preview drawn here as masks arrive.
            tracker = start_background(track_all, f"emulator-track-{self.session_id}")
            try:
                with contextlib.suppress(Exception):  # the request path makes it and reports
                    self._draw_draft(version, anchors, progress, wanted)
            finally:
                tracker.join()

        self._tracker = start_background(run, f"emulator-preview-{self.session_id}")
        self._tracker_version = version

    def _draw_draft(
        self,
        version: int,
        anchors: dict[int, Anchors],
        progress: TrackedFrames,
        wanted: Callable[[], bool],
    ) -> None:
        """Draw the preview of ``version`` from masks as the tracker finds them."""
        with self._draft_lock:
            if not wanted() or (self._draft is not None and self._draft[0] == version):
                return

            def masks_for(index: int, frame: ByteArray) -> list[tuple[int, BoolArray]]:
                work = progress.wait(index, lambda: not wanted())
                if work is None:
                    raise RuntimeError("tracking ended early")
                return refined_masks(work, anchors, index, frame)

            files = self._render_preview(masks_for, sorted(anchors), wanted)
            if files is not None and progress.frame_count != self.clip.frame_count:
                files.discard()  # the clip had another length than promised: drawn again
                files = None
            self._keep_draft(version, files)

    def _render_preview(
        self,
        masks_for: Callable[[int, ByteArray], list[tuple[int, BoolArray]]],
        object_ids: list[int],
        wanted: Callable[[], bool] | None = None,
    ) -> PreviewFiles | None:
        clip = self.clip
        folder = Path(tempfile.mkdtemp(prefix="kling-emulator-preview-"))
        try:
            return render_preview_files(
                clip.iter_frames(),
                masks_for,
                (clip.width, clip.height),
                clip.rate(),
                clip.fps,
                object_ids,
                min(self.points) if self.points else 0,
                folder,
                None if wanted is None else (lambda: not wanted()),
            )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def _keep_draft(self, version: int, files: PreviewFiles | None) -> None:
        if files is None:
            return
        if self._draft is not None:
            self._draft[1].discard()
        self._draft = (version, files)

    def preview_files(self) -> PreviewFiles:
        """The preview of the current selection: the one made in the background when it
        is ready (or being made: waited for), else made now. The caller owns the files."""
        with self.lock:
            version = self.version
            tracker = self._tracker
            if tracker is not None and self._tracker_version == version:
                # The background thread is making this very preview: wait for it rather
                # than making it twice.
                tracker.join()
            with self._draft_lock:
                draft, self._draft = self._draft, None
                if draft is not None and draft[0] == version:
                    return draft[1]
                if draft is not None:
                    draft[1].discard()
                tracks = self.tracks()
                files = self._render_preview(
                    lambda i, frame: self.full_masks(tracks, i, frame) if tracks else [],
                    sorted(tracks),
                )
                assert files is not None  # not cancellable
                return files

    def tracks(self) -> ObjectTracks:
        """Work-resolution masks of every object on every frame (with their anchors).

        Cached per object: marking another object does not re-track this one; a track
        the background thread is computing is waited for, not computed twice.
        """
        with self.lock:
            anchors, keys = self._snapshot()
            # A render asked to stop stops tracking too (and fails with a missing track).
            self._track_missing(anchors, keys, lambda: not cancel_requested())
            for oid in list(self._object_tracks):
                if oid not in anchors:
                    del self._object_tracks[oid]
            return {oid: (self._object_tracks[oid][1], anchors[oid]) for oid in anchors}

    def track_anchors(self, anchors: dict[int, Anchors]) -> ObjectTracks:
        """Track each object from the given anchors through the whole clip."""
        count = self._frame_count()
        return {
            oid: (track(self.clip.work_frame, count, marks, cancel_requested), marks)
            for oid, marks in anchors.items()
        }

    def tracked(self, oid: int, frame: int) -> BoolArray | None:
        """One object's work mask on one frame, from its finished track, if any."""
        cached = self._object_tracks.get(oid)
        if cached is None or cached[0] != self._anchor_key(oid):
            return None
        masks = cached[1]
        return masks[frame] if frame < len(masks) else None

    def _frame_count(self) -> int:
        # Waits for the background decode so the count is what really decodes.
        last = self.clip.frame_count - 1
        with contextlib.suppress(IndexError):
            self.clip.work_frame(last)
        return self.clip.frame_count

    def full_masks(
        self, tracks: ObjectTracks, index: int, frame: ByteArray
    ) -> list[tuple[int, BoolArray]]:
        """Full-resolution masks of every object on frame ``index`` (overlaps resolved)."""
        work = {oid: masks[index] for oid, (masks, _) in tracks.items() if index < len(masks)}
        return refined_masks(work, {oid: marks for oid, (_, marks) in tracks.items()}, index, frame)

    # -- edits -----------------------------------------------------------------------------

    def add(self, frame: int, points: list[tuple[float, float]]) -> list[dict[str, Any]]:
        """Mark ``points`` on ``frame``; returns ``rle_mask_list`` for that frame."""
        with foreground(), self.lock:
            existing = self.points.get(frame, [])
            # A point already marked on this frame is not marked twice: a client that re-sends
            # an add-selection whose reply was lost must not double its points (the emulator's
            # choice; Kling does not document it).
            marked = {(p.x, p.y) for p in existing}
            points = [p for p in dict.fromkeys(points) if p not in marked]
            if frame not in self.points:
                checked(lambda: check_marked_frames(len(self.points) + 1))
            if points:
                checked(lambda: check_points_per_frame(len(existing) + len(points)))
            for x, y in points:
                oid = self._assign(frame, x, y)
                self.points.setdefault(frame, []).append(MarkedPoint(x, y, oid))
                self.version += 1
            entries = [mask_entry(oid, m) for oid, m in self.frame_masks(frame)]
            self._forget_unused()
            self._start_tracking()
            return entries

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
            anchors, keys = self._snapshot()
            for oid in others:
                work_mask = self.tracked(oid, frame)
                if work_mask is None:
                    self._track_missing({oid: anchors[oid]}, {oid: keys[oid]}, lambda: True)
                    work_mask = self.tracked(oid, frame)
                if work_mask is None:
                    continue
                if work_mask[wr, wc]:
                    return oid
                model = anchors[oid][nearest_anchor(list(anchors[oid]), frame)][1]
                current[oid] = refine(self.clip.frame(frame), work_mask, model)
        alone = self._segment(frame, [(x, y)])
        area = int(alone.mask.sum())
        best, best_overlap = None, 0.0
        for oid, mask in current.items():
            # Measured on the click's own region: a large region around an object (the
            # background it stands on) covers the object but is not it.
            overlap = int((alone.mask & mask).sum()) / max(1, area)
            if overlap > best_overlap:
                best, best_overlap = oid, overlap
        if best is not None and best_overlap > MERGE_OVERLAP:
            return best
        oid = self._next_id
        self._next_id += 1
        self._segs[(frame, oid, ((x, y),))] = alone
        return oid

    def delete(self, frame: int, points: list[tuple[float, float]]) -> list[dict[str, Any]]:
        """Remove exactly these points from ``frame``; returns ``rle_mask_list`` for it."""
        with foreground(), self.lock:
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
            entries = [mask_entry(oid, m) for oid, m in self.frame_masks(frame)]
            self._forget_unused()
            self._start_tracking()
            return entries

    def clear(self) -> None:
        """Wipe every marked point."""
        with self.lock:
            self.points.clear()
            self._segs.clear()
            self.version += 1

    def close(self, timeout: float = CLOSE_WAIT_S) -> bool:
        """Stop the background tracking and decoding, wait for their threads, close the clip.

        A clip closed under a thread still inside the decoder aborts the interpreter, so
        when a thread has not ended within ``timeout`` seconds the clip is left open and
        False is returned (the thread ends at its next check and holds the clip till then).
        """
        deadline = time.monotonic() + timeout
        # A new selection version: background tracking stops at its next check.
        self.clear()
        with self._draft_lock:
            if self._draft is not None:
                self._draft[1].discard()
                self._draft = None
        tracker = self._tracker
        if tracker is not None and tracker is not threading.current_thread():
            tracker.join(max(0.0, deadline - time.monotonic()))
            if tracker.is_alive():
                return False
        if not self.clip.stop_decoding(deadline - time.monotonic()):
            return False
        self.clip.close()
        return True
