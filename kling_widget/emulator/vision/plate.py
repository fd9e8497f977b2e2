"""Removal: the clean background behind tracked objects, from the frames that reveal it.

1. The camera's path: a homography per frame onto a reference frame (the middle one),
   first chained from frame-to-frame fits of the optical flow outside the objects,
   then corrected by the flow between the reference and the frame warped onto it, so
   errors do not pile up along the clip.
2. The plate: sampled frames are warped onto the reference frame; each plate pixel is
   the median of the samples in which it is not hidden by an object. Pixels no frame
   reveals are inpainted (``cv2.inpaint``, Telea's method) from their surroundings.
3. Each frame's hidden pixels are replaced by the plate warped back into that frame.

Imports only NumPy, OpenCV and the vision helpers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from kling_widget.emulator.vision.motion import (
    Matrix,
    camera_motion,
    flow,
    grey,
    to_full,
)
from kling_widget.emulator.vision.ops import BoolArray, ByteArray, bbox, dilate

# At most this many frames are sampled for the plate, within this memory budget.
PLATE_SAMPLES = 30
PLATE_BUDGET_BYTES = 300 * 1024 * 1024
# A frame is corrected against the reference only when it still covers this much of it.
MIN_OVERLAP = 0.4
INPAINT_RADIUS = 5
_NONE = np.int16(999)


def camera_path(
    get_work: Callable[[int], ByteArray], count: int, holes: Sequence[BoolArray]
) -> list[Matrix]:
    """Per frame, the work-resolution homography from that frame onto the reference."""
    if count == 0:
        return []
    ref = count // 2
    steps: list[Matrix] = [np.eye(3)]  # steps[t]: frame t -> frame t - 1
    prev = grey(get_work(0))
    for t in range(1, count):
        cur = grey(get_work(t))
        field = flow(cur, prev)
        steps.append(camera_motion(field, dilate(holes[t], 3)))
        prev = cur
    chained: list[Matrix] = [np.eye(3)] * count
    acc = np.eye(3)
    for t in range(ref + 1, count):
        acc = acc @ steps[t]  # frame t -> ref
        chained[t] = acc.copy()
    acc = np.eye(3)
    for t in range(ref - 1, -1, -1):
        acc = acc @ np.linalg.inv(steps[t + 1])
        chained[t] = acc.copy()
    ref_grey = grey(get_work(ref))
    h, w = ref_grey.shape
    out: list[Matrix] = []
    for t in range(count):
        m = chained[t]
        if t != ref:
            m = _correct(grey(get_work(t)), ref_grey, m, holes[t], holes[ref], (h, w))
        out.append(m)
    return out


def _correct(
    cur: ByteArray,
    ref: ByteArray,
    guess: Matrix,
    hole: BoolArray,
    ref_hole: BoolArray,
    shape: tuple[int, int],
) -> Matrix:
    h, w = shape
    warped = np.asarray(cv2.warpPerspective(cur, guess, (w, h), flags=cv2.INTER_LINEAR), np.uint8)
    covered = cv2.warpPerspective(
        (~hole).astype(np.uint8), guess, (w, h), flags=cv2.INTER_NEAREST, borderValue=0
    ).astype(bool)
    if covered.mean() < MIN_OVERLAP:
        return guess
    field = flow(warped, ref)
    exclude = ~covered | dilate(ref_hole, 3)
    exclude = dilate(exclude, 4)
    residual = camera_motion(field, exclude)
    return np.asarray(residual @ guess, dtype=np.float64)


def _corners(box: tuple[int, int, int, int]) -> NDArray[np.float64]:
    y0, x0, y1, x1 = box
    return np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], np.float64)


class Plate:
    """The clean background of the holes, in the reference frame's full-res coordinates."""

    def __init__(self, origin: tuple[int, int], pixels: ByteArray) -> None:
        self.origin = origin  # (x, y) of the plate's top-left in reference coordinates
        self.pixels = pixels

    def fill(self, frame: ByteArray, hole: BoolArray, to_ref: Matrix) -> ByteArray:
        """Replace ``hole`` pixels of ``frame`` (in place) by the plate; returns it."""
        box = bbox(hole)
        if box is None:
            return frame
        y0, x0, y1, x1 = box
        # Output pixel (u, v) of the box is frame pixel (x0 + u, y0 + v); it shows plate
        # pixel T @ to_ref @ that, where T moves reference coordinates onto the plate.
        shift_in = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
        to_plate = np.array(
            [[1.0, 0.0, -self.origin[0]], [0.0, 1.0, -self.origin[1]], [0.0, 0.0, 1.0]]
        )
        m = to_plate @ to_ref @ shift_in
        patch = cv2.warpPerspective(
            self.pixels,
            m,
            (x1 - x0, y1 - y0),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        sub = hole[y0:y1, x0:x1]
        frame[y0:y1, x0:x1][sub] = patch[sub]
        return frame


def scaled_box(work_hole: BoolArray | None, scale: float) -> tuple[int, int, int, int] | None:
    """The full-resolution box (y0, x0, y1, x1) of a work-resolution hole."""
    b = None if work_hole is None else bbox(work_hole)
    if b is None:
        return None
    return (
        int(np.floor(b[0] * scale)),
        int(np.floor(b[1] * scale)),
        int(np.ceil(b[2] * scale)),
        int(np.ceil(b[3] * scale)),
    )


def plate_box(
    boxes: Sequence[tuple[int, int, int, int] | None],
    to_ref: Sequence[Matrix],
    shape: tuple[int, int],
) -> tuple[int, int, int, int] | None:
    """Reference-coordinate (y0, x0, y1, x1) covering every hole's box (full resolution),
    at most 3x the frame."""
    pts = []
    for b, m in zip(boxes, to_ref, strict=False):
        if b is None:
            continue
        corners = cv2.perspectiveTransform(_corners(b)[None], m)[0]
        pts.append(corners)
    if not pts:
        return None
    allp = np.concatenate(pts)
    h, w = shape
    x0, y0 = np.floor(allp.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(allp.max(axis=0)).astype(int) + 2
    x0, y0 = max(int(x0), -w), max(int(y0), -h)
    x1, y1 = min(int(x1), 2 * w), min(int(y1), 2 * h)
    if x0 >= x1 or y0 >= y1:
        return None
    return y0, x0, y1, x1


def build_plate(
    samples: Iterable[tuple[ByteArray, BoolArray, Matrix]], box: tuple[int, int, int, int]
) -> Plate:
    """Median of the revealed samples per plate pixel; the never-revealed rest inpainted.

    ``samples`` yields (full-res frame, its hole, its homography onto the reference).
    """
    y0, x0, y1, x1 = box
    hh, ww = y1 - y0, x1 - x0
    to_plate = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0], [0.0, 0.0, 1.0]])
    values: list[NDArray[np.int16]] = []
    for frame, hole, m in samples:
        full = to_plate @ m
        warped = cv2.warpPerspective(frame, full, (ww, hh), flags=cv2.INTER_LINEAR)
        seen = cv2.warpPerspective(
            (~hole).astype(np.uint8) * 255, full, (ww, hh), flags=cv2.INTER_LINEAR, borderValue=0
        )
        v = warped.astype(np.int16)
        v[seen < 255] = _NONE
        values.append(v)
    if not values:
        return Plate((x0, y0), np.zeros((hh, ww, 3), np.uint8))
    stack = np.stack(values)
    count = (stack[..., 0] != _NONE).sum(axis=0)
    stack.sort(axis=0)
    idx = np.clip((count - 1) // 2, 0, None)[None, :, :, None]
    med = np.take_along_axis(stack, np.broadcast_to(idx, (1, hh, ww, 3)), axis=0)[0]
    known = count > 0
    pixels = np.where(known[..., None], med, 0).clip(0, 255).astype(np.uint8)
    if not known.all() and known.any():
        pixels = np.asarray(
            cv2.inpaint(pixels, (~known).astype(np.uint8), INPAINT_RADIUS, cv2.INPAINT_TELEA),
            dtype=np.uint8,
        )
    return Plate((x0, y0), pixels)


def full_path(path: Sequence[Matrix], scale: float) -> list[Matrix]:
    """Work-resolution homographies at full resolution."""
    return [to_full(m, scale) for m in path]


def sample_count(box: tuple[int, int, int, int], frames: int) -> int:
    """How many frames to sample for a plate of ``box`` (memory-bounded)."""
    area = (box[2] - box[0]) * (box[3] - box[1])
    return max(3, min(PLATE_SAMPLES, frames, PLATE_BUDGET_BYTES // max(1, area * 6)))
