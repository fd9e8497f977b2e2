"""Multi-Elements selection endpoints: init, add, delete, clear and preview a selection.

A mixin of :class:`kling_widget.api.core.ClientCore`; each method validates its input and
returns a :class:`RequestSpec`. Imports ``spec``, ``models``, ``validation``; never ``core``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from kling_widget.api import validation as v
from kling_widget.api.models import Preview, Selection, Session
from kling_widget.api.selection_tracker import SelectionTracker
from kling_widget.api.spec import MULTI_ELEMENTS_PATH, RequestSpec, _drop_none

T = TypeVar("T")


def _post(
    op: str,
    parse: Callable[[Any], T],
    body: dict[str, Any],
    *,
    session_id: str | None = None,
    after: Callable[[T], None] | None = None,
) -> RequestSpec[T]:
    """A selection call: POST ``body`` to ``op``, the answer's ``task_status`` checked."""
    return RequestSpec(
        "POST",
        f"{MULTI_ELEMENTS_PATH}/{op}",
        parse,
        json=body,
        check_data_status=True,
        session_id=session_id,
        after=after,
    )


def _session_body(session_id: str) -> dict[str, Any]:
    body = {"session_id": session_id}
    v.validate_session_body(body)
    return body


class SelectionEndpoints:
    """Request specs of the selection calls (they update ``selections`` on success)."""

    selections: SelectionTracker

    def init_selection(
        self, video_url: str | None = None, video_id: str | None = None, task_id: str | None = None
    ) -> RequestSpec[Session]:
        """POST init-selection with ``video_url`` or ``video_id`` (+ its ``task_id``)."""
        body = _drop_none({"video_id": video_id, "video_url": video_url, "task_id": task_id})
        v.validate_init_selection(body)
        return _post("init-selection", Session.from_json, body)

    def add_selection(
        self, session_id: str, frame_index: int, points: Sequence[Any]
    ) -> RequestSpec[Selection]:
        """POST add-selection: mark ``points`` on one frame."""
        return self._points_call("add-selection", session_id, frame_index, points)

    def delete_selection(
        self, session_id: str, frame_index: int, points: Sequence[Any]
    ) -> RequestSpec[Selection]:
        """POST delete-selection: the points must equal the ones added."""
        return self._points_call("delete-selection", session_id, frame_index, points)

    def clear_selection(self, session_id: str) -> RequestSpec[Selection]:
        """POST clear-selection: wipe every marked point of the session."""
        body = _session_body(session_id)
        return _post(
            "clear-selection",
            Selection.from_json,
            body,
            session_id=session_id,
            after=lambda _sel: self.selections.record_clear(session_id),
        )

    def preview_selection(self, session_id: str) -> RequestSpec[Preview]:
        """POST preview-selection: the clip with the masks drawn."""
        body = _session_body(session_id)
        return _post("preview-selection", Preview.from_json, body, session_id=session_id)

    def _points_call(
        self, op: str, session_id: str, frame_index: int, points: Sequence[Any]
    ) -> RequestSpec[Selection]:
        # The tracker refuses an add it knows Kling would refuse, and learns from each answer.
        sid = v.check_id("session_id", session_id)
        frame = v.check_frame_index(frame_index)
        pts = v.normalize_points(points)
        body = {"session_id": sid, "frame_index": frame, "points": pts}
        v.validate_selection_body(body)
        adding = op == "add-selection"
        if adding:
            self.selections.check_add(sid, frame, pts)
        record = self.selections.record_add if adding else self.selections.record_delete
        return _post(
            op,
            Selection.from_json,
            body,
            session_id=sid,
            after=lambda _sel: record(sid, frame, pts),
        )
