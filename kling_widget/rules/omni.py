"""Omni-Video rules: the create body (every documented rule, per model) and
:class:`OmniEdit` (the spec of one Omni edit).

Decisions:

* **Default model.** ``kling-video-o1``, as the Omni-Video page states; the per-model limits
  below follow the capability map: O1 gives 3-10 s (text-to-video and first-frame
  image-to-video only 5 or 10), ``kling-v3-omni`` 3-15 s; "an end frame with more than 2
  images" is refused for O1 only.
* ``aspect_ratio`` is required only when neither a first-frame image nor a video is given:
  the docs' own "next shot from <<<video_1>>>" example (a ``feature`` video) omits it, so
  any video counts as "video editing" here.
* ``prompt`` is required unless ``multi_shot`` is true; ``shot_type``/``multi_prompt``
  without ``multi_shot`` are refused (Kling ignores them, silently dropping the user's
  shots); with ``shot_type="customize"`` the shots are required and their durations must
  sum to ``duration`` (default 5); with ``"intelligence"`` they are optional.

Structure only: image content is checked by ``kling_widget.api.validation``. Imports only
``limits`` and ``errors`` (through ``rules.fields``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kling_widget.limits import (
    CLIP_LIMITS,
    DURATION_TOLERANCE_S,
    MODES,
    OMNI_ASPECT_RATIOS,
    OMNI_DEFAULT_DURATION,
    OMNI_DEFAULT_MODEL,
    OMNI_END_FRAME_LIMITED_MODELS,
    OMNI_IMAGE_TYPES,
    OMNI_KEEP_SOUND_VALUES,
    OMNI_MAX_IMAGES_WITH_END_FRAME,
    OMNI_MAX_REFS_WITH_VIDEO,
    OMNI_MAX_REFS_WITHOUT_VIDEO,
    OMNI_MAX_SHOT_PROMPT_CHARS,
    OMNI_MAX_SHOTS,
    OMNI_MAX_VIDEOS,
    OMNI_MIN_SHOT_DURATION,
    OMNI_MODEL_DURATIONS,
    OMNI_MODELS,
    OMNI_O1_GENERATION_DURATIONS,
    OMNI_REFER_TYPES,
    OMNI_SHOT_TYPES,
    OMNI_SOUND_VALUES,
)
from kling_widget.rules.fields import (
    check_bool,
    check_choice,
    check_common_task_fields,
    check_int,
    check_prompt,
    check_url,
    check_watermark_info,
    fail,
    given,
    is_given,
    put_given,
)

DEFAULT_OMNI_MODEL = OMNI_DEFAULT_MODEL


def _list_of_dicts(body: Mapping[str, Any], field: str) -> list[Mapping[str, Any]]:
    value = body.get(field)
    if not is_given(value):
        return []
    if not isinstance(value, list):
        raise fail(field, value, "must be a list of objects")
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise fail(f"{field}[{i}]", item, "must be an object")
    return value


def _whole_seconds(field: str, value: object) -> int:
    if isinstance(value, bool) or not (
        isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())
    ):
        raise fail(field, value, "must be a whole number of seconds")
    return int(value)


def check_omni_duration(model: str, duration: object, *, generation: bool) -> int:
    """``duration`` within the model's range; ``generation`` = O1 text/first-frame to video."""
    seconds = _whole_seconds("duration", duration)
    lo, hi = OMNI_MODEL_DURATIONS[model]
    if not lo <= seconds <= hi:
        raise fail("duration", duration, f"{model} takes {lo}-{hi} s")
    if (
        generation
        and model == "kling-video-o1"
        and str(seconds) not in OMNI_O1_GENERATION_DURATIONS
    ):
        raise fail(
            "duration",
            duration,
            f"{model} text-to-video and first-frame image-to-video take only "
            f"{' or '.join(OMNI_O1_GENERATION_DURATIONS)} s",
        )
    return seconds


def _check_images(
    images: list[Mapping[str, Any]], model: str, has_video: bool, has_base: bool
) -> list[str]:
    types: list[str] = []
    for i, im in enumerate(images):
        if not is_given(im.get("image_url")) or not isinstance(im.get("image_url"), str):
            raise fail(
                f"image_list[{i}].image_url",
                im.get("image_url"),
                "required, an image URL or raw base64",
            )
        if is_given(im.get("type")):
            types.append(check_choice(f"image_list[{i}].type", im["type"], OMNI_IMAGE_TYPES))
    if "end_frame" in types and "first_frame" not in types:
        raise fail("image_list", types, "an end_frame image needs a first_frame image")
    if types.count("first_frame") > 1 or types.count("end_frame") > 1:
        raise fail("image_list", types, "at most one first_frame and one end_frame")
    if (
        "end_frame" in types
        and model in OMNI_END_FRAME_LIMITED_MODELS
        and len(images) > OMNI_MAX_IMAGES_WITH_END_FRAME
    ):
        raise fail(
            "image_list",
            f"{len(images)} images",
            f"{model}: an end_frame is not supported with more than "
            f"{OMNI_MAX_IMAGES_WITH_END_FRAME} images",
        )
    if types and has_base:
        raise fail("image_list", types, "first/end frames cannot be set when editing a base video")
    return types


