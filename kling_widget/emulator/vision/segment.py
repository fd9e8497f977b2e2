"""Segment the object under clicked points (OpenCV GrabCut, deterministic).

Method (work resolution first, then full-resolution edges):

1. Colour and texture features of the work-resolution frame: CIE-Lab smoothed over a
   few pixels (the average colour of a texture) and the local contrast of lightness (how
   busy the texture is).
2. Candidate regions: pixels whose features are near those under the clicks, connected to
   them, at the feature-distance thresholds where the region is most stable (its area
   changes least as the threshold moves, in the spirit of MSER): the threshold adapts to
   the contrast between the object and what surrounds it, nothing is tuned to colours.
3. GrabCut (colour mixture models and a graph cut) on a window around that region,
   seeded with the clicks as certain object, the region as probable object, a ring
   around it as probable background and the window's border as certain background: it
   corrects the region where texture made it ragged or leaky. Of the two most stable
   regions, the one whose colours stand out more from the ring around it is cut (a
   region that leaked into what the object touches stands out less).
4. The clicked component is kept, holes filled; a colour model (object against the ring
   around it) snaps the edges to the object at full resolution.

Imports only NumPy, OpenCV and the vision helpers.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from kling_widget.emulator.vision.ops import (
    BoolArray,
    ByteArray,
    ColourModel,
    FloatArray,
    bbox,
    component_at,
    dilate,
    erode,
    fill_holes,
    pad_box,
    resize_mask,
)

# Thresholds tried for the first region (feature distance, geometric steps).
THRESHOLDS = np.geomspace(3.0, 90.0, 36).astype(np.float32)
# A first region larger than this fraction of the frame leaked into the background.
MAX_AREA_FRACTION = 0.5
TEXTURE_WEIGHT = 1.5
# Feature smoothing scales (work px): fine textures, coarse textures.
FEATURE_SCALES = (2.0, 5.0)
SEED_RADIUS = 5
# The first region must cover at least this fraction of the work frame.
MIN_AREA_FRACTION = 0.001
# GrabCut iterates until an iteration changes at most this fraction of its window's
# pixels, at least GRABCUT_MIN_ITERATIONS times and at most GRABCUT_ITERATIONS: most
# clicks settle after two (tens of pixels move in a third), and each costs as much.
GRABCUT_ITERATIONS = 3
GRABCUT_MIN_ITERATIONS = 2
GRABCUT_SETTLED = 0.001
# Components of each of GrabCut's colour models (OpenCV's fixed count).
GRABCUT_COMPONENTS = 5
# The models start from k-means on at most this many pixels of each side (evenly spaced):
# OpenCV's own start clusters every pixel of the window, a third of GrabCut's time, for
# starting models no better (bench_emulator: one-click IoU unchanged or higher).
GRABCUT_INIT_SAMPLES = 5_000
# The window's certain-background border outside the probable-background ring, as a
# fraction of the ring: what lies there teaches the background model what is not the
# object (a dark coat the first region leaked into); every pixel of it costs GrabCut time.
WINDOW_BORDER = 0.5
# GrabCut runs on at most this many pixels (a larger window is reduced first): its cost
# grows with the window, the edges are refined at full resolution anyway.
GRABCUT_MAX_PIXELS = 40_000
# A GrabCut answer this much smaller than the first region collapsed onto the clicks; the
# next most stable region is tried then, up to this many in all.
COLLAPSED = 0.15
MAX_TRIES = 4
# Of this many most stable regions, the one whose colours stand out most from the ring
# around it is cut first: the most stable region can be the object and what it touches
# (a fur patch and the dark coat beside it), which no cut of that region undoes, while
# the next one is the object alone.
PAIR = 2
# Full-resolution edge band (px either side of the upscaled edge) and how strongly the
# colour evidence there may overrule the shape found at work resolution.
EDGE_BAND = 3
PRIOR_WEIGHT = 2.0
# When nothing stands out around a click, its object is a small disc of this radius
# (fraction of the frame's shorter side).
FALLBACK_RADIUS = 0.02


@dataclass(frozen=True)
class Segmentation:
    """A segmented object on one frame: the mask at work and at full resolution."""

    work_mask: BoolArray
    mask: BoolArray
    model: ColourModel


def raw_features(work_rgb: ByteArray) -> FloatArray:
    """(h, w, 4) float32, unsmoothed: Lab and the local contrast of lightness."""
    lab = cv2.cvtColor(work_rgb, cv2.COLOR_RGB2Lab).astype(np.float32)
    lab[..., 0] *= 100.0 / 255.0
    lab[..., 1:] -= 128.0
    light = lab[..., 0]
    mean = cv2.blur(light, (7, 7))
    sq = cv2.blur(light * light, (7, 7))
    contrast = np.sqrt(np.maximum(sq - mean * mean, 0.0))
    return np.dstack([lab, TEXTURE_WEIGHT * contrast])


def features(work_rgb: ByteArray, sigma: float = 2.0) -> FloatArray:
    """(h, w, 4) float32: Lab and local lightness contrast, smoothed over ``sigma`` px."""
    return smooth(raw_features(work_rgb), sigma)


def smooth(raw: FloatArray, sigma: float) -> FloatArray:
    """Features from ``raw_features`` smoothed over ``sigma`` px."""
    return np.asarray(cv2.GaussianBlur(raw, (0, 0), sigma), dtype=np.float32)


def frame_features(work_rgb: ByteArray) -> tuple[FloatArray, ...]:
    """The features of a work frame at every scale of ``FEATURE_SCALES`` (what a click
    needs; computed once per frame and kept by the clip)."""
    raw = raw_features(work_rgb)
    return tuple(smooth(raw, sigma) for sigma in FEATURE_SCALES)


def _seed_mask(shape: tuple[int, int], seeds: list[tuple[int, int]], radius: int) -> BoolArray:
    m = np.zeros(shape, np.uint8)
    for r, c in seeds:
        cv2.circle(m, (c, r), radius, 1, -1)
    return m.astype(bool)


def _connected_below(dist: FloatArray, seeds: list[tuple[int, int]], limit: float) -> BoolArray:
    """The pixels with ``dist <= limit`` 8-connected to a seed that has one too.

    A flood fill from each seed: it visits only the region, not the whole frame (the
    thresholds are tried one after another, most regions are small)."""
    h, w = dist.shape
    filled = np.zeros((h + 2, w + 2), np.uint8)
    for r, c in seeds:
        start = float(dist[r, c])
        if start > limit or filled[r + 1, c + 1]:
            continue
        cv2.floodFill(
            dist,
            filled,
            (c, r),
            0,
            loDiff=float("inf"),
            upDiff=limit - start,
            flags=8 | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (1 << 8),
        )
    return filled[1:-1, 1:-1].astype(bool)


def region_candidates(
    feat: FloatArray, seeds: list[tuple[int, int]]
) -> list[tuple[BoolArray, float]]:
    """Stable connected regions of feature-similar pixels around the seeds, most stable
    first, with their relative growth (lower: more stable).

    Every plateau of the area curve (a local minimum of its growth) is a candidate: on a
    textured object a patch of it (one stripe of fur) can be a plateau too, and which of
    the two is flatter depends on the scale the frame is seen at.
    """
    h, w = feat.shape[:2]
    dist = np.full((h, w), np.inf, np.float32)
    for r, c in seeds:
        y0, y1 = max(0, r - SEED_RADIUS), min(h, r + SEED_RADIUS + 1)
        x0, x1 = max(0, c - SEED_RADIUS), min(w, c + SEED_RADIUS + 1)
        centre = np.median(feat[y0:y1, x0:x1].reshape(-1, feat.shape[2]), axis=0)
        diff = feat - centre
        dist = np.minimum(dist, np.sqrt(np.einsum("ijk,ijk->ij", diff, diff)))
    max_area = MAX_AREA_FRACTION * h * w
    regions: list[BoolArray] = []
    areas: list[float] = []
    for t in THRESHOLDS:
        region = _connected_below(dist, seeds, float(t))
        area = float(region.sum())
        if area > max_area:
            break
        regions.append(region)
        areas.append(area)
    if not regions:
        return []
    a = np.asarray(areas)
    # Relative growth over two steps either side: small on a plateau.
    lo = np.concatenate([a[:1], a[:1], a[:-2]])[: a.size]
    hi = np.concatenate([a[2:], [max_area] * 2])[: a.size]
    growth = np.where(
        a >= max(9.0, MIN_AREA_FRACTION * h * w), (hi - lo) / np.maximum(a, 1.0), np.inf
    )
    if not np.isfinite(growth).any():
        return [(regions[-1], float("inf"))]
    before = np.concatenate([[np.inf], growth[:-1]])
    after = np.concatenate([growth[1:], [np.inf]])
    plateaus = np.flatnonzero(np.isfinite(growth) & (growth <= before) & (growth <= after))
    order = sorted(plateaus.tolist(), key=lambda i: (growth[i], i))
    return [(regions[i], float(growth[i])) for i in order]


def grabcut(work_rgb: ByteArray, region: BoolArray, seeds: list[tuple[int, int]]) -> BoolArray:
    """GrabCut around ``region`` seeded by the clicks; the clicked component, holes filled."""
    h, w = region.shape
    box = bbox(region)
    if box is None:
        return region
    size = max(box[2] - box[0], box[3] - box[1])
    ring = max(4, size // 3)
    y0, x0, y1, x1 = pad_box(box, ring + round(WINDOW_BORDER * ring), (h, w))
    crop = np.ascontiguousarray(work_rgb[y0:y1, x0:x1])
    sub = region[y0:y1, x0:x1]
    mask: ByteArray = np.full(sub.shape, cv2.GC_BGD, np.uint8)
    mask[dilate(sub, ring)] = cv2.GC_PR_BGD
    mask[sub] = cv2.GC_PR_FGD
    # The window's border is certain background, except where it is the frame's edge.
    if y0 == 0:
        mask[0][mask[0] == cv2.GC_BGD] = cv2.GC_PR_BGD
    if x0 == 0:
        mask[:, 0][mask[:, 0] == cv2.GC_BGD] = cv2.GC_PR_BGD
    if y1 == h:
        mask[-1][mask[-1] == cv2.GC_BGD] = cv2.GC_PR_BGD
    if x1 == w:
        mask[:, -1][mask[:, -1] == cv2.GC_BGD] = cv2.GC_PR_BGD
    local_seeds = [(r - y0, c - x0) for r, c in seeds]
    mask[_seed_mask(sub.shape, local_seeds, 1)] = cv2.GC_FGD
    if not (mask == cv2.GC_BGD).any() and not (mask == cv2.GC_PR_BGD).any():
        return region
    ch, cw = mask.shape[:2]
    reduce = min(1.0, float(np.sqrt(GRABCUT_MAX_PIXELS / (ch * cw))))
    if reduce < 1.0:
        size_small = (max(8, round(cw * reduce)), max(8, round(ch * reduce)))
        crop = np.asarray(cv2.resize(crop, size_small, interpolation=cv2.INTER_AREA), np.uint8)
        small = np.asarray(cv2.resize(mask, size_small, interpolation=cv2.INTER_NEAREST), np.uint8)
        certain = (mask == cv2.GC_FGD).astype(np.float32)
        small[cv2.resize(certain, size_small, interpolation=cv2.INTER_AREA) > 0] = cv2.GC_FGD
        mask_run = np.ascontiguousarray(small)
    else:
        mask_run = mask
    try:
        _run_grabcut(crop, mask_run)
    except cv2.error:
        return region
    if reduce < 1.0:
        soft = ((mask_run == cv2.GC_FGD) | (mask_run == cv2.GC_PR_FGD)).astype(np.float32)
        up = cv2.resize(soft, (cw, ch), interpolation=cv2.INTER_LINEAR)
        mask = np.where(up >= 0.5, cv2.GC_PR_FGD, cv2.GC_BGD).astype(np.uint8)
    fg = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    out = np.zeros((h, w), bool)
    out[y0:y1, x0:x1] = fg
    out = component_at(out, _seed_mask((h, w), seeds, 0))
    if not out.any():
        return region
    return fill_holes(out)


def _run_grabcut(crop: ByteArray, mask: ByteArray) -> None:
    """``cv2.grabCut`` on ``mask`` in place, its models started from sampled k-means."""
    cv2.setRNGSeed(0)
    is_fg = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).ravel()
    pixels = crop.reshape(-1, 3).astype(np.float32)
    fg, bg = pixels[is_fg], pixels[~is_fg]
    models: tuple[np.ndarray, np.ndarray]
    if min(len(fg), len(bg)) < 10 * GRABCUT_COMPONENTS:
        # Too few pixels to sample: OpenCV's own start.
        models = (np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64))
        mode = cv2.GC_INIT_WITH_MASK
    else:
        models = (_colour_model(bg), _colour_model(fg))
        mode = cv2.GC_EVAL
    # One call per iteration: each goes on from the models and mask the last one left,
    # so this is GrabCut's own loop with a stopping test.
    settled = GRABCUT_SETTLED * mask.size
    for done in range(1, GRABCUT_ITERATIONS + 1):
        before = mask.copy()
        _, bgd, fgd = cv2.grabCut(crop, mask, None, *models, 1, mode)  # type: ignore[call-overload]
        models, mode = (bgd, fgd), cv2.GC_EVAL
        if done >= GRABCUT_MIN_ITERATIONS and np.count_nonzero(before != mask) <= settled:
            break


def _colour_model(samples: FloatArray) -> FloatArray:
    """A starting model for ``cv2.grabCut`` (``GC_EVAL``) from k-means on ``samples``.

    OpenCV's layout: the components' weights, then their means (3 each), then their
    covariances (3x3 each); a singular covariance gets 0.01 on its diagonal, as OpenCV's
    own learning does.
    """
    k = GRABCUT_COMPONENTS
    step = max(1, -(-len(samples) // GRABCUT_INIT_SAMPLES))
    taken = np.ascontiguousarray(samples[::step])
    criteria = (cv2.TERM_CRITERIA_MAX_ITER, 10, 0.0)
    _, labels, _ = cv2.kmeans(taken, k, None, criteria, 1, cv2.KMEANS_PP_CENTERS)  # type: ignore[call-overload]
    labels = labels.ravel()
    x = taken.astype(np.float64)
    weights = np.zeros(k)
    means = np.zeros((k, 3))
    covs = np.zeros((k, 3, 3))
    for c in range(k):
        member = x[labels == c]
        if len(member) == 0:
            continue  # weight 0: OpenCV skips the component
        weights[c] = len(member) / len(x)
        means[c] = member.mean(axis=0)
        d = member - means[c]
        covs[c] = d.T @ d / len(member)
        if np.linalg.det(covs[c]) <= 1e-6:
            covs[c] += np.eye(3) * 0.01
    return np.concatenate([weights, means.ravel(), covs.ravel()])[None, :]


def _inside_and_around(rgb: ByteArray, mask: BoolArray) -> tuple[ByteArray, BoolArray, BoolArray]:
    """The object's own pixels (away from its edge) and a ring around it, on the part of
    ``rgb`` that holds both (the returned crop; the masks are the crop's size)."""
    box = bbox(mask)
    extent = 0 if box is None else max(box[2] - box[0], box[3] - box[1])
    ring = max(3, extent // 6)
    if box is not None:
        y0, x0, y1, x1 = pad_box(box, ring + 2, mask.shape)
        rgb, mask = rgb[y0:y1, x0:x1], mask[y0:y1, x0:x1]
    inside = erode(mask, 1)
    if inside.sum() < 16:
        inside = mask
    return rgb, inside, dilate(mask, ring) & ~dilate(mask, 1)


def learn_model(rgb: ByteArray, mask: BoolArray) -> ColourModel:
    """The object's colours (inside ``mask``) against a ring around it."""
    return ColourModel.learn(*_inside_and_around(rgb, mask))


def standing_out(rgb: ByteArray, mask: BoolArray) -> float:
    """How well colour tells ``mask`` from the ring around it: the mean of the fractions
    of its pixels and of the ring's that its own colour model puts on the right side."""
    crop, inside, around = _inside_and_around(rgb, mask)
    if not around.any() or not inside.any():
        return 0.0
    model = ColourModel.learn(crop, inside, around)
    right = (model.score(crop[inside]) > 0).mean() + (model.score(crop[around]) <= 0).mean()
    return float(right / 2)


def refine(full_rgb: ByteArray, work_soft: BoolArray | FloatArray, model: ColourModel) -> BoolArray:
    """The work-resolution mask at full resolution, its edges snapped by colour."""
    shape = full_rgb.shape[:2]
    out = np.zeros(shape, bool)
    if work_soft.shape == shape:
        out[:] = work_soft >= 0.5
        return out
    wbox = bbox(work_soft >= 0.5)
    if wbox is None:
        return out
    wh, ww = work_soft.shape
    sy, sx = shape[0] / wh, shape[1] / ww
    wy0, wx0, wy1, wx1 = pad_box(wbox, 2, (wh, ww))
    # The full-resolution box covering the work box, and the exact work -> full mapping
    # of pixel centres (full = s * work + (s - 1) / 2) restricted to it.
    y0, x0 = int(np.floor(wy0 * sy)), int(np.floor(wx0 * sx))
    y1, x1 = min(shape[0], int(np.ceil(wy1 * sy))), min(shape[1], int(np.ceil(wx1 * sx)))
    m = np.array(
        [
            [sx, 0.0, (sx - 1) / 2 + sx * wx0 - x0],
            [0.0, sy, (sy - 1) / 2 + sy * wy0 - y0],
        ]
    )
    crop = work_soft[wy0:wy1, wx0:wx1].astype(np.float32)
    soft = cv2.warpAffine(
        crop, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    sub = soft >= 0.5
    band = dilate(sub, EDGE_BAND) & ~erode(sub, EDGE_BAND)
    prior = np.clip(soft, 0.02, 0.98)
    logit = np.log(prior / (1.0 - prior)) * PRIOR_WEIGHT
    score = cv2.GaussianBlur(model.score(full_rgb[y0:y1, x0:x1]) + logit, (3, 3), 0)
    sub[band] = score[band] > 0
    out[y0:y1, x0:x1] = sub
    return out


def segment_work(
    work_rgb: ByteArray,
    seeds: list[tuple[int, int]],
    feats: tuple[FloatArray, ...] | None = None,
) -> tuple[BoolArray, ColourModel] | None:
    """Segment at work resolution from (row, col) seeds; None when nothing stands out.

    ``feats``: the frame's ``frame_features``, when already computed."""
    if feats is None:
        feats = frame_features(work_rgb)
    candidates = [
        (found, growth, sigma)
        for sigma, feat in zip(FEATURE_SCALES, feats, strict=True)
        for found, growth in region_candidates(feat, seeds)
    ]
    if not candidates:
        return None
    candidates.sort(key=lambda c: c[1])
    # Smoothed features pull a region in from the object's edges by about the smoothing
    # scale: give it back, GrabCut trims what is not the object.
    tries = candidates[:MAX_TRIES]
    regions: dict[int, BoolArray] = {}

    def region(i: int) -> BoolArray:
        # Made when first needed: most clicks settle on the first region tried.
        if i not in regions:
            found, _, sigma = tries[i]
            regions[i] = dilate(found, round(sigma))
        return regions[i]

    order = list(range(len(tries)))
    if len(order) > 1:
        # Of the two most stable regions, the one that stands out more from its
        # surroundings goes first (sorted is stable: the more stable of equals stays first).
        order[:PAIR] = sorted(order[:PAIR], key=lambda i: -standing_out(work_rgb, region(i)))
    mask: BoolArray | None = None
    for i in order:
        cut = grabcut(work_rgb, region(i), seeds)
        if cut.sum() >= COLLAPSED * region(i).sum():
            mask = cut
            break
    if mask is None:
        # GrabCut collapsed on every candidate (mixed colour models): the most stable
        # region is the better answer.
        mask = fill_holes(region(0))
    if not mask.any():
        return None
    return mask, learn_model(work_rgb, mask)


def segment_frame(
    full_rgb: ByteArray,
    work_rgb: ByteArray,
    seeds: list[tuple[int, int]],
    feats: tuple[FloatArray, ...] | None = None,
) -> Segmentation | None:
    """Segment the object under the work-grid ``seeds`` of one frame."""
    found = segment_work(work_rgb, seeds, feats)
    if found is None:
        return None
    work_mask, model = found
    return Segmentation(work_mask, refine(full_rgb, work_mask, model), model)


def disc_segmentation(
    full_shape: tuple[int, int], work_rgb: ByteArray, seeds: list[tuple[int, int]]
) -> Segmentation:
    """A small disc around each seed: the object when nothing stands out (a flat area),
    so the flow goes on as Kling's would with whatever it segmented."""
    wh, ww = work_rgb.shape[:2]
    disc = np.zeros((wh, ww), dtype=bool)
    for r, c in seeds:
        disc[r, c] = True
    disc = dilate(disc, max(1, int(FALLBACK_RADIUS * min(wh, ww))))
    return Segmentation(disc, resize_mask(disc, full_shape), learn_model(work_rgb, disc))
