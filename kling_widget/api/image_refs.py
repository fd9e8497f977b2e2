"""Reference images on the wire: turn friendly input into a URL or raw base64, and check the
image content against Kling's rules (format, bytes, sides, aspect).

The image is fully decoded, so a truncated file is refused here rather than by the server;
an image with more than ``IMAGE_MAX_PIXELS`` pixels is refused before decoding. Only
``http(s)`` URLs are accepted. Imports the rules and PIL; never the clients.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
from pathlib import Path
from typing import Any

from kling_widget.limits import (
    IMAGE_MAX_BYTES,
)
from kling_widget.rules import fail as _fail
from kling_widget.rules import is_url
from kling_widget.rules.images import check_image

_DATA_URI = re.compile(r"^data:[^,]*?;base64,", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def strip_data_uri(text: str) -> str:
    """Drop a ``data:image/...;base64,`` prefix: Kling wants the raw base64 only."""
    return _DATA_URI.sub("", text.strip(), count=1)


def normalize_image(src: Any, field: str) -> str:
    """An image given as URL, path, bytes, base64 (data URI or raw), PIL image or array.

    Returns what goes on the wire: the URL unchanged, or raw base64 (no ``data:`` prefix)
    of an image checked against Kling's format, size, side and aspect-ratio limits.
    Objects with a ``to_base64()`` method (``media.images.ReferenceImage``) are accepted.
    """
    if isinstance(src, Path):
        return _b64(_read_image_file(field, src), field)
    if isinstance(src, str):
        text = src.strip()
        if not text:
            raise _fail(field, src, "required, an image URL, path or base64 data")
        if is_url(text):
            return text
        if _SCHEME.match(text):
            raise _fail(field, text[:120], "only http(s) URLs are accepted (http:// or https://)")
        if text.lower().startswith("data:"):
            if not _DATA_URI.match(text):
                raise _fail(field, src, "a data: URI must be base64 (data:image/...;base64,...)")
            text = strip_data_uri(text)
            check_image_base64(field, text)
            return text
        if len(text) < 4096 and _looks_like_path(text):
            return _b64(_read_image_file(field, Path(text)), field)
        check_image_base64(field, text)
        return text
    if isinstance(src, (bytes, bytearray, memoryview)):
        return _b64(bytes(src), field)
    to_b64 = getattr(src, "to_base64", None)
    if callable(to_b64):
        text = strip_data_uri(str(to_b64()))
        check_image_base64(field, text)
        return text
    encoded = _encode_pil_or_array(src, field)
    if encoded is not None:
        return _b64(encoded, field)
    raise _fail(
        field,
        type(src).__name__,
        "must be a URL, a path, bytes, base64, a PIL image or a numpy array",
    )


def _looks_like_path(text: str) -> bool:
    if os.path.exists(text):
        return True
    # Base64 never holds '.', '\\' or a path-like extension; a missing file must say so.
    return "." in text or "\\" in text or text.startswith(("~", "./", "../"))


def _read_image_file(field: str, path: Path) -> bytes:
    path = path.expanduser()
    if not path.is_file():
        raise _fail(field, str(path), "file not found")
    size = path.stat().st_size
    if size > IMAGE_MAX_BYTES:
        raise _fail(
            field, str(path), f"at most {IMAGE_MAX_BYTES // (1024 * 1024)} MB (got {size} bytes)"
        )
    return path.read_bytes()


def _b64(data: bytes, field: str) -> str:
    check_image_bytes(field, data)
    return base64.b64encode(data).decode("ascii")


def _encode_pil_or_array(src: Any, field: str) -> bytes | None:
    from PIL import Image

    image: Any = None
    if isinstance(src, Image.Image):
        image = src
    elif hasattr(src, "__array_interface__") and hasattr(src, "shape"):
        import numpy as np

        arr = np.asarray(src)
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
            raise _fail(
                field, f"array of shape {arr.shape}", "must be (h, w), (h, w, 3) or (h, w, 4)"
            )
        if arr.dtype != np.uint8:
            raise _fail(field, f"array of dtype {arr.dtype}", "must be uint8")
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        image = Image.fromarray(arr)
    if image is None:
        return None
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def check_image_base64(field: str, text: str) -> None:
    """Base64 image data (without prefix) that decodes to a valid reference image."""
    if _DATA_URI.match(text):
        raise _fail(field, text, "base64 must not carry a data: prefix")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _fail(field, text, "not a URL, an existing file or valid base64 image data") from None
    check_image_bytes(field, data)


def check_image_bytes(field: str, data: bytes) -> None:
    """Kling's reference-image rules: JPEG/PNG, <= 10 MB, sides >= 300 px, aspect 1:2.5-2.5:1;
    the image is decoded completely (a truncated file is refused)."""
    check_image(field, data)


def _head(data: bytes) -> str:
    return f"{len(data)} bytes starting {data[:8]!r}"


def validate_image_ref(field: str, value: Any) -> None:
    """A wire image value: an http(s) URL, or raw base64 of a valid image."""
    if not isinstance(value, str) or not value.strip():
        raise _fail(field, value, "required, an image URL or raw base64")
    if is_url(value):
        return
    if _SCHEME.match(value):
        raise _fail(field, value[:120], "only http(s) URLs are accepted (http:// or https://)")
    check_image_base64(field, value)
