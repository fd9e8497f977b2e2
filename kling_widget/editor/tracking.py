"""Reading the preview's ``tracking_output``: per-frame masks of the tracked objects.

Kling does not document this file's format. It is fetched through the package's one
bounded downloader (http(s) only). The emulator serves JSON (documented in
its module); Kling's own file may differ, so anything that does not parse as one of the
shapes below yields no masks and the editor falls back to the preview video.
Accepted shapes (``rle`` is a COCO RLE ``{"size": [h, w], "counts": str}``)::

    {"frames": [{"frame_index": i, "rle_mask_list": [{"object_id": k, "rle_mask": rle}]}]}
    {"frames": {"<i>": [{"object_id": k, "rle_mask": rle}, ...]}}
    [{"frame_index": i, "masks"|"rle_mask_list"|"objects": [...]}, ...]
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

TrackedMasks = dict[int, tuple[list[object], list[np.ndarray]]]

_LIST_KEYS = ("rle_mask_list", "masks", "objects", "rle_masks")


# A tracking file holds one RLE mask per object and frame; far below this for any clip
# Kling accepts. A larger body is refused rather than read into memory.
MAX_TRACKING_BYTES = 256 * 1024 * 1024


def fetch_bytes(url: str, timeout: float = 30.0) -> bytes:
    """GET ``url`` (an http(s) file Kling or the emulator serves), bounded in size and time."""
    from kling_widget.transfer import fetch_bytes as fetch

    return fetch(url, max_bytes=MAX_TRACKING_BYTES, timeout=timeout, deadline=300.0)


def _items(entry: Any) -> list[Mapping[str, Any]]:
    if isinstance(entry, list):
        return [m for m in entry if isinstance(m, Mapping)]
    if isinstance(entry, Mapping):
        for key in _LIST_KEYS:
            if isinstance(entry.get(key), list):
                return [m for m in entry[key] if isinstance(m, Mapping)]
    return []


def _rle_of(item: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for key in ("rle_mask", "rle", "mask", "segmentation"):
        value = item.get(key)
        if isinstance(value, Mapping) and "counts" in value:
            return value
    if "counts" in item and "size" in item:
        return item
    return None


def parse_tracking(data: Any, shape: tuple[int, int]) -> TrackedMasks:
    """Masks per (API) frame index from a parsed tracking document; ``{}`` if unknown."""
    from kling_widget.rle import decode_rle

    frames: list[tuple[int, Any]] = []
    if isinstance(data, Mapping):
        body = data.get("frames", data.get("tracking", data.get("res")))
        if isinstance(body, Mapping):
            for key, entry in body.items():
                try:
                    frames.append((int(key), entry))
                except (TypeError, ValueError):
                    continue
        elif isinstance(body, list):
            data = body
    if isinstance(data, list):
        for i, entry in enumerate(data):
            idx = entry.get("frame_index", i) if isinstance(entry, Mapping) else i
            frames.append((int(idx), entry))
    out: TrackedMasks = {}
    for idx, entry in frames:
        ids: list[object] = []
        arrays: list[np.ndarray] = []
        for j, item in enumerate(_items(entry)):
            rle = _rle_of(item)
            if rle is None:
                continue
            arr = decode_rle(dict(rle), shape)
            if not arr.any():
                continue
            ids.append(item.get("object_id", j))
            arrays.append(arr)
        if arrays:
            out[idx] = (ids, arrays)
    return out


def load_tracking(
    preview: Any,
    shape: tuple[int, int],
    to_local: Callable[[int], int],
    fetch: Callable[[str], bytes] = fetch_bytes,
) -> TrackedMasks:
    """Fetch and decode ``preview.tracking_output_url``; masks per local frame index.

    Returns ``{}`` when there is no tracking output or its format is not one we know.
    """
    url = getattr(preview, "tracking_output_url", None)
    if not url:
        return {}
    body = fetch(url)
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return {}
    try:
        by_api = parse_tracking(data, shape)
    except ValueError:
        return {}
    return {to_local(i): v for i, v in by_api.items()}
