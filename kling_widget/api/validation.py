"""Every documented Kling input rule, checked locally before anything is sent.

Two layers:

* ``normalize_*`` turn friendly Python input into the wire format (points as tuples,
  images as paths/bytes/PIL/arrays, ``True`` for ``"yes"``, a ``data:`` prefix stripped).
* ``validate_*`` check a wire-format body (the dict that would be sent). The client runs them
  on every request it builds; the emulator runs the same functions on what it receives and
  answers code 1201 with ``err.rule``.

Every failure is a :class:`KlingValidationError` naming the field, the value and the rule.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import os
import re
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kling_widget.errors import KlingValidationError
from kling_widget.limits import (
    DURATIONS,
    EDIT_MODE_IMAGES,
    EDIT_MODES,
    IMAGE_FORMATS,
    IMAGE_MAX_ASPECT,
    IMAGE_MAX_BYTES,
    IMAGE_MIN_ASPECT,
    IMAGE_MIN_SIDE,
    MAX_MARKED_FRAMES,
    MAX_POINTS_PER_FRAME,
    MAX_PROMPT_CHARS,
    MODES,
    MULTI_ELEMENTS_MODEL,
    OMNI_ASPECT_RATIOS,
    OMNI_DEFAULT_DURATION,
    OMNI_DURATIONS,
    OMNI_IMAGE_TYPES,
    OMNI_KEEP_SOUND_VALUES,
    OMNI_MAX_IMAGES_WITH_END_FRAME,
    OMNI_MAX_REFS_WITH_VIDEO,
    OMNI_MAX_REFS_WITHOUT_VIDEO,
    OMNI_MAX_SHOT_PROMPT_CHARS,
    OMNI_MAX_SHOTS,
    OMNI_MAX_VIDEOS,
    OMNI_MIN_SHOT_DURATION,
    OMNI_MODELS,
    OMNI_REFER_TYPES,
    OMNI_SHOT_TYPES,
    OMNI_SOUND_VALUES,
    PAGE_NUM_RANGE,
    PAGE_SIZE_RANGE,
)

Point = tuple[float, float]

_DATA_URI = re.compile(r"^data:[^,]*?;base64,", re.IGNORECASE)
_URL = re.compile(r"^https?://", re.IGNORECASE)
_PIL_FORMATS = {"JPEG": "jpeg", "PNG": "png"}


def _fail(field: str, value: Any, rule: str) -> KlingValidationError:
    return KlingValidationError(field, value, rule)


# --- scalars ------------------------------------------------------------------------------


def is_url(value: str) -> bool:
    """True for an ``http://`` or ``https://`` URL."""
    return bool(_URL.match(value))


def check_nonempty_str(field: str, value: Any) -> str:
    """A required, non-blank string."""
    if not isinstance(value, str) or not value.strip():
        raise _fail(field, value, "required, a non-empty string")
    return value


