"""Reference images for Multi-Elements ``image_list`` (and Omni): load, check, fix.

Kling's rules (``limits.py``): jpg/jpeg or png, at most 10 MB, each side at least 300 px,
aspect ratio between 1:2.5 and 2.5:1; sent as a URL or as raw base64 *without* a
``data:`` prefix, and the API does not crop. ``ReferenceImage`` holds the encoded file
bytes exactly as they will be sent, so ``check()`` judges what Kling will see.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from PIL import Image, ImageOps

from kling_widget.errors import KlingError, KlingValidationError
from kling_widget.limits import (
    IMAGE_FORMATS,
    IMAGE_MAX_ASPECT,
    IMAGE_MAX_BYTES,
    IMAGE_MIN_ASPECT,
    IMAGE_MIN_SIDE,
)
from kling_widget.media.violations import Violation, raise_for
from kling_widget.rules.images import inspect_image
from kling_widget.transfer import fetch_bytes

__all__ = ["ReferenceImage", "reference_image"]

# A download bigger than this is refused outright (fix() could not shrink it sensibly
# and it would sit in memory); a safety bound of ours, not a Kling limit.
MAX_DOWNLOAD_BYTES = 10 * IMAGE_MAX_BYTES
# Tried in order until the file fits IMAGE_MAX_BYTES; then the image is scaled down.
JPEG_QUALITIES = (95, 90, 85, 80, 75, 70, 60, 50)
_DOWNSCALE_STEP = 0.8
_LOSSLESS = {"png", "gif", "bmp", "tiff", "ppm", "tga", "ico"}
_MIME = {"jpeg": "image/jpeg", "png": "image/png"}
_DATA_URI = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^,;]*)*?),(?P<data>.*)$", re.S
)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)
_B64_CHARS = re.compile(r"^[A-Za-z0-9+/=_\-\s]+$")


def _redact_url(url: str) -> str:
    """The URL without query or fragment, which often carry signatures or tokens."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _aspect_ok(w: int, h: int) -> bool:
    return h > 0 and IMAGE_MIN_ASPECT <= w / h <= IMAGE_MAX_ASPECT


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


