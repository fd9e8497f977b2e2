"""Multi-Elements task endpoints: create (idempotent, with an ``external_task_id``), get, list.

A mixin of :class:`kling_widget.api.core.ClientCore`. Imports ``spec``, ``models``,
``validation`` and the rules; never ``core``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from kling_widget.api import validation as v
from kling_widget.api.models import Task, TaskKind
from kling_widget.api.spec import (
    KIND_PATHS,
    MULTI_ELEMENTS_PATH,
    RequestSpec,
    _drop_none,
    _task_list_parser,
    _task_parser,
)
from kling_widget.errors import KlingValidationError
from kling_widget.limits import MULTI_ELEMENTS_MODEL


class TaskEndpoints:
    """Request specs of the Multi-Elements task calls."""

    def create_task(
        self,
        session_id: str,
        edit_mode: str,
        prompt: str,
        image_list: Sequence[Any] | None = None,
        negative_prompt: str | None = None,
        mode: str = "std",
        duration: str | int | None = None,
        watermark: bool | None = None,
        callback_url: str | None = None,
        external_task_id: str | None = None,
    ) -> RequestSpec[Task]:
        """POST a Multi-Elements task (always with an ``external_task_id``)."""
        # Cheap checks first, so a wrong count or prompt fails before any image is read.
        if isinstance(image_list, (str, bytes)) or not (
            image_list is None or isinstance(image_list, Sequence)
        ):
            raise KlingValidationError("image_list", image_list, "must be a list of images")
        images = [] if image_list is None else list(image_list)
        v.check_id("session_id", session_id)
        v.check_edit_mode_images(edit_mode, len(images))
        v.check_prompt("prompt", prompt, required=True)
        wire_images = [
            _image_item(item, f"image_list[{i}]", "image") for i, item in enumerate(images)
        ]
        ext = external_task_id if v.is_given(external_task_id) else v.new_external_task_id()
        body = _drop_none(
            {
                "model_name": MULTI_ELEMENTS_MODEL,
                "session_id": session_id,
                "edit_mode": edit_mode,
                "image_list": wire_images or None,
                "prompt": prompt,
                "negative_prompt": negative_prompt,
                "mode": mode,
                "duration": v.normalize_duration(duration),
                "watermark_info": None if watermark is None else {"enabled": watermark},
                "callback_url": callback_url,
                "external_task_id": ext,
            }
        )
        v.validate_create_task(body)
        return self._create_spec(MULTI_ELEMENTS_PATH, "multi-elements", body, session_id)

    def get_task(self, task_id: str, kind: TaskKind = "multi-elements") -> RequestSpec[Task]:
        """GET one task by ``task_id`` or ``external_task_id``."""
        tid = v.check_id("task_id", task_id)
        return RequestSpec("GET", f"{KIND_PATHS[kind]}/{quote(tid, safe='')}", _task_parser(kind))

    def list_tasks(
        self, page: int = 1, page_size: int = 30, kind: TaskKind = "multi-elements"
    ) -> RequestSpec[list[Task]]:
        """GET a page of tasks (``pageNum`` 1-1000, ``pageSize`` 1-500)."""
        v.validate_page(page, page_size)
        return RequestSpec(
            "GET",
            KIND_PATHS[kind],
            _task_list_parser(kind),
            params={"pageNum": int(page), "pageSize": int(page_size)},
        )

    # -- Omni-Video ------------------------------------------------------------------------

    def _create_spec(
        self, base: str, kind: TaskKind, body: dict[str, Any], session_id: str | None
    ) -> RequestSpec[Task]:
        ext = str(body["external_task_id"])
        lookup = RequestSpec("GET", f"{base}/{quote(ext, safe='')}", _task_parser(kind))
        return RequestSpec(
            "POST", base, _task_parser(kind), json=body, session_id=session_id, lookup=lookup
        )


def _image_item(item: Any, field_name: str, key: str) -> dict[str, Any]:
    """One image list entry: a bare image source or a dict holding one under ``key``."""
    if isinstance(item, Mapping):
        src_key = key if key in item else ("image" if "image" in item else "image_url")
        if src_key not in item:
            raise KlingValidationError(field_name, item, f"needs {key!r}")
        out = {k: val for k, val in item.items() if k not in ("image", "image_url")}
        out[key] = v.normalize_image(item[src_key], f"{field_name}.{key}")
        return out
    return {key: v.normalize_image(item, field_name)}
