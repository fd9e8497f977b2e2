"""Mask helpers: exact pixels of resizing, boxes, unions and overlays."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from kling_widget.limits import MASK_ALPHA, MASK_COLOR
from kling_widget.media.masks import (
    PALETTE,
    blend_lut,
    mask_area,
    mask_bbox,
    mask_union,
    object_color,
    overlay_mask,
    resize_mask,
)
from kling_widget.rle import decode_rle, encode_rle


def reference_blend(frame: np.ndarray, mask: np.ndarray, color: tuple, alpha: int) -> np.ndarray:
    """The documented formula on the whole frame, in int64, for comparison."""
    src = frame.astype(np.int64)
    blended = (src * (255 - alpha) + np.array(color, np.int64) * alpha + 127) // 255
    return np.where(mask.astype(bool)[:, :, None], blended, src).astype(np.uint8)


# --- resize -----------------------------------------------------------------------------


def test_resize_picks_the_source_pixel_under_each_centre() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        sh, sw, h, w = (int(v) for v in rng.integers(1, 30, 4))
        src = rng.integers(0, 2, (sh, sw)).astype(np.uint8)
        out = resize_mask(src, (h, w))
        assert out.shape == (h, w) and out.dtype == np.uint8
        for y in range(h):
            for x in range(w):
                sy = int((Fraction(2 * y + 1, 2) * sh) // h)
                sx = int((Fraction(2 * x + 1, 2) * sw) // w)
                assert out[y, x] == src[sy, sx]


def test_resize_integer_factors() -> None:
    src = (np.random.default_rng(2).random((9, 12)) < 0.5).astype(np.uint8)
    up = resize_mask(src, (27, 48))
    np.testing.assert_array_equal(up, np.repeat(np.repeat(src, 3, axis=0), 4, axis=1))
    down = resize_mask(up, (9, 12))
    np.testing.assert_array_equal(down, src)


def test_resize_keeps_dtype_and_accepts_fortran_masks() -> None:
    m = decode_rle(encode_rle(np.eye(8, dtype=np.uint8)))
    assert m.flags.f_contiguous
    np.testing.assert_array_equal(resize_mask(m, (16, 16)), np.kron(np.eye(8), np.ones((2, 2))))
    assert resize_mask(m.astype(bool), (4, 4)).dtype == np.bool_
    same = resize_mask(m, (8, 8))
    np.testing.assert_array_equal(same, m)
    same[0, 0] = 0
    assert m[0, 0] == 1  # a copy, never the caller's array


@pytest.mark.parametrize("shape", [(0, 4), (3,), (2.5, 3), (-1, 3), (True, 3)])
def test_resize_rejects_bad_shapes(shape: tuple) -> None:
    with pytest.raises(ValueError, match=r"shape=.*must be two positive integers"):
        resize_mask(np.ones((4, 4), np.uint8), shape)


# --- bbox, area, union ------------------------------------------------------------------


def test_bbox_has_exclusive_ends() -> None:
    m = np.zeros((10, 20), np.uint8)
    m[3, 7] = 1
    assert mask_bbox(m) == (7, 3, 8, 4)
    m[8, 15] = 1
    assert mask_bbox(m) == (7, 3, 16, 9)
    assert mask_bbox(np.zeros((5, 5))) is None
    assert mask_bbox(np.ones((5, 6), bool)) == (0, 0, 6, 5)
    assert mask_bbox(np.zeros((0, 3))) is None


def test_bbox_counts_any_non_zero_value_in_any_dtype() -> None:
    for dtype in (np.int8, np.float32, np.int64):
        m = np.zeros((6, 8), dtype)
        m[2, 3] = -1  # negative is non-zero: part of the object
        m[4, 6] = 0.5 if dtype == np.float32 else 3
        assert mask_bbox(m) == (3, 2, 7, 5)
    u = np.zeros((6, 8), np.uint16)
    u[5, 0] = 65535
    assert mask_bbox(u) == (0, 5, 1, 6)


def test_bbox_matches_decoded_rle() -> None:
    m = np.zeros((90, 160), np.uint8)
    m[20:41, 100:131] = 1
    assert mask_bbox(decode_rle(encode_rle(m))) == (100, 20, 131, 41)


def test_area_counts_nonzero_pixels() -> None:
    m = np.zeros((6, 7), np.uint8)
    m[1:3, 2:6] = 255
    assert mask_area(m) == 8
    assert isinstance(mask_area(m), int)


def test_union_is_pixelwise_or() -> None:
    a = np.zeros((4, 5), np.uint8)
    b = np.zeros((4, 5), bool)
    a[0, 0] = 1
    b[3, 4] = True
    u = mask_union([a, b])
    assert u.dtype == np.uint8
    assert u.tolist() == ((a != 0) | b).astype(np.uint8).tolist()
    assert a.sum() == 1  # inputs untouched
    assert mask_union([], shape=(2, 3)).tolist() == [[0, 0, 0], [0, 0, 0]]


def test_union_errors() -> None:
    with pytest.raises(ValueError, match=r"masks\[1\] shape=\(4, 4\): must equal masks\[0\]"):
        mask_union([np.zeros((4, 5)), np.zeros((4, 4))])
    with pytest.raises(ValueError, match=r"needs shape"):
        mask_union([])


# --- overlay ----------------------------------------------------------------------------


def test_overlay_matches_the_documented_formula_exactly() -> None:
    rng = np.random.default_rng(4)
    frame = rng.integers(0, 256, (72, 128, 3), dtype=np.uint8)
    mask = decode_rle(encode_rle(rng.random((72, 128)) < 0.3))
    expected = reference_blend(frame, mask, MASK_COLOR, MASK_ALPHA)
    out = overlay_mask(frame, mask)
    assert out is frame  # in place
    np.testing.assert_array_equal(frame, expected)


@pytest.mark.parametrize("alpha", [0, 1, 128, 254, 255])
def test_overlay_alpha_range_and_colour(alpha: int) -> None:
    frame = np.tile(np.arange(256, dtype=np.uint8)[None, :, None], (3, 1, 3))
    mask = np.zeros((3, 256), np.uint8)
    mask[1] = 1
    before = frame.copy()
    overlay_mask(frame, mask, color=(10, 200, 30), alpha=alpha)
    np.testing.assert_array_equal(frame, reference_blend(before, mask, (10, 200, 30), alpha))
    np.testing.assert_array_equal(frame[[0, 2]], before[[0, 2]])
    if alpha == 255:
        assert (frame[1] == (10, 200, 30)).all()
    if alpha == 0:
        np.testing.assert_array_equal(frame, before)


def test_overlay_leaves_pixels_outside_the_mask_alone() -> None:
    frame = np.full((40, 60, 3), 77, np.uint8)
    mask = np.zeros((40, 60), np.uint8)
    mask[10:20, 30:35] = 1
    overlay_mask(frame, mask)
    assert (frame[mask == 0] == 77).all()
    assert (frame[mask == 1] != 77).any(axis=1).all()


def test_overlay_on_rgba_frame_keeps_alpha_channel() -> None:
    frame = np.full((5, 5, 4), 100, np.uint8)
    mask = np.eye(5, dtype=np.uint8)
    overlay_mask(frame, mask, alpha=0.5)
    assert (frame[..., 3] == 100).all()
    a = round(0.5 * 255)
    np.testing.assert_array_equal(
        frame[..., :3], reference_blend(np.full((5, 5, 3), 100, np.uint8), mask, MASK_COLOR, a)
    )


def test_overlay_on_a_view_of_a_bigger_frame() -> None:
    big = np.zeros((20, 30, 3), np.uint8)
    view = big[5:15, 10:25]
    overlay_mask(view, np.ones((10, 15), np.uint8), color=(255, 255, 255), alpha=255)
    assert (big[5:15, 10:25] == 255).all()
    assert big.sum() == 10 * 15 * 3 * 255


def test_overlay_empty_mask_is_a_no_op() -> None:
    frame = np.full((4, 4, 3), 9, np.uint8)
    overlay_mask(frame, np.zeros((4, 4)))
    assert (frame == 9).all()


@pytest.mark.parametrize(
    ("frame", "mask", "kwargs", "message"),
    [
        (np.zeros((4, 4, 3), np.float32), np.ones((4, 4)), {}, r"frame dtype=float32"),
        (np.zeros((4, 4), np.uint8), np.ones((4, 4)), {}, r"frame shape=\(4, 4\)"),
        (np.zeros((4, 4, 3), np.uint8), np.ones((4, 5)), {}, r"mask shape=\(4, 5\).*resize_mask"),
        (np.zeros((4, 4, 3), np.uint8), np.ones((4, 4)), {"color": (1, 2)}, r"color=\(1, 2\)"),
        (np.zeros((4, 4, 3), np.uint8), np.ones((4, 4)), {"color": (1, 2, 300)}, r"color="),
        (np.zeros((4, 4, 3), np.uint8), np.ones((4, 4)), {"alpha": 256}, r"alpha=256"),
        (np.zeros((4, 4, 3), np.uint8), np.ones((4, 4)), {"alpha": 1.5}, r"alpha=1.5"),
        (np.zeros((4, 4, 3), np.uint8), np.ones((4, 4)), {"alpha": True}, r"alpha=True"),
    ],
)
def test_overlay_errors(frame: np.ndarray, mask: np.ndarray, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        overlay_mask(frame, mask, **kwargs)


def test_blend_lut_rounds_half_up() -> None:
    lut = blend_lut((0, 255, 100), 128)
    # (s*127 + c*128 + 127) // 255 for s = 0 and s = 255
    assert lut[:, 0].tolist() == [0, (255 * 128 + 127) // 255, (100 * 128 + 127) // 255]
    assert lut[:, 255].tolist() == [
        (255 * 127 + 127) // 255,
        255,
        (255 * 127 + 100 * 128 + 127) // 255,
    ]


# --- colours --------------------------------------------------------------


def test_object_colours_are_distinct_and_start_with_klings() -> None:
    assert object_color(0) == (116, 255, 82) == MASK_COLOR
    colours = [object_color(i) for i in range(40)]
    assert len(set(colours)) == 40
    assert colours[: len(PALETTE)] == list(PALETTE)
    assert all(all(0 <= c <= 255 for c in rgb) for rgb in colours)
    assert object_color(17) == object_color(17)
    with pytest.raises(ValueError, match=r"object index=-1"):
        object_color(-1)
