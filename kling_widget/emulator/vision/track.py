"""Follow a segmented object through every frame of a clip (OpenCV, deterministic).

Per object, from each frame it was marked on, forwards and backwards (each frame
follows its nearest marked frame), at work resolution:

1. Dense optical flow (DIS) from the previous frame to this one.
2. The object's motion: a similarity transform fitted (RANSAC) to the flow inside its
   visible mask; when too little of it is visible (hidden, or out of the frame), the
   camera's motion (a homography fitted to the flow around it) carries it instead.
3. The object's shape template is moved by the accumulated motion: the prediction.
4. Re-segmentation: near the prediction, pixels are kept where the object's colour
   model (object against its surroundings, learnt on the marked frame) and the
   prediction agree, so the mask snaps back to the object instead of drifting. Parts
   hidden by something else do not look like the object and drop out; the template
   keeps the whole shape, so they come back when the object reappears.
5. The template is replaced by the new mask whenever the object is fully visible again
   (its area agrees with the prediction), which follows changes of shape.

Imports only NumPy, OpenCV and the vision helpers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from kling_widget.emulator.vision.motion import (
    Matrix,
    camera_motion,
    flow,
    grey,
    object_motion,
    warp_mask,
)
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
)

FrameGetter = Callable[[int], ByteArray]
# Told of each mask as soon as it is found: (frame index, work mask).
MaskSink = Callable[[int, BoolArray], None]
# How far (work px) the mask may reach beyond the prediction in one frame.
GROW = 2
# Weight of the prediction against the colour evidence (log-odds units per unit logit).
PRIOR_WEIGHT = 0.6
# The colour-evidence search around the prediction: a fraction of the object's size, at
# least this many work px; each px of shift costs this fraction of the template's area.
SEARCH_FRACTION = 0.3
MIN_SEARCH = 4
SHIFT_COST = 0.01
# The template is refreshed when the object looks whole: at most this fraction of the
# prediction is missing, its area is within this ratio of the object's full area (which
# follows the estimated scale), and it does not touch the frame's edge. Between
# refreshes the full area may shrink by at most ``SHRINK`` (shape changes), so an object
# slowly going behind something does not become its visible part.
MISSING = 0.03
REFRESH = (0.9, 1.1)
SHRINK = 0.99


def resegment(rgb: ByteArray, predicted: FloatArray, model: ColourModel) -> BoolArray:
    """The object's visible mask near a soft prediction, by colour and prediction."""
    hard = predicted >= 0.5
    out = np.zeros(hard.shape, bool)
    box = bbox(hard)
    if box is None:
        return out
    y0, x0, y1, x1 = pad_box(box, GROW + 3, hard.shape)
    sub = hard[y0:y1, x0:x1]
    blurred = np.asarray(cv2.GaussianBlur(predicted[y0:y1, x0:x1], (0, 0), 1.0), np.float32)
    prior = np.clip(blurred, 0.02, 0.98)
    score = model.score(rgb[y0:y1, x0:x1]) + PRIOR_WEIGHT * np.log(prior / (1.0 - prior))
    score = np.asarray(cv2.GaussianBlur(score, (0, 0), 1.0), np.float32)
    keep = (score > 0) & dilate(sub, GROW)
    core = erode(sub, 1)
    local = component_at(keep, core if core.any() else sub)
    if local.any():
        local = fill_holes(local)
        opened = cv2.morphologyEx(local.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        if opened.any():
            local = opened.astype(bool)
    out[y0:y1, x0:x1] = local
    return out


def align(rgb: ByteArray, predicted: FloatArray, model: ColourModel) -> tuple[int, int]:
    """The shift (dx, dy) of the prediction that covers the most object-coloured pixels.

    Optical flow is unreliable inside an object without texture (a flat colour has no
    features to follow); the colour evidence puts such an object back where it is.
    """
    hard = predicted >= 0.5
    box = bbox(hard)
    if box is None:
        return 0, 0
    size = max(box[2] - box[0], box[3] - box[1])
    margin = max(MIN_SEARCH, int(SEARCH_FRACTION * size))
    y0, x0, y1, x1 = pad_box(box, margin, hard.shape)
    evidence = np.tanh(0.5 * cv2.GaussianBlur(model.score(rgb[y0:y1, x0:x1]), (0, 0), 1.0))
    template = hard[box[0] : box[2], box[1] : box[3]].astype(np.float32)
    if evidence.shape[0] < template.shape[0] or evidence.shape[1] < template.shape[1]:
        return 0, 0
    corr = cv2.matchTemplate(evidence.astype(np.float32), template, cv2.TM_CCORR)
    # The offset of the unshifted template inside the window, and a small pull towards it
    # (ties and flat evidence keep the flow's prediction).
    oy, ox = box[0] - y0, box[1] - x0
    ys = np.arange(corr.shape[0])[:, None] - oy
    xs = np.arange(corr.shape[1])[None, :] - ox
    corr = corr - SHIFT_COST * float(template.sum()) * np.hypot(ys, xs)
    iy, ix = np.unravel_index(int(np.argmax(corr)), corr.shape)
    return int(ix - ox), int(iy - oy)


def _touches_edge(mask: BoolArray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def propagate(
    get_frame: FrameGetter,
    start: int,
    frames: Sequence[int],
    mask: BoolArray,
    model: ColourModel,
    cancelled: Callable[[], bool] | None = None,
    on_mask: MaskSink | None = None,
) -> dict[int, BoolArray]:
    """Masks on ``frames`` (consecutive, going away from ``start``), tracked from ``mask``.

    Stops early when cancelled, or at a frame past the clip's end (the container's frame
    count can promise more frames than decode)."""
    out: dict[int, BoolArray] = {}
    shape = mask.shape
    template = mask
    warp: Matrix = np.eye(3)
    visible = mask
    full_area = float(mask.sum())
    prev = grey(get_frame(start))
    for t in frames:
        if cancelled is not None and cancelled():
            break
        try:
            rgb = get_frame(t)
        except IndexError:
            break
        cur = grey(rgb)
        field = flow(prev, cur)
        inside = erode(visible, 1)
        motion = object_motion(field, inside) if inside.any() else None
        if motion is None:
            motion = camera_motion(field, dilate(visible, 3) if visible.any() else None)
        warp = motion @ warp
        full_area *= abs(float(np.linalg.det(motion[:2, :2])))
        predicted = warp_mask(template, warp, shape)
        dx, dy = align(rgb, predicted, model)
        if dx or dy:
            warp = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]]) @ warp
            predicted = warp_mask(template, warp, shape)
        visible = resegment(rgb, predicted, model)
        hard = predicted >= 0.5
        area, expected = int(visible.sum()), int(hard.sum())
        missing = int((hard & ~visible).sum())
        lo, hi = REFRESH
        if (
            expected
            and missing <= MISSING * expected
            and lo * full_area <= area <= hi * full_area
            and not _touches_edge(visible)
        ):
            template, warp = visible, np.eye(3)
            full_area = max(float(area), SHRINK * full_area)
        out[t] = visible
        if on_mask is not None:
            on_mask(t, visible)
        prev = cur
    return out