class ReferenceImage:
    """An image file (its bytes as they will be sent) with its format and size.

    Build one with :meth:`load`. ``format`` is PIL's name in lower case (``"jpeg"``,
    ``"png"``, ``"webp"``...), ``width``/``height`` the stored pixel size, ``source`` a
    short description of where it came from (URLs without their query string), and
    ``notes`` what :meth:`fix` changed.
    """

    __slots__ = ("_data", "format", "height", "mode", "notes", "source", "width")

    def __init__(self, data: bytes, *, source: str = "bytes", notes: Sequence[str] = ()) -> None:
        self._data = bytes(data)
        self.source = source
        self.notes = tuple(notes)
        info = inspect_image("image", self._data, f"{source} ({len(self._data)} bytes)")
        self.width, self.height, self.mode = info.width, info.height, info.mode
        fmt = info.format
        # MPO (phone cameras' multi-picture files) is a baseline JPEG stream followed by
        # extra frames: every JPEG decoder reads it, so it counts as jpeg.
        fmt = (fmt or "unknown").lower()
        self.format = "jpeg" if fmt == "mpo" else fmt

    # --- loading ---------------------------------------------------------------------

    @classmethod
    def load(cls, src: Any, *, timeout: float = 30.0, http_client: Any = None) -> ReferenceImage:
        """Load from a path, bytes, URL, PIL image, numpy array, base64 text or data URI.

        Arrays are ``(h, w)``, ``(h, w, 3)`` or ``(h, w, 4)`` uint8. PIL images and arrays
        are encoded as PNG, or as JPEG (quality 95) when an opaque image would not fit
        10 MB as PNG. Only http(s) URLs are fetched, through the package's one
        downloader, capped and with a total deadline (``http_client`` may be an
        ``httpx.Client``). Anything unreadable raises ``KlingValidationError`` (a
        ``ValueError``) naming the input and the problem.
        """
        if isinstance(src, ReferenceImage):
            return src
        if isinstance(src, (bytes, bytearray, memoryview)):
            return cls(bytes(src), source="bytes")
        if isinstance(src, Image.Image):
            return cls._from_pil(src, "PIL image")
        if isinstance(src, np.ndarray):
            return cls._from_array(src)
        if isinstance(src, os.PathLike):
            return cls._from_path(Path(src))
        if isinstance(src, str):
            text = src.strip()
            if text.startswith("data:"):
                return cls._from_data_uri(text)
            if re.match(r"^https?://", text, re.I):
                return cls._from_url(text, timeout=timeout, http_client=http_client)
            if _SCHEME.match(text):
                raise KlingValidationError(
                    "image",
                    _redact_url(text),
                    "only http(s) URLs are accepted (http:// or https://)",
                )
            try:
                if len(text) < 4096 and Path(text).is_file():
                    return cls._from_path(Path(text))
            except OSError:
                pass
            data = _b64decode(text)
            if data is not None:
                try:
                    return cls(data, source=f"base64 ({len(text)} chars)")
                except KlingValidationError:
                    if len(text) > 256:  # clearly meant as base64 image data
                        raise
                    # Short text that merely decodes as base64 is more likely a bad path.
            raise KlingValidationError(
                "image",
                text,
                "is not an existing file, an http(s) URL, a data URI or base64 image data",
            )
        raise KlingValidationError(
            "image",
            type(src).__name__,
            "must be a path, bytes, URL, PIL image, numpy array, base64 or data URI",
        )

    @classmethod
    def _from_path(cls, path: Path) -> ReferenceImage:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise KlingValidationError(
                "image", str(path), f"cannot be read: {exc.strerror or exc}"
            ) from None
        return cls(data, source=str(path))

    @classmethod
    def _from_data_uri(cls, text: str) -> ReferenceImage:
        match = _DATA_URI.match(text)
        if not match or ";base64" not in (match.group("params") or ""):
            raise KlingValidationError(
                "image", text, "a data URI must look like data:image/png;base64,<data>"
            )
        data = _b64decode(match.group("data"))
        if data is None:
            raise KlingValidationError("image", text, "the data URI's base64 part is invalid")
        return cls(data, source=f"data URI ({match.group('mime') or 'no type'})")

    @classmethod
    def _from_url(cls, url: str, *, timeout: float, http_client: Any) -> ReferenceImage:
        shown = _redact_url(url)
        try:
            data = fetch_bytes(
                url,
                max_bytes=MAX_DOWNLOAD_BYTES,
                timeout=timeout,
                deadline=max(timeout, 1.0) * 4,
                client=http_client,
            )
        except KlingValidationError as exc:
            raise KlingValidationError("image", shown, exc.rule) from None
        except KlingError as exc:
            # Signed CDN links carry tokens in the query: only the redacted URL is shown.
            reason = str(exc).replace(url, shown)
            if "cap" in reason:
                reason = (
                    f"download exceeds {_mb(MAX_DOWNLOAD_BYTES)}; Kling accepts "
                    f"at most {_mb(IMAGE_MAX_BYTES)}"
                )
            raise KlingValidationError(
                "image", shown, f"could not be downloaded: {reason}"
            ) from None
        return cls(data, source=shown)

    @classmethod
    def _from_array(cls, arr: np.ndarray) -> ReferenceImage:
        ok_shape = arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))
        if arr.dtype != np.uint8 or not ok_shape or 0 in arr.shape[:2]:
            raise KlingValidationError(
                "image",
                f"array {arr.shape} {arr.dtype}",
                "an image array must be uint8 (h, w), (h, w, 3) RGB or (h, w, 4) RGBA",
            )
        return cls._from_pil(Image.fromarray(np.ascontiguousarray(arr)), "numpy array")

    @classmethod
    def _from_pil(cls, img: Image.Image, source: str) -> ReferenceImage:
        img = _normalise_mode(img)
        data = _encode(img, "png")
        if len(data) > IMAGE_MAX_BYTES and img.mode == "RGB":
            data = _encode(img, "jpeg", quality=JPEG_QUALITIES[0])
        return cls(data, source=source)

    # --- what it is ------------------------------------------------------------------

    @property
    def data(self) -> bytes:
        """The encoded file bytes."""
        return self._data

    @property
    def nbytes(self) -> int:
        """Size of the encoded file in bytes."""
        return len(self._data)

    @property
    def mime(self) -> str:
        """MIME type of the encoded file (``image/<format>``)."""
        return _MIME.get(self.format, f"image/{self.format}")

    def __repr__(self) -> str:
        return (
            f"ReferenceImage(format={self.format!r}, size={self.width}x{self.height}, "
            f"nbytes={self.nbytes}, source={self.source!r})"
        )

    def to_pil(self) -> Image.Image:
        """A fresh, fully loaded PIL image of the file."""
        img = Image.open(io.BytesIO(self._data))
        img.load()
        return img

    def to_base64(self) -> str:
        """Raw base64 of the file, without a ``data:`` prefix (what Kling wants)."""
        return base64.b64encode(self._data).decode("ascii")

    def to_data_uri(self) -> str:
        """A ``data:`` URI of the file (for HTML display; never for Kling)."""
        return f"data:{self.mime};base64,{self.to_base64()}"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the file bytes to ``path`` and return it."""
        dest = Path(path)
        dest.write_bytes(self._data)
        return dest

    def thumbnail(self, size: int = 96) -> bytes:
        """A PNG at most ``size`` px on its longer side, aspect kept (for the widget)."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size={size!r}: must be a positive integer")
        img = _normalise_mode(ImageOps.exif_transpose(self.to_pil()))
        img.thumbnail((size, size), Image.Resampling.LANCZOS)
        return _encode(img, "png")

    # --- rules -----------------------------------------------------------------------

    def check(self) -> list[Violation]:
        """Every documented rule this image breaks (empty when Kling will accept it)."""
        out: list[Violation] = []
        allowed = "jpg/jpeg or png"
        if self.format not in IMAGE_FORMATS:
            target = "png" if self._prefers_png() else "jpeg"
            out.append(
                Violation(
                    "format", self.format, f"must be {allowed}", f"fix() will convert to {target}"
                )
            )
        if self.nbytes > IMAGE_MAX_BYTES:
            out.append(
                Violation(
                    "file size",
                    _mb(self.nbytes),
                    f"must be at most {_mb(IMAGE_MAX_BYTES)}",
                    "fix() will recompress (JPEG quality stepping down)",
                )
            )
        w, h = self.width, self.height
        aspect_bad = not _aspect_ok(w, h)
        pw, ph = _padded_size(w, h) if aspect_bad else (w, h)
        if min(w, h) < IMAGE_MIN_SIDE:
            uw, uh = _upscaled_size(pw, ph)
            how = (
                f"fix() will upscale to {uw}x{uh}"
                if (uw, uh) != (pw, ph)
                else (f"fix() will pad to {pw}x{ph}")
            )
            out.append(
                Violation(
                    "size",
                    f"{w}x{h}",
                    f"each side must be at least {IMAGE_MIN_SIDE} px",
                    how,
                )
            )
        if aspect_bad:
            ratio = w / h if h else math.inf
            out.append(
                Violation(
                    "aspect ratio",
                    f"{ratio:.3g}:1 ({w}x{h})",
                    f"must be between 1:{1 / IMAGE_MIN_ASPECT:g} and {IMAGE_MAX_ASPECT:g}:1",
                    f"fix() will pad to {pw}x{ph} with the edge colour (the API does not crop)",
                )
            )
        return out

    def _prefers_png(self) -> bool:
        return (
            self.format in _LOSSLESS
            or self.mode in ("RGBA", "LA", "PA")
            or (self.mode == "P" and self._has_transparency())
        )

    def _has_transparency(self) -> bool:
        with Image.open(io.BytesIO(self._data)) as img:
            return "transparency" in img.info

    def fix(self) -> ReferenceImage:
        """A copy that passes :meth:`check`: converted to jpeg/png, padded into the
        aspect range with the edge colour, upscaled so each side is at least 300 px, and
        recompressed to fit 10 MB. Returns ``self`` when nothing needs fixing."""
        if not self.check():
            return self
        notes: list[str] = []
        img = self.to_pil()
        turned = ImageOps.exif_transpose(img)
        if turned.size != img.size:
            notes.append("applied the EXIF orientation")
        img = _normalise_mode(turned)
        w, h = img.size
        if not _aspect_ok(w, h):
            img, colour = _pad(img)
            notes.append(f"padded {w}x{h} -> {img.width}x{img.height} with colour {colour}")
        if min(img.size) < IMAGE_MIN_SIDE:
            before = img.size
            img = img.resize(_upscaled_size(*img.size), Image.Resampling.LANCZOS)
            notes.append(f"upscaled {before[0]}x{before[1]} -> {img.width}x{img.height}")
            if not _aspect_ok(*img.size):  # rounding at the limit: one more pixel of pad
                img, _ = _pad(img)
        want_png = img.mode == "RGBA" or self.format in _LOSSLESS
        data, out_fmt, how = _fit_bytes(img, want_png)
        if out_fmt != self.format:
            notes.insert(0, f"converted {self.format} -> {out_fmt}")
        if img.mode == "RGBA" and out_fmt == "jpeg":
            notes.append("flattened transparency onto white (too big for PNG)")
        notes.append(how)
        fixed = ReferenceImage(data, source=f"fixed {self.source}", notes=notes)
        raise_for(fixed.check())  # a bug here must not reach Kling silently
        return fixed


