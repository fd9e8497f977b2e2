"""Checking a replayed selection: did the same masks come back?

Imports the API's mask model (to decode masks) and numpy; nothing else of the package.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kling_widget.api.models import ObjectMask


@dataclass(frozen=True)
class FrameCheck:
    """How the masks of one frame compare after a session was rebuilt."""

    frame_index: int
    matched: bool
    iou: float
    detail: str = ""


@dataclass(frozen=True)
class RebuildReport:
    """What a session rebuild did: ops replayed and whether every mask came back.

    ``points`` and ``marked_frames`` describe the selection that was re-marked.
    """

    old_session_id: str | None
    new_session_id: str
    reason: str
    replayed: int
    frames: list[FrameCheck] = field(default_factory=list)
    points: int = 0
    marked_frames: int = 0

    @property
    def ok(self) -> bool:
        """True when every replayed frame's masks equal the journaled ones."""
        return all(f.matched for f in self.frames)

    def __str__(self) -> str:
        n, k = self.points, self.marked_frames
        what = f"{n} point{'s' if n != 1 else ''} on {k} frame{'s' if k != 1 else ''}"
        where = "the same selection session" if self.reason == "resync" else "a new session"
        head = f"Re-marked {what} on {where}"
        if self.ok:
            return head + ("; every mask came back the same" if self.frames else "")
        bad = "; ".join(
            f"frame {f.frame_index}: overlap {f.iou:.0%} {f.detail}".rstrip()
            for f in self.frames
            if not f.matched
        )
        return head + f", but the masks differ from before on {bad}: check the selection"


def compare_masks(
    frame: int,
    before: list[dict[str, Any]],
    after: list[dict[str, Any]],
    shape: tuple[int, int] | None = None,
) -> FrameCheck:
    """Decode two raw ``rle_mask_list``s of one frame and compare them pixel by pixel.

    Object ids are not compared: Kling numbers objects per session, so a replay may
    renumber them; what matters is that the same set of masks came back. ``shape``
    (h, w) lets a mask written with a swapped ``[w, h]`` size decode.
    """

    def decode(items: list[dict[str, Any]]) -> list[Any]:
        return [ObjectMask.from_json(item).to_array(shape).astype(bool) for item in items]

    try:
        a, b = decode(before), decode(after)
    except ValueError as exc:
        return FrameCheck(frame, False, 0.0, f"(a mask could not be decoded: {exc})")
    if not a and not b:
        return FrameCheck(frame, True, 1.0)
    if not a or not b or a[0].shape != b[0].shape:
        return FrameCheck(frame, False, 0.0, f"({len(a)} object(s) before, {len(b)} now)")
    union_a, union_b = np.logical_or.reduce(a), np.logical_or.reduce(b)
    inter = int(np.logical_and(union_a, union_b).sum())
    union = int(np.logical_or(union_a, union_b).sum())
    iou = 1.0 if union == 0 else inter / union

    def digests(masks: list[Any]) -> Counter[str]:
        return Counter(hashlib.sha256(np.packbits(m).tobytes()).hexdigest() for m in masks)

    same = digests(a) == digests(b)
    detail = "" if same or iou < 1.0 else f"({len(a)} object(s) before, {len(b)} now)"
    return FrameCheck(frame, same, iou, detail)
