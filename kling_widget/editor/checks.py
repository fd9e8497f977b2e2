"""The checks a create or an Omni edit must pass before anything is sent.

Every rule comes from ``kling_widget.rules``; this module only gathers what the editor
knows (the clip, its selection) and calls them. Imports ``rules``, ``limits``, ``errors``,
``media.video``, ``media.violations`` and ``editor.state``.
"""

from __future__ import annotations

from collections.abc import Sequence

from kling_widget import rules
from kling_widget.editor.state import EditorState, check_edit_mode
from kling_widget.errors import KlingValidationError
from kling_widget.limits import MODES, OMNI_MODELS
from kling_widget.media.video import VideoSource
from kling_widget.media.violations import Violation

# Omni's rules are checked on the spec as it will be sent; the clip's URL and the
# images' wire values are not known yet, so stand-ins take their places.
_STAND_IN_URL = "https://example.invalid/stand-in"


def clip_duration(source: VideoSource) -> str:
    """The ``duration`` Kling produces for this clip ("5" or "10"), or raise naming it."""
    seconds = source.frame_count / source.fps if source.fps else source.duration
    return rules.duration_for_clip(seconds)


def check_create(
    state: EditorState,
    source: VideoSource,
    edit_mode: str,
    prompt: str | None,
    n_images: int,
    negative_prompt: str | None,
    mode: str,
    duration: str | None = None,
) -> str:
    """Every rule a Multi-Elements create must meet; returns the duration to send."""
    check_edit_mode(edit_mode)
    rules.check_reference_count(edit_mode, n_images)
    rules.check_choice("mode", mode, MODES)
    rules.check_prompt("prompt", rules.resolve_prompt(edit_mode, prompt), required=True)
    rules.check_prompt("negative_prompt", negative_prompt, required=False)
    if edit_mode != "addition" and not state.marked_frames():
        raise KlingValidationError(
            "selection", "no points", f"{edit_mode} needs a selected object: click it first"
        )
    seconds = source.frame_count / source.fps if source.fps else source.duration
    return rules.check_duration_for_clip(duration, seconds)


def check_omni(
    source: VideoSource,
    prompt: str,
    n_images: int,
    elements: Sequence[str],
    model: str,
    mode: str,
) -> None:
    """Every Omni rule the editor can check before sending (raises naming the field)."""
    rules.check_prompt("prompt", prompt, required=True)
    rules.check_choice("model", model, OMNI_MODELS)
    rules.check_choice("mode", mode, MODES)
    rules.OmniEdit(
        prompt=prompt,
        model_name=model,
        video_url=_STAND_IN_URL,
        images=tuple(rules.OmniImage(_STAND_IN_URL) for _ in range(n_images)),
        element_ids=tuple(elements),
        mode=mode,
    ).validate()
    problems = source.check("omni")
    if problems:
        v = problems[0]
        raise KlingValidationError(v.field, v.value, f"{v.rule} (Omni-Video's clip limits)")


def check_ready(clip: str, locked: str, violations: Sequence[Violation], url_problem: str) -> None:
    """Raise (naming the problem) when nothing may be sent for this clip yet.

    ``locked`` is why the view is read-only ("" when it is not), ``violations`` the clip's
    breaks of Kling's limits and ``url_problem`` why Kling could not read the clip.
    """
    if locked:
        raise KlingValidationError("clip", clip, locked)
    if violations:
        v = violations[0]
        raise KlingValidationError(
            v.field,
            v.value,
            f"{v.rule}; the clip breaks Kling's limits, so conform it first "
            "(ed.conform() or the Conform button)",
        )
    if url_problem:
        raise KlingValidationError("video_url", None, url_problem)
