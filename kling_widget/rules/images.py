"""Reference-image rules: read an encoded image safely, and Kling's limits on it.

:func:`inspect_image` opens image bytes, refuses more than ``IMAGE_MAX_PIXELS`` before
decoding (a small file can declare a huge canvas) and then decodes every pixel, so a
truncated or corrupt file is refused here rather than by the server. :func:`check_image`
applies Kling's rules: jpg/jpeg or png, at most 10 MB, each side at least 300 px, aspect
between 1:2.5 and 2.5:1. Both raise ``KlingValidationError`` naming field, value and rule.

Imports only ``limits`` and ``errors`` (and Pillow, lazily).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from kling_widget.errors import KlingValidationError
from kling_widget.limits import (
    IMAGE_FORMATS,
    IMAGE_MAX_ASPECT,
    IMAGE_MAX_BYTES,
    IMAGE_MAX_PIXELS,
    IMAGE_MIN_ASPECT,
    IMAGE_MIN_SIDE,
)

_PIL_FORMATS = {"JPEG": "jpeg", "PNG": "png", "MPO": "jpeg"}


@dataclass(frozen=True)
class ImageInfo:
    """What a fully decoded image file is: format (lower case), size and PIL mode."""

    format: str
    width: int
    height: int
    mode: str


def _head(data: bytes) -> str:
    return f"{len(data)} bytes starting {data[:8]!r}"


def inspect_image(field: str, data: bytes, source: str | None = None) -> ImageInfo:
    """Decode ``data`` completely (bounded); raise when it is not a whole, readable image."""
    from PIL import Image, UnidentifiedImageError

    shown = source or _head(data)
    too_big = f"at most {IMAGE_MAX_PIXELS // 1_000_000} megapixels (scale it down)"
    try:
        with warnings.catch_warnings():
            # Pillow only warns below twice its own limit; ours refuses earlier.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
                if width * height > IMAGE_MAX_PIXELS:
                    raise KlingValidationError(field, f"{shown}: {width}x{height}", too_big)
                info = ImageInfo((im.format or "unknown").lower(), width, height, im.mode)
                # Decoding every pixel is the only way to find a truncated or corrupt file.
                im.load()
    except KlingValidationError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise KlingValidationError(field, shown, too_big) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise KlingValidationError(
            field,
            shown,
            f"is not a readable image, or is truncated ({type(exc).__name__}); use jpg or png",
        ) from None
    return info


def image_format(info: ImageInfo) -> str | None:
    """``"jpeg"`` or ``"png"`` when Kling takes the format (MPO is a JPEG stream)."""
    fmt = _PIL_FORMATS.get(info.format.upper())
    return fmt if fmt in IMAGE_FORMATS else None


def check_image(field: str, data: bytes) -> ImageInfo:
    """Kling's reference-image rules on encoded bytes; returns what the image is."""
    if len(data) > IMAGE_MAX_BYTES:
        raise KlingValidationError(
            field, f"{len(data)} bytes", f"at most {IMAGE_MAX_BYTES // (1024 * 1024)} MB"
        )
    info = inspect_image(field, data)
    if image_format(info) is None:
        raise KlingValidationError(field, f"{info.format} image", "format must be jpg/jpeg or png")
    w, h = info.width, info.height
    if min(w, h) < IMAGE_MIN_SIDE:
        raise KlingValidationError(field, f"{w}x{h}", f"each side must be >= {IMAGE_MIN_SIDE} px")
    if not IMAGE_MIN_ASPECT <= w / h <= IMAGE_MAX_ASPECT:
        raise KlingValidationError(
            field, f"{w}x{h}", "aspect ratio must be between 1:2.5 and 2.5:1"
        )
    return info