def _check_shots(shots: object, total: int, required: bool) -> None:
    if not is_given(shots):
        if required:
            raise fail("multi_prompt", shots, "required with shot_type 'customize': 1 to 6 shots")
        return
    if not isinstance(shots, list):
        raise fail("multi_prompt", shots, "must be a list of {'index', 'prompt', 'duration'}")
    if len(shots) > OMNI_MAX_SHOTS:
        raise fail("multi_prompt", f"{len(shots)} shots", f"at most {OMNI_MAX_SHOTS} shots")
    durations = 0
    for i, shot in enumerate(shots):
        if not isinstance(shot, Mapping):
            raise fail(f"multi_prompt[{i}]", shot, "must be {'index', 'prompt', 'duration'}")
        check_int(f"multi_prompt[{i}].index", shot.get("index"))
        check_prompt(
            f"multi_prompt[{i}].prompt",
            shot.get("prompt"),
            required=True,
            limit=OMNI_MAX_SHOT_PROMPT_CHARS,
        )
        d = _whole_seconds(f"multi_prompt[{i}].duration", shot.get("duration"))
        if d < OMNI_MIN_SHOT_DURATION:
            raise fail(f"multi_prompt[{i}].duration", d, f"must be >= {OMNI_MIN_SHOT_DURATION}")
        durations += d
    if durations != total:
        raise fail(
            "multi_prompt",
            f"durations summing to {durations}",
            f"shot durations must sum to the total duration ({total})",
        )


def check_omni_body(body: Mapping[str, Any]) -> list[str]:
    """Omni-Video create body, every documented rule; returns the given image values."""
    model = given(body, "model_name")
    model = DEFAULT_OMNI_MODEL if model is None else check_choice("model_name", model, OMNI_MODELS)
    multi_shot = body.get("multi_shot")
    if multi_shot is not None:
        check_bool("multi_shot", multi_shot)
    check_prompt("prompt", body.get("prompt"), required=not multi_shot)

    videos = _list_of_dicts(body, "video_list")
    if len(videos) > OMNI_MAX_VIDEOS:
        raise fail("video_list", f"{len(videos)} videos", f"at most {OMNI_MAX_VIDEOS} video")
    has_base = False
    for i, v in enumerate(videos):
        check_url(f"video_list[{i}].video_url", v.get("video_url"))
        refer = given(v, "refer_type") or OMNI_REFER_TYPES[0]
        check_choice(f"video_list[{i}].refer_type", refer, OMNI_REFER_TYPES)
        has_base = has_base or refer == "base"
        if is_given(v.get("keep_original_sound")):
            check_choice(
                f"video_list[{i}].keep_original_sound",
                v["keep_original_sound"],
                OMNI_KEEP_SOUND_VALUES,
            )

    images = _list_of_dicts(body, "image_list")
    types = _check_images(images, model, bool(videos), has_base)
    elements = _list_of_dicts(body, "element_list")
    for i, el in enumerate(elements):
        eid = el.get("element_id")
        if isinstance(eid, bool) or not (
            isinstance(eid, int) or (isinstance(eid, str) and eid.strip().isdigit())
        ):
            raise fail(f"element_list[{i}].element_id", eid, "must be an integer id")
    limit = OMNI_MAX_REFS_WITH_VIDEO if videos else OMNI_MAX_REFS_WITHOUT_VIDEO
    if len(images) + len(elements) > limit:
        where = "with a video" if videos else "without a video"
        raise fail(
            "image_list",
            f"{len(images)} images + {len(elements)} elements",
            f"images + elements must be <= {limit} {where}",
        )

    if given(body, "mode") is not None:
        check_choice("mode", body["mode"], MODES)
    if given(body, "aspect_ratio") is not None:
        check_choice("aspect_ratio", body["aspect_ratio"], OMNI_ASPECT_RATIOS)
    elif not videos and "first_frame" not in types:
        raise fail(
            "aspect_ratio",
            body.get("aspect_ratio"),
            "required unless a video or a first_frame image is given",
        )
    duration = given(body, "duration")
    # With a base video Kling ignores ``duration`` (the output is as long as the input), but
    # a value outside the model's range is still refused: the enum is checked on the wire.
    if duration is not None:
        generation = not videos and (not images or "first_frame" in types) and not elements
        check_omni_duration(model, duration, generation=generation)
    sound = given(body, "sound")
    if sound is not None:
        check_choice("sound", sound, OMNI_SOUND_VALUES)
        if videos and sound != "off":
            raise fail("sound", sound, "must be 'off' when a video is given")

    shot_type, shots = given(body, "shot_type"), given(body, "multi_prompt")
    if multi_shot:
        kind = check_choice("shot_type", shot_type, OMNI_SHOT_TYPES)
        total = _whole_seconds(
            "duration", duration if duration is not None else OMNI_DEFAULT_DURATION
        )
        _check_shots(shots, total, required=kind == "customize")
    else:
        if shot_type is not None:
            raise fail("shot_type", shot_type, "only with multi_shot=true")
        if shots is not None:
            raise fail("multi_prompt", shots, "only with multi_shot=true")
    if body.get("watermark_info") is not None:
        check_watermark_info(body["watermark_info"])
    check_common_task_fields(body)
    return [str(im["image_url"]) for im in images]


