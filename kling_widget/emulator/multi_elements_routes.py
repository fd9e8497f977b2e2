"""The Multi-Elements endpoints: init / add / delete / clear / preview selection and create.

Every body goes through ``bodies.json_object`` (fields that are not given are dropped) and
the rules of ``kling_widget.rules``; a broken rule is 400/1201 naming field, value and rule.
Answers carry ``final_unit_deduction`` and ``final_balance_deduction`` (``"0"`` for the
selection calls, which the emulator does not bill). Create defaults as Kling's page
states: ``model_name`` ``kling-v1-6``, ``duration`` ``"5"``, which is then checked against
the clip like a given one. Imports only siblings below the routes, ``kling_widget.rules``
and the api's wire checks.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from kling_widget import rules
from kling_widget.emulator.bodies import json_object
from kling_widget.emulator.clip import Clip
from kling_widget.emulator.envelope import checked, invalid
from kling_widget.emulator.images import reference_image
from kling_widget.emulator.jobs import render_edit, render_preview
from kling_widget.emulator.routing import Request, Router
from kling_widget.emulator.sessions import SelectionSession
from kling_widget.emulator.state import State
from kling_widget.emulator.tasks import balance_deduction, new_id, seconds_text
from kling_widget.emulator.uploads import StoredFile
from kling_widget.limits import RESULT_LIFETIME_S

ME = "/v1/videos/multi-elements"
NO_CHARGE = "0"
# Units charged per output second: an emulator figure, not Kling's price list.
UNITS_PER_SECOND = {"std": 0.5, "pro": 0.8}


def _no_charge() -> dict[str, Any]:
    return {
        "final_unit_deduction": NO_CHARGE,
        "final_balance_deduction": balance_deduction(NO_CHARGE),
    }


class MultiElementsRoutes:
    """Handlers of the Multi-Elements endpoints of one running emulator."""

    def __init__(self, state: State) -> None:
        self.state = state

    def register(self, router: Router) -> None:
        """Add this family's routes to ``router``."""
        router.add("POST", f"{ME}/init-selection", self.init_selection)
        router.add("POST", f"{ME}/add-selection", self.add_selection)
        router.add("POST", f"{ME}/delete-selection", self.delete_selection)
        router.add("POST", f"{ME}/clear-selection", self.clear_selection)
        router.add("POST", f"{ME}/preview-selection", self.preview_selection)
        router.add("POST", ME, self.create)

    # -- selection ---------------------------------------------------------------------------

    def init_selection(self, req: Request) -> dict[str, Any]:
        """``init-selection``: open a session on a clip named by URL or by a result's id."""
        body = json_object(req.json)
        url = body.get("video_url")
        if isinstance(url, str) and url.startswith("file://"):
            # Kling takes public URLs only; the emulator also reads local files.
            if "video_id" in body:
                raise invalid("video_url", body, "give exactly one of video_id or video_url")
        else:
            checked(lambda: rules.check_init_selection_body(body))
        if "video_url" in body:
            field = "video_url"
            path, stored = self.state.fetch.local_file(field, str(body["video_url"]))
        else:
            field = "video_id"
            path, stored = self._video_by_id(str(body["video_id"]), body.get("task_id"))
        try:
            clip = Clip(path)
        except (OSError, ValueError) as exc:
            raise invalid(field, body[field], f"not a readable video ({exc})") from None
        violations = clip.source.check("multi-elements")
        if violations:
            clip.close()
            broken = "; ".join(f"{x.field} {x.value}: {x.rule}" for x in violations)
            raise invalid(
                field, body[field], f"the clip breaks the Multi-Elements limits: {broken}"
            )
        files = self.state.files
        if stored is None:
            file_id, dest = files.reserve(path.name)
            shutil.copyfile(path, dest)
            stored = files.register(file_id, dest)
            clip.close()
            clip = Clip(dest)
        clip.start_decoding()
        session = SelectionSession(new_id(), clip, self.state.clock(), files.url(stored))
        self.state.sessions.add(session)
        return {
            "status": 0,
            "session_id": session.session_id,
            "fps": clip.fps,
            "original_duration": round(clip.duration * 1000),
            "total_frame": clip.frame_count,
            "width": clip.width,
            "height": clip.height,
            "normalized_video": session.video_url,
            **_no_charge(),
        }

    def _video_by_id(self, video_id: str, task_id: object) -> tuple[Path, StoredFile]:
        for task in self.state.tasks.all():
            if task_id is not None and task.task_id != str(task_id):
                continue
            for video in task.videos:
                if str(video.get("id")) == video_id:
                    stored = self.state.files.from_url(str(video.get("url")))
                    if stored is None:
                        raise invalid("video_id", video_id, "the video has expired (30 days)")
                    return stored.path, stored
        where = f" of task {task_id}" if task_id is not None else ""
        raise invalid("video_id", video_id, f"not a video{where} generated on this account")

    def _selection_args(
        self, req: Request
    ) -> tuple[SelectionSession, int, list[tuple[float, float]]]:
        body = json_object(req.json)
        session_id = checked(lambda: rules.check_id("session_id", body.get("session_id")))
        session = self.state.sessions.get(session_id)
        frame = checked(
            lambda: rules.check_frame_index(
                body.get("frame_index"), frame_count=session.clip.frame_count
            )
        )
        checked(lambda: rules.validate_points(body.get("points")))
        points = [(float(p["x"]), float(p["y"])) for p in body["points"]]
        return session, frame, points

    @staticmethod
    def _selection_answer(
        session: SelectionSession, frame: int, masks: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return {
            "status": 0,
            "session_id": session.session_id,
            **_no_charge(),
            "res": {"frame_index": frame, "rle_mask_list": masks},
        }

    def add_selection(self, req: Request) -> dict[str, Any]:
        """``add-selection``: mark points on one frame; the frame's masks."""
        session, frame, points = self._selection_args(req)
        return self._selection_answer(session, frame, session.add(frame, points))

    def delete_selection(self, req: Request) -> dict[str, Any]:
        """``delete-selection``: unmark exactly these points; the frame's masks."""
        session, frame, points = self._selection_args(req)
        return self._selection_answer(session, frame, session.delete(frame, points))

    def _session_of(self, req: Request) -> SelectionSession:
        body = json_object(req.json)
        session_id = checked(lambda: rules.check_id("session_id", body.get("session_id")))
        return self.state.sessions.get(session_id)

    def clear_selection(self, req: Request) -> dict[str, Any]:
        """``clear-selection``: wipe every marked point."""
        session = self._session_of(req)
        session.clear()
        return {"status": 0, "session_id": session.session_id, **_no_charge()}

    def preview_selection(self, req: Request) -> dict[str, Any]:
        """``preview-selection``: the masked preview, its cover and the tracking file."""
        session = self._session_of(req)
        with session.lock:
            if session.preview is None or session.preview_version != session.version:
                version = session.version
                session.preview = render_preview(session, self.state.files)
                session.preview_version = version
            res = dict(session.preview)
        return {"status": 0, "session_id": session.session_id, **_no_charge(), "res": res}

    # -- create ----------------------------------------------------------------------------

    def create(self, req: Request) -> dict[str, Any]:
        """``POST /v1/videos/multi-elements``: a task that renders the edit."""
        body = json_object(req.json)
        body.setdefault("model_name", rules.DEFAULT_MULTI_ELEMENTS_MODEL)
        body.setdefault("duration", rules.DEFAULT_MULTI_ELEMENTS_DURATION)
        image_values = checked(lambda: rules.check_create_body(body))
        session = self.state.sessions.get(body["session_id"])
        images = [
            reference_image(self.state.fetch, f"image_list[{i}].image", value)
            for i, value in enumerate(image_values)
        ]
        clip = session.clip
        duration = checked(lambda: rules.check_duration_for_clip(body["duration"], clip.duration))
        edit_mode = body["edit_mode"]
        anchors = session.anchors()
        version = session.version
        if edit_mode in ("swap", "removal") and not anchors:
            raise invalid(
                "edit_mode", edit_mode, "needs marked objects: add-selection before creating"
            )
        watermark = bool((body.get("watermark_info") or {}).get("enabled"))
        rate = UNITS_PER_SECOND.get(str(body.get("mode") or "std"), UNITS_PER_SECOND["std"])
        units = f"{float(duration) * rate:g}"
        files = self.state.files

        def job() -> list[dict[str, Any]]:
            out_id, out_path = files.reserve("result.mp4")
            wm = files.reserve("result_watermark.mp4") if watermark else None
            dur = render_edit(
                session, anchors, edit_mode, images, out_path, wm[1] if wm else None, version
            )
            result = files.register(out_id, out_path, RESULT_LIFETIME_S)
            video: dict[str, Any] = {
                "id": new_id(),
                "session_id": session.session_id,
                "url": files.url(result),
                "duration": seconds_text(dur),
            }
            if wm is not None:
                marked = files.register(wm[0], wm[1], RESULT_LIFETIME_S)
                video["watermark_url"] = files.url(marked)
            return [video]

        record = self.state.tasks.create(
            "multi-elements", body, job, session_id=session.session_id, units=units
        )
        return record.created_json()
