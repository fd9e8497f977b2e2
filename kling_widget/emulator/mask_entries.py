"""The masks a selection request answers with: one ``rle_mask_list`` item per object.

Each item carries the object's id, its mask as Kling's RLE and as a base64 greyscale PNG.
Imports only NumPy and the RLE codec.
"""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kling_widget.rle import encode_rle

# Masks are long runs of 0 and 255: zlib's run-length strategy at its fastest level makes
# a 1080p mask's PNG in a few milliseconds, a few kilobytes long.
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


def png_bytes(mask: NDArray[np.bool_]) -> bytes:
    """A mask as an 8-bit greyscale PNG (0 / 255).

    Written directly (rows unfiltered, deflated with the run-length strategy): a general
    encoder spends most of its time choosing row filters, which a two-valued mask does
    not need."""
    h, w = mask.shape
    rows = np.empty((h, w + 1), np.uint8)
    rows[:, 0] = 0  # each row starts with its filter type: none
    np.multiply(mask.view(np.uint8), 255, out=rows[:, 1:])
    deflate = zlib.compressobj(1, zlib.DEFLATED, zlib.MAX_WBITS, 9, zlib.Z_RLE)
    data = deflate.compress(rows.data) + deflate.flush()
    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return _PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def png_base64(mask: NDArray[np.bool_]) -> str:
    """A mask as raw base64 of a greyscale PNG (0 / 255), without a ``data:`` prefix."""
    return base64.b64encode(png_bytes(mask)).decode("ascii")


def mask_entry(object_id: int, mask: NDArray[np.bool_]) -> dict[str, Any]:
    """One item of ``rle_mask_list``."""
    h, w = mask.shape
    return {
        "object_id": object_id,
        "rle_mask": encode_rle(mask),
        "png_mask": {"size": [h, w], "base64": png_base64(mask)},
    }
