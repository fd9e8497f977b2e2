"""Mask helpers for the widget and the emulator: resize, bbox, area, union, burn-in overlay.

Masks are 2-D arrays (any layout: decoded RLE masks are Fortran-ordered) where non-zero
means "object". Frames are ``(h, w, 3)`` uint8 RGB. Nothing here allocates a full-frame
float temporary: compositing works on the masked pixels only, through 256-entry lookup
tables, with the integer formula

    out = (src * (255 - alpha) + colour * alpha + 127) // 255

(``alpha`` in 0..255; this is ``src + (colour - src) * alpha / 255`` rounded half up).
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from kling_widget.limits import MASK_ALPHA, MASK_COLOR

__all__ = [
    "PALETTE",
    "blend_lut",
    "mask_area",
    "mask_bbox",
    "mask_union",
    "object_color",
    "overlay_mask",
    "resize_mask",
]

Color = tuple[int, int, int]

# First colour is Kling's own mask colour; the rest are far apart in hue and readable
# over video. Objects past the palette get golden-angle hues (see ``object_color``).
PALETTE: tuple[Color, ...] = (
    MASK_COLOR,
    (59, 130, 246),
    (244, 63, 94),
    (234, 179, 8),
    (168, 85, 247),
    (20, 184, 166),
    (249, 115, 22),
    (236, 72, 153),
    (132, 204, 22),
    (99, 102, 241),
)
_GOLDEN = 0.618033988749895


def object_color(i: int) -> Color:
    """A distinct RGB colour for the ``i``-th object (0-based); ``object_color(0)`` is
    Kling's mask colour (116, 255, 82). Stable: the same ``i`` always gives the same
    colour."""
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < 0:
        raise ValueError(f"object index={i!r}: must be a non-negative integer")
    i = int(i)
    if i < len(PALETTE):
        return PALETTE[i]
    hue = (i * _GOLDEN) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 0.95)
    return (round(r * 255), round(g * 255), round(b * 255))


def _as_2d(mask: npt.ArrayLike, name: str = "mask") -> npt.NDArray[Any]:
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[:, :, 0]
    if m.ndim != 2:
        raise ValueError(f"{name} shape={m.shape}: must be 2-D (h, w)")
    return m


def _check_hw(shape: Sequence[int], name: str = "shape") -> tuple[int, int]:
    try:
        h, w = (int(v) for v in shape)
        ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in shape)
    except (TypeError, ValueError):
        ok = False
    if not ok or h <= 0 or w <= 0:
        raise ValueError(f"{name}={tuple(shape)!r}: must be two positive integers (h, w)")
    return h, w


def _bool(m: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    return m if m.dtype == np.bool_ else m != 0


def resize_mask(mask: npt.ArrayLike, shape: Sequence[int]) -> npt.NDArray[Any]:
    """Nearest-neighbour resize of a 2-D mask to ``shape`` = (h, w), keeping the dtype.

    Each output pixel takes the source pixel under its centre (as PIL's ``NEAREST``):
    ``src = floor((dst + 0.5) * src_size / dst_size)``, computed in integers.
    """
    m = _as_2d(mask)
    h, w = _check_hw(shape)
    sh, sw = m.shape
    if (sh, sw) == (h, w):
        same: npt.NDArray[Any] = m.copy()
        return same
    if sh == 0 or sw == 0:
        raise ValueError(f"mask shape={m.shape}: cannot resize an empty mask")
    rows = ((2 * np.arange(h, dtype=np.int64) + 1) * sh) // (2 * h)
    cols = ((2 * np.arange(w, dtype=np.int64) + 1) * sw) // (2 * w)
    # Two 1-D takes are cheaper than one 2-D fancy index with broadcast index arrays.
    out = np.take(np.take(m, rows, axis=0), cols, axis=1)
    return np.asarray(out)


def _nonzero_along(m: npt.NDArray[Any], axis: int) -> npt.NDArray[Any]:
    """Which lines along ``axis`` hold a non-zero pixel (truthy entries). For bool and
    unsigned masks ``max`` answers this about twice as fast as ``any``."""
    if m.dtype.kind in "bu":
        out: npt.NDArray[Any] = m.max(axis=axis)
        return out
    return np.asarray(m.any(axis=axis))


def mask_bbox(mask: npt.ArrayLike) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` of the non-zero pixels, ends exclusive; ``None`` if empty."""
    m = _as_2d(mask)
    if m.size == 0:
        return None
    cols = np.flatnonzero(_nonzero_along(m, 0))
    if cols.size == 0:
        return None
    rows = np.flatnonzero(_nonzero_along(m[:, cols[0] : cols[-1] + 1], 1))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def mask_area(mask: npt.ArrayLike) -> int:
    """Number of non-zero pixels."""
    return int(np.count_nonzero(_as_2d(mask)))


def mask_union(
    masks: Sequence[npt.ArrayLike], shape: Sequence[int] | None = None
) -> npt.NDArray[np.uint8]:
    """Pixel-wise OR of same-shape masks as a 0/1 uint8 ``(h, w)`` array.

    An empty sequence needs ``shape`` and gives an all-zero mask.
    """
    arrays = [_as_2d(m, f"masks[{i}]") for i, m in enumerate(masks)]
    if not arrays:
        if shape is None:
            raise ValueError("masks=[]: the union of no masks needs shape=(h, w)")
        return np.zeros(_check_hw(shape), dtype=np.uint8)
    first = arrays[0].shape
    if shape is not None and tuple(first) != tuple(shape):
        raise ValueError(f"masks[0] shape={first}: must equal shape={tuple(shape)}")
    out = _bool(arrays[0]).copy()
    for i, m in enumerate(arrays[1:], start=1):
        if m.shape != first:
            raise ValueError(f"masks[{i}] shape={m.shape}: must equal masks[0] shape={first}")
        np.logical_or(out, m, out=out)
    union: npt.NDArray[np.uint8] = out.view(np.uint8)
    return union


def _check_color(color: Sequence[int]) -> Color:
    try:
        rgb = tuple(int(c) for c in color)
        ok = len(rgb) == 3 and all(
            0 <= c <= 255 and c == v for c, v in zip(rgb, color, strict=True)
        )
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"color={color!r}: must be three integers 0..255 (r, g, b)")
    r, g, b = rgb
    return (r, g, b)


