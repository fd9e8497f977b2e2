"""Multi-Elements rules: default prompt, clip length to ``duration``, reference counts, the
create body, the init-selection body, and :class:`MultiElementsEdit` (the spec of one edit).

Decisions where copies of a rule used to disagree:

* **Default prompt.** Kling's templates hold ``[x]`` placeholders that Kling reads as prose,
  so a literal ``[x]`` helps nobody. The placeholder that refers to ``<<<video_1>>>`` is the
  object the user selected: it becomes ``subject`` (default :data:`DEFAULT_SUBJECT`, "the
  selected object", or an object label the caller knows, such as "the dog"). A placeholder
  that refers to a reference image becomes "the object" (what the image shows).
* **Clip length to duration.** One tolerance, ``limits.DURATION_TOLERANCE_S`` (0.5 s, the
  slack one relay documents, which also covers a container's rounding), on either side of
  each documented bracket (2-5 s -> "5", 7-10 s -> "10"). A clip between the brackets has
  no duration and is an error naming the clip length.

The structural rules here never decode an image; ``kling_widget.api.validation`` adds the
image-content checks (format, size, aspect) on top. Imports only ``limits`` and ``errors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kling_widget.limits import (
    DURATION_FOR_BRACKET,
    DURATION_TOLERANCE_S,
    DURATIONS,
    EDIT_MODE_IMAGES,
    EDIT_MODES,
    MODES,
    MULTI_ELEMENTS_MODEL,
    PROMPT_TEMPLATES,
)
from kling_widget.rules.fields import (
    check_choice,
    check_common_task_fields,
    check_id,
    check_prompt,
    check_url,
    check_watermark_info,
    fail,
    given,
    is_given,
    put_given,
)

DEFAULT_MULTI_ELEMENTS_MODEL = MULTI_ELEMENTS_MODEL
DEFAULT_SUBJECT = "the selected object"
IMAGE_SUBJECT = "the object"
DEFAULT_MULTI_ELEMENTS_DURATION = "5"
# Omni's default prompt, used when the caller gives none with a base video.
OMNI_PROMPT_TEMPLATE = "Edit [x] in <<<video_1>>>"


def template_for(edit_mode: str) -> str:
    """Kling's documented prompt template for ``edit_mode`` (placeholders left in)."""
    if edit_mode == "omni":
        return OMNI_PROMPT_TEMPLATE
    return PROMPT_TEMPLATES[check_choice("edit_mode", edit_mode, EDIT_MODES)]


def default_prompt(edit_mode: str, subject: str | None = None) -> str:
    """Kling's template for ``edit_mode`` with every ``[x]`` filled in.

    ``[x]`` next to ``<<<video_1>>>`` becomes ``subject`` (default "the selected object");
    ``[x]`` next to an image becomes "the object". ``edit_mode`` may also be ``"omni"``.
    """
    who = subject.strip() if subject is not None and subject.strip() else DEFAULT_SUBJECT
    template = template_for(edit_mode)
    parts = template.split("[x]")
    out = parts[0]
    for part in parts[1:]:
        # What follows a placeholder says what it refers to ("[x] from <<<image_1>>>").
        refers_to_image = part.lstrip().startswith("from <<<image_")
        out += (IMAGE_SUBJECT if refers_to_image else who) + part
    return out


def resolve_prompt(edit_mode: str, prompt: str | None, subject: str | None = None) -> str:
    """The prompt to send: the caller's text, or the filled template when it is not given or
    is the raw template itself."""
    if not is_given(prompt) or (prompt or "").strip() == template_for(edit_mode):
        return default_prompt(edit_mode, subject)
    return str(prompt)


def duration_for_clip(seconds: float) -> str:
    """``"5"`` or ``"10"``: the ``duration`` Kling produces for a clip this long.

    Raises ``KlingValidationError`` for a clip outside both brackets (with the tolerance).
    """
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        raise fail("clip duration", seconds, "must be a number of seconds") from None
    if value == value:  # not NaN
        for (lo, hi), label in DURATION_FOR_BRACKET.items():
            if lo - DURATION_TOLERANCE_S <= value <= hi + DURATION_TOLERANCE_S:
                return label
    brackets = " or ".join(f"{lo:g}-{hi:g} s" for lo, hi in DURATION_FOR_BRACKET)
    raise fail(
        "clip duration",
        f"{value:.2f} s",
        f"Multi-Elements takes clips of {brackets} (+/- {DURATION_TOLERANCE_S:g} s)",
    )


def check_duration_for_clip(duration: object, clip_seconds: float) -> str:
    """``duration`` (given or not) agrees with the clip; returns the one to send."""
    expected = duration_for_clip(clip_seconds)
    if is_given(duration) and duration != expected:
        raise fail(
            "duration",
            duration,
            f"a {float(clip_seconds):.2f} s clip gives a {expected} s result; "
            f"duration must be {expected!r}",
        )
    return expected


