"""Building a create request from a user's arguments, checked before anything is sent.

Every rule comes from :mod:`kling_widget.rules` (the edit's ``validate()``, the default
prompt, ``duration`` against the clip); this module only gathers the inputs: reference
images kept as files, the clip's length probed locally, the current selection. What it
returns is journaled as the task's parameters, with a *request key* that identifies the
request (same arguments and selection, same key).

Imports the journal, the edit rules and the workflow's context, selection and references.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kling_widget.errors import KlingValidationError
from kling_widget.rules import (
    DEFAULT_OMNI_MODEL,
    MultiElementsEdit,
    OmniEdit,
    OmniImage,
    check_duration_for_clip,
    is_given,
    resolve_prompt,
)
from kling_widget.workflow.context import ProjectContext
from kling_widget.workflow.references import image_key, store_images
from kling_widget.workflow.selection import SelectionSession

# Stands in for the session id and the clip's URL while a request is checked, before the
# session is opened or the clip uploaded (both are requests; checks come first).
_PENDING_SESSION = "pending-session"
_PENDING_URL = "https://pending.invalid/clip.mp4"


@dataclass
class Request:
    """A checked create: its journal kind, parameters and request key material."""

    kind: str
    params: dict[str, object]
    spec: dict[str, object] = field(default_factory=dict)


def multi_elements(
    ctx: ProjectContext,
    selection: SelectionSession,
    edit_mode: str,
    prompt: str | None,
    images: object,
    negative_prompt: str | None,
    mode: str,
    duration: str | int | None,
    watermark: bool | None,
    subject: str | None = None,
) -> Request:
    """Check a Multi-Elements edit locally; the session id is filled in when it is known."""
    ctx.require_writable("create a task")
    refs = store_images(ctx.journal, images)
    given_duration = str(duration) if is_given(duration) else None
    edit = MultiElementsEdit(
        session_id=selection.session.session_id if selection.session else _PENDING_SESSION,
        edit_mode=edit_mode,
        prompt=prompt,
        images=tuple(image_key(r) for r in refs),
        negative_prompt=negative_prompt,
        mode=mode,
        duration=given_duration,
        watermark=watermark,
        subject=subject,
    )
    edit.validate()
    seconds = ctx.clip_seconds()
    if seconds is not None:
        # The clip decides the result's length; a different duration is refused here.
        given_duration = check_duration_for_clip(given_duration, seconds)
    text = resolve_prompt(edit_mode, prompt, subject)
    points = selection.points
    params: dict[str, object] = {
        "model_name": edit.model_name,
        "session_id": None,
        "edit_mode": edit_mode,
        "prompt": text,
        "images": refs,
        "negative_prompt": negative_prompt if is_given(negative_prompt) else None,
        "mode": mode,
        "duration": given_duration,
        "watermark": watermark,
    }
    spec: dict[str, object] = {
        "kind": "multi-elements",
        **{k: v for k, v in params.items() if k not in ("session_id", "images")},
        "images": [image_key(r) for r in refs],
        "points": {str(f): [list(p) for p in pts] for f, pts in points.items()},
    }
    return Request("multi-elements", params, spec)


def omni(
    ctx: ProjectContext,
    prompt: str,
    images: object,
    elements: Iterable[str] | None,
    keep_original_sound: bool,
    model: str | None,
    mode: str,
) -> Request:
    """Check an Omni-Video edit of the whole clip locally; the URL is filled in later."""
    ctx.require_writable("create a task")
    element_ids = tuple(str(e) for e in (elements or []))
    refs = store_images(ctx.journal, images)
    model_name = model if is_given(model) else DEFAULT_OMNI_MODEL
    edit = OmniEdit(
        prompt=prompt,
        model_name=str(model_name),
        video_url=_PENDING_URL,
        keep_original_sound="yes" if keep_original_sound else "no",
        images=tuple(OmniImage(image_key(r)) for r in refs),
        element_ids=element_ids,
        mode=mode,
        sound="off",
    )
    edit.validate(ctx.clip_seconds())
    if ctx.clip_path.is_file():
        problems = ctx.source.check("omni")
        if problems:
            first = problems[0]
            raise KlingValidationError(
                first.field, first.value, "; ".join(str(p) for p in problems)
            )
    params: dict[str, object] = {
        "model_name": edit.model_name,
        "prompt": prompt,
        "video_url": None,
        "keep_original_sound": bool(keep_original_sound),
        "images": refs,
        "elements": list(element_ids),
        "mode": mode,
    }
    spec: dict[str, object] = {
        "kind": "omni-video",
        **{k: v for k, v in params.items() if k not in ("video_url", "images")},
        "images": [image_key(r) for r in refs],
    }
    return Request("omni-video", params, spec)


__all__ = ["Request", "multi_elements", "omni"]
