"""Field-level rules: "not given", ids, URLs, numbers, choices, prompts, points, frames.

Every failure is a :class:`KlingValidationError` naming the field, the value and the rule.
Imports only ``kling_widget.limits`` and ``kling_widget.errors``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, SupportsIndex, cast

from kling_widget.errors import KlingValidationError
from kling_widget.limits import MAX_MARKED_FRAMES, MAX_POINTS_PER_FRAME, MAX_PROMPT_CHARS

_URL = re.compile(r"^https?://[^\s/?#]+", re.IGNORECASE)


def fail(field: str, value: object, rule: str) -> KlingValidationError:
    """The error for ``field=value`` breaking ``rule`` (raise it)."""
    return KlingValidationError(field, value, rule)


def is_given(value: object) -> bool:
    """False for ``None``, a blank string and an empty list/tuple: "not given".

    Kling's own example requests send optional fields as ``""`` and lists as ``[]``; the
    client, the rules and the emulator all read them as absent.
    """
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, tuple)):
        return len(value) > 0
    return True


def given(body: Mapping[str, Any], field: str) -> Any:
    """``body[field]`` when given, else ``None``."""
    value = body.get(field)
    return value if is_given(value) else None


def put_given(body: dict[str, Any], fields: Mapping[str, object]) -> None:
    """Add to a request body the optional ``fields`` that are given (never an empty one)."""
    body.update({k: v for k, v in fields.items() if is_given(v)})


def is_url(value: object) -> bool:
    """True for an ``http://`` or ``https://`` URL with a host."""
    return isinstance(value, str) and bool(_URL.match(value))


def check_nonempty_str(field: str, value: object) -> str:
    """A required, non-blank string."""
    if not isinstance(value, str) or not value.strip():
        raise fail(field, value, "required, a non-empty string")
    return value


