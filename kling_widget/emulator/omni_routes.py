"""The Omni-Video create endpoint: checks a body with ``kling_widget.rules`` (per-model
durations, ``shot_type`` ``customize | intelligence``, ``aspect_ratio`` only when neither a
first frame nor a video is given...), checks each video against the Omni clip limits and
each image in full, then queues a render (``emulator.omni``).

Defaults as the Omni page states: ``model_name`` ``kling-video-o1``, ``mode`` ``pro``,
``duration`` ``"5"`` (ignored with a ``base`` video: the output is as long as the input).
Imports only siblings below the routes, ``kling_widget.rules`` and ``kling_widget.limits``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from kling_widget import rules
from kling_widget.emulator import omni
from kling_widget.emulator.bodies import json_object
from kling_widget.emulator.clip import Clip
from kling_widget.emulator.envelope import checked, invalid
from kling_widget.emulator.images import reference_image
from kling_widget.emulator.routing import Request, Router
from kling_widget.emulator.state import State
from kling_widget.emulator.tasks import new_id, seconds_text
from kling_widget.limits import (
    CLIP_LIMITS,
    OMNI_DEFAULT_DURATION,
    OMNI_REFER_TYPES,
    RESULT_LIFETIME_S,
)

OMNI = "/v1/videos/omni-video"
DEFAULT_MODE = "pro"
# Units charged per output second: an emulator figure, not Kling's price list.
UNITS_PER_SECOND = {"std": 0.6, "pro": 0.8}


def _prompt_of(body: dict[str, Any]) -> str:
    """The text the render captions: the prompt, or the shots' prompts joined."""
    shots = body.get("multi_prompt")
    if body.get("multi_shot") and isinstance(shots, list):
        return " / ".join(str(s.get("prompt", "")) for s in shots if isinstance(s, dict))
    return str(body.get("prompt") or "")


class OmniRoutes:
    """Handler of the Omni-Video create endpoint of one running emulator."""

    def __init__(self, state: State) -> None:
        self.state = state

    def register(self, router: Router) -> None:
        """Add the create route to ``router``."""
        router.add("POST", OMNI, self.create)

    def _videos(
        self, body: dict[str, Any]
    ) -> tuple[tuple[Path, float] | None, tuple[int, int] | None]:
        """(the base video's path and seconds, a feature video's (width, height)), checked."""
        base: tuple[Path, float] | None = None
        feature: tuple[int, int] | None = None
        cap = CLIP_LIMITS["omni"].max_bytes
        for i, item in enumerate(body.get("video_list") or []):
            field = f"video_list[{i}].video_url"
            path, _ = self.state.fetch.local_file(field, str(item["video_url"]), cap)
            try:
                clip = Clip(path)
            except (OSError, ValueError) as exc:
                raise invalid(field, item["video_url"], f"not a readable video ({exc})") from None
            violations = clip.source.check("omni")
            size, length = (clip.width, clip.height), clip.duration
            clip.close()
            if violations:
                broken = "; ".join(f"{x.field} {x.value}: {x.rule}" for x in violations)
                raise invalid(
                    field, item["video_url"], f"the clip breaks the Omni limits: {broken}"
                )
            if item.get("refer_type", OMNI_REFER_TYPES[0]) == "base":
                base = (path, length)
            else:
                feature = size
        return base, feature

    def create(self, req: Request) -> dict[str, Any]:
        """``POST /v1/videos/omni-video``: a task that renders the edit or the generation."""
        body = json_object(req.json)
        body.setdefault("model_name", rules.DEFAULT_OMNI_MODEL)
        checked(lambda: rules.check_omni_body(body))
        base, feature_size = self._videos(body)
        first: Image.Image | None = None
        end: Image.Image | None = None
        for i, item in enumerate(body.get("image_list") or []):
            image = reference_image(
                self.state.fetch, f"image_list[{i}].image_url", item["image_url"]
            )
            if item.get("type") == "first_frame":
                first = image
            elif item.get("type") == "end_frame":
                end = image
        mode = str(body.get("mode") or DEFAULT_MODE)
        seconds = int(str(body.get("duration") or OMNI_DEFAULT_DURATION))
        size = omni.output_size(mode, body.get("aspect_ratio"), first, feature_size)
        prompt = _prompt_of(body)
        # An edit is billed on the input's length, rounded (Omni page, ``duration``).
        billed = round(base[1]) if base is not None else seconds
        units = f"{billed * UNITS_PER_SECOND.get(mode, UNITS_PER_SECOND[DEFAULT_MODE]):g}"
        base_path = base[0] if base is not None else None
        files = self.state.files

        def job() -> list[dict[str, Any]]:
            out_id, out_path = files.reserve("omni.mp4")
            if base_path is not None:
                dur = omni.render_edit(base_path, prompt, out_path)
            else:
                dur = omni.render_generated(prompt, seconds, size, first, end, out_path)
            result = files.register(out_id, out_path, RESULT_LIFETIME_S)
            return [{"id": new_id(), "url": files.url(result), "duration": seconds_text(dur)}]

        record = self.state.tasks.create("omni-video", body, job, units=units)
        return record.created_json()
