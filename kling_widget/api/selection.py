"""Multi-Elements selection endpoints: init, add, delete, clear and preview a selection.

A mixin of :class:`kling_widget.api.core.ClientCore`; each method validates its input and
returns a :class:`RequestSpec`. Imports ``spec``, ``models``, ``validation``; never ``core``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kling_widget.api import validation as v
from kling_widget.api.models import Preview, Selection, Session
from kling_widget.api.selection_tracker import SelectionTracker
from kling_widget.api.spec import MULTI_ELEMENTS_PATH, RequestSpec, _drop_none


class SelectionEndpoints:
    """Request specs of the selection calls (they update ``selections`` on success)."""

    selections: SelectionTracker

    def init_selection(
        self, video_url: str | None = None, video_id: str | None = None, task_id: str | None = None
    ) -> RequestSpec[Session]:
        """POST init-selection with ``video_url`` or ``video_id`` (+ its ``task_id``)."""
        body = _drop_none({"video_id": video_id, "video_url": video_url, "task_id": task_id})
        v.validate_init_selection(body)
        return RequestSpec(
            "POST",
            f"{MULTI_ELEMENTS_PATH}/init-selection",
            Session.from_json,
            json=body,
            check_data_status=True,
        )

    def add_selection(
        self, session_id: str, frame_index: int, points: Sequence[Any]
    ) -> RequestSpec[Selection]:
        """POST add-selection: mark ``points`` on one frame."""
        body = self._selection_body(session_id, frame_index, points)
        sid, frame, pts = body["session_id"], body["frame_index"], body["points"]
        self.selections.check_add(sid, frame, pts)
        return RequestSpec(
            "POST",
            f"{MULTI_ELEMENTS_PATH}/add-selection",
            Selection.from_json,
            json=body,
            check_data_status=True,
            session_id=sid,
            after=lambda _sel: self.selections.record_add(sid, frame, pts),
        )

    def delete_selection(
        self, session_id: str, frame_index: int, points: Sequence[Any]
    ) -> RequestSpec[Selection]:
        """POST delete-selection: the points must equal the ones added."""
        body = self._selection_body(session_id, frame_index, points)
        sid, frame, pts = body["session_id"], body["frame_index"], body["points"]
        return RequestSpec(
            "POST",
            f"{MULTI_ELEMENTS_PATH}/delete-selection",
            Selection.from_json,
            json=body,
            check_data_status=True,
            session_id=sid,
            after=lambda _sel: self.selections.record_delete(sid, frame, pts),
        )

    def clear_selection(self, session_id: str) -> RequestSpec[Selection]:
        """POST clear-selection: wipe every marked point of the session."""
        body = {"session_id": session_id}
        v.validate_session_body(body)
        return RequestSpec(
            "POST",
            f"{MULTI_ELEMENTS_PATH}/clear-selection",
            Selection.from_json,
            json=body,
            check_data_status=True,
            session_id=session_id,
            after=lambda _sel: self.selections.record_clear(session_id),
        )

    def preview_selection(self, session_id: str) -> RequestSpec[Preview]:
        """POST preview-selection: the clip with the masks drawn."""
        body = {"session_id": session_id}
        v.validate_session_body(body)
        return RequestSpec(
            "POST",
            f"{MULTI_ELEMENTS_PATH}/preview-selection",
            Preview.from_json,
            json=body,
            check_data_status=True,
            session_id=session_id,
        )

    def _selection_body(
        self, session_id: str, frame_index: int, points: Sequence[Any]
    ) -> dict[str, Any]:
        sid = v.check_id("session_id", session_id)
        frame = v.check_frame_index(frame_index)
        body = {"session_id": sid, "frame_index": frame, "points": v.normalize_points(points)}
        v.validate_selection_body(body)
        return body