def check_reference_count(edit_mode: object, count: int) -> str:
    """``edit_mode`` is known and takes ``count`` images (addition 1-2, swap 1, removal 0)."""
    mode = check_choice("edit_mode", edit_mode, EDIT_MODES)
    lo, hi = EDIT_MODE_IMAGES[mode]
    if not lo <= count <= hi:
        wanted = "no images" if hi == 0 else (f"exactly {lo}" if lo == hi else f"{lo} to {hi}")
        raise fail("image_list", f"{count} images", f"edit_mode {mode!r} takes {wanted}")
    return mode


def check_init_selection_body(body: Mapping[str, Any]) -> None:
    """``init-selection``: exactly one of ``video_id`` / ``video_url`` given."""
    video_id, video_url = given(body, "video_id"), given(body, "video_url")
    if (video_id is None) == (video_url is None):
        raise fail(
            "video_url",
            {"video_id": body.get("video_id"), "video_url": body.get("video_url")},
            "give exactly one of video_id or video_url",
        )
    task_id = given(body, "task_id")
    if video_url is not None:
        check_url("video_url", video_url)
        if task_id is not None:
            raise fail("task_id", task_id, "only with video_id")
    else:
        check_id("video_id", video_id)
        if task_id is not None:
            check_id("task_id", task_id)


def check_create_body(body: Mapping[str, Any]) -> list[str]:
    """Multi-Elements create body, structure only; returns the given image values."""
    model = given(body, "model_name")
    if model is not None:
        check_choice("model_name", model, (MULTI_ELEMENTS_MODEL,))
    check_id("session_id", body.get("session_id"))
    images = body.get("image_list")
    if not is_given(images):
        images = []
    if not isinstance(images, list):
        raise fail("image_list", images, "must be a list of {'image': url_or_base64}")
    check_reference_count(body.get("edit_mode"), len(images))
    values: list[str] = []
    for i, item in enumerate(images):
        if not isinstance(item, Mapping) or not is_given(item.get("image")):
            raise fail(f"image_list[{i}]", item, "must be {'image': url_or_base64}")
        values.append(item["image"])
    check_prompt("prompt", body.get("prompt"), required=True)
    check_prompt("negative_prompt", body.get("negative_prompt"), required=False)
    if given(body, "mode") is not None:
        check_choice("mode", body["mode"], MODES)
    if given(body, "duration") is not None:
        check_choice("duration", body["duration"], DURATIONS)
    if body.get("watermark_info") is not None:
        check_watermark_info(body["watermark_info"])
    check_common_task_fields(body)
    return values


@dataclass(frozen=True)
class MultiElementsEdit:
    """One Multi-Elements edit, as it will be sent.

    ``images`` are wire values (an http(s) URL or raw base64). ``prompt`` not given means
    :func:`default_prompt` for ``edit_mode`` with ``subject``. ``watermark`` is
    ``watermark_info.enabled``.
    """

    session_id: str
    edit_mode: str
    prompt: str | None = None
    images: tuple[str, ...] = ()
    negative_prompt: str | None = None
    mode: str | None = None
    duration: str | None = None
    watermark: bool | None = None
    callback_url: str | None = None
    external_task_id: str | None = None
    subject: str | None = None
    model_name: str = DEFAULT_MULTI_ELEMENTS_MODEL

    def to_body(self) -> dict[str, Any]:
        """The create-task body; an optional field that is not given is left out."""
        body: dict[str, Any] = {
            "model_name": self.model_name,
            "session_id": self.session_id,
            "edit_mode": self.edit_mode,
            "prompt": resolve_prompt(self.edit_mode, self.prompt, self.subject)
            if self.edit_mode in EDIT_MODES
            else self.prompt,
        }
        if self.images:
            body["image_list"] = [{"image": image} for image in self.images]
        put_given(
            body,
            {
                "negative_prompt": self.negative_prompt,
                "mode": self.mode,
                "duration": self.duration,
                "callback_url": self.callback_url,
                "external_task_id": self.external_task_id,
            },
        )
        if self.watermark is not None:
            body["watermark_info"] = {"enabled": self.watermark}
        return body

    def validate(self, clip_seconds: float | None = None) -> None:
        """Every structural rule; with ``clip_seconds``, ``duration`` against the clip."""
        check_create_body(self.to_body())
        if clip_seconds is not None:
            check_duration_for_clip(self.duration, clip_seconds)

    def for_clip(self, clip_seconds: float) -> MultiElementsEdit:
        """This edit with ``duration`` set from the clip (checked against a given one)."""
        from dataclasses import replace

        return replace(self, duration=check_duration_for_clip(self.duration, clip_seconds))