def check_id(field: str, value: object) -> str:
    """A task, session or external id that goes into a URL path: non-empty, no ``/?#``."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise fail(field, value, "required, a non-empty string")
    text = str(value).strip()
    if not text:
        raise fail(field, value, "required, a non-empty string")
    if any(c in text for c in "/?#") or any(ord(c) < 32 for c in text):
        raise fail(field, value, "must not contain '/', '?', '#' or control characters")
    return text


def check_url(field: str, value: object) -> str:
    """An ``http(s)`` URL (``file:``, ``ftp:`` and the like are refused)."""
    check_nonempty_str(field, value)
    if not is_url(value):
        raise fail(field, value, "only http(s) URLs are accepted (http:// or https://)")
    return str(value)


def _is_integral(value: object) -> bool:
    # numpy integers are not ``int`` but are fine frame indices.
    return hasattr(value, "__index__") and not isinstance(value, bool)


def check_int(field: str, value: object, lo: int | None = None, hi: int | None = None) -> int:
    """An integer (not ``bool``) within ``[lo, hi]``."""
    if not _is_integral(value):
        raise fail(field, value, "must be an integer")
    ivalue = operator.index(cast(SupportsIndex, value))
    if lo is not None and hi is not None and not lo <= ivalue <= hi:
        raise fail(field, value, f"must be between {lo} and {hi}")
    if lo is not None and ivalue < lo:
        raise fail(field, value, f"must be >= {lo}")
    if hi is not None and ivalue > hi:
        raise fail(field, value, f"must be <= {hi}")
    return ivalue


def check_choice(field: str, value: object, choices: Sequence[str]) -> str:
    """One of a documented set of strings."""
    if not isinstance(value, str) or value not in choices:
        raise fail(field, value, f"must be one of {', '.join(choices)}")
    return value


def check_bool(field: str, value: object) -> bool:
    """A JSON boolean."""
    if not isinstance(value, bool):
        raise fail(field, value, "must be true or false")
    return value


def check_prompt(
    field: str, text: object, *, required: bool, limit: int = MAX_PROMPT_CHARS
) -> str | None:
    """A prompt of at most ``limit`` characters; when ``required``, given and not blank.

    Returns the text, or ``None`` when it is not given (and not required).
    """
    if not is_given(text):
        if required:
            raise fail(field, text, "required, must not be blank")
        if text is not None and not isinstance(text, str):
            raise fail(field, text, "must be a string")
        return None
    if not isinstance(text, str):
        raise fail(field, text, "must be a string")
    if len(text) > limit:
        raise fail(field, text, f"at most {limit} characters (got {len(text)})")
    return text


def check_frame_index(
    value: object, field: str = "frame_index", frame_count: int | None = None
) -> int:
    """A frame number: an integer >= 0 (and below ``frame_count`` when it is known)."""
    index = check_int(field, value, lo=0)
    if frame_count is not None and index >= frame_count:
        raise fail(
            field,
            value,
            f"must be below the clip's frame count ({frame_count} frames: 0-{frame_count - 1})",
        )
    return index


def check_marked_frames(count: int) -> None:
    """A session marks at most ``MAX_MARKED_FRAMES`` frames."""
    if count > MAX_MARKED_FRAMES:
        raise fail(
            "frame_index",
            f"{count} marked frames",
            f"at most {MAX_MARKED_FRAMES} marked frames per session",
        )


def check_points_per_frame(count: int, field: str = "points") -> None:
    """One frame holds 1 to ``MAX_POINTS_PER_FRAME`` points."""
    if count < 1:
        raise fail(field, f"{count} points", "at least 1 point")
    if count > MAX_POINTS_PER_FRAME:
        raise fail(field, f"{count} points", f"at most {MAX_POINTS_PER_FRAME} points per frame")


def check_coordinate(field: str, value: object) -> float:
    """A point coordinate: a finite JSON number in [0, 1] (strings are refused)."""
    if isinstance(value, (bool, str, bytes)):
        raise fail(field, value, "must be a number in [0, 1]")
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise fail(field, value, "must be a number in [0, 1]") from None
    if not math.isfinite(f):
        raise fail(field, value, "must be finite, in [0, 1]")
    if not 0.0 <= f <= 1.0:
        raise fail(field, value, "must be in [0, 1] (normalized, from the top-left corner)")
    return f


def normalize_points(points: object, field: str = "points") -> list[dict[str, float]]:
    """``[(x, y), ...]`` or ``[{"x": x, "y": y}, ...]`` -> the wire list, checked."""
    if isinstance(points, (str, bytes)) or not isinstance(points, Iterable):
        raise fail(field, points, "must be a list of (x, y) or {'x': x, 'y': y}")
    out: list[dict[str, float]] = []
    for i, p in enumerate(points):
        if isinstance(p, Mapping):
            if "x" not in p or "y" not in p:
                raise fail(f"{field}[{i}]", p, "needs both 'x' and 'y'")
            x, y = p["x"], p["y"]
        elif isinstance(p, Sequence) and not isinstance(p, (str, bytes)) and len(p) == 2:
            x, y = p[0], p[1]
        else:
            raise fail(f"{field}[{i}]", p, "must be (x, y) or {'x': x, 'y': y}")
        out.append(
            {
                "x": check_coordinate(f"{field}[{i}].x", x),
                "y": check_coordinate(f"{field}[{i}].y", y),
            }
        )
        if len(out) > MAX_POINTS_PER_FRAME:
            break
    check_points_per_frame(len(out), field)
    return out


def validate_points(points: object, field: str = "points") -> None:
    """Check a wire-format ``points`` list (``[{"x": .., "y": ..}]``)."""
    if not isinstance(points, list):
        raise fail(field, points, "must be a list of {'x': x, 'y': y}")
    check_points_per_frame(len(points), field)
    for i, p in enumerate(points):
        if not isinstance(p, Mapping) or "x" not in p or "y" not in p:
            raise fail(f"{field}[{i}]", p, "must be {'x': x, 'y': y}")
        check_coordinate(f"{field}[{i}].x", p["x"])
        check_coordinate(f"{field}[{i}].y", p["y"])


def check_watermark_info(value: object, field: str = "watermark_info") -> None:
    """``{"enabled": bool}``."""
    if not isinstance(value, Mapping) or set(value) != {"enabled"}:
        raise fail(field, value, "must be {'enabled': true|false}")
    check_bool(f"{field}.enabled", value["enabled"])


def check_common_task_fields(body: Mapping[str, Any]) -> None:
    """``callback_url`` and ``external_task_id`` when given."""
    if is_given(body.get("callback_url")):
        check_url("callback_url", body["callback_url"])
    if is_given(body.get("external_task_id")):
        check_id("external_task_id", body["external_task_id"])
