"""Segment the object under clicked points (NumPy only, deterministic).

Method (work resolution first, then full-resolution edges):

1. The frame is box-reduced so its longer side is at most ``WORK_MAX_SIDE`` px and
   converted to CIE-Lab.
2. A colour palette is taken from a small window around each seed (k-means), and every
   pixel gets its distance to the nearest palette colour.
3. The region grown from the seeds at threshold ``t`` is ``{minimax <= t}``, where
   ``minimax`` is the bottleneck path distance from the seeds. Its area as a function of
   ``t`` has a plateau while the region is the object and jumps when it leaks into the
   background; the threshold is the middle of the most stable plateau (in the spirit of
   MSER). Nothing here is tuned to particular colours: the threshold adapts to the local
   contrast between the object and what surrounds it.
4. Holes are filled, specks and thin bridges removed (opening), the seeds' component kept.
5. A foreground palette (inside) and a background palette (a ring outside) are learnt;
   at full resolution, pixels in a band around the upscaled boundary are re-classified
   (nearer the foreground palette than the background one and within the threshold), so
   edges are pixel-accurate although the region was found at reduced size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kling_widget.emulator.vision.ops import (
    BoolArray,
    FloatArray,
    bbox,
    close,
    dilate,
    downscale,
    erode,
    fill_holes,
    kmeans,
    minimax,
    open_,
    palette_distance,
    reconstruct,
    rgb_to_lab,
    upscale_mask,
    work_factor,
)

# Largest colour distance (CIE76 units) a region may be grown at.
MAX_THRESHOLD = 80.0
THRESHOLD_STEP = 0.5
# A region larger than this fraction of the frame is a leak into the background.
MAX_AREA_FRACTION = 0.6
# Relative area growth per threshold step still counted as "stable".
STABLE_GROWTH = 0.015
# A plateau must span at least this many threshold steps to be preferred.
MIN_RUN_STEPS = 6
# The second, palette-based pass may grow the region by at most this factor.
REGROW_LIMIT = 1.6
SEED_RADIUS = 2
SEED_COLOURS = 4
OBJECT_COLOURS = 6
BACKGROUND_COLOURS = 8


@dataclass(frozen=True)
class ColourModel:
    """What an object looks like: palettes in Lab and the distance threshold."""

    foreground: FloatArray
    background: FloatArray
    threshold: float

    def classify(self, lab: FloatArray) -> BoolArray:
        """Pixels (..., 3) that belong to the object by colour."""
        d_fg = palette_distance(lab, self.foreground)
        inside = d_fg <= self.threshold
        if self.background.shape[0]:
            inside &= d_fg < palette_distance(lab, self.background)
        return np.asarray(inside)

    def distances(self, lab: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(distance to the foreground palette, distance to the background palette)."""
        return palette_distance(lab, self.foreground), palette_distance(lab, self.background)


@dataclass(frozen=True)
class Segmentation:
    """A segmented object on one frame: the mask at work and at full resolution."""

    work_mask: BoolArray
    mask: BoolArray
    model: ColourModel
    factor: int


def _seed_palette(lab: FloatArray, seeds: list[tuple[int, int]]) -> FloatArray:
    h, w = lab.shape[:2]
    samples = []
    for r, c in seeds:
        y0, y1 = max(0, r - SEED_RADIUS), min(h, r + SEED_RADIUS + 1)
        x0, x1 = max(0, c - SEED_RADIUS), min(w, c + SEED_RADIUS + 1)
        samples.append(lab[y0:y1, x0:x1].reshape(-1, 3))
    return kmeans(np.concatenate(samples).astype(np.float32), SEED_COLOURS)


def choose_threshold(grown: FloatArray, min_area: int, max_area: int) -> float | None:
    """Middle of the most stable plateau of the region-area curve, or None."""
    values = np.sort(grown[np.isfinite(grown)].ravel())
    if values.size == 0:
        return None
    ts = np.arange(THRESHOLD_STEP, MAX_THRESHOLD + THRESHOLD_STEP, THRESHOLD_STEP)
    area = np.searchsorted(values, ts, side="right").astype(np.float64)
    growth = np.empty_like(area)
    growth[:-1] = (area[1:] - area[:-1]) / np.maximum(area[:-1], 1.0)
    growth[-1] = 0.0 if area[-1] < max_area else np.inf
    valid = (area >= min_area) & (area <= max_area)
    if not valid.any():
        return None
    stable = valid & (growth <= STABLE_GROWTH)
    if not stable.any():
        # No plateau: take the step that grows least among the valid ones.
        return float(ts[int(np.argmin(np.where(valid, growth, np.inf)))])
    # Maximal runs of stable steps. A slow leak into similar background can make a long
    # run too, so the run that grows least per step wins among runs long enough to count
    # (ties go to the lower threshold: the tighter region).
    runs: list[tuple[int, int]] = []
    start = -1
    for i, ok in enumerate(stable):
        if ok and start < 0:
            start = i
        if start >= 0 and (not ok or i == len(stable) - 1):
            end = i if ok else i - 1
            runs.append((start, end - start + 1))
            start = -1
    long_runs = [r for r in runs if r[1] >= MIN_RUN_STEPS] or [max(runs, key=lambda r: r[1])]

    def mean_growth(run: tuple[int, int]) -> float:
        first, length = run
        return float(np.mean(growth[first : first + length]))

    best_start, best_len = min(long_runs, key=lambda r: (mean_growth(r), r[0]))
    lo = ts[best_start]
    hi = ts[best_start + best_len - 1] + THRESHOLD_STEP
    if hi >= MAX_THRESHOLD:
        # Isolated object: nothing leaked up to the cap; do not sit in the middle of nothing.
        hi = min(hi, lo + MAX_THRESHOLD / 2)
    return float((lo + hi) / 2)


