"""Every edit rule of the package, in one place.

The client's request checks, ``Project``, the editor, the CLI, the batch runner and the
emulator's 1201 answers all call these functions; none re-implements a rule. The numbers
live in ``kling_widget.limits``. Decisions where the docs (or older copies of a rule)
disagree are written in the docstrings of :mod:`.multi_elements` (default prompt, clip
length to ``duration``) and :mod:`.omni` (default model, per-model limits,
``aspect_ratio``), and :mod:`.tasks` (external id format, task states).

* :mod:`.fields`: "not given" (``None``, blank strings, empty lists), ids, URLs, numbers,
  prompts, points and frames.
* :mod:`.tasks`: :class:`TaskState`, :func:`new_external_task_id`.
* :mod:`.multi_elements`: :class:`MultiElementsEdit` and its rules.
* :mod:`.omni`: :class:`OmniEdit` and its rules.
* :mod:`.images`: reference-image rules, and reading image bytes safely (Pillow, lazily).

Imports only ``kling_widget.limits`` and ``kling_widget.errors``; never ``api``, ``media``
or anything above them.
"""

from kling_widget.rules.fields import (
    check_bool,
    check_choice,
    check_coordinate,
    check_frame_index,
    check_id,
    check_int,
    check_marked_frames,
    check_nonempty_str,
    check_points_per_frame,
    check_prompt,
    check_url,
    check_watermark_info,
    fail,
    given,
    is_given,
    is_url,
    normalize_points,
    validate_points,
)
from kling_widget.rules.images import ImageInfo, check_image, inspect_image
from kling_widget.rules.multi_elements import (
    DEFAULT_MULTI_ELEMENTS_DURATION,
    DEFAULT_MULTI_ELEMENTS_MODEL,
    DEFAULT_SUBJECT,
    MultiElementsEdit,
    check_create_body,
    check_duration_for_clip,
    check_init_selection_body,
    check_reference_count,
    default_prompt,
    duration_for_clip,
    resolve_prompt,
    template_for,
)
from kling_widget.rules.omni import (
    DEFAULT_OMNI_MODEL,
    OmniEdit,
    OmniImage,
    OmniShot,
    check_omni_body,
    check_omni_clip,
    check_omni_duration,
)
from kling_widget.rules.tasks import EXTERNAL_ID_PREFIX, TaskState, new_external_task_id

__all__ = [
    "DEFAULT_MULTI_ELEMENTS_DURATION",
    "DEFAULT_MULTI_ELEMENTS_MODEL",
    "DEFAULT_OMNI_MODEL",
    "DEFAULT_SUBJECT",
    "EXTERNAL_ID_PREFIX",
    "ImageInfo",
    "MultiElementsEdit",
    "OmniEdit",
    "OmniImage",
    "OmniShot",
    "TaskState",
    "check_bool",
    "check_choice",
    "check_coordinate",
    "check_create_body",
    "check_duration_for_clip",
    "check_frame_index",
    "check_id",
    "check_image",
    "check_init_selection_body",
    "check_int",
    "check_marked_frames",
    "check_nonempty_str",
    "check_omni_body",
    "check_omni_clip",
    "check_omni_duration",
    "check_points_per_frame",
    "check_prompt",
    "check_reference_count",
    "check_url",
    "check_watermark_info",
    "default_prompt",
    "duration_for_clip",
    "fail",
    "given",
    "inspect_image",
    "is_given",
    "is_url",
    "new_external_task_id",
    "normalize_points",
    "resolve_prompt",
    "template_for",
    "validate_points",
]
