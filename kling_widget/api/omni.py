"""Omni-Video endpoints: create (idempotent), get and list.

A mixin of :class:`kling_widget.api.core.ClientCore`, built on the task endpoints (same task
shape, same idempotent create). Imports ``spec``, ``tasks``, ``models``, ``validation``;
never ``core``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kling_widget.api import validation as v
from kling_widget.api.models import Task
from kling_widget.api.spec import OMNI_VIDEO_PATH, RequestSpec, _drop_none
from kling_widget.api.tasks import TaskEndpoints, _image_item
from kling_widget.errors import KlingValidationError
from kling_widget.limits import OMNI_DEFAULT_MODEL


class OmniEndpoints(TaskEndpoints):
    """Request specs of the Omni-Video calls."""

    def create_omni_video(
        self,
        prompt: str | None = None,
        *,
        model_name: str = OMNI_DEFAULT_MODEL,
        video_list: Sequence[Any] | None = None,
        image_list: Sequence[Any] | None = None,
        element_list: Sequence[Any] | None = None,
        mode: str | None = None,
        aspect_ratio: str | None = None,
        duration: str | int | None = None,
        multi_shot: bool | None = None,
        shot_type: str | None = None,
        multi_prompt: Sequence[Any] | None = None,
        sound: str | bool | None = None,
        watermark: bool | None = None,
        callback_url: str | None = None,
        external_task_id: str | None = None,
    ) -> RequestSpec[Task]:
        """POST an Omni-Video task (always with an ``external_task_id``)."""
        ext = external_task_id if v.is_given(external_task_id) else v.new_external_task_id()
        body = _drop_none(
            {
                "model_name": model_name,
                "prompt": prompt,
                "multi_shot": multi_shot,
                "shot_type": shot_type,
                "multi_prompt": _shots(multi_prompt),
                "video_list": _videos(video_list),
                "image_list": _omni_images(image_list),
                "element_list": _elements(element_list),
                "mode": mode,
                "aspect_ratio": aspect_ratio,
                "duration": v.normalize_duration(duration),
                "sound": v.on_off(sound),
                "watermark_info": None if watermark is None else {"enabled": watermark},
                "callback_url": callback_url,
                "external_task_id": ext,
            }
        )
        v.validate_omni_video(body)
        return self._create_spec(OMNI_VIDEO_PATH, "omni-video", body, None)

    def get_omni_video(self, task_id: str) -> RequestSpec[Task]:
        """GET one Omni-Video task by ``task_id`` or ``external_task_id``."""
        return self.get_task(task_id, "omni-video")

    def list_omni_videos(self, page: int = 1, page_size: int = 30) -> RequestSpec[list[Task]]:
        """GET a page of Omni-Video tasks."""
        return self.list_tasks(page, page_size, "omni-video")

    # -- helpers -----------------------------------------------------------------------------


def _omni_images(images: Sequence[Any] | None) -> list[dict[str, Any]] | None:
    if images is None:
        return None
    if isinstance(images, (str, bytes)) or not isinstance(images, Sequence):
        raise KlingValidationError("image_list", images, "must be a list of images")
    return [_image_item(item, f"image_list[{i}]", "image_url") for i, item in enumerate(images)]


def _videos(videos: Sequence[Any] | None) -> list[dict[str, Any]] | None:
    if videos is None:
        return None
    if isinstance(videos, (str, bytes)) or not isinstance(videos, Sequence):
        raise KlingValidationError("video_list", videos, "must be a list of videos")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(videos):
        if isinstance(item, str):
            out.append({"video_url": item, "refer_type": "base"})
        elif isinstance(item, Mapping):
            entry = dict(item)
            if "keep_original_sound" in entry:
                entry["keep_original_sound"] = v.yes_no(entry["keep_original_sound"])
            out.append(entry)
        else:
            raise KlingValidationError(f"video_list[{i}]", item, "must be a URL or a dict")
    return out


def _elements(elements: Sequence[Any] | None) -> list[dict[str, Any]] | None:
    if elements is None:
        return None
    if isinstance(elements, (str, bytes)) or not isinstance(elements, Sequence):
        raise KlingValidationError("element_list", elements, "must be a list of element ids")
    return [dict(e) if isinstance(e, Mapping) else {"element_id": e} for e in elements]


def _shots(shots: Sequence[Any] | None) -> list[dict[str, Any]] | None:
    if shots is None:
        return None
    if isinstance(shots, (str, bytes)) or not isinstance(shots, Sequence):
        raise KlingValidationError("multi_prompt", shots, "must be a list of shots")
    out: list[dict[str, Any]] = []
    for i, shot in enumerate(shots):
        if isinstance(shot, Mapping):
            entry = dict(shot)
        elif isinstance(shot, Sequence) and not isinstance(shot, str) and len(shot) == 2:
            entry = {"prompt": shot[0], "duration": shot[1]}
        else:
            raise KlingValidationError(
                f"multi_prompt[{i}]", shot, "must be {'prompt', 'duration'} or (prompt, duration)"
            )
        entry.setdefault("index", i + 1)
        entry["duration"] = v.normalize_duration(entry.get("duration"))
        out.append(entry)
    return out
