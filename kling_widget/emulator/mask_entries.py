"""The masks a selection request answers with: one ``rle_mask_list`` item per object.

Each item carries the object's id, its mask as Kling's RLE and as a base64 greyscale PNG.
Imports only OpenCV, NumPy and the RLE codec.
"""

from __future__ import annotations

import base64
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from kling_widget.rle import encode_rle

# Masks are long runs: zlib's run-length strategy at a low level keeps a 1080p mask's
# PNG small and quick to make.
PNG_COMPRESSION = 1


def png_base64(mask: NDArray[np.bool_]) -> str:
    """A mask as raw base64 of a greyscale PNG (0 / 255), without a ``data:`` prefix."""
    ok, data = cv2.imencode(
        ".png",
        mask.astype(np.uint8) * 255,
        [
            cv2.IMWRITE_PNG_COMPRESSION,
            PNG_COMPRESSION,
            cv2.IMWRITE_PNG_STRATEGY,
            cv2.IMWRITE_PNG_STRATEGY_RLE,
        ],
    )
    if not ok:
        raise RuntimeError("PNG encoding of a mask failed")
    return base64.b64encode(data.tobytes()).decode("ascii")


def mask_entry(object_id: int, mask: NDArray[np.bool_]) -> dict[str, Any]:
    """One item of ``rle_mask_list``."""
    h, w = mask.shape
    return {
        "object_id": object_id,
        "rle_mask": encode_rle(mask),
        "png_mask": {"size": [h, w], "base64": png_base64(mask)},
    }
