"""Reading the preview's tracking output into per-frame masks."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from kling_widget.editor.tracking import load_tracking, parse_tracking
from kling_widget.rle import encode_rle


def _mask(h: int, w: int, y0: int, x0: int, size: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[y0 : y0 + size, x0 : x0 + size] = 1
    return m


def test_the_emulators_tracking_document_decodes_exactly() -> None:
    h, w = 72, 128
    masks = {i: _mask(h, w, 10 + i, 20 + 2 * i, 15) for i in range(4)}
    doc = {
        "format": "kling-widget-emulator/tracking-v1",
        "width": w,
        "height": h,
        "frames": [
            {
                "frame_index": i,
                "rle_mask_list": [{"object_id": 7, "rle_mask": encode_rle(m)}] if i != 2 else [],
            }
            for i, m in masks.items()
        ],
    }
    out = parse_tracking(doc, (h, w))
    assert sorted(out) == [0, 1, 3]  # frame 2: the object is not there
    for i in (0, 1, 3):
        ids, arrays = out[i]
        assert ids == [7]
        assert np.array_equal(arrays[0], masks[i])


def test_mapping_form_and_unknown_forms() -> None:
    h, w = 20, 30
    m = _mask(h, w, 2, 3, 5)
    doc = {"frames": {"4": [{"object_id": 1, "rle_mask": encode_rle(m)}]}}
    out = parse_tracking(doc, (h, w))
    assert list(out) == [4] and np.array_equal(out[4][1][0], m)
    assert parse_tracking({"something": "else"}, (h, w)) == {}
    assert parse_tracking([1, 2, 3], (h, w)) == {}


def test_load_tracking_maps_to_local_frames_and_tolerates_other_formats() -> None:
    h, w = 20, 30
    m = _mask(h, w, 2, 3, 5)
    body = json.dumps(
        {"frames": [{"frame_index": 10, "rle_mask_list": [{"rle_mask": encode_rle(m)}]}]}
    ).encode()
    preview = SimpleNamespace(tracking_output_url="http://x/t.json")
    out = load_tracking(preview, (h, w), lambda i: i // 2, fetch=lambda url: body)
    assert list(out) == [5]
    ids, arrays = out[5]
    assert ids == [0] and np.array_equal(arrays[0], m)
    # Kling's own file may be anything: a binary body yields no masks, not an error.
    assert load_tracking(preview, (h, w), int, fetch=lambda url: b"\x00\x01PK") == {}
    assert load_tracking(SimpleNamespace(tracking_output_url=None), (h, w), int) == {}


def test_the_tracking_file_is_fetched_over_http_only() -> None:
    from kling_widget.editor.tracking import fetch_bytes
    from kling_widget.errors import KlingError

    with pytest.raises((KlingError, ValueError)):
        fetch_bytes("file:///etc/passwd")
