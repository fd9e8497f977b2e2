"""Masks at any resolution: [h, w] or [w, h] read by aspect, scaled to the clip's frame."""

from __future__ import annotations

import numpy as np
import pytest

from kling_widget.api.masks import orient
from kling_widget.api.models import ObjectMask, Selection
from kling_widget.errors import KlingResponseError
from kling_widget.rle import encode_rle


def box(h: int, w: int) -> np.ndarray:
    """A mask with a box over the middle half of each side (same place at any scale)."""
    m = np.zeros((h, w), dtype=np.uint8)
    m[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 1
    return m


def mask_of(m: np.ndarray, swap: bool = False) -> ObjectMask:
    rle = encode_rle(m)
    if swap:
        rle["size"] = rle["size"][::-1]
    return ObjectMask.from_json({"object_id": 0, "rle_mask": rle})


def test_mask_at_the_normalized_resolution_scales_to_the_upload() -> None:
    # 1280x720 masks for a 1920x1080 upload.
    got = mask_of(box(720, 1280)).to_array((1080, 1920))
    assert got.shape == (1080, 1920)
    assert np.array_equal(got, box(1080, 1920))


def test_mask_at_the_upload_resolution_is_unchanged() -> None:
    m = box(1080, 1920)
    assert np.array_equal(mask_of(m).to_array((1080, 1920)), m)
    assert np.array_equal(mask_of(m).to_array(), m)


def test_docs_example_size_written_as_w_h() -> None:
    # The docs' example: size [720, 1280] for a 720-wide, 1280-high video; the counts walk
    # the real 1280x720 (h x w) mask.
    m = box(1280, 720)
    m[0:10, 0:5] = 1  # not symmetric
    rle = encode_rle(m)
    swapped = ObjectMask.from_json({"rle_mask": {"size": [720, 1280], "counts": rle["counts"]}})
    assert np.array_equal(swapped.to_array((1280, 720)), m)


def test_w_h_size_at_another_resolution() -> None:
    # A portrait clip 1080x1920 (h x w = 1920x1080); the mask is 720 wide, 1280 high but
    # its size is written [w, h] = [720, 1280]... read by aspect, then scaled.
    m = box(1280, 720)
    rle = encode_rle(m)
    obj = ObjectMask.from_json({"rle_mask": {"size": [1280, 720], "counts": rle["counts"]}})
    assert np.array_equal(obj.to_array((1920, 1080)), box(1920, 1080))


def test_orientation_rule() -> None:
    assert orient((720, 1280), (1080, 1920)) == (720, 1280)
    assert orient((1280, 720), (1080, 1920)) == (720, 1280)
    assert orient((500, 500), (1080, 1920)) == (500, 500)


@pytest.mark.parametrize("size", [[100000, 100000], [2161, 2161], [50000, 300]])
def test_huge_declared_size_is_refused_before_allocating(size: list[int]) -> None:
    obj = ObjectMask.from_json({"rle_mask": {"size": size, "counts": "0"}})
    with pytest.raises(KlingResponseError, match="refused before decoding"):
        obj.to_array()
    with pytest.raises(KlingResponseError):
        obj.to_array((720, 1280))


def test_bad_counts_are_response_errors() -> None:
    obj = ObjectMask.from_json({"rle_mask": {"size": [10, 10], "counts": "\x7f\x7f"}})
    with pytest.raises(KlingResponseError, match="counts"):
        obj.to_array()


def test_selection_with_wrong_types_names_the_field() -> None:
    with pytest.raises(KlingResponseError, match=r"rle_mask_list\[0\]\.rle_mask\.size"):
        Selection.from_json(
            {"res": {"rle_mask_list": [{"rle_mask": {"size": "big", "counts": ""}}]}}
        )