def _check_alpha(alpha: float) -> int:
    """Alpha as an int 0..255; a float in [0, 1] is taken as a fraction."""
    if isinstance(alpha, bool):
        raise ValueError(f"alpha={alpha!r}: must be an int 0..255 or a float 0..1")
    if isinstance(alpha, (float, np.floating)):
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha={alpha!r}: a float alpha must be within 0..1")
        return round(float(alpha) * 255)
    if isinstance(alpha, (int, np.integer)) and 0 <= alpha <= 255:
        return int(alpha)
    raise ValueError(f"alpha={alpha!r}: must be an int 0..255 or a float 0..1")


def blend_lut(color: Sequence[int], alpha: int) -> npt.NDArray[np.uint8]:
    """``(3, 256)`` table: ``lut[c, s]`` is source value ``s`` of channel ``c`` blended
    with ``color`` at ``alpha`` (0..255) by the module's integer formula."""
    rgb = np.asarray(_check_color(color), dtype=np.int32)[:, None]
    a = _check_alpha(alpha)
    src = np.arange(256, dtype=np.int32)[None, :]
    lut = (src * (255 - a) + rgb * a + 127) // 255
    return np.asarray(lut, dtype=np.uint8)


def overlay_mask(
    frame: npt.NDArray[np.uint8],
    mask: npt.ArrayLike,
    color: Sequence[int] = MASK_COLOR,
    alpha: float = MASK_ALPHA,
) -> npt.NDArray[np.uint8]:
    """Blend ``color`` over the masked pixels of ``frame`` in place; returns ``frame``.

    ``frame`` is ``(h, w, 3)`` (or ``(h, w, 4)``: alpha left alone) uint8; ``mask`` is
    ``(h, w)`` (resize it first with :func:`resize_mask`). Only pixels inside the mask's
    bounding box are read, and only masked ones written.
    """
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
        raise ValueError(
            f"frame dtype={getattr(frame, 'dtype', type(frame).__name__)}: must be a uint8 "
            "numpy array (h, w, 3)"
        )
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise ValueError(f"frame shape={frame.shape}: must be (h, w, 3) RGB or (h, w, 4)")
    m = _as_2d(mask)
    if m.shape != frame.shape[:2]:
        raise ValueError(
            f"mask shape={m.shape}: must equal the frame's (h, w)={frame.shape[:2]} "
            "(resize it with resize_mask)"
        )
    lut = blend_lut(color, _check_alpha(alpha))
    box = mask_bbox(m)
    if box is None:
        return frame
    x0, y0, x1, y1 = box
    sub = frame[y0:y1, x0:x1]
    sel = _bool(np.ascontiguousarray(m[y0:y1, x0:x1]))
    # One channel at a time through its lookup table into a uint8 scratch the size of
    # the box, copied back only where the mask is set.
    scratch = np.empty(sel.shape, dtype=np.uint8)
    for c in range(3):
        channel = sub[:, :, c]
        np.take(lut[c], channel, out=scratch)
        np.copyto(channel, scratch, where=sel)
    return frame
