"""Conform plans: what a clip must become to meet one API family's clip limits.

The target frame rate, size and length for a clip, and the wording of each limit in a
preflight report. Used by ``VideoSource.check`` and ``VideoSource.conform``; imports only
``kling_widget.limits`` and ``kling_widget.errors`` (never PyAV: a plan is arithmetic on
the probe's figures).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from kling_widget.errors import KlingValidationError
from kling_widget.limits import CLIP_LIMITS, ClipLimits

# A frame rate within this of an allowed value counts as that value.
_FPS_TOLERANCE = 0.01
# Durations are compared with this slack so that 150 frames at 30 fps is exactly 5 s.
DURATION_TOLERANCE = 1e-3


def _even(x: float) -> int:
    """Nearest even integer (halves round up), at least 2: H.264 yuv420p needs even sides."""
    return max(2, 2 * math.floor(x / 2 + 0.5))


@dataclass(frozen=True)
class ConformPlan:
    """What ``conform()`` will do to a clip, worked out before any frame is decoded."""

    fps: Fraction
    # Size of the scaled picture, and of the output canvas (larger only when padded).
    scaled_size: tuple[int, int]
    size: tuple[int, int]
    frame_count: int
    # Seconds kept from the start, or None when nothing is trimmed.
    trim_to: float | None
    # Why the clip cannot be conformed, or None.
    impossible: str | None = None

    @property
    def padded(self) -> bool:
        """True when the aspect ratio is too extreme to scale into the limits."""
        return self.size != self.scaled_size

    @property
    def duration(self) -> float:
        """Output duration in seconds."""
        return self.frame_count / float(self.fps)


def _target_fps(fps: Fraction, limits: ClipLimits) -> Fraction:
    """The output frame rate: the source's own when allowed, else the nearest allowed one.

    With a fixed set (24, 30, 60) the nearest rate at or above the source is
    chosen, so frames are only ever repeated, never dropped (25 -> 30, 50 -> 60);
    above the highest rate frames are dropped down to it.
    """
    value = float(fps)
    if limits.fps_allowed:
        for allowed in limits.fps_allowed:
            if abs(value - allowed) <= _FPS_TOLERANCE:
                return Fraction(allowed).limit_denominator(1001)
        above = [a for a in sorted(limits.fps_allowed) if a >= value]
        chosen = above[0] if above else max(limits.fps_allowed)
        return Fraction(chosen).limit_denominator(1001)
    if limits.fps_range:
        low, high = limits.fps_range
        if value < low:
            return Fraction(low).limit_denominator(1001)
        if value > high:
            return Fraction(high).limit_denominator(1001)
    return fps


def _fps_ok(fps: float, limits: ClipLimits) -> bool:
    if limits.fps_allowed:
        return any(abs(fps - a) <= _FPS_TOLERANCE for a in limits.fps_allowed)
    if limits.fps_range:
        low, high = limits.fps_range
        return low - _FPS_TOLERANCE <= fps <= high + _FPS_TOLERANCE
    return True


def _target_size(width: int, height: int, limits: ClipLimits) -> tuple[tuple[int, int], bool]:
    """Scaled (width, height) keeping the aspect ratio, and whether padding is still needed."""
    lo, hi = limits.min_side, limits.max_side
    scale = 1.0
    if min(width, height) < lo:
        scale = lo / min(width, height)
    if max(width, height) * scale > hi:
        scale = hi / max(width, height)
    w = min(hi, _even(width * scale))
    h = min(hi, _even(height * scale))
    return (w, h), min(w, h) < lo


def _duration_ok(seconds: float, limits: ClipLimits) -> bool:
    return any(
        lo - DURATION_TOLERANCE <= seconds <= hi + DURATION_TOLERANCE for lo, hi in limits.durations
    )


def _trim_target(seconds: float, limits: ClipLimits) -> float | None:
    """Longest allowed duration not above ``seconds``; None when the clip is too short."""
    if _duration_ok(seconds, limits):
        return seconds
    fitting = [hi for lo, hi in limits.durations if hi <= seconds]
    return max(fitting) if fitting else None


def _brackets_text(limits: ClipLimits) -> str:
    return " or ".join(f"{lo:g}–{hi:g} s" for lo, hi in limits.durations)


def _fps_rule(limits: ClipLimits) -> str:
    if limits.fps_allowed:
        values = [f"{a:g}" for a in limits.fps_allowed]
        return "must be " + ", ".join(values[:-1]) + " or " + values[-1]
    if limits.fps_range:
        return f"must be {limits.fps_range[0]:g}–{limits.fps_range[1]:g}"
    return "any"


def _limits_for(target: str) -> ClipLimits:
    try:
        return CLIP_LIMITS[target]
    except KeyError:
        raise KlingValidationError(
            "target", target, f"must be one of {', '.join(sorted(CLIP_LIMITS))}"
        ) from None
