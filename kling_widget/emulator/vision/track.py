"""Follow segmented objects through every frame of a clip (NumPy only, deterministic).

Per object and frame, at work resolution:

1. Predict where the object's shape template is (last position plus velocity).
2. Classify the pixels of a search window around it by colour (the object's palette
   against the palette of its surroundings, learnt on the anchor frame).
3. Find the translation of the template that best matches the classification
   (cross-correlation by FFT of the template with +1/-1 object/non-object scores).
4. The mask is the object-coloured pixels connected to the eroded, moved template, allowed
   to grow a little beyond it (shape changes). Parts hidden by another object are not the
   object's colour, so they drop out of its mask, and come back when it reappears because
   the template keeps the whole shape.
5. The template is replaced by the new mask when the object is fully visible again.

Objects are tracked forwards and backwards from the frames they were marked on (each
frame follows its nearest marked frame); pixels claimed by two objects go to the one whose
palette is nearer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kling_widget.emulator.vision.ops import (
    BoolArray,
    bbox,
    dilate,
    erode,
    fill_holes,
    open_,
    palette_distance,
    reconstruct,
    rgb_to_lab,
    shift,
)
from kling_widget.emulator.vision.segment import ColourModel

# Search margin around the predicted box: a fraction of the object's size, at least this.
MIN_MARGIN = 6
MARGIN_FRACTION = 0.35
# How far (fraction of size) a mask may grow beyond the moved template in one frame.
GROW_FRACTION = 0.04
# The template is refreshed when the new mask is this complete (area ratio window).
REFRESH_RANGE = (0.85, 1.25)

FrameGetter = Callable[[int], NDArray[np.uint8]]


@dataclass
class _State:
    template: BoolArray
    offset: tuple[int, int]
    velocity: tuple[float, float]
    area: int


def _window(
    box: tuple[int, int, int, int], margin: int, shape: tuple[int, int]
) -> tuple[int, int, int, int]:
    y0, x0, y1, x1 = box
    return (
        max(0, y0 - margin),
        max(0, x0 - margin),
        min(shape[0], y1 + margin),
        min(shape[1], x1 + margin),
    )


def _best_shift(template: BoolArray, score: NDArray[np.float32], margin: int) -> tuple[int, int]:
    """Translation (dy, dx), |d| <= margin, maximising sum(score[p + d] * template[p])."""
    h, w = score.shape
    ph, pw = h + margin, w + margin
    ft = np.fft.rfft2(template.astype(np.float32), s=(ph, pw))
    fs = np.fft.rfft2(score, s=(ph, pw))
    corr = np.fft.irfft2(np.conj(ft) * fs, s=(ph, pw))
    dys = np.r_[0 : margin + 1, -margin:0]
    dxs = np.r_[0 : margin + 1, -margin:0]
    sub = corr[np.ix_(dys % ph, dxs % pw)]
    # A small pull towards the prediction breaks ties deterministically.
    penalty = 1e-3 * (np.abs(dys)[:, None] + np.abs(dxs)[None, :])
    i, j = np.unravel_index(int(np.argmax(sub - penalty)), sub.shape)
    return int(dys[i]), int(dxs[j])


def step(
    state: _State, frame: NDArray[np.uint8], model: ColourModel
) -> tuple[BoolArray, NDArray[np.float32] | None, tuple[int, int, int, int] | None]:
    """Advance one frame; returns (mask, foreground distance in the window, window)."""
    shape = frame.shape[:2]
    pred = (
        state.offset[0] + round(state.velocity[0]),
        state.offset[1] + round(state.velocity[1]),
    )
    moved = shift(state.template, *pred)
    box = bbox(moved)
    if box is None:
        # The prediction left the frame: keep the last position and report nothing.
        state.velocity = (0.0, 0.0)
        return np.zeros(shape, dtype=bool), None, None
    size = max(box[2] - box[0], box[3] - box[1])
    margin = max(MIN_MARGIN, int(MARGIN_FRACTION * size))
    win = _window(box, margin, shape)
    y0, x0, y1, x1 = win
    lab = rgb_to_lab(frame[y0:y1, x0:x1])
    d_fg, d_bg = model.distances(lab)
    inside = d_fg <= model.threshold
    if model.background.shape[0]:
        inside &= d_fg < d_bg
    score = np.where(inside, np.float32(1.0), np.float32(-1.0)).astype(np.float32)
    dy, dx = _best_shift(moved[y0:y1, x0:x1], score, margin)
    offset = (pred[0] + dy, pred[1] + dx)
    placed = shift(state.template, *offset)[y0:y1, x0:x1]
    grow = max(2, int(GROW_FRACTION * size))
    allowed = inside & dilate(placed, grow)
    marker = erode(placed, 1) & inside
    local = reconstruct(marker, allowed) if marker.any() else np.zeros_like(inside)
    if local.any():
        local = fill_holes(local)
        opened = open_(local, 1)
        local = opened if opened.any() else local
    mask = np.zeros(shape, dtype=bool)
    mask[y0:y1, x0:x1] = local
    moved_by = (offset[0] - state.offset[0], offset[1] - state.offset[1])
    state.velocity = (
        0.5 * state.velocity[0] + 0.5 * moved_by[0],
        0.5 * state.velocity[1] + 0.5 * moved_by[1],
    )
    state.offset = offset
    area = int(mask.sum())
    lo, hi = REFRESH_RANGE
    if lo * state.area <= area <= hi * state.area and not _touches_window(local, win, shape):
        state.template, state.offset, state.area = mask, (0, 0), area
    return mask, d_fg, win


def _touches_window(
    local: BoolArray, win: tuple[int, int, int, int], shape: tuple[int, int]
) -> bool:
    """A mask touching a window edge that is not the frame edge may be cut off."""
    y0, x0, y1, x1 = win
    return bool(
        (y0 > 0 and local[0].any())
        or (x0 > 0 and local[:, 0].any())
        or (y1 < shape[0] and local[-1].any())
        or (x1 < shape[1] and local[:, -1].any())
    )


def track(
    get_frame: FrameGetter,
    frame_count: int,
    anchors: dict[int, tuple[BoolArray, ColourModel]],
) -> list[tuple[BoolArray, ColourModel]]:
    """Work-resolution masks (and the colour model used) of one object on every frame.

    ``anchors`` maps marked frame indices to the object's mask and colour model there;
    each other frame is reached by tracking from its nearest anchor (forwards or
    backwards), with that anchor's model.
    """
    if not anchors:
        raise ValueError("anchors: at least one marked frame is needed")
    marks = sorted(anchors)
    out: list[tuple[BoolArray, ColourModel] | None] = [None] * frame_count
    for k, a in enumerate(marks):
        mask, model = anchors[a]
        if a >= frame_count:
            continue
        out[a] = (mask, model)
        lo = 0 if k == 0 else (marks[k - 1] + a) // 2 + 1
        hi = frame_count - 1 if k == len(marks) - 1 else (a + marks[k + 1]) // 2
        for order in (range(a + 1, hi + 1), range(a - 1, lo - 1, -1)):
            state = _State(mask, (0, 0), (0.0, 0.0), int(mask.sum()))
            for t in order:
                tracked, _, _ = step(state, get_frame(t), model)
                out[t] = (tracked, model)
    first_mask, first_model = anchors[marks[0]]
    return [o if o is not None else (np.zeros_like(first_mask), first_model) for o in out]


def nearest_anchor(marks: Sequence[int], frame: int) -> int:
    """The marked frame ``frame`` is tracked from (the same rule as ``track``)."""
    ordered = sorted(marks)
    for k, a in enumerate(ordered):
        if k == len(ordered) - 1 or frame <= (a + ordered[k + 1]) // 2:
            return a
    return ordered[-1]


def track_to(
    get_frame: FrameGetter,
    anchors: dict[int, tuple[BoolArray, ColourModel]],
    frame: int,
) -> tuple[BoolArray, ColourModel]:
    """One object's work mask on ``frame`` only, tracking just the frames in between.

    Gives the same mask as ``track(...)[frame]``.
    """
    a = nearest_anchor(list(anchors), frame)
    mask, model = anchors[a]
    if a == frame:
        return mask, model
    state = _State(mask, (0, 0), (0.0, 0.0), int(mask.sum()))
    order = range(a + 1, frame + 1) if frame > a else range(a - 1, frame - 1, -1)
    tracked = mask
    for t in order:
        tracked, _, _ = step(state, get_frame(t), model)
    return tracked, model


def resolve_overlaps(
    masks: Sequence[BoolArray], models: Sequence[ColourModel], frame: NDArray[np.uint8]
) -> list[BoolArray]:
    """Give each pixel claimed by several objects to the one whose palette is nearest."""
    if len(masks) < 2:
        return list(masks)
    boxes = [bbox(m) for m in masks]
    if not any(
        a is not None
        and b is not None
        and a[0] < b[2]
        and b[0] < a[2]
        and a[1] < b[3]
        and b[1] < a[3]
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
    ):
        return list(masks)
    stack = np.stack(masks)
    contested = stack.sum(axis=0) > 1
    if not contested.any():
        return list(masks)
    ys, xs = np.nonzero(contested)
    lab = rgb_to_lab(frame[ys, xs])
    dist = np.stack(
        [
            np.where(stack[i, ys, xs], palette_distance(lab, m.foreground), np.inf)
            for i, m in enumerate(models)
        ]
    )
    winner = np.argmin(dist, axis=0)
    out = []
    for i, m in enumerate(masks):
        keep = m.copy()
        keep[ys, xs] = m[ys, xs] & (winner == i)
        out.append(keep)
    return out
