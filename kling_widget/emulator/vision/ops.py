"""Small image helpers shared by segmentation, tracking and rendering (OpenCV, NumPy).

The work resolution (frames reduced so the longer side is at most ``WORK_MAX_SIDE``),
mask resizing between work and full resolution, disc structuring elements, boxes and
the colour model (foreground / background colour histograms) used to snap mask edges
to the object at full resolution.

Imports only NumPy and OpenCV.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

BoolArray = NDArray[np.bool_]
FloatArray = NDArray[np.float32]
ByteArray = NDArray[np.uint8]

# Segmentation and tracking run on frames whose longer side is at most this many pixels;
# edges are refined at full resolution.
WORK_MAX_SIDE = 480

# OpenCV's own threads would compete with the emulator's request and tracking threads on
# small machines; one thread per call also keeps results bit-for-bit reproducible.
cv2.setNumThreads(1)
cv2.setRNGSeed(0)


# Morphology with discs up to this radius uses a kernel; larger ones a distance transform.
SMALL_RADIUS = 3


def work_size(height: int, width: int) -> tuple[int, int]:
    """(h, w) of the work-resolution frames of a ``height`` x ``width`` clip."""
    scale = min(1.0, WORK_MAX_SIDE / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def to_work(frame: ByteArray, shape: tuple[int, int]) -> ByteArray:
    """A full-resolution frame reduced to the work ``shape`` (h, w) by area averaging."""
    if frame.shape[:2] == shape:
        return np.ascontiguousarray(frame)
    out = cv2.resize(frame, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return np.asarray(out, dtype=np.uint8)


def resize_soft(mask: BoolArray | FloatArray, shape: tuple[int, int]) -> FloatArray:
    """A mask resized to ``shape`` (h, w) as a float32 map in [0, 1] (bilinear)."""
    src = mask.astype(np.float32)
    if src.shape == shape:
        return src
    out = cv2.resize(src, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.asarray(out, dtype=np.float32)


def resize_mask(mask: BoolArray, shape: tuple[int, int]) -> BoolArray:
    """A boolean mask resized to ``shape`` (h, w) with smooth edges."""
    return resize_soft(mask, shape) >= 0.5


def disc(radius: int) -> ByteArray:
    """A disc-shaped structuring element of the given radius."""
    r = max(0, int(radius))
    return np.asarray(cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))


def dilate(mask: BoolArray, radius: int) -> BoolArray:
    """Binary dilation by a disc."""
    if radius <= 0:
        same: BoolArray = mask.copy()
        return same
    if radius > SMALL_RADIUS:
        # Large discs: a distance transform costs the same for any radius.
        dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
        return np.asarray(dist <= radius, dtype=bool)
    return np.asarray(cv2.dilate(mask.astype(np.uint8), disc(radius)), dtype=bool)


def erode(mask: BoolArray, radius: int) -> BoolArray:
    """Binary erosion by a disc (outside the image counts as background)."""
    if radius <= 0:
        same: BoolArray = mask.copy()
        return same
    padded = np.pad(mask.astype(np.uint8), 1)
    if radius > SMALL_RADIUS:
        dist = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_5)[1:-1, 1:-1]
        return np.asarray(dist > radius, dtype=bool)
    padded = np.pad(mask.astype(np.uint8), radius)
    out = cv2.erode(padded, disc(radius))[radius:-radius, radius:-radius]
    return np.asarray(out, dtype=bool)


def component_at(mask: BoolArray, seeds: BoolArray) -> BoolArray:
    """The 8-connected components of ``mask`` that contain a seed pixel."""
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros_like(mask)
    hit = np.unique(labels[seeds & mask])
    hit = hit[hit > 0]
    if hit.size == 0:
        return np.zeros_like(mask)
    keep = np.zeros(count, dtype=bool)
    keep[hit] = True
    return np.asarray(keep[labels], dtype=bool)


def fill_holes(mask: BoolArray) -> BoolArray:
    """Fill every background region not connected to the image border."""
    m = mask.astype(np.uint8)
    padded = np.pad(m, 1)
    flood = padded.copy()
    ff = np.zeros((flood.shape[0] + 2, flood.shape[1] + 2), np.uint8)
    cv2.floodFill(flood, ff, (0, 0), 1)
    holes = (flood[1:-1, 1:-1] == 0) & (m == 0)
    out: BoolArray = mask | holes
    return out


def bbox(mask: BoolArray) -> tuple[int, int, int, int] | None:
    """(y0, x0, y1, x1) with exclusive ends, or None for an empty mask."""
    pts = cv2.findNonZero(mask.astype(np.uint8))
    if pts is None:
        return None
    x, y, w, h = cv2.boundingRect(pts)
    return int(y), int(x), int(y + h), int(x + w)


def pad_box(
    box: tuple[int, int, int, int], margin: int, shape: tuple[int, int]
) -> tuple[int, int, int, int]:
    """``box`` grown by ``margin`` on every side, clipped to ``shape``."""
    y0, x0, y1, x1 = box
    return (
        max(0, y0 - margin),
        max(0, x0 - margin),
        min(shape[0], y1 + margin),
        min(shape[1], x1 + margin),
    )


def to_work_seeds(
    points: list[tuple[float, float]], work_shape: tuple[int, int]
) -> list[tuple[int, int]]:
    """Normalized (x, y) points -> (row, col) on the work grid, clamped inside it."""
    h, w = work_shape
    return [(min(h - 1, max(0, int(y * h))), min(w - 1, max(0, int(x * w)))) for x, y in points]


# -- colour model --------------------------------------------------------------------------

_BINS = 16
_SHIFT = 4  # 256 / 16


def _bin_index(rgb: ByteArray) -> NDArray[np.int32]:
    q = (rgb >> _SHIFT).astype(np.int32)
    return np.asarray((q[..., 0] * _BINS + q[..., 1]) * _BINS + q[..., 2], dtype=np.int32)


@dataclass(frozen=True)
class ColourModel:
    """An object's colours against its surroundings': a log-likelihood-ratio table over
    a 16x16x16 RGB histogram, learnt from the object's pixels and a ring around them."""

    log_ratio: FloatArray  # (16**3,) log p(colour | object) - log p(colour | around)

    @staticmethod
    def learn(rgb: ByteArray, inside: BoolArray, around: BoolArray) -> ColourModel:
        """Learn from the pixels of ``rgb`` under ``inside`` and under ``around``."""
        fg = np.bincount(_bin_index(rgb[inside]), minlength=_BINS**3).astype(np.float32)
        bg = np.bincount(_bin_index(rgb[around]), minlength=_BINS**3).astype(np.float32)
        cube = (_BINS, _BINS, _BINS)
        # Neighbouring bins share evidence: compression and shading shift colours a little.
        fg = np.asarray(cv2.GaussianBlur(fg.reshape(_BINS, -1), (3, 3), 0), np.float32).reshape(
            cube
        )
        bg = np.asarray(cv2.GaussianBlur(bg.reshape(_BINS, -1), (3, 3), 0), np.float32).reshape(
            cube
        )
        # Colours never seen on the object are unlikely on it (a small pseudo-count), and
        # the surroundings' model is mixed with a uniform one, so colours never seen
        # around the object either (an occluder arriving) still score as not-object.
        pf = (fg.ravel() + 0.05) / (fg.sum() + 0.05 * fg.size)
        pb = 0.5 * (bg.ravel() + 0.5) / (bg.sum() + 0.5 * bg.size) + 0.5 / bg.size
        return ColourModel(np.log(pf / pb).astype(np.float32))

    def score(self, rgb: ByteArray) -> FloatArray:
        """Per-pixel log-likelihood ratio (object vs surroundings) of an (..., 3) image."""
        return np.asarray(self.log_ratio[_bin_index(rgb)], dtype=np.float32)