def reference_image(src: Any, fix: bool = False) -> ReferenceImage:
    """Load ``src`` (see :meth:`ReferenceImage.load`) as an image Kling will accept.

    With ``fix=True`` whatever can be fixed is (see :meth:`ReferenceImage.fix`);
    otherwise a rule it breaks raises ``KlingValidationError`` naming the field, the
    value and the rule, with the fix that ``fix=True`` would apply.
    """
    img = ReferenceImage.load(src)
    if fix:
        img = img.fix()
    raise_for(img.check())
    return img


# --- helpers --------------------------------------------------------------------------


def _b64decode(text: str) -> bytes | None:
    compact = re.sub(r"\s+", "", text)
    if len(compact) < 8 or not _B64_CHARS.match(compact):
        return None
    compact = compact.replace("-", "+").replace("_", "/")
    compact += "=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None


def _normalise_mode(img: Image.Image) -> Image.Image:
    """RGB, or RGBA when the image has transparency (palette, LA, RGBA)."""
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        return img.convert("RGBA")
    return img.convert("RGB")


def _encode(img: Image.Image, fmt: str, quality: int = 95) -> bytes:
    buf = io.BytesIO()
    if fmt == "png":
        img.save(buf, format="PNG", optimize=False, compress_level=6)
    else:
        if img.mode != "RGB":
            img = _flatten(img)
        img.save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def _flatten(img: Image.Image) -> Image.Image:
    """RGB on white (JPEG has no alpha)."""
    rgba = img.convert("RGBA")
    back = Image.new("RGB", rgba.size, (255, 255, 255))
    back.paste(rgba, mask=rgba.getchannel("A"))
    return back


