"""Tracked masks handed from the tracking thread to the preview as they are found.

The background work of a session tracks every object and draws the preview at once, in
two threads: the preview's frame ``i`` is drawn as soon as every object's mask on ``i``
is known, so a preview is ready soon after the tracking ends rather than a whole
decode-draw-encode pass later.

Imports only NumPy and the vision package.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from kling_widget.emulator.vision.ops import BoolArray, ByteArray, ColourModel
from kling_widget.emulator.vision.segment import refine
from kling_widget.emulator.vision.track import nearest_anchor

Anchors = dict[int, tuple[BoolArray, ColourModel]]
"""One object's work mask and colour model on each frame it is marked on."""

# A reader checks whether it is still wanted this often while it waits.
_POLL_S = 0.1


class TrackedFrames:
    """Per object, its work mask on each frame, filled in any order by the tracker."""

    def __init__(self, object_ids: list[int], frame_count: int) -> None:
        self.frame_count = frame_count
        self._masks: dict[int, list[BoolArray | None]] = {
            oid: [None] * frame_count for oid in object_ids
        }
        self._cond = threading.Condition()
        self._ended = False

    def put(self, object_id: int, frame: int, mask: BoolArray) -> None:
        """One object's mask on one frame."""
        with self._cond:
            masks = self._masks[object_id]
            if frame < len(masks):
                masks[frame] = mask
                self._cond.notify_all()

    def fill(self, object_id: int, masks: list[BoolArray]) -> None:
        """One object's masks on every frame (a track computed earlier)."""
        with self._cond:
            own = self._masks[object_id]
            for t in range(min(len(own), len(masks))):
                own[t] = masks[t]
            self._cond.notify_all()

    def end(self) -> None:
        """No more masks will come (tracking finished, failed or was cancelled)."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def _ready(self, frame: int) -> dict[int, BoolArray] | None:
        found = {}
        for oid, masks in self._masks.items():
            mask = masks[frame] if frame < len(masks) else None
            if mask is None:
                return None
            found[oid] = mask
        return found

    def wait(self, frame: int, cancelled: Callable[[], bool]) -> dict[int, BoolArray] | None:
        """Every object's mask on ``frame``, waiting for them; None when they will not come
        (tracking ended without them, or ``cancelled()``)."""
        with self._cond:
            while True:
                found = self._ready(frame)
                if found is not None:
                    return found
                if self._ended or cancelled():
                    return None
                self._cond.wait(_POLL_S)


def refined_masks(
    work: dict[int, BoolArray], anchors: dict[int, Anchors], index: int, frame: ByteArray
) -> list[tuple[int, BoolArray]]:
    """Every object's work mask on frame ``index`` at full resolution, edges snapped by
    colour; an object without a mask there gets an empty one. A pixel two objects claim
    goes to the lower id."""
    out: list[tuple[int, BoolArray]] = []
    taken = np.zeros(frame.shape[:2], dtype=bool)
    for oid in sorted(anchors):
        if oid not in work:
            out.append((oid, np.zeros(frame.shape[:2], dtype=bool)))
            continue
        marks = anchors[oid]
        model = marks[nearest_anchor(list(marks), index)][1]
        full = refine(frame, work[oid], model)
        full &= ~taken
        taken |= full
        out.append((oid, full))
    return out