def nearest_anchor(marks: Sequence[int], frame: int) -> int:
    """The marked frame that ``frame`` is tracked from: the nearest (earlier on a tie)."""
    ordered = sorted(marks)
    for k, a in enumerate(ordered):
        if k == len(ordered) - 1 or frame <= (a + ordered[k + 1]) // 2:
            return a
    return ordered[-1]


def track(
    get_frame: FrameGetter,
    frame_count: int,
    anchors: dict[int, tuple[BoolArray, ColourModel]],
    cancelled: Callable[[], bool] | None = None,
    on_mask: MaskSink | None = None,
) -> list[BoolArray]:
    """Work-resolution masks of one object on every frame, tracked from its anchors.

    ``on_mask`` is told of each mask as it is found (the marked frames' first), so a
    preview can be drawn while tracking goes on."""
    if not anchors:
        raise ValueError("anchors: at least one marked frame is needed")
    marks = sorted(a for a in anchors if a < frame_count)
    first = anchors[min(anchors)][0]
    out: list[BoolArray | None] = [None] * frame_count
    for a in marks:
        out[a] = anchors[a][0]
        if on_mask is not None:
            on_mask(a, anchors[a][0])
    for k, a in enumerate(marks):
        mask, model = anchors[a]
        lo = 0 if k == 0 else (marks[k - 1] + a) // 2 + 1
        hi = frame_count - 1 if k == len(marks) - 1 else (a + marks[k + 1]) // 2
        for order in (range(a + 1, hi + 1), range(a - 1, lo - 1, -1)):
            found = propagate(get_frame, a, list(order), mask, model, cancelled, on_mask)
            for t, m in found.items():
                out[t] = m
    empty = np.zeros_like(first)
    if on_mask is not None:
        # Frames nothing was found for (past the clip's end, or cancelled): empty masks.
        for t, o in enumerate(out):
            if o is None:
                on_mask(t, empty)
    return [o if o is not None else empty for o in out]
