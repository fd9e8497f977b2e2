"""Decoding one mask of a reply at any resolution, bounded before anything is allocated.

The rule for ``size``: Kling documents ``[h, w]``, but its own example writes ``[720, 1280]``
for a 720-wide, 1280-high video, and masks may come at the normalized video's resolution
rather than the upload's. So, given the frame ``shape`` (h, w):

1. ``size`` equal to ``(h, w)`` is ``[h, w]``; equal to ``(w, h)`` it is ``[w, h]``;
2. otherwise the reading whose aspect ratio is closer to the frame's wins (a tie, as for a
   square mask, keeps the documented ``[h, w]``);
3. the mask is decoded at that size and scaled to ``shape`` (nearest neighbour, sampled at
   pixel centres).

Before decoding, ``h * w`` is checked against the larger of the frame and Kling's largest
frame (``limits.MAX_MASK_PIXELS``), so a hostile ``size`` never allocates more than that.
Imports the RLE codec and the leaves only.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from kling_widget.errors import KlingResponseError
from kling_widget.limits import MAX_MASK_PIXELS
from kling_widget.rle import decode_rle


def orient(size: tuple[int, int], shape: tuple[int, int]) -> tuple[int, int]:
    """``size`` as ``(h, w)`` for a frame of ``shape`` (see the module's rule)."""
    a, b = size
    h, w = shape
    if (a, b) == (h, w) or a <= 0 or b <= 0 or h <= 0 or w <= 0:
        return a, b
    if (b, a) == (h, w):
        return b, a
    frame = math.log(h / w)
    as_hw = abs(math.log(a / b) - frame)
    as_wh = abs(math.log(b / a) - frame)
    return (b, a) if as_wh < as_hw else (a, b)


def decode_mask(
    size: tuple[int, int], counts: str, shape: tuple[int, int] | None = None
) -> npt.NDArray[np.uint8]:
    """A 0/1 uint8 mask of ``shape`` (or of its own size when ``shape`` is None)."""
    if shape is not None:
        if len(shape) != 2 or min(int(shape[0]), int(shape[1])) <= 0:
            raise ValueError(f"shape={shape!r}: must be (h, w) with positive sides")
        shape = (int(shape[0]), int(shape[1]))
    h, w = orient(size, shape) if shape is not None else size
    allowed = max(MAX_MASK_PIXELS, shape[0] * shape[1] if shape is not None else 0)
    if h * w > allowed:
        raise KlingResponseError(
            f"reply field rle_mask.size: {list(size)} is {h * w} pixels, more than the "
            f"{allowed} a frame can hold; refused before decoding"
        )
    try:
        mask = decode_rle({"size": [h, w], "counts": counts})
    except ValueError as exc:
        raise KlingResponseError(f"reply field rle_mask.counts: {exc}") from None
    if shape is None or (h, w) == shape:
        return np.ascontiguousarray(mask)
    if h == 0 or w == 0:
        return np.zeros(shape, dtype=np.uint8)
    rows = ((np.arange(shape[0]) + 0.5) * h / shape[0]).astype(np.intp)
    cols = ((np.arange(shape[1]) + 0.5) * w / shape[1]).astype(np.intp)
    scaled: npt.NDArray[np.uint8] = mask[np.ix_(rows, cols)]
    return np.ascontiguousarray(scaled)