def _padded_size(w: int, h: int) -> tuple[int, int]:
    """The smallest canvas around ``w x h`` whose aspect ratio is allowed."""
    if h and w / h > IMAGE_MAX_ASPECT:
        nh = math.ceil(w / IMAGE_MAX_ASPECT)
        while not _aspect_ok(w, nh):
            nh += 1
        return w, nh
    if h and w / h < IMAGE_MIN_ASPECT:
        nw = math.ceil(h * IMAGE_MIN_ASPECT)
        while not _aspect_ok(nw, h):
            nw += 1
        return nw, h
    return w, h


def _upscaled_size(w: int, h: int) -> tuple[int, int]:
    """Scale so the shorter side is exactly ``IMAGE_MIN_SIDE`` (never down)."""
    short = min(w, h)
    if short >= IMAGE_MIN_SIDE:
        return w, h
    scale = IMAGE_MIN_SIDE / short
    if w <= h:
        return IMAGE_MIN_SIDE, max(IMAGE_MIN_SIDE, round(h * scale))
    return max(IMAGE_MIN_SIDE, round(w * scale)), IMAGE_MIN_SIDE


def _pad(img: Image.Image) -> tuple[Image.Image, tuple[int, ...]]:
    """Centre ``img`` on the smallest allowed canvas filled with its edge colour (the
    mean of the two edges that get extended)."""
    w, h = img.size
    nw, nh = _padded_size(w, h)
    arr = np.asarray(img)
    # Padding above and below takes the top and bottom rows' colour, else the sides'.
    edges = np.concatenate((arr[0], arr[-1]) if nh > h else (arr[:, 0], arr[:, -1]))
    colour = tuple(int(v) for v in np.round(edges.reshape(-1, arr.shape[2]).mean(axis=0)))
    canvas = Image.new(img.mode, (nw, nh), colour)
    canvas.paste(img, ((nw - w) // 2, (nh - h) // 2))
    return canvas, colour


def _fit_bytes(img: Image.Image, png: bool) -> tuple[bytes, str, str]:
    """Encode within ``IMAGE_MAX_BYTES``: PNG when wanted and small enough, else JPEG
    with quality stepping down, then scaled down (never below the minimum side).
    Returns (bytes, format, what was done)."""
    if png:
        data = _encode(img, "png")
        if len(data) <= IMAGE_MAX_BYTES:
            return data, "png", f"encoded as png ({_mb(len(data))})"
    while True:
        for q in JPEG_QUALITIES:
            data = _encode(img, "jpeg", quality=q)
            if len(data) <= IMAGE_MAX_BYTES:
                size = f"{img.width}x{img.height}"
                return data, "jpeg", f"encoded as jpeg quality {q} ({_mb(len(data))}, {size})"
        w, h = img.size
        scale = max(_DOWNSCALE_STEP, IMAGE_MIN_SIDE / min(w, h))
        if scale >= 1.0:  # already at the minimum side; cannot shrink further
            return data, "jpeg", f"encoded as jpeg quality {JPEG_QUALITIES[-1]}"
        nw, nh = max(IMAGE_MIN_SIDE, round(w * scale)), max(IMAGE_MIN_SIDE, round(h * scale))
        img = img.resize((nw, nh), Image.Resampling.LANCZOS)
        if not _aspect_ok(nw, nh):  # rounding at the limit: one more pixel of pad
            img, _ = _pad(img)
