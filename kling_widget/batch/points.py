"""Points as users type them: ``FRAME:X,Y`` (job files, ``kling-widget edit --point``).

One parser for every text entry point, and :func:`check_points`, which turns points given
as text, ``(frame, x, y)`` or ``{"frame", "x", "y"}`` into checked ``(frame, x, y)``
tuples. The rules themselves (coordinates in [0, 1], frames >= 0, 10 marked frames, 10
points per frame) are :mod:`kling_widget.rules`'; this module only reads the format.
Imports only the edit rules and the typed errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence

from kling_widget.errors import KlingValidationError
from kling_widget.rules import (
    check_coordinate,
    check_frame_index,
    check_marked_frames,
    check_points_per_frame,
)

Point3 = tuple[int, float, float]
Fail = Callable[[str, object, str], Exception]

POINT_RULE = (
    "each point is FRAME:X,Y such as 12:0.5,0.4 (FRAME an integer >= 0, X and Y in [0, 1] "
    "from the top-left corner); several points are separated by ';'"
)
_POINT_RE = re.compile(r"^\s*([^:]*):([^,]*),(.*)$")


def _default_fail(field: str, value: object, rule: str) -> Exception:
    return KlingValidationError(field, value, rule)


def parse_point(text: str, fail: Fail = _default_fail, field: str = "points") -> Point3:
    """``"FRAME:X,Y"`` as ``(frame, x, y)``, checked."""
    match = _POINT_RE.match(text)
    if not match:
        raise fail(field, text, POINT_RULE)
    f_s, x_s, y_s = (g.strip() for g in match.groups())
    try:
        frame = int(f_s)
        x, y = float(x_s), float(y_s)
    except ValueError:
        raise fail(field, text, POINT_RULE) from None
    return _checked((frame, x, y), field, fail)


def parse_points(text: str, fail: Fail = _default_fail, field: str = "points") -> list[Point3]:
    """``"FRAME:X,Y;FRAME:X,Y"`` (``;`` or whitespace between points), checked."""
    parts = [part for part in re.split(r"[;\s]+", text.strip()) if part]
    return [parse_point(part, fail, f"{field}[{i}]") for i, part in enumerate(parts)]


def _checked(point: tuple[object, object, object], field: str, fail: Fail) -> Point3:
    frame, x, y = point
    try:
        if isinstance(frame, float) and frame.is_integer():
            frame = int(frame)
        index = check_frame_index(frame, f"{field}.frame")
        return (
            index,
            check_coordinate(f"{field}.x", x),
            check_coordinate(f"{field}.y", y),
        )
    except KlingValidationError as exc:
        raise fail(exc.field, exc.value, exc.rule) from None


def check_points(points: object, fail: Fail = _default_fail) -> tuple[Point3, ...]:
    """Points as text or ``(frame, x, y)`` / ``{"frame", "x", "y"}`` items, checked one by
    one and against the per-session limits (marked frames, points per frame)."""
    if isinstance(points, str):
        return check_points(parse_points(points, fail), fail)
    if points is None:
        points = ()
    if not isinstance(points, Iterable):
        raise fail("points", points, POINT_RULE)
    out: list[Point3] = []
    for i, p in enumerate(points):
        field = f"points[{i}]"
        if isinstance(p, Mapping):
            try:
                raw = (p["frame"], p["x"], p["y"])
            except KeyError:
                raise fail(field, dict(p), "needs keys frame, x and y") from None
        elif isinstance(p, Sequence) and not isinstance(p, str) and len(p) == 3:
            raw = (p[0], p[1], p[2])
        else:
            raise fail(field, p, "must be (frame, x, y)")
        out.append(_checked(raw, field, fail))
    frames: dict[int, int] = {}
    for frame, _, _ in out:
        frames[frame] = frames.get(frame, 0) + 1
    try:
        check_marked_frames(len(frames))
        for frame, n in frames.items():
            check_points_per_frame(n, f"points on frame {frame}")
    except KlingValidationError as exc:
        raise fail("points", exc.value, exc.rule) from None
    return tuple(out)


def group(points: Sequence[Point3]) -> dict[int, list[tuple[float, float]]]:
    """Points per frame, in the order given."""
    out: dict[int, list[tuple[float, float]]] = {}
    for frame, x, y in points:
        out.setdefault(int(frame), []).append((float(x), float(y)))
    return out


__all__ = ["POINT_RULE", "Point3", "check_points", "group", "parse_point", "parse_points"]
