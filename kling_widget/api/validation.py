"""Request-body checks on the wire format, and the small normalizers the clients use.

The rules themselves live in :mod:`kling_widget.rules`; this module applies them to a
wire-format body (the dict that would be sent) and adds the image-content checks of
:mod:`kling_widget.api.image_refs`. The clients run these on every request they build; the
emulator runs the same functions on what it receives and answers code 1201 with
``err.rule``. Every failure is a :class:`KlingValidationError` naming field, value and rule.

Imports the rules, ``image_refs`` and ``selection_tracker``; never the clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kling_widget.api.image_refs import (
    check_image_base64,
    check_image_bytes,
    normalize_image,
    strip_data_uri,
    validate_image_ref,
)
from kling_widget.api.selection_tracker import SelectionTracker
from kling_widget.limits import (
    OMNI_KEEP_SOUND_VALUES,
    OMNI_SOUND_VALUES,
    PAGE_NUM_RANGE,
    PAGE_SIZE_RANGE,
)
from kling_widget.rules import (
    check_bool,
    check_choice,
    check_create_body,
    check_frame_index,
    check_id,
    check_init_selection_body,
    check_int,
    check_nonempty_str,
    check_omni_body,
    check_prompt,
    check_url,
    is_given,
    is_url,
    new_external_task_id,
    normalize_points,
    validate_points,
)
from kling_widget.rules import check_reference_count as check_edit_mode_images

__all__ = [
    "SelectionTracker",
    "check_bool",
    "check_choice",
    "check_edit_mode_images",
    "check_frame_index",
    "check_id",
    "check_image_base64",
    "check_image_bytes",
    "check_int",
    "check_nonempty_str",
    "check_prompt",
    "check_url",
    "is_given",
    "is_url",
    "new_external_task_id",
    "normalize_duration",
    "normalize_image",
    "normalize_points",
    "on_off",
    "strip_data_uri",
    "validate_create_task",
    "validate_image_ref",
    "validate_init_selection",
    "validate_omni_video",
    "validate_page",
    "validate_points",
    "validate_selection_body",
    "validate_session_body",
    "yes_no",
]


def validate_init_selection(body: Mapping[str, Any]) -> None:
    """``init-selection``: exactly one of ``video_id`` / ``video_url`` given."""
    check_init_selection_body(body)


def validate_session_body(body: Mapping[str, Any]) -> None:
    """``clear-selection`` / ``preview-selection``: a ``session_id``."""
    check_id("session_id", body.get("session_id"))


def validate_selection_body(body: Mapping[str, Any]) -> None:
    """``add-selection`` / ``delete-selection``."""
    check_id("session_id", body.get("session_id"))
    check_frame_index(body.get("frame_index"))
    validate_points(body.get("points"))


def validate_create_task(body: Mapping[str, Any]) -> None:
    """Multi-Elements create-task body: the rules, then each image's content."""
    for i, image in enumerate(check_create_body(body)):
        validate_image_ref(f"image_list[{i}].image", image)


def validate_omni_video(body: Mapping[str, Any]) -> None:
    """Omni-Video create body: the rules (per model), then each image's content."""
    for i, image in enumerate(check_omni_body(body)):
        validate_image_ref(f"image_list[{i}].image_url", image)


def validate_page(page: object, page_size: object) -> None:
    """List endpoints: ``pageNum`` 1-1000, ``pageSize`` 1-500."""
    check_int("page", page, *PAGE_NUM_RANGE)
    check_int("page_size", page_size, *PAGE_SIZE_RANGE)


def normalize_duration(value: object) -> object:
    """5 -> "5": Kling's durations are strings; anything else is left for validation."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value


def yes_no(value: object) -> object:
    """``True``/``False`` -> ``"yes"``/``"no"``; other values are left for validation."""
    if isinstance(value, bool):
        return OMNI_KEEP_SOUND_VALUES[0] if value else OMNI_KEEP_SOUND_VALUES[1]
    return value


def on_off(value: object) -> object:
    """``True``/``False`` -> ``"on"``/``"off"`` for ``sound``."""
    if isinstance(value, bool):
        return OMNI_SOUND_VALUES[0] if value else OMNI_SOUND_VALUES[1]
    return value
