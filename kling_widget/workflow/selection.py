"""``SelectionSession``: one clip's Multi-Elements selection, journaled and kept alive.

Opens the session (upload + ``init-selection``), journals every selection operation with
the masks Kling answered, and when Kling forgot the session (24 h passed, or the server
lost it) opens a new one and replays the journaled operations since the last clear, then
checks that the same masks came back. After an unanswered selection call it clears the
server's selection and replays the journal, so server and journal agree again.

Frame indices are Kling's (API) frame indices; points are normalized ``(x, y)`` in [0, 1]
from the top-left corner. Imports the API models, the journal and the edit rules; never
the task book, the editor, the batch or the command line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from kling_widget.api.models import ObjectMask, Preview, Selection, Session
from kling_widget.errors import (
    KlingAPIError,
    KlingResponseError,
    KlingServerError,
    KlingSessionExpiredError,
    KlingTransportError,
    KlingValidationError,
)
from kling_widget.journal import OpRecord
from kling_widget.journal.verify import FrameCheck, RebuildReport, compare_masks
from kling_widget.limits import SESSION_LIFETIME_S
from kling_widget.rules import (
    check_frame_index,
    check_marked_frames,
    check_points_per_frame,
    normalize_points,
)
from kling_widget.workflow.context import ProjectContext

Point = tuple[float, float]
T = TypeVar("T")
RawMasks = list[dict[str, Any]]

# Rebuild a session a little before Kling's 24 h, so it never dies mid-call.
SESSION_MARGIN_S = 120.0
# A call that failed this way may have reached Kling: its effect is unknown.
AMBIGUOUS = (KlingTransportError, KlingServerError, KlingResponseError)


def may_have_landed(exc: BaseException) -> bool:
    """True when a request that failed with ``exc`` may still have been carried out by Kling
    (no answer, a 5xx, an unreadable answer): a create must then be looked up, never re-sent
    blind."""
    return isinstance(exc, AMBIGUOUS)


def count_points(points: Mapping[int, Sequence[Point]]) -> str:
    """``"5 points on 2 frames"``: a selection in words."""
    n = sum(len(p) for p in points.values())
    k = len(points)
    return f"{n} point{'s' if n != 1 else ''} on {k} frame{'s' if k != 1 else ''}"


def _raw_masks(selection: Selection) -> RawMasks:
    res = selection.raw.get("res") if isinstance(selection.raw, Mapping) else None
    if isinstance(res, Mapping) and isinstance(res.get("rle_mask_list"), list):
        return [dict(m) for m in res["rle_mask_list"]]
    return [dict(m.raw) for m in selection.masks]


class SelectionSession:
    """The selection half of a :class:`~kling_widget.workflow.Project`."""

    def __init__(self, ctx: ProjectContext) -> None:
        self.ctx = ctx
        self.journal = ctx.journal
        self.session: Session | None = None
        self.expires_at = 0.0
        self.last_rebuild: RebuildReport | None = None
        self._needs_resync = False
        self._tracker_synced = False
        record = self.journal.latest_session()
        if record is not None:
            # Reopened: the session comes back from the journal, without any API call.
            self.session = Session.from_json(record.raw)
            self.expires_at = record.expires_at

    # --- the session -------------------------------------------------------
    def expired(self) -> bool:
        """True when the session is missing or (nearly) past Kling's 24 h."""
        return self.session is None or self.ctx.clock() >= self.expires_at - SESSION_MARGIN_S

    def ensure(self) -> Session:
        """The live session: reused, created (upload + init) or rebuilt and replayed."""
        with self.ctx.lock:
            self.ctx.require_writable("open a selection session")
            if self.session is not None and not self.expired():
                if not self._tracker_synced:
                    self._sync_tracker()
                if self._needs_resync:
                    self._resync()
                return self.session
            if self.session is not None:
                self.journal.end_session(self.session.session_id, "expired")
                return self.rebuild("expired")
            return self.rebuild("new")

    def _sync_tracker(self) -> None:
        """Tell the client which frames a reopened session already marks (its 10-frame check)."""
        self._tracker_synced = True
        restore = getattr(getattr(self.ctx.client, "selections", None), "restore", None)
        if self.session is not None and callable(restore):
            restore(self.session.session_id, self.points)

    def _init(self) -> Session:
        ctx = self.ctx
        url = ctx.video_url()
        try:
            session = ctx.client.init_selection(video_url=url)
        except KlingAPIError as exc:
            if may_have_landed(exc) or not ctx.journaled_url(url) or not ctx.resolve_uploader():
                raise
            # A journaled upload URL may have gone stale (emulator restarted): upload again.
            ctx.status(f"the clip's URL no longer works ({exc.message}); uploading it again")
            url = ctx.video_url(fresh=True)
            session = ctx.client.init_selection(video_url=url)
        now = ctx.clock()
        self.journal.add_session(
            session.session_id,
            base_url=str(getattr(ctx.client, "base_url", "")),
            video_url=url,
            created_at=now,
            expires_at=now + SESSION_LIFETIME_S,
            raw=dict(session.raw),
        )
        self.session = session
        self.expires_at = now + SESSION_LIFETIME_S
        self._needs_resync = False
        self._tracker_synced = True  # a new session starts empty; replays record themselves
        return session

    def rebuild(self, reason: str) -> Session:
        """Open a new session and replay the selection since the last clear onto it."""
        old = self.session.session_id if self.session else None
        before = self.journal.current_masks()
        ops = self.journal.ops()
        points = self.points
        if ops and reason != "new":
            why = {
                "expired": "The selection session expired (Kling keeps one for 24 h)",
                "gone on the server": "Kling no longer knows the selection session",
            }.get(reason, f"The selection session ended ({reason})")
            self.ctx.status(f"{why}; opening a new one and re-marking {count_points(points)}")
        elif ops:
            self.ctx.status(f"Re-marking {count_points(points)} from the journal")
        self.session = None
        session = self._init()
        if not ops:
            return session
        after = self._replay(session, ops)
        checks = [self._compare(f, before.get(f, []), after[f]) for f in sorted(after)]
        report = RebuildReport(
            old,
            session.session_id,
            reason,
            len(ops),
            checks,
            points=sum(len(p) for p in points.values()),
            marked_frames=len(points),
        )
        self.last_rebuild = report
        self.ctx.status(str(report))
        return session

    def _replay(self, session: Session, ops: Sequence[OpRecord]) -> dict[int, RawMasks]:
        after: dict[int, RawMasks] = {}
        client = self.ctx.client
        for op in ops:
            if op.op == "clear" or op.frame_index is None:
                continue
            call = client.add_selection if op.op == "add" else client.delete_selection
            selection = call(session.session_id, op.frame_index, list(op.points))
            masks = _raw_masks(selection)
            self.journal.add_op(
                session.session_id, op.op, op.frame_index, op.points, masks, replay_of=op.seq
            )
            after[op.frame_index] = masks
        return after

    def _resync(self) -> None:
        """After an unanswered selection call, put the server back in the journal's state."""
        assert self.session is not None
        self.ctx.status("a selection call went unanswered; re-marking the journaled points")
        self.ctx.client.clear_selection(self.session.session_id)
        self._needs_resync = False
        ops = self.journal.ops()
        before = self.journal.current_masks()
        after = self._replay(self.session, ops)
        checks = [self._compare(f, before.get(f, []), after[f]) for f in sorted(after)]
        points = self.points
        self.last_rebuild = RebuildReport(
            self.session.session_id,
            self.session.session_id,
            "resync",
            len(ops),
            checks,
            points=sum(len(p) for p in points.values()),
            marked_frames=len(points),
        )
        if not self.last_rebuild.ok:
            self.ctx.status(str(self.last_rebuild))

    def _compare(self, frame: int, before: RawMasks, after: RawMasks) -> FrameCheck:
        return compare_masks(frame, before, after, self.frame_shape())

    def frame_shape(self) -> tuple[int, int] | None:
        """``(height, width)`` of Kling's frames, when the session reported them."""
        s = self.session
        if s is not None and s.height and s.width:
            return (int(s.height), int(s.width))
        return None

    def _call(self, call: Callable[[str], T]) -> T:
        """Run one selection call, rebuilding the session once if Kling forgot it."""
        session = self.ensure()
        try:
            return call(session.session_id)
        except KlingSessionExpiredError:
            self.journal.end_session(session.session_id, "gone on the server")
            session = self.rebuild("gone on the server")
            return call(session.session_id)
        except AMBIGUOUS:
            self._needs_resync = True
            raise

    # --- selection ---------------------------------------------------------
    @property
    def points(self) -> dict[int, list[Point]]:
        """Current points per (API) frame, from the journal."""
        return self.journal.current_points()

    def masks(self, frame_index: int) -> list[ObjectMask]:
        """The latest masks Kling answered for a frame (journaled; no API call)."""
        return [ObjectMask.from_json(m) for m in self.journal.latest_masks(frame_index)]

    def _check_frame(self, frame_index: object) -> int:
        total = self.session.total_frame if self.session else None
        return check_frame_index(frame_index, "frame_index", total or None)

    @staticmethod
    def _check_points(points: object) -> list[Point]:
        return [(p["x"], p["y"]) for p in normalize_points(points, "points")]

    def select(self, frame_index: int, points: Iterable[Point]) -> Selection:
        """Add points on one frame (``add-selection``); returns that frame's masks."""
        with self.ctx.lock:
            self.ctx.require_writable("select")
            frame = self._check_frame(frame_index)
            pts = self._check_points(list(points))
            current = self.points
            if frame not in current:
                check_marked_frames(len(current) + 1)
            existing = current.get(frame, [])
            # A point already marked is not counted twice (a re-sent click).
            new = [p for p in dict.fromkeys(pts) if p not in existing]
            check_points_per_frame(len(existing) + len(new), f"points on frame {frame}")
            selection = self._call(lambda sid: self.ctx.client.add_selection(sid, frame, pts))
            self.journal.add_op(
                selection.session_id or self._sid(), "add", frame, pts, _raw_masks(selection)
            )
            return selection

    def unselect(self, frame_index: int, points: Iterable[Point]) -> Selection:
        """Delete points (``delete-selection``), given exactly as they were added."""
        with self.ctx.lock:
            self.ctx.require_writable("unselect")
            frame = self._check_frame(frame_index)
            pts = self._check_points(list(points))
            existing = self.points.get(frame, [])
            missing = [p for p in pts if p not in existing]
            if missing:
                raise KlingValidationError(
                    "points",
                    missing,
                    f"must equal points added on frame {frame} exactly (current: {existing})",
                )
            selection = self._call(lambda sid: self.ctx.client.delete_selection(sid, frame, pts))
            self.journal.add_op(
                selection.session_id or self._sid(), "delete", frame, pts, _raw_masks(selection)
            )
            return selection

    def _sid(self) -> str:
        return self.session.session_id if self.session else ""

    def clear(self) -> None:
        """Remove every point (``clear-selection``); journaled as a clear.

        When Kling no longer holds the session there is nothing to clear on its side: the
        clear is journaled only, and nothing is re-marked just to be removed.
        """
        with self.ctx.lock:
            self.ctx.require_writable("clear the selection")
            what = count_points(self.points)
            session = self.session
            if session is not None and not self.expired():
                try:
                    self.ctx.client.clear_selection(session.session_id)
                    self._needs_resync = False  # whatever an unanswered call left is gone
                except KlingSessionExpiredError:
                    # Gone on Kling's side too: the next call opens a new, empty session.
                    self.journal.end_session(session.session_id, "gone on the server")
                    self.session = None
                except AMBIGUOUS:
                    self._needs_resync = True
                    raise
            sessions = self.journal.sessions()
            if self.journal.ops() and sessions:
                self.journal.add_op(sessions[-1].session_id, "clear")
            self.ctx.status(f"Cleared the selection: {what} removed")

    def mark(self, frames: Mapping[int, Sequence[Point]]) -> bool:
        """Make the selection exactly ``frames`` (``{frame: [(x, y), ...]}``).

        Nothing is sent when the journal already holds exactly these points (a re-run
        after a crash); otherwise the selection is cleared and marked afresh. Returns True
        when anything was sent.
        """
        want = {int(f): [tuple(map(float, p)) for p in pts] for f, pts in frames.items() if pts}
        with self.ctx.lock:
            have = self.points
            if {f: list(p) for f, p in have.items()} == want:
                return False
            if have:
                self.clear()
            for frame, pts in want.items():
                self.select(frame, [(p[0], p[1]) for p in pts])
            return True

    def preview(self) -> Preview:
        """Preview the tracked selection (``preview-selection``)."""
        with self.ctx.lock:
            self.ctx.require_writable("preview the selection")
            return self._call(lambda sid: self.ctx.client.preview_selection(sid))


__all__ = [
    "AMBIGUOUS",
    "SESSION_MARGIN_S",
    "SelectionSession",
    "count_points",
    "may_have_landed",
]
