"""The mask layer: tracked and selected masks as one palette PNG drawn over the frame.

This is the one place the widget composites masks: a label map at display size (later
objects over earlier ones), then a palette PNG whose fills are translucent, outlines
opaque and background transparent. The browser draws it on the canvas's mask layer.
Object colours are fixed by first appearance, so an object keeps its colour on every
frame. Imports only numpy, Pillow, ``limits`` and ``media.masks``; never a widget.
"""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Iterable, Sequence

import numpy as np
from PIL import Image

from kling_widget import limits
from kling_widget.media.masks import object_color as media_object_color
from kling_widget.media.masks import resize_mask

MaskKey = tuple[int, int]


def object_color(i: int) -> tuple[int, int, int]:
    """The colour of the ``i``-th object (by first appearance); stable across frames."""
    r, g, b = media_object_color(i)
    return (r, g, b)


def label_map(
    arrays: Sequence[np.ndarray], color_indices: Sequence[int], size: tuple[int, int]
) -> np.ndarray:
    """(h, w) uint8 labels at display ``size`` (w, h): 0 = nothing, k + 1 = colour k.

    Later objects are drawn over earlier ones where they overlap.
    """
    w, h = size
    labels = np.zeros((h, w), dtype=np.uint8)
    for arr, ci in zip(arrays, color_indices, strict=True):
        small = arr if arr.shape == (h, w) else resize_mask(arr, (h, w))
        labels[small.astype(bool, copy=False)] = (ci % 127) + 1
    return labels


def _edges(labels: np.ndarray) -> np.ndarray:
    """Pixels whose label differs from a 4-neighbour's and that belong to an object."""
    e = np.zeros(labels.shape, dtype=bool)
    e[:-1, :] |= labels[:-1, :] != labels[1:, :]
    e[1:, :] |= labels[1:, :] != labels[:-1, :]
    e[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    e[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    e &= labels > 0
    return e


def mask_png(labels: np.ndarray, fill_alpha: int = limits.MASK_ALPHA) -> bytes:
    """Encode a label map as a palette PNG: translucent fills, opaque outlines, clear rest.

    Palette index k + 1 is colour k at ``fill_alpha``; index 128 + k + 1 is its outline.
    One byte a pixel keeps the PNG small and quick to encode.
    """
    out = labels.copy()
    out[_edges(labels)] += 128
    palette, alpha = _palette(fill_alpha)
    img = Image.fromarray(out, mode="P")
    img.putpalette(palette)
    buf = io.BytesIO()
    # compress_level 1: the PNG goes over a local socket, encoding time matters more.
    img.save(buf, format="PNG", transparency=alpha, compress_level=1)
    return buf.getvalue()


@functools.lru_cache(maxsize=4)
def _palette(fill_alpha: int) -> tuple[bytes, bytes]:
    """RGB palette and per-index alpha of ``mask_png``."""
    palette = bytearray(256 * 3)
    alpha = bytearray(256)
    for k in range(127):
        rgb = object_color(k)
        for base, a in ((k + 1, fill_alpha), (128 + k + 1, 255)):
            palette[3 * base : 3 * base + 3] = bytes(rgb)
            alpha[base] = a
    return bytes(palette), bytes(alpha)


class MaskLayer:
    """Renders (and caches) the mask PNG of each (frame, version) at display ``size``."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._colors: dict[object, int] = {}
        self._cache: dict[MaskKey, bytes] = {}
        self._hidden: frozenset[object] = frozenset()
        # Bumped when what is drawn changes for every frame at once (objects hidden).
        self.generation = 0

    @property
    def hidden(self) -> frozenset[object]:
        """Objects left out of every rendering (hidden in the object list)."""
        return self._hidden

    def set_hidden(self, object_ids: Iterable[object]) -> None:
        """Leave ``object_ids`` out of every rendering from now on (they keep their colour)."""
        with self._lock:
            hidden = frozenset(object_ids)
            if hidden != self._hidden:
                self._hidden = hidden
                self._cache.clear()
                self.generation += 1

    def color_index(self, object_id: object) -> int:
        """The colour index of ``object_id`` (new objects take the next colour)."""
        with self._lock:
            if object_id not in self._colors:
                self._colors[object_id] = len(self._colors)
            return self._colors[object_id]

    def set_color_index(self, object_id: object, index: int) -> None:
        """Give ``object_id`` colour ``index`` (an object the server gave back under a new id
        keeps the colour it had); every frame is drawn again."""
        with self._lock:
            if self._colors.get(object_id) != index:
                self._colors[object_id] = index
                self._cache.clear()
                self.generation += 1

    def png(
        self, key: MaskKey, object_ids: Sequence[object], arrays: Sequence[np.ndarray]
    ) -> bytes:
        """The PNG of ``key``'s masks, rendered once."""
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        colors = [self.color_index(oid) for oid in object_ids]
        shown = [i for i, oid in enumerate(object_ids) if oid not in self._hidden]
        data = mask_png(
            label_map([arrays[i] for i in shown], [colors[i] for i in shown], self.size)
        )
        with self._lock:
            self._cache[key] = data
        return data

    def cached(self, key: MaskKey) -> bytes | None:
        """The PNG of ``key`` if it was rendered already."""
        with self._lock:
            return self._cache.get(key)

    def forget(self, key: MaskKey) -> None:
        """Drop a stale rendering."""
        with self._lock:
            self._cache.pop(key, None)

    def clear(self) -> None:
        """Drop every rendering (colours are kept: an object keeps its colour)."""
        with self._lock:
            self._cache.clear()