def check_id(field: str, value: Any) -> str:
    """A task or session id that goes into a URL path: non-empty, no ``/``."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _fail(field, value, "required, a non-empty string")
    text = str(value).strip()
    if not text:
        raise _fail(field, value, "required, a non-empty string")
    if "/" in text or "?" in text or "#" in text:
        raise _fail(field, value, "must not contain '/', '?' or '#'")
    return text


def check_url(field: str, value: Any) -> str:
    """An ``http(s)`` URL."""
    check_nonempty_str(field, value)
    if not is_url(value):
        raise _fail(field, value, "must be an http:// or https:// URL")
    return str(value)


def check_int(field: str, value: Any, lo: int | None = None, hi: int | None = None) -> int:
    """An ``int`` (not ``bool``) within ``[lo, hi]``."""
    if isinstance(value, bool) or not _is_integral(value):
        raise _fail(field, value, "must be an integer")
    ivalue = int(value)
    if lo is not None and hi is not None and not lo <= ivalue <= hi:
        raise _fail(field, value, f"must be between {lo} and {hi}")
    if lo is not None and ivalue < lo:
        raise _fail(field, value, f"must be >= {lo}")
    return ivalue


def _is_integral(value: Any) -> bool:
    # numpy integers are not ``int`` but are fine frame indices.
    return hasattr(value, "__index__") and not isinstance(value, bool)


def check_choice(field: str, value: Any, choices: Sequence[str]) -> str:
    """One of a documented set of strings."""
    if not isinstance(value, str) or value not in choices:
        raise _fail(field, value, f"must be one of {', '.join(choices)}")
    return value


def check_prompt(field: str, value: Any, *, required: bool, limit: int = MAX_PROMPT_CHARS) -> None:
    """A prompt: a string of at most ``limit`` characters; non-blank when required."""
    if value is None:
        if required:
            raise _fail(field, value, "required")
        return
    if not isinstance(value, str):
        raise _fail(field, value, "must be a string")
    if required and not value.strip():
        raise _fail(field, value, "required, must not be blank")
    if len(value) > limit:
        raise _fail(field, value, f"at most {limit} characters (got {len(value)})")


def check_frame_index(value: Any, field: str = "frame_index") -> int:
    """A frame number: an integer >= 0."""
    return check_int(field, value, lo=0)


def check_bool(field: str, value: Any) -> bool:
    """A JSON boolean."""
    if not isinstance(value, bool):
        raise _fail(field, value, "must be true or false")
    return value


# --- points ---------------------------------------------------------------------------------


def normalize_points(points: Any, field: str = "points") -> list[dict[str, float]]:
    """``[(x, y), ...]`` or ``[{"x": x, "y": y}, ...]`` -> the wire list, checked."""
    if isinstance(points, (str, bytes)) or not isinstance(points, Iterable):
        raise _fail(field, points, "must be a list of (x, y) or {'x': x, 'y': y}")
    out: list[dict[str, float]] = []
    for i, p in enumerate(points):
        if isinstance(p, Mapping):
            if "x" not in p or "y" not in p:
                raise _fail(f"{field}[{i}]", p, "needs both 'x' and 'y'")
            x, y = p["x"], p["y"]
        elif isinstance(p, Sequence) and not isinstance(p, (str, bytes)) and len(p) == 2:
            x, y = p[0], p[1]
        else:
            raise _fail(f"{field}[{i}]", p, "must be (x, y) or {'x': x, 'y': y}")
        out.append({"x": _coord(f"{field}[{i}].x", x), "y": _coord(f"{field}[{i}].y", y)})
    _check_point_count(field, out)
    return out


def _coord(field: str, value: Any) -> float:
    # Strings are refused even when they parse: the wire wants JSON numbers.
    if isinstance(value, (bool, str, bytes)):
        raise _fail(field, value, "must be a number in [0, 1]")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise _fail(field, value, "must be a number in [0, 1]") from None
    if not math.isfinite(f):
        raise _fail(field, value, "must be finite, in [0, 1]")
    if not 0.0 <= f <= 1.0:
        raise _fail(field, value, "must be in [0, 1] (normalized, from the top-left corner)")
    return f


def _check_point_count(field: str, points: Sequence[Any]) -> None:
    if not points:
        raise _fail(field, list(points), "at least 1 point")
    if len(points) > MAX_POINTS_PER_FRAME:
        raise _fail(
            field, f"{len(points)} points", f"at most {MAX_POINTS_PER_FRAME} points per frame"
        )


def validate_points(points: Any, field: str = "points") -> None:
    """Check a wire-format ``points`` list (``[{"x": .., "y": ..}]``)."""
    if not isinstance(points, list):
        raise _fail(field, points, "must be a list of {'x': x, 'y': y}")
    for i, p in enumerate(points):
        if not isinstance(p, Mapping) or "x" not in p or "y" not in p:
            raise _fail(f"{field}[{i}]", p, "must be {'x': x, 'y': y}")
        _coord(f"{field}[{i}].x", p["x"])
        _coord(f"{field}[{i}].y", p["y"])
    _check_point_count(field, points)


class SelectionTracker:
    """Client-side memory of the marked frames of each session.

    Kling allows at most ``MAX_MARKED_FRAMES`` frames per session and
    ``MAX_POINTS_PER_FRAME`` points per frame; the 11th frame is refused here, before it
    is sent. A frame stops counting when all its points are deleted, and ``clear`` forgets
    them all. A session restored from elsewhere can be seeded with :meth:`restore`.
    """

    def __init__(self) -> None:
        self._frames: dict[str, dict[int, list[Point]]] = {}
        # The editor calls from its worker thread while the UI thread may read.
        self._lock = threading.RLock()

    def frames(self, session_id: str) -> dict[int, list[Point]]:
        """Marked frames of a session -> their points (a copy)."""
        with self._lock:
            return {f: list(p) for f, p in self._frames.get(session_id, {}).items()}

    def check_add(
        self, session_id: str, frame_index: int, points: Sequence[Mapping[str, Any]]
    ) -> None:
        """Raise when adding ``points`` on ``frame_index`` would break a per-session limit."""
        with self._lock:
            frames = {f: list(p) for f, p in self._frames.get(session_id, {}).items()}
        if frame_index not in frames and len(frames) >= MAX_MARKED_FRAMES:
            raise _fail(
                "frame_index",
                frame_index,
                f"at most {MAX_MARKED_FRAMES} marked frames per session "
                f"(already marked: {sorted(frames)})",
            )
        total = len(frames.get(frame_index, [])) + len(points)
        if total > MAX_POINTS_PER_FRAME:
            raise _fail(
                "points",
                f"{total} points on frame {frame_index}",
                f"at most {MAX_POINTS_PER_FRAME} points per frame",
            )

    def record_add(
        self, session_id: str, frame_index: int, points: Sequence[Mapping[str, Any]]
    ) -> None:
        """Remember points the server accepted."""
        with self._lock:
            frame = self._frames.setdefault(session_id, {}).setdefault(frame_index, [])
            frame.extend((float(p["x"]), float(p["y"])) for p in points)

    def record_delete(
        self, session_id: str, frame_index: int, points: Sequence[Mapping[str, Any]]
    ) -> None:
        """Forget deleted points; a frame left without points no longer counts."""
        with self._lock:
            frames = self._frames.get(session_id)
            if not frames or frame_index not in frames:
                return
            remaining = frames[frame_index]
            for p in points:
                key = (float(p["x"]), float(p["y"]))
                if key in remaining:
                    remaining.remove(key)
            if not remaining:
                del frames[frame_index]

    def record_clear(self, session_id: str) -> None:
        """Forget every point of a session (clear-selection, or the session is gone)."""
        with self._lock:
            self._frames.pop(session_id, None)

    def restore(self, session_id: str, frames: Mapping[int, Iterable[Point]]) -> None:
        """Seed the memory for a session whose points were added by another process."""
        seeded = {
            int(f): [(float(x), float(y)) for x, y in pts] for f, pts in frames.items() if pts
        }
        with self._lock:
            self._frames[session_id] = seeded


# --- images ---------------------------------------------------------------------------------


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
    """Kling's reference-image rules: JPEG/PNG, <= 10 MB, sides >= 300 px, aspect 1:2.5-2.5:1."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > IMAGE_MAX_BYTES:
        raise _fail(
            field,
            f"{len(data)} bytes",
            f"at most {IMAGE_MAX_BYTES // (1024 * 1024)} MB",
        )
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = im.format or ""
            width, height = im.size
    except (UnidentifiedImageError, OSError, ValueError):
        raise _fail(field, _head(data), "not a readable image (jpg/jpeg/png)") from None
    if _PIL_FORMATS.get(fmt) not in IMAGE_FORMATS:
        raise _fail(field, f"{fmt or 'unknown'} image", "format must be jpg/jpeg or png")
    if min(width, height) < IMAGE_MIN_SIDE:
        raise _fail(field, f"{width}x{height}", f"each side must be >= {IMAGE_MIN_SIDE} px")
    aspect = width / height
    if not IMAGE_MIN_ASPECT <= aspect <= IMAGE_MAX_ASPECT:
        raise _fail(field, f"{width}x{height}", "aspect ratio must be between 1:2.5 and 2.5:1")


