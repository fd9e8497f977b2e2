"""Small NumPy image operations shared by segmentation, tracking and rendering.

Binary morphology by shifted ORs, geodesic (minimax) propagation by relaxation, a
CIE-Lab conversion and a tiny deterministic k-means. Everything is vectorized over the
image; the only Python loops are over iterations and radii.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

BoolArray = NDArray[np.bool_]
FloatArray = NDArray[np.float32]
ByteArray = NDArray[np.uint8]

# Work resolution: the longer side of a frame is reduced to at most this many pixels
# (by an integer factor) for segmentation and tracking; masks are refined at full size.
WORK_MAX_SIDE = 384


def work_factor(height: int, width: int) -> int:
    """Integer reduction factor so the longer side is at most ``WORK_MAX_SIDE``."""
    return max(1, -(-max(height, width) // WORK_MAX_SIDE))


def downscale(frame: NDArray[np.uint8], factor: int) -> ByteArray:
    """Box-average an (h, w, 3) uint8 frame by an integer factor (edges cropped)."""
    if factor == 1:
        return np.ascontiguousarray(frame)
    h, w = frame.shape[0] // factor, frame.shape[1] // factor
    cropped = frame[: h * factor, : w * factor].astype(np.uint16)
    blocks = cropped.reshape(h, factor, w, factor, 3).sum(axis=(1, 3), dtype=np.uint32)
    out: ByteArray = ((blocks + factor * factor // 2) // (factor * factor)).astype(np.uint8)
    return out


def upscale_mask(mask: BoolArray, factor: int, shape: tuple[int, int]) -> BoolArray:
    """Nearest-neighbour upscale of a work-resolution mask to ``shape`` (h, w)."""
    if factor == 1 and mask.shape == shape:
        same: BoolArray = mask.copy()
        return same
    big = np.repeat(np.repeat(mask, factor, axis=0), factor, axis=1)
    out = np.zeros(shape, dtype=bool)
    h, w = min(shape[0], big.shape[0]), min(shape[1], big.shape[1])
    out[:h, :w] = big[:h, :w]
    # Rows/columns cropped by ``downscale`` copy their nearest neighbour.
    if h < shape[0]:
        out[h:, :w] = out[h - 1 : h, :w]
    if w < shape[1]:
        out[:, w:] = out[:, w - 1 : w]
    return out


_SRGB_LUT = None


def _srgb_to_linear_lut() -> NDArray[np.float32]:
    global _SRGB_LUT
    if _SRGB_LUT is None:
        c = np.arange(256, dtype=np.float64) / 255.0
        lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        _SRGB_LUT = lin.astype(np.float32)
    return _SRGB_LUT


_RGB_TO_XYZ = np.array(
    [
        [0.4124564 / 0.95047, 0.3575761 / 0.95047, 0.1804375 / 0.95047],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339 / 1.08883, 0.1191920 / 1.08883, 0.9503041 / 1.08883],
    ],
    dtype=np.float32,
)


def rgb_to_lab(rgb: NDArray[np.uint8]) -> FloatArray:
    """sRGB uint8 (..., 3) -> CIE L*a*b* float32 (..., 3), D65 white."""
    lin = _srgb_to_linear_lut()[rgb]
    xyz = lin @ _RGB_TO_XYZ.T
    eps = 216 / 24389
    f = np.where(xyz > eps, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116).astype(np.float32)
    lab = np.empty_like(f)
    lab[..., 0] = 116 * f[..., 1] - 16
    lab[..., 1] = 500 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200 * (f[..., 1] - f[..., 2])
    result: FloatArray = lab
    return result


def dilate(mask: BoolArray, radius: int = 1) -> BoolArray:
    """Binary dilation by a (2r+1) square."""
    out: BoolArray = mask.copy()
    for _ in range(radius):
        tmp = out.copy()
        tmp[1:] |= out[:-1]
        tmp[:-1] |= out[1:]
        out = tmp.copy()
        out[:, 1:] |= tmp[:, :-1]
        out[:, :-1] |= tmp[:, 1:]
    return out


def erode(mask: BoolArray, radius: int = 1) -> BoolArray:
    """Binary erosion by a (2r+1) square (outside the image counts as background)."""
    return ~dilate(~mask, radius) if radius > 0 else mask.copy()


def open_(mask: BoolArray, radius: int = 1) -> BoolArray:
    """Morphological opening: removes specks and thin bridges."""
    if radius <= 0:
        same: BoolArray = mask.copy()
        return same
    return dilate(erode(mask, radius), radius) & mask


def close(mask: BoolArray, radius: int = 1) -> BoolArray:
    """Morphological closing: fills thin gaps and notches."""
    if radius <= 0:
        same: BoolArray = mask.copy()
        return same
    padded = np.pad(mask, radius, mode="edge")
    return erode(dilate(padded, radius), radius)[radius:-radius, radius:-radius] | mask


def minimax(cost: FloatArray, seeds: BoolArray, limit: float = np.inf) -> FloatArray:
    """Bottleneck distance from ``seeds``: for each pixel, the smallest possible largest
    ``cost`` along an 8-connected path from a seed. Pixels above ``limit`` never relay.

    The set ``{minimax <= t}`` is the connected region grown from the seeds at threshold
    ``t``, for every ``t`` at once.
    """
    inf = np.float32(np.inf)
    c = np.where(cost <= limit, cost, inf).astype(np.float32)
    g = np.full(c.shape, inf, dtype=np.float32)
    g[seeds] = c[seeds]
    h, w = cost.shape[:2]
    nb = np.empty((h + 2, w + 2), dtype=np.float32)
    for it in range(4 * (h + w)):
        nb.fill(inf)
        nb[1:-1, 1:-1] = g
        # min over the 3x3 neighbourhood, separably: rows then columns.
        rows = np.minimum(np.minimum(nb[:-2], nb[1:-1]), nb[2:])
        best = np.minimum(np.minimum(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])
        new = np.maximum(best, c)
        np.minimum(new, g, out=new)
        if it % 4 == 3 and np.array_equal(new, g):
            break
        g = new
    return g


def reconstruct(marker: BoolArray, allowed: BoolArray) -> BoolArray:
    """The parts of ``allowed`` 8-connected to ``marker`` (geodesic reconstruction)."""
    cost = np.where(allowed, np.float32(0), np.float32(np.inf)).astype(np.float32)
    return np.asarray(minimax(cost, marker & allowed, limit=0.0) <= 0)


def fill_holes(mask: BoolArray) -> BoolArray:
    """Fill every background region not connected to the image border."""
    border = np.zeros_like(mask)
    border[0, :] = border[-1, :] = True
    border[:, 0] = border[:, -1] = True
    outside = reconstruct(border & ~mask, ~mask)
    return ~outside


def kmeans(samples: FloatArray, k: int, iterations: int = 8) -> FloatArray:
    """Deterministic k-means (farthest-point initialisation) on (n, 3) samples."""
    n = samples.shape[0]
    if n == 0:
        return np.zeros((0, 3), dtype=np.float32)
    if n > 4000:
        # An even stride keeps it deterministic and fast.
        samples = samples[:: n // 4000 + 1]
    k = min(k, samples.shape[0])
    centres = [samples[0]]
    d = np.sum((samples - centres[0]) ** 2, axis=1)
    centres[0] = samples[int(np.argmin(np.sum((samples - samples.mean(0)) ** 2, axis=1)))]
    d = np.sum((samples - centres[0]) ** 2, axis=1)
    for _ in range(1, k):
        idx = int(np.argmax(d))
        if d[idx] <= 1e-6:
            break
        centres.append(samples[idx])
        d = np.minimum(d, np.sum((samples - samples[idx]) ** 2, axis=1))
    c = np.array(centres, dtype=np.float32)
    for _ in range(iterations):
        dist = ((samples[:, None, :] - c[None, :, :]) ** 2).sum(-1)
        label = np.argmin(dist, axis=1)
        for j in range(c.shape[0]):
            sel = samples[label == j]
            if len(sel):
                c[j] = sel.mean(0)
    return c


def palette_distance(lab: FloatArray, palette: FloatArray) -> FloatArray:
    """Distance of each pixel (..., 3) to the nearest palette colour (k, 3)."""
    if palette.shape[0] == 0:
        return np.full(lab.shape[:-1], np.inf, dtype=np.float32)
    best = None
    for colour in palette:
        d = lab - colour
        dist = np.sqrt(np.einsum("...c,...c->...", d, d))
        best = dist if best is None else np.minimum(best, dist)
    assert best is not None
    result: FloatArray = best.astype(np.float32)
    return result


def shift(mask: BoolArray, dy: int, dx: int) -> BoolArray:
    """Translate a mask by (dy, dx) pixels, filling with False."""
    h, w = mask.shape
    out = np.zeros_like(mask)
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    if abs(dy) < h and abs(dx) < w:
        out[yd, xd] = mask[ys, xs]
    return out


def bbox(mask: BoolArray) -> tuple[int, int, int, int] | None:
    """(y0, x0, y1, x1) with exclusive ends, or None for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def centroid(mask: BoolArray) -> tuple[float, float] | None:
    """(y, x) centre of mass, or None for an empty mask."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    return float(ys.mean()), float(xs.mean())


ColourTracks = dict[int, list[tuple[BoolArray, Any]]]
"""Per object id, (work mask, colour model) on every frame."""
