"""Motion between frames: dense optical flow (OpenCV's DIS) and the camera's motion.

The camera's motion between two frames is a homography fitted (RANSAC) to the flow of
the pixels outside the tracked objects; an object's own motion is a similarity
transform fitted to the flow inside its mask. Both are estimated on work-resolution
grey frames; ``to_full`` converts a work-resolution homography to full resolution.

Imports only NumPy, OpenCV and the vision helpers.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
from numpy.typing import NDArray

from kling_widget.emulator.vision.ops import BoolArray, ByteArray, FloatArray

Matrix = NDArray[np.float64]
# Flow vectors are sampled on a grid with this step (work px) for the model fits.
GRID_STEP = 4
# The camera's fit uses a sparser grid: a couple of thousand vectors pin a homography down,
# and RANSAC's cost grows with their number.
CAMERA_GRID_STEP = 8
MIN_VECTORS = 12
RANSAC_PX = 1.0

_local = threading.local()


def grey(rgb: ByteArray) -> ByteArray:
    """Luma of an RGB frame."""
    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), dtype=np.uint8)


def flow(prev: ByteArray, cur: ByteArray) -> FloatArray:
    """Dense flow (h, w, 2): pixel p of ``prev`` moves to p + flow[p] in ``cur``."""
    dis = getattr(_local, "dis", None)
    if dis is None:
        # One DIS instance per thread: instances keep state and are not thread-safe.
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)  # type: ignore[attr-defined]
        _local.dis = dis
    out = dis.calc(prev, cur, None)
    return np.asarray(out, dtype=np.float32)


def _samples(
    field: FloatArray, where: BoolArray, step: int = GRID_STEP
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    ys, xs = np.nonzero(where[::step, ::step])
    ys, xs = ys * step, xs * step
    src = np.stack([xs, ys], axis=1).astype(np.float32)
    dst = src + field[ys, xs]
    return src, dst


def camera_motion(field: FloatArray, exclude: BoolArray | None = None) -> Matrix:
    """Homography (3x3) from ``prev`` to ``cur`` fitted to the flow outside ``exclude``."""
    h, w = field.shape[:2]
    keep = np.ones((h, w), bool) if exclude is None else ~exclude
    # Flow is least reliable at the frame's border (pixels entering or leaving).
    margin = CAMERA_GRID_STEP
    keep[:margin] = keep[-margin:] = False
    keep[:, :margin] = keep[:, -margin:] = False
    src, dst = _samples(field, keep, CAMERA_GRID_STEP)
    if len(src) < MIN_VECTORS:
        return np.eye(3)
    found, _ = cv2.findHomography(src, dst, cv2.RANSAC, RANSAC_PX, maxIters=500, confidence=0.99)
    if found is None:
        return np.eye(3)
    return np.asarray(found, dtype=np.float64)


def object_motion(field: FloatArray, inside: BoolArray) -> Matrix | None:
    """Similarity transform (3x3) of the pixels in ``inside``, or None when too few."""
    step = max(1, min(GRID_STEP, int(np.sqrt(inside.sum() / 200.0))))
    src, dst = _samples(field, inside, step)
    if len(src) < MIN_VECTORS:
        return None
    found, _ = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX, maxIters=500
    )
    if found is None:
        return None
    return np.vstack([np.asarray(found, np.float64), [0.0, 0.0, 1.0]])


def warp_mask(mask: BoolArray | FloatArray, matrix: Matrix, shape: tuple[int, int]) -> FloatArray:
    """``mask`` moved by ``matrix`` (3x3) onto a ``shape`` (h, w) grid, as a soft map."""
    out = cv2.warpPerspective(
        mask.astype(np.float32), matrix, (shape[1], shape[0]), flags=cv2.INTER_LINEAR
    )
    return np.asarray(out, dtype=np.float32)


def to_full(matrix: Matrix, scale: float) -> Matrix:
    """A work-resolution homography at full resolution (``scale`` = full / work size)."""
    # Pixel centres: full x = scale * work x + (scale - 1) / 2.
    off = (scale - 1.0) / 2.0
    c = np.array([[scale, 0.0, off], [0.0, scale, off], [0.0, 0.0, 1.0]])
    return np.asarray(c @ matrix @ np.linalg.inv(c), dtype=np.float64)
