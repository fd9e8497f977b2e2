"""Request bodies copied from Kling's documentation pages (imported by name from any test
folder), so each example is written once."""

from __future__ import annotations

# The official Multi-Elements create example: no model_name, "image_list": [] and "" for
# the optional fields it does not use.
DOCS_CREATE: dict[str, object] = {
    "session_id": "847570360458960960",
    "edit_mode": "removal",
    "image_list": [],
    "prompt": "删除<<<video_1>>>中的【小鸡】",
    "negative_prompt": "",
    "mode": "std",
    "duration": "5",
    "callback_url": "",
    "external_task_id": "",
}