def learn_model(lab: FloatArray, mask: BoolArray, threshold: float) -> ColourModel:
    """Foreground palette from inside ``mask``, background palette from a ring around it."""
    core = erode(mask, 1)
    if core.sum() < 16:
        core = mask
    ring = dilate(mask, 4) & ~dilate(mask, 1)
    fg = kmeans(lab[core].astype(np.float32), OBJECT_COLOURS)
    bg = kmeans(lab[ring].astype(np.float32), BACKGROUND_COLOURS)
    return ColourModel(foreground=fg, background=bg, threshold=threshold)


def clean(mask: BoolArray, seeds: BoolArray | None = None) -> BoolArray:
    """Fill holes, drop specks and thin bridges, keep the seeds' component(s)."""
    out = fill_holes(mask)
    opened = open_(out, 1)
    if opened.any():
        out = opened
    if seeds is not None and (out & seeds).any():
        out = reconstruct(out & seeds, out)
    elif seeds is not None:
        out = reconstruct(dilate(seeds, 2) & out, out) if (dilate(seeds, 2) & out).any() else out
    return close(out, 1)


def segment_work(
    lab: FloatArray, seeds: list[tuple[int, int]]
) -> tuple[BoolArray, ColourModel] | None:
    """Segment at work resolution from (row, col) seeds; None when nothing stands out."""
    h, w = lab.shape[:2]
    palette = _seed_palette(lab, seeds)
    cost = palette_distance(lab, palette)
    seed_mask = np.zeros((h, w), dtype=bool)
    for r, c in seeds:
        seed_mask[r, c] = True
    grown = minimax(cost, seed_mask, limit=MAX_THRESHOLD)
    max_area = int(MAX_AREA_FRACTION * h * w)
    threshold = choose_threshold(grown, min_area=max(4, len(seeds)), max_area=max_area)
    if threshold is None:
        return None
    mask = clean(grown <= threshold, seed_mask)
    if not mask.any():
        return None
    # Second pass: the palette of the whole first region covers the object's shading,
    # which a window around the seeds cannot. Kept only when it stays a plateau and does
    # not balloon (a ballooning second region means the first one had leaked).
    palette = kmeans(lab[erode(mask, 1) if erode(mask, 1).any() else mask], OBJECT_COLOURS)
    grown2 = minimax(palette_distance(lab, palette), seed_mask, limit=MAX_THRESHOLD)
    threshold2 = choose_threshold(grown2, min_area=max(4, len(seeds)), max_area=max_area)
    if threshold2 is not None:
        mask2 = clean(grown2 <= threshold2, seed_mask)
        if mask.sum() <= mask2.sum() <= REGROW_LIMIT * mask.sum():
            mask, threshold = mask2, threshold2
    return mask, learn_model(lab, mask, threshold)


def refine(
    frame: NDArray[np.uint8], work_mask: BoolArray, factor: int, model: ColourModel
) -> BoolArray:
    """Full-resolution mask: upscaled core plus re-classified pixels in the boundary band.

    Works inside the object's box only, so the cost follows the object's size.
    """
    h, w = frame.shape[:2]
    out = np.zeros((h, w), dtype=bool)
    box = bbox(work_mask)
    if box is None:
        return out
    wh, ww = work_mask.shape
    # Work-grid crop with a margin for the band and the tidy-up.
    y0, x0 = max(0, box[0] - 3), max(0, box[1] - 3)
    y1, x1 = min(wh, box[2] + 3), min(ww, box[3] + 3)
    crop = work_mask[y0:y1, x0:x1]
    fy0, fx0 = y0 * factor, x0 * factor
    # The last work row/column also covers the pixels ``downscale`` cropped off.
    fy1 = h if y1 == wh else y1 * factor
    fx1 = w if x1 == ww else x1 * factor
    shape = (fy1 - fy0, fx1 - fx0)
    core = upscale_mask(erode(crop, 1), factor, shape)
    band = upscale_mask(dilate(crop, 1), factor, shape) & ~core
    ys, xs = np.nonzero(band)
    local = core
    if ys.size:
        lab = rgb_to_lab(frame[fy0 + ys, fx0 + xs])
        keep = model.classify(lab)
        local = core.copy()
        local[ys[keep], xs[keep]] = True
    if local.any():
        # The core has no holes (the work mask was filled), so gaps can only be small
        # ones in the band: closing there fills them without a flood fill.
        local = local | (close(local, 2) & band)
        tidy = open_(local, 1)
        if tidy.any():
            local = tidy | (local & core)
    out[fy0:fy1, fx0:fx1] = local
    return out


def to_work_seeds(
    points: list[tuple[float, float]], work_shape: tuple[int, int]
) -> list[tuple[int, int]]:
    """Normalized (x, y) points -> (row, col) on the work grid, clamped inside it."""
    h, w = work_shape
    return [(min(h - 1, max(0, int(y * h))), min(w - 1, max(0, int(x * w)))) for x, y in points]


def segment_frame(
    frame: NDArray[np.uint8], points: list[tuple[float, float]]
) -> Segmentation | None:
    """Segment the object under normalized ``points`` on one full-resolution RGB frame."""
    factor = work_factor(frame.shape[0], frame.shape[1])
    lab = rgb_to_lab(downscale(frame, factor))
    found = segment_work(lab, to_work_seeds(points, lab.shape[:2]))
    if found is None:
        return None
    work_mask, model = found
    return Segmentation(work_mask, refine(frame, work_mask, factor, model), model, factor)
