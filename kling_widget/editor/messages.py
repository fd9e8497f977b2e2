"""What the editor says, in the user's words: failures, clip problems, image problems.

The Python names (``ed.wait()``, ``conform()``) stay in exceptions; the widget shows
sentences about what the user sees and the button that fixes it. Imports only
``errors`` and ``media.violations`` (plain data), never a widget.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from kling_widget.errors import (
    KlingAuthError,
    KlingRateLimitError,
    KlingTaskFailedError,
    KlingTimeoutError,
    KlingTransportError,
    KlingValidationError,
)
from kling_widget.media.violations import Violation

_HINTS: tuple[tuple[type[BaseException], str], ...] = (
    (KlingValidationError, "Change that and try again; nothing was sent."),
    (KlingAuthError, "Check the API key (or access key and secret key) and try again."),
    (KlingRateLimitError, "Kling is busy or the account is at its limit; try again shortly."),
    (KlingTransportError, "The server could not be reached; check the connection and retry."),
    (KlingTimeoutError, "The task keeps running on Kling's side; wait again later."),
    (KlingTaskFailedError, "Kling could not render this edit; change the prompt or selection."),
    (FileNotFoundError, "Check the path."),
)


def explain(action: str, exc: BaseException) -> str:
    """One line for a failure: what failed, why, what to do."""
    hint = "Try again; if it keeps failing, restart the kernel."
    for cls, text in _HINTS:
        if isinstance(exc, cls):
            hint = text
            break
    if isinstance(exc, KlingValidationError) and exc.rule:
        # The rule in words; the field named as the user sees it when the rule does not.
        rule = str(exc.rule).rstrip(". ")
        if rule[:1].islower():
            field = str(exc.field).replace("_", " ")
            rule = f"{field[:1].upper()}{field[1:]} — {rule}"
        return f"Could not {action}: {rule}. {hint}"
    message = (str(exc) or type(exc).__name__).rstrip(". ")
    return f"Could not {action}: {message}. {hint}"


def _plain_fix(fix: str | None) -> str:
    """A violation's fix without Python names: "conform() will ..." -> "Conform will ..."."""
    if not fix:
        return ""
    text = re.sub(r"\bconform\(\)", "Conform", fix)
    text = re.sub(r"\bfix\(\)", "Fix", text)
    return text[:1].upper() + text[1:]


def clip_fixable(violations: Sequence[Violation]) -> bool:
    """True when Conform fixes every problem of the clip."""
    return all(not (v.fix or "").startswith("cannot") for v in violations)


def clip_problem(v: Violation) -> str:
    """One clip problem in words, with what Conform does about it (or that it cannot)."""
    if v.field == "duration":
        seconds = float(v.value) if isinstance(v.value, (int, float)) else v.value
        shown = f"{seconds:.2f} s" if isinstance(seconds, float) else str(seconds)
        rule = str(v.rule).removeprefix("must be ")
        if (v.fix or "").startswith("cannot"):
            return (
                f"The clip is {shown} long; Kling needs {rule}. No conform can lengthen a "
                "clip: record or export a longer one."
            )
        return f"The clip is {shown} long; Kling needs {rule}. {_plain_fix(v.fix)}."
    fix = _plain_fix(v.fix)
    rule = str(v.rule).removeprefix("must be ")
    if v.field == "fps":
        value = f"{float(v.value):g}" if isinstance(v.value, (int, float)) else v.value
        return f"The clip runs at {value} fps; Kling needs {rule} fps. {fix}."
    if v.field == "resolution":
        size = str(v.value).replace("x", "×")
        return f"The clip is {size} px; Kling needs {str(v.rule).lower()}. {fix}."
    if v.field == "rotation":
        return (
            f"The clip is stored {v.value} (phones record that way and flag the turn); "
            f"Kling may not apply the flag. {fix}."
        )
    if v.field == "container":
        return f"The clip is a {v.value} file; Kling needs {rule}. {fix}."
    if v.field == "file_size":
        return f"The clip is {v.value}; Kling takes {rule}. {fix}."
    return f"The clip's {v.field} is {v.value}; Kling needs {rule}. {fix}."


def clip_summary(violations: Sequence[Violation]) -> str:
    """The status line for a clip that breaks Kling's limits."""
    if clip_fixable(violations):
        return (
            "This clip breaks Kling's limits (listed below); nothing was uploaded. "
            "Press Conform to write a copy that meets them."
        )
    return (
        "This clip breaks Kling's limits in a way no conform can fix (listed below); "
        "nothing was uploaded."
    )


def image_problem(v: Violation, width: int, height: int) -> str:
    """One reference-image problem in words, ending with what Fix does."""
    if v.field == "size":
        verb = "pad" if "pad" in (v.fix or "") else "upscale"
        side = str(v.rule).removeprefix("each side must be at least ")
        return (
            f"The reference image is {width}×{height} px; Kling needs at least {side} on "
            f"each side. Press Fix to {verb} it."
        )
    if v.field == "format":
        return (
            f"The reference image is a {str(v.value).upper()} file; Kling takes JPEG or PNG. "
            "Press Fix to convert it."
        )
    if v.field == "file size":
        return (
            f"The reference image is {v.value}; Kling takes "
            f"{str(v.rule).removeprefix('must be ')}. Press Fix to recompress it."
        )
    if v.field == "aspect ratio":
        return (
            f"The reference image is {width}×{height} px; Kling needs an aspect ratio "
            f"{str(v.rule).removeprefix('must be ')}. Press Fix to pad it (Kling does not "
            "crop)."
        )
    return f"The reference image's {v.field} is {v.value}: {v.rule}. Press Fix."


URL_PROBLEM = (
    "Kling needs a public URL for the clip and cannot read local files: pass "
    "video_url='https://...' (the clip on a public server) or uploader=<function "
    "that uploads a path and returns its URL> to Editor(...)."
)


def greeting(notice: str) -> str:
    """The first status line: where the editor runs, and what to do."""
    text = notice.rstrip(".")
    prefix = f"{text[:1].upper()}{text[1:]}. " if text else ""
    return prefix + "Click the object you want to edit."


def conformed(width: int, height: int, fps: float, seconds: float, path: object) -> str:
    """What the editor says after a conform."""
    return (
        f"Conformed: {width}x{height}, {fps:g} fps, {seconds:.2f} s ({path}). "
        "Click the object to edit."
    )
