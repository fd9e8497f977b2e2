"""Reference images of a request: fetched or base64-decoded, checked, and fully decoded.

Kling's image rules (format, size, sides, aspect) are ``kling_widget.api.validation``'s
``check_image_bytes``; on top of them the emulator decodes every pixel, so a truncated or
corrupt file, or one too large in pixels to decode, is a 1201 naming the field, never a 500.
Imports ``emulator.envelope``, ``emulator.fetch`` and the api's wire checks.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings

from PIL import Image

from kling_widget.api import validation as v
from kling_widget.emulator.envelope import invalid
from kling_widget.emulator.fetch import Fetcher
from kling_widget.errors import KlingValidationError
from kling_widget.limits import IMAGE_MAX_BYTES


def _describe(data: bytes) -> str:
    return f"{len(data)} bytes"


def image_bytes(fetch: Fetcher, field: str, value: str) -> bytes:
    """The bytes of an image given as a URL (under the fetch rules) or raw base64."""
    if v.is_url(value) or value.startswith("file://"):
        return fetch.read_bytes(field, value, limit=IMAGE_MAX_BYTES)
    try:
        v.check_image_base64(field, value)
    except KlingValidationError as err:
        raise invalid(err.field, err.value, err.rule) from None
    except Image.DecompressionBombError:
        raise invalid(field, "base64 image", "too many pixels to decode") from None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(field, value, "not valid base64 image data") from None


def reference_image(fetch: Fetcher, field: str, value: str) -> Image.Image:
    """A reference image, checked against Kling's rules and decoded in full."""
    data = image_bytes(fetch, field, value)
    try:
        v.check_image_bytes(field, data)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.load()
    except KlingValidationError as err:
        raise invalid(err.field, err.value, err.rule) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise invalid(field, _describe(data), "too many pixels to decode") from None
    except (OSError, ValueError, SyntaxError, EOFError):
        raise invalid(
            field, _describe(data), "not a complete, readable image (truncated or corrupt)"
        ) from None
    return image
