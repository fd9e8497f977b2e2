"""Request bodies as the handlers read them: a JSON object, without the fields that are not
given.

Kling's own example requests send optional fields as ``""`` and lists as ``[]``
(``"video_id": ""`` beside a ``video_url``, ``"image_list": []`` for a removal,
``"callback_url": ""``); ``kling_widget.rules.is_given`` is the one rule for what counts as
given, and the emulator drops the rest before any check, so such a field reads as absent
everywhere. Imports only ``emulator.envelope`` and ``kling_widget.rules``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kling_widget.emulator.envelope import BAD_REQUEST, ApiError
from kling_widget.rules import is_given


def _given(value: object) -> object:
    if isinstance(value, Mapping):
        return {str(k): _given(v) for k, v in value.items() if is_given(v)}
    if isinstance(value, list):
        return [_given(item) for item in value]
    return value


def json_object(body: object) -> dict[str, Any]:
    """``body`` as a JSON object without its not-given fields (at every level);
    ``ApiError`` 400/1200 when it is not an object."""
    if not isinstance(body, Mapping):
        raise ApiError(BAD_REQUEST, "request body must be a JSON object")
    cleaned = _given(body)
    assert isinstance(cleaned, dict)
    return cleaned