def _head(data: bytes) -> str:
    return f"{len(data)} bytes starting {data[:8]!r}"


def validate_image_ref(field: str, value: Any) -> None:
    """A wire image value: an http(s) URL, or raw base64 of a valid image."""
    if not isinstance(value, str) or not value.strip():
        raise _fail(field, value, "required, an image URL or raw base64")
    if is_url(value):
        return
    check_image_base64(field, value)


# --- Multi-Elements bodies -----------------------------------------------------------------


def validate_init_selection(body: Mapping[str, Any]) -> None:
    """``init-selection``: exactly one of ``video_id`` / ``video_url``."""
    video_id, video_url = body.get("video_id"), body.get("video_url")
    if (video_id is None) == (video_url is None):
        raise _fail(
            "video_url",
            {"video_id": video_id, "video_url": video_url},
            "give exactly one of video_id or video_url",
        )
    if video_url is not None:
        check_url("video_url", video_url)
        if body.get("task_id") is not None:
            raise _fail("task_id", body.get("task_id"), "only with video_id")
    else:
        check_id("video_id", video_id)
        if body.get("task_id") is not None:
            check_id("task_id", body["task_id"])


def validate_session_body(body: Mapping[str, Any]) -> None:
    """``clear-selection`` / ``preview-selection``: a ``session_id``."""
    check_id("session_id", body.get("session_id"))


