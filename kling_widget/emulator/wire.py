"""Reading what arrives on the wire, within limits: JSON bodies, ``Range`` headers, upload
names.

A JSON body is refused (400/1200) when it is larger than the cap, nested deeper than
``MAX_JSON_DEPTH`` levels, not UTF-8 JSON, or uses ``NaN``/``Infinity``. The depth is
measured before parsing, so a body of 100 000 nested brackets is answered, never a crashed
parser. Imports only ``emulator.envelope`` and ``kling_widget.limits``.
"""

from __future__ import annotations

import json
import math
import re
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np

from kling_widget.emulator.envelope import BAD_REQUEST, ApiError
from kling_widget.limits import IMAGE_MAX_BYTES, OMNI_MAX_REFS_WITHOUT_VIDEO

# Kling's deepest documented body is three levels (``{"image_list": [{...}]}``).
MAX_JSON_DEPTH = 32
# Room for the largest documented body: the most reference images, each at the size limit,
# base64-encoded (4 bytes per 3), plus 1 MiB for everything else.
MAX_JSON_BYTES = OMNI_MAX_REFS_WITHOUT_VIDEO * math.ceil(IMAGE_MAX_BYTES * 4 / 3) + (1 << 20)

# A JSON string literal (the unrolled form, which does not backtrack).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = bytes(range(256)).translate(None, b"[]{}")
_STEP = np.zeros(256, dtype=np.int8)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1


def json_depth(raw: bytes) -> int:
    """How deeply ``raw`` nests arrays and objects (brackets inside strings do not count)."""
    brackets = _STRING.sub(b"", raw).translate(None, _BRACKETS)
    if not brackets:
        return 0
    steps = _STEP[np.frombuffer(brackets, dtype=np.uint8)].astype(np.int64)
    return int(np.cumsum(steps).max())


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> object:
    """The JSON value in ``raw``; ``ApiError`` 400/1200 naming what is wrong otherwise."""
    # Nesting never exceeds the number of opening brackets: most bodies (base64 images
    # carry none) need no scan at all.
    brackets = raw.translate(None, _BRACKETS)
    opening = brackets.count(b"[") + brackets.count(b"{")
    depth = json_depth(raw) if opening > max_depth else opening
    if depth > max_depth:
        raise ApiError(
            BAD_REQUEST,
            f"request body nests {depth} levels deep: at most {max_depth} levels are accepted",
        )
    try:
        return json.loads(raw, parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(BAD_REQUEST, "request body is not valid JSON") from None


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(first, last)`` byte offsets of a single ``bytes=`` range, or None if unsatisfiable."""
    m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if m is None or size == 0:
        return None
    first, last = m.group(1), m.group(2)
    if first == "" and last == "":
        return None
    if first == "":
        n = int(last)
        if n == 0:
            return None
        return max(0, size - n), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


def upload_name(raw_path: str, header: str | None) -> str:
    """An upload's file name from ``?filename=`` / ``?name=``, else the ``X-Filename`` header."""
    query = parse_qs(urlsplit(raw_path).query)
    names = query.get("filename") or query.get("name") or []
    name: str | None = names[0] if names else None
    if not name:
        name = header
    return unquote(name) if name else "upload.bin"