def check_omni_clip(clip_seconds: float) -> None:
    """A reference or base video for Omni is 3-10 s (with the one duration tolerance)."""
    ((lo, hi),) = CLIP_LIMITS["omni"].durations
    try:
        value = float(clip_seconds)
    except (TypeError, ValueError):
        raise fail("clip duration", clip_seconds, "must be a number of seconds") from None
    if not lo - DURATION_TOLERANCE_S <= value <= hi + DURATION_TOLERANCE_S:
        raise fail("clip duration", f"{value:.2f} s", f"Omni-Video takes videos of {lo:g}-{hi:g} s")


@dataclass(frozen=True)
class OmniImage:
    """A reference image: a wire value (URL or raw base64) and an optional frame type."""

    image_url: str
    type: str | None = None


@dataclass(frozen=True)
class OmniShot:
    """One shot of a multi-shot request."""

    index: int
    prompt: str
    duration: int


@dataclass(frozen=True)
class OmniEdit:
    """One Omni-Video request, as it will be sent (fields mirror the wire names)."""

    prompt: str | None = None
    model_name: str = DEFAULT_OMNI_MODEL
    video_url: str | None = None
    refer_type: str = "base"
    keep_original_sound: str | None = None
    images: tuple[OmniImage, ...] = ()
    element_ids: tuple[str, ...] = ()
    mode: str | None = None
    aspect_ratio: str | None = None
    duration: str | None = None
    multi_shot: bool | None = None
    shot_type: str | None = None
    multi_prompt: tuple[OmniShot, ...] = ()
    sound: str | None = None
    watermark: bool | None = None
    callback_url: str | None = None
    external_task_id: str | None = None

    def to_body(self) -> dict[str, Any]:
        """The create body; an optional field that is not given is left out."""
        body: dict[str, Any] = {"model_name": self.model_name}
        if is_given(self.prompt):
            body["prompt"] = self.prompt
        if is_given(self.video_url):
            video: dict[str, Any] = {"video_url": self.video_url, "refer_type": self.refer_type}
            if is_given(self.keep_original_sound):
                video["keep_original_sound"] = self.keep_original_sound
            body["video_list"] = [video]
        if self.images:
            body["image_list"] = [
                {"image_url": im.image_url, **({"type": im.type} if is_given(im.type) else {})}
                for im in self.images
            ]
        if self.element_ids:
            body["element_list"] = [{"element_id": e} for e in self.element_ids]
        put_given(
            body,
            {
                "mode": self.mode,
                "aspect_ratio": self.aspect_ratio,
                "duration": self.duration,
                "shot_type": self.shot_type,
                "sound": self.sound,
                "callback_url": self.callback_url,
                "external_task_id": self.external_task_id,
            },
        )
        if self.multi_shot is not None:
            body["multi_shot"] = self.multi_shot
        if self.multi_prompt:
            body["multi_prompt"] = [
                {"index": s.index, "prompt": s.prompt, "duration": str(s.duration)}
                for s in self.multi_prompt
            ]
        if self.watermark is not None:
            body["watermark_info"] = {"enabled": self.watermark}
        return body

    def validate(self, clip_seconds: float | None = None) -> None:
        """Every documented rule; with ``clip_seconds``, the video's length too."""
        check_omni_body(self.to_body())
        if clip_seconds is not None and is_given(self.video_url):
            check_omni_clip(clip_seconds)