def validate_selection_body(body: Mapping[str, Any]) -> None:
    """``add-selection`` / ``delete-selection``."""
    check_id("session_id", body.get("session_id"))
    check_frame_index(body.get("frame_index"))
    validate_points(body.get("points"))


def normalize_duration(value: Any, field: str = "duration") -> Any:
    """5 -> "5": Kling's durations are strings; anything else is left for validation."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value


def check_edit_mode_images(edit_mode: Any, count: int) -> str:
    """``edit_mode`` is known and takes ``count`` images (addition 1-2, swap 1, removal 0)."""
    mode = check_choice("edit_mode", edit_mode, EDIT_MODES)
    lo, hi = EDIT_MODE_IMAGES[mode]
    if not lo <= count <= hi:
        wanted = "no images" if hi == 0 else (f"exactly {lo}" if lo == hi else f"{lo} to {hi}")
        raise _fail("image_list", f"{count} images", f"edit_mode {mode!r} takes {wanted}")
    return mode


def validate_create_task(body: Mapping[str, Any]) -> None:
    """Multi-Elements create-task body."""
    check_choice("model_name", body.get("model_name"), (MULTI_ELEMENTS_MODEL,))
    check_id("session_id", body.get("session_id"))
    images = body.get("image_list")
    if images is None:
        images = []
    if not isinstance(images, list):
        raise _fail("image_list", images, "must be a list of {'image': url_or_base64}")
    check_edit_mode_images(body.get("edit_mode"), len(images))
    for i, item in enumerate(images):
        if not isinstance(item, Mapping) or "image" not in item:
            raise _fail(f"image_list[{i}]", item, "must be {'image': url_or_base64}")
        validate_image_ref(f"image_list[{i}].image", item["image"])
    check_prompt("prompt", body.get("prompt"), required=True)
    check_prompt("negative_prompt", body.get("negative_prompt"), required=False)
    if body.get("mode") is not None:
        check_choice("mode", body["mode"], MODES)
    if body.get("duration") is not None:
        check_choice("duration", body["duration"], DURATIONS)
    wm = body.get("watermark_info")
    if wm is not None:
        if not isinstance(wm, Mapping) or set(wm) != {"enabled"}:
            raise _fail("watermark_info", wm, "must be {'enabled': bool}")
        check_bool("watermark_info.enabled", wm["enabled"])
    _check_common_task_fields(body)


def _check_common_task_fields(body: Mapping[str, Any]) -> None:
    if body.get("callback_url") is not None:
        check_url("callback_url", body["callback_url"])
    if body.get("external_task_id") is not None:
        check_id("external_task_id", body["external_task_id"])


def new_external_task_id() -> str:
    """A fresh ``external_task_id`` (uuid4 hex) for an idempotent create."""
    return uuid.uuid4().hex


def validate_page(page: Any, page_size: Any) -> None:
    """List endpoints: ``pageNum`` 1-1000, ``pageSize`` 1-500."""
    check_int("page", page, *PAGE_NUM_RANGE)
    check_int("page_size", page_size, *PAGE_SIZE_RANGE)


# --- Omni-Video ----------------------------------------------------------------------------


def yes_no(value: Any) -> Any:
    """``True``/``False`` -> ``"yes"``/``"no"``; other values are left for validation."""
    if isinstance(value, bool):
        return OMNI_KEEP_SOUND_VALUES[0] if value else OMNI_KEEP_SOUND_VALUES[1]
    return value


def on_off(value: Any) -> Any:
    """``True``/``False`` -> ``"on"``/``"off"`` for ``sound``."""
    if isinstance(value, bool):
        return OMNI_SOUND_VALUES[0] if value else OMNI_SOUND_VALUES[1]
    return value


def validate_omni_video(body: Mapping[str, Any]) -> None:
    """Omni-Video create body: every documented rule.

    Readings of vague docs: ``prompt`` is required unless ``multi_shot`` is true;
    ``aspect_ratio`` is required unless a base video is edited or a first_frame is given;
    ``shot_type``/``multi_prompt`` without ``multi_shot`` are refused (Kling ignores them,
    which would silently drop the user's shots); shot durations must sum to ``duration``
    (default 5).
    """
    model = body.get("model_name")
    if model is not None:
        check_choice("model_name", model, OMNI_MODELS)

    multi_shot = body.get("multi_shot")
    if multi_shot is not None:
        check_bool("multi_shot", multi_shot)
    check_prompt("prompt", body.get("prompt"), required=not multi_shot)

    videos = _list_of_dicts(body, "video_list")
    if len(videos) > OMNI_MAX_VIDEOS:
        raise _fail("video_list", f"{len(videos)} videos", f"at most {OMNI_MAX_VIDEOS} video")
    has_base = False
    for i, v in enumerate(videos):
        check_url(f"video_list[{i}].video_url", v.get("video_url"))
        refer = v.get("refer_type", OMNI_REFER_TYPES[0])
        check_choice(f"video_list[{i}].refer_type", refer, OMNI_REFER_TYPES)
        has_base = has_base or refer == "base"
        if v.get("keep_original_sound") is not None:
            check_choice(
                f"video_list[{i}].keep_original_sound",
                v["keep_original_sound"],
                OMNI_KEEP_SOUND_VALUES,
            )

    images = _list_of_dicts(body, "image_list")
    types: list[str] = []
    for i, im in enumerate(images):
        validate_image_ref(f"image_list[{i}].image_url", im.get("image_url"))
        if im.get("type") is not None:
            types.append(check_choice(f"image_list[{i}].type", im["type"], OMNI_IMAGE_TYPES))
    if "end_frame" in types and "first_frame" not in types:
        raise _fail("image_list", types, "an end_frame image needs a first_frame image")
    if types.count("first_frame") > 1 or types.count("end_frame") > 1:
        raise _fail("image_list", types, "at most one first_frame and one end_frame")
    if "end_frame" in types and len(images) > OMNI_MAX_IMAGES_WITH_END_FRAME:
        raise _fail(
            "image_list",
            f"{len(images)} images",
            f"an end_frame is not allowed with more than {OMNI_MAX_IMAGES_WITH_END_FRAME} images",
        )
    if types and has_base:
        raise _fail("image_list", types, "first/end frames cannot be set when editing a base video")

    elements = _list_of_dicts(body, "element_list")
    for i, el in enumerate(elements):
        eid = el.get("element_id")
        if isinstance(eid, bool) or not (
            isinstance(eid, int) or (isinstance(eid, str) and eid.strip().isdigit())
        ):
            raise _fail(f"element_list[{i}].element_id", eid, "must be an integer id")

    refs = len(images) + len(elements)
    limit = OMNI_MAX_REFS_WITH_VIDEO if videos else OMNI_MAX_REFS_WITHOUT_VIDEO
    if refs > limit:
        where = "with a video" if videos else "without a video"
        raise _fail(
            "image_list",
            f"{len(images)} images + {len(elements)} elements",
            f"images + elements must be <= {limit} {where}",
        )

    if body.get("mode") is not None:
        check_choice("mode", body["mode"], MODES)
    aspect = body.get("aspect_ratio")
    if aspect is not None:
        check_choice("aspect_ratio", aspect, OMNI_ASPECT_RATIOS)
    elif not has_base and "first_frame" not in types:
        raise _fail(
            "aspect_ratio", None, "required unless editing a base video or given a first_frame"
        )
    duration = body.get("duration")
    if duration is not None:
        check_choice("duration", duration, OMNI_DURATIONS)
    sound = body.get("sound")
    if sound is not None:
        check_choice("sound", sound, OMNI_SOUND_VALUES)
        if videos and sound != "off":
            raise _fail("sound", sound, "must be 'off' when a video is given")

    shot_type = body.get("shot_type")
    shots = body.get("multi_prompt")
    if multi_shot:
        check_choice("shot_type", shot_type, OMNI_SHOT_TYPES)
        _check_shots(shots, int(duration if duration is not None else OMNI_DEFAULT_DURATION))
    else:
        if shot_type is not None:
            raise _fail("shot_type", shot_type, "only with multi_shot=true")
        if shots is not None:
            raise _fail("multi_prompt", shots, "only with multi_shot=true")
    _check_common_task_fields(body)


def _list_of_dicts(body: Mapping[str, Any], field: str) -> list[Mapping[str, Any]]:
    value = body.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(field, value, "must be a list of objects")
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise _fail(f"{field}[{i}]", item, "must be an object")
    return value


def _check_shots(shots: Any, total: int) -> None:
    if not isinstance(shots, list) or not shots:
        raise _fail("multi_prompt", shots, "required with shot_type 'customize': 1 to 6 shots")
    if len(shots) > OMNI_MAX_SHOTS:
        raise _fail("multi_prompt", f"{len(shots)} shots", f"at most {OMNI_MAX_SHOTS} shots")
    durations = 0
    for i, shot in enumerate(shots):
        if not isinstance(shot, Mapping):
            raise _fail(f"multi_prompt[{i}]", shot, "must be {'index', 'prompt', 'duration'}")
        check_int(f"multi_prompt[{i}].index", shot.get("index"))
        check_prompt(
            f"multi_prompt[{i}].prompt",
            shot.get("prompt"),
            required=True,
            limit=OMNI_MAX_SHOT_PROMPT_CHARS,
        )
        d = shot.get("duration")
        if isinstance(d, bool) or not (
            isinstance(d, int) or (isinstance(d, str) and d.strip().isdigit())
        ):
            raise _fail(f"multi_prompt[{i}].duration", d, "must be a whole number of seconds")
        if int(d) < OMNI_MIN_SHOT_DURATION:
            raise _fail(f"multi_prompt[{i}].duration", d, f"must be >= {OMNI_MIN_SHOT_DURATION}")
        durations += int(d)
    if durations != total:
        raise _fail(
            "multi_prompt",
            f"durations summing to {durations}",
            f"shot durations must sum to the total duration ({total})",
        )
