"""``Project``: the scriptable workflow under the widget, the CLI and batch.

A project is one clip and its journal (:class:`kling_widget.journal.Journal`).
It owns the selection session (upload, init, rebuild and replay when Kling
forgot it), journals every selection operation with its masks, writes every
task to the journal *before* its create request is sent (so a crash can never
bill a task twice), polls tasks and downloads their results as soon as they
succeed. ``Project(clip)`` on a clip seen before picks all of that up again.

Frame indices are Kling's (API) frame indices; points are normalized ``(x, y)``
in [0, 1] from the top-left corner.
"""

from __future__ import annotations

import base64
import logging
import math
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kling_widget.api.models import ObjectMask, Preview, Selection, Session, Task
from kling_widget.errors import (
    KlingAPIError,
    KlingError,
    KlingNotFoundError,
    KlingResponseError,
    KlingServerError,
    KlingSessionExpiredError,
    KlingTaskFailedError,
    KlingTransportError,
    KlingValidationError,
)
from kling_widget.journal import (
    DEFAULT_ROOT,
    Journal,
    TaskRecord,
    file_sha256,
)
from kling_widget.journal.fetch import download_file
from kling_widget.journal.verify import FrameCheck, RebuildReport, compare_masks
from kling_widget.limits import (
    DURATION_FOR_BRACKET,
    DURATIONS,
    EDIT_MODE_IMAGES,
    EDIT_MODES,
    MAX_MARKED_FRAMES,
    MAX_POINTS_PER_FRAME,
    MAX_PROMPT_CHARS,
    MODES,
    MULTI_ELEMENTS_MODEL,
    OMNI_MAX_REFS_WITH_VIDEO,
    OMNI_MODELS,
    PROMPT_TEMPLATES,
    RELAY_DURATION_SLACK_S,
    RESULT_LIFETIME_S,
    SESSION_LIFETIME_S,
)

if TYPE_CHECKING:
    from kling_widget.api.client import KlingClient
    from kling_widget.media.video import VideoSource

log = logging.getLogger(__name__)

StatusFn = Callable[[str], None]
Uploader = Callable[[Path], str]
Point = tuple[float, float]

# Rebuild a session a little before Kling's 24 h, so it never dies mid-call.
SESSION_MARGIN_S = 120.0
# Results not on disk this close to Kling's 30-day deletion are flagged.
EXPIRY_WARNING_S = 3 * 24 * 3600.0
# Journal-only task statuses (Kling's own are in limits.TASK_STATUSES).
CREATING = "creating"
REJECTED = "rejected"
_AMBIGUOUS = (KlingTransportError, KlingServerError, KlingResponseError)


def _fail(field_name: str, value: Any, rule: str) -> KlingValidationError:
    return KlingValidationError(field_name, value, rule)


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _ts(value: Any) -> float | None:
    """A model datetime (or None) as Unix seconds."""
    return None if value is None else float(value.timestamp())


def _image_format(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG"):
        return "png"
    if data.startswith(b"\xff\xd8"):
        return "jpeg"
    return None


def _raw_masks(selection: Selection) -> list[dict[str, Any]]:
    res = selection.raw.get("res") if isinstance(selection.raw, Mapping) else None
    if isinstance(res, Mapping) and isinstance(res.get("rle_mask_list"), list):
        return [dict(m) for m in res["rle_mask_list"]]
    return [dict(m.raw) for m in selection.masks]


class Project:
    """One clip's editing project, journaled in ``root/<clip-stem>-<sha256[:8]>/``.

    ``client`` defaults to :func:`kling_widget.connect.default_client` (credentials from
    the environment, else the local emulator); ``uploader`` (path -> public URL) defaults
    to the emulator's upload endpoint when the client talks to an emulator. ``video_url``
    skips uploading. ``on_status`` receives one-line messages meant for a status line
    (session rebuilt, results about to expire, ...). ``clock`` (epoch seconds) is what
    session and result expiry are measured on.
    """

    def __init__(
        self,
        clip: str | Path,
        client: KlingClient | None = None,
        *,
        video_url: str | None = None,
        uploader: Uploader | None = None,
        root: str | Path = DEFAULT_ROOT,
        on_status: StatusFn | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        clip_text = str(clip)
        if _is_url(clip_text):
            from kling_widget.media.video import VideoSource

            self._source: VideoSource | None = VideoSource(clip_text)
            video_url = video_url or clip_text
            clip_path = Path(self._source.path)
        else:
            self._source = None
            clip_path = Path(clip)
            if not clip_path.is_file():
                raise _fail("clip", clip_text, "must be an existing video file (or an http(s) URL)")
        fingerprint, _size = file_sha256(clip_path)
        journal = Journal.for_clip(clip_path, root, fingerprint=fingerprint)
        try:
            self._setup(journal, clip_path, client, video_url, uploader, on_status, clock)
        except BaseException:
            journal.close()
            raise
        self._clip_checked = True

    @classmethod
    def open(
        cls,
        journal_path: str | Path,
        client: KlingClient | None = None,
        *,
        video_url: str | None = None,
        uploader: Uploader | None = None,
        on_status: StatusFn | None = None,
        clock: Callable[[], float] | None = None,
    ) -> Project:
        """Reopen a project from its journal (the ``journal.sqlite3`` file or its folder)."""
        journal = Journal(journal_path, create=False)
        try:
            record = journal.clip()
            if record is None:
                raise _fail("journal_path", str(journal_path), "journal has no clip recorded")
        except BaseException:
            journal.close()
            raise
        self = cls.__new__(cls)
        self._source = None
        try:
            self._setup(journal, Path(record.path), client, video_url, uploader, on_status, clock)
        except BaseException:
            journal.close()
            raise
        return self

    def _setup(
        self,
        journal: Journal,
        clip_path: Path,
        client: KlingClient | None,
        video_url: str | None,
        uploader: Uploader | None,
        on_status: StatusFn | None,
        clock: Callable[[], float] | None,
    ) -> None:
        self.journal = journal
        self.clip_path = clip_path
        self._client = client
        self._video_url = video_url
        self._uploader = uploader
        self._uploader_resolved = uploader is not None
        self.on_status = on_status
        self._clock = clock or time.time
        self._lock = threading.RLock()
        self._needs_resync = False
        self._tracker_synced = False
        self._download_locks: dict[str, threading.Lock] = {}
        # Reopened by path: the file there may have changed since; checked before upload.
        self._clip_checked = False
        self.last_rebuild: RebuildReport | None = None
        self.session: Session | None = None
        self._session_expires_at = 0.0
        record = journal.latest_session()
        if record is not None:
            # Reopened: the session comes back from the journal, without any API call.
            self.session = Session.from_json(record.raw)
            self._session_expires_at = record.expires_at
        for rec in self.history():
            if rec.warning:
                self._status(rec.warning)

    # --- plumbing ----------------------------------------------------------
    @property
    def client(self) -> KlingClient:
        """The Kling client (created from the environment on first use)."""
        if self._client is None:
            from kling_widget.connect import default_client

            self._client, _ = default_client()
        return self._client

    @property
    def uploader(self) -> Uploader | None:
        """The callable that turns the clip's path into a public URL (None: not set)."""
        return self._uploader

    @uploader.setter
    def uploader(self, fn: Uploader | None) -> None:
        self._uploader = fn
        self._uploader_resolved = fn is not None

    @property
    def source(self) -> VideoSource:
        """The clip, probed (:class:`kling_widget.media.video.VideoSource`)."""
        if self._source is None:
            if not self.clip_path.is_file():
                raise FileNotFoundError(
                    f"clip {self.clip_path} (recorded in {self.journal.path}) is no longer there"
                )
            from kling_widget.media.video import VideoSource

            self._source = VideoSource(self.clip_path)
        return self._source

    @property
    def folder(self) -> Path:
        """The project folder (journal, images, results)."""
        return self.journal.folder

    def _status(self, message: str) -> None:
        log.info("%s", message)
        if self.on_status is not None:
            try:
                self.on_status(message)
            except Exception:  # a broken status line must never break the work
                log.exception("on_status callback failed")

    def close(self) -> None:
        """Close the journal (and release its owner lock)."""
        self.journal.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        sid = self.session.session_id if self.session else None
        return (
            f"Project(clip={str(self.clip_path)!r}, folder={str(self.folder)!r}, session={sid!r})"
        )

    # --- the clip's URL ----------------------------------------------------
    def _resolve_uploader(self) -> Uploader | None:
        if not self._uploader_resolved:
            from kling_widget.connect import uploader_for

            self._uploader = uploader_for(self.client)
            self._uploader_resolved = True
        return self._uploader

    def video_url(self, *, fresh: bool = False) -> str:
        """A URL Kling can fetch the clip from: given, journaled, or uploaded now."""
        if self._video_url and not fresh:
            return self._video_url
        if not fresh:
            known = self.journal.video_url()
            if known:
                self._video_url = known
                return known
        uploader = self._resolve_uploader()
        if uploader is None:
            if self._video_url:
                return self._video_url
            raise _fail(
                "video_url",
                None,
                "Kling needs a public URL for the clip: pass video_url='https://...' "
                "(or uploader=callable(path) -> url) to Project",
            )
        if not self.clip_path.is_file():
            raise FileNotFoundError(f"clip {self.clip_path} is no longer there to upload")
        if not self._clip_checked:
            recorded = self.journal.clip()
            digest, _ = file_sha256(self.clip_path)
            if recorded is not None and digest != recorded.fingerprint:
                raise _fail(
                    "clip",
                    str(self.clip_path),
                    f"its content changed since the journal {self.journal.path} was made "
                    "(SHA-256 differs): open the new file with Project(clip) instead",
                )
            self._clip_checked = True
        self._status(f"uploading {self.clip_path.name}")
        self._video_url = uploader(self.clip_path)
        return self._video_url

    # --- sessions ----------------------------------------------------------
    def _session_expired(self) -> bool:
        return self._clock() >= self._session_expires_at - SESSION_MARGIN_S

    def ensure_session(self) -> Session:
        """The live session: reused, created (upload + init) or rebuilt and replayed."""
        with self._lock:
            if self.session is not None and not self._session_expired():
                if not self._tracker_synced:
                    self._sync_tracker()
                if self._needs_resync:
                    self._resync()
                return self.session
            if self.session is not None:
                self.journal.end_session(self.session.session_id, "expired")
                self._status("selection session expired (24 h); rebuilding it")
                return self._rebuild("expired")
            return self._rebuild("new")

    def _sync_tracker(self) -> None:
        """Tell the client which frames a reopened session already marks (its 10-frame check)."""
        self._tracker_synced = True
        restore = getattr(getattr(self.client, "selections", None), "restore", None)
        if self.session is not None and callable(restore):
            restore(self.session.session_id, self.points)

    def _init_session(self) -> Session:
        url = self.video_url()
        try:
            session = self.client.init_selection(video_url=url)
        except KlingAPIError as exc:
            reused = url == self.journal.video_url()
            if isinstance(exc, _AMBIGUOUS) or not reused or self._resolve_uploader() is None:
                raise
            # A journaled upload URL may have gone stale (emulator restarted): upload again.
            self._status(f"the clip's URL no longer works ({exc.message}); uploading it again")
            url = self.video_url(fresh=True)
            session = self.client.init_selection(video_url=url)
        now = self._clock()
        self.journal.add_session(
            session.session_id,
            base_url=str(getattr(self.client, "base_url", "")),
            video_url=url,
            created_at=now,
            expires_at=now + SESSION_LIFETIME_S,
            raw=dict(session.raw),
        )
        self.session = session
        self._session_expires_at = now + SESSION_LIFETIME_S
        self._needs_resync = False
        self._tracker_synced = True  # a new session starts empty; replays record themselves
        return session

    def _rebuild(self, reason: str) -> Session:
        old = self.session.session_id if self.session else None
        before = self.journal.current_masks()
        ops = self.journal.ops()
        self.session = None
        session = self._init_session()
        if reason == "new" and old is None and not ops:
            return session
        if not ops:
            if reason != "new":
                self._status(f"selection session rebuilt ({reason})")
            return session
        self._status(f"replaying {len(ops)} selection operation(s) on a new session")
        after = self._replay(session, ops)
        checks = [self._compare(f, before.get(f, []), after[f]) for f in sorted(after)]
        report = RebuildReport(old, session.session_id, reason, len(ops), checks)
        self.last_rebuild = report
        self._status(str(report))
        return session

    def _replay(self, session: Session, ops: Sequence[Any]) -> dict[int, list[dict[str, Any]]]:
        after: dict[int, list[dict[str, Any]]] = {}
        for op in ops:
            if op.op == "clear" or op.frame_index is None:
                continue
            call = self.client.add_selection if op.op == "add" else self.client.delete_selection
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
        self._status("a selection call went unanswered; re-syncing the session")
        self.client.clear_selection(self.session.session_id)
        self._needs_resync = False
        ops = self.journal.ops()
        before = self.journal.current_masks()
        after = self._replay(self.session, ops)
        checks = [self._compare(f, before.get(f, []), after[f]) for f in sorted(after)]
        self.last_rebuild = RebuildReport(
            self.session.session_id, self.session.session_id, "resync", len(ops), checks
        )
        if not self.last_rebuild.ok:
            self._status(str(self.last_rebuild))

    def _compare(
        self, frame: int, before: list[dict[str, Any]], after: list[dict[str, Any]]
    ) -> FrameCheck:
        return compare_masks(frame, before, after, self._frame_shape())

    def _frame_shape(self) -> tuple[int, int] | None:
        s = self.session
        if s is not None and s.height and s.width:
            return (int(s.height), int(s.width))
        return None

    def _with_session(self, call: Callable[[str], Any]) -> Any:
        """Run one selection call, rebuilding the session once if Kling forgot it."""
        session = self.ensure_session()
        try:
            return call(session.session_id)
        except KlingSessionExpiredError:
            self.journal.end_session(session.session_id, "gone on the server")
            self._status("the selection session is gone on the server; rebuilding it")
            session = self._rebuild("gone on the server")
            return call(session.session_id)
        except _AMBIGUOUS:
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

    def _check_points(self, points: Any, field_name: str = "points") -> list[Point]:
        from kling_widget.api.validation import normalize_points

        return [(p["x"], p["y"]) for p in normalize_points(points, field_name)]

    def _check_frame(self, frame_index: Any) -> int:
        from kling_widget.api.validation import check_frame_index

        frame = check_frame_index(frame_index)
        total = self.session.total_frame if self.session else None
        if total and frame >= total:
            raise _fail("frame_index", frame_index, f"must be < total_frame ({total})")
        return frame

    def select(self, frame_index: int, points: Iterable[Any]) -> Selection:
        """Add points on one frame (``add-selection``); returns that frame's masks."""
        with self._lock:
            frame = self._check_frame(frame_index)
            pts = self._check_points(list(points))
            current = self.points
            if frame not in current and len(current) >= MAX_MARKED_FRAMES:
                raise _fail(
                    "frame_index",
                    frame,
                    f"at most {MAX_MARKED_FRAMES} marked frames (already: {sorted(current)})",
                )
            existing = current.get(frame, [])
            if len(existing) + len(pts) > MAX_POINTS_PER_FRAME:
                raise _fail(
                    "points",
                    f"{len(existing) + len(pts)} points on frame {frame}",
                    f"at most {MAX_POINTS_PER_FRAME} points per frame",
                )
            selection: Selection = self._with_session(
                lambda sid: self.client.add_selection(sid, frame, pts)
            )
            self.journal.add_op(
                selection.session_id or self._sid(), "add", frame, pts, _raw_masks(selection)
            )
            return selection

    def unselect(self, frame_index: int, points: Iterable[Any]) -> Selection:
        """Delete points (``delete-selection``), given exactly as they were added."""
        with self._lock:
            frame = self._check_frame(frame_index)
            pts = self._check_points(list(points))
            existing = self.points.get(frame, [])
            missing = [p for p in pts if p not in existing]
            if missing:
                raise _fail(
                    "points",
                    missing,
                    f"must equal points added on frame {frame} exactly (current: {existing})",
                )
            selection: Selection = self._with_session(
                lambda sid: self.client.delete_selection(sid, frame, pts)
            )
            self.journal.add_op(
                selection.session_id or self._sid(), "delete", frame, pts, _raw_masks(selection)
            )
            return selection

    def _sid(self) -> str:
        return self.session.session_id if self.session else ""

    def clear(self) -> None:
        """Wipe every point (``clear-selection``); journaled as a clear."""
        with self._lock:
            if self.session is None or self._session_expired():
                # Nothing lives on the server: clearing is a journal-only operation.
                sessions = self.journal.sessions()
                if self.journal.ops() and sessions:
                    self.journal.add_op(sessions[-1].session_id, "clear")
                return
            self._with_session(lambda sid: self.client.clear_selection(sid))
            self.journal.add_op(self._sid(), "clear")

    def preview(self) -> Preview:
        """Preview the tracked selection (``preview-selection``)."""
        with self._lock:
            preview: Preview = self._with_session(lambda sid: self.client.preview_selection(sid))
            return preview

    # --- tasks -------------------------------------------------------------
    def _store_images(self, images: Any, field_name: str) -> list[dict[str, Any]]:
        """Check images and keep them as files; the params reference them by sha256."""
        from kling_widget.api.validation import normalize_image

        if images is None:
            return []
        if isinstance(images, (str, bytes, Path)) or not isinstance(images, Iterable):
            images = [images]
        refs: list[dict[str, Any]] = []
        for i, src in enumerate(images):
            wire = normalize_image(src, f"{field_name}[{i}]")
            if _is_url(wire):
                refs.append({"url": wire})
                continue
            data = base64.b64decode(wire)
            fmt = _image_format(data)
            digest, path = self.journal.store_image(data, fmt)
            refs.append({"sha256": digest, "file": path.relative_to(self.folder).as_posix()})
        return refs

    def _image_wire(self, refs: Sequence[Mapping[str, Any]]) -> list[str]:
        out: list[str] = []
        for ref in refs:
            if "url" in ref:
                out.append(str(ref["url"]))
                continue
            path = self.folder / str(ref["file"])
            if not path.is_file():
                raise FileNotFoundError(
                    f"reference image {path} (sha256 {ref['sha256']}) is missing from the project"
                )
            out.append(base64.b64encode(path.read_bytes()).decode("ascii"))
        return out

    def _default_duration(self) -> str | None:
        try:
            seconds = float(self.source.duration)
        except Exception:  # probing is a nicety here; Kling applies its own default
            return None
        for (lo, hi), value in DURATION_FOR_BRACKET.items():
            if lo <= seconds <= hi + RELAY_DURATION_SLACK_S:
                return value
        return None

    def create(
        self,
        edit_mode: str,
        prompt: str | None = None,
        images: Any = None,
        negative_prompt: str | None = None,
        mode: str = "std",
        duration: str | int | None = None,
        watermark: bool | None = None,
    ) -> Task:
        """Create a Multi-Elements task on the current selection.

        The task is journaled (status ``creating``, with its ``external_task_id``) before
        the request is sent; after a crash :meth:`resume` finds it by that id.
        """
        with self._lock:
            if edit_mode not in EDIT_MODES:
                raise _fail("edit_mode", edit_mode, f"must be one of {', '.join(EDIT_MODES)}")
            if mode not in MODES:
                raise _fail("mode", mode, f"must be one of {', '.join(MODES)}")
            if duration is not None and str(duration) not in DURATIONS:
                raise _fail("duration", duration, f"must be one of {', '.join(DURATIONS)}")
            if prompt is None:
                prompt = PROMPT_TEMPLATES[edit_mode]
            for name, text in (("prompt", prompt), ("negative_prompt", negative_prompt)):
                if text is not None and len(text) > MAX_PROMPT_CHARS:
                    raise _fail(name, text, f"at most {MAX_PROMPT_CHARS} characters")
            if not prompt.strip():
                raise _fail("prompt", prompt, "required, must not be blank")
            refs = self._store_images(images, "images")
            lo, hi = EDIT_MODE_IMAGES[edit_mode]
            if not lo <= len(refs) <= hi:
                want = f"exactly {lo}" if lo == hi else f"{lo} to {hi}"
                raise _fail("images", f"{len(refs)} image(s)", f"{edit_mode} takes {want}")
            if duration is None:
                duration = self._default_duration()
            session = self.ensure_session()
            params: dict[str, Any] = {
                "model_name": MULTI_ELEMENTS_MODEL,
                "session_id": session.session_id,
                "edit_mode": edit_mode,
                "prompt": prompt,
                "images": refs,
                "negative_prompt": negative_prompt,
                "mode": mode,
                "duration": None if duration is None else str(duration),
                "watermark": watermark,
            }
            ext = f"kw-{uuid.uuid4().hex}"
            self.journal.add_task(ext, "multi-elements", params, session_id=session.session_id)
            self._status(f"creating {edit_mode} task {ext}")
            return self._send_create(ext)

    def omni(
        self,
        prompt: str,
        images: Any = None,
        elements: Iterable[str] | None = None,
        keep_original_sound: bool = True,
        model: str = "kling-v3-omni",
        mode: str = "pro",
    ) -> Task:
        """An Omni-Video prompt edit of the whole clip (``refer_type: "base"``), journaled."""
        with self._lock:
            if model not in OMNI_MODELS:
                raise _fail("model", model, f"must be one of {', '.join(OMNI_MODELS)}")
            if mode not in MODES:
                raise _fail("mode", mode, f"must be one of {', '.join(MODES)}")
            if not isinstance(prompt, str) or not prompt.strip():
                raise _fail("prompt", prompt, "required, must not be blank")
            if len(prompt) > MAX_PROMPT_CHARS:
                raise _fail("prompt", prompt, f"at most {MAX_PROMPT_CHARS} characters")
            element_ids = [str(e) for e in (elements or [])]
            refs = self._store_images(images, "images")
            if len(refs) + len(element_ids) > OMNI_MAX_REFS_WITH_VIDEO:
                raise _fail(
                    "images+elements",
                    len(refs) + len(element_ids),
                    f"at most {OMNI_MAX_REFS_WITH_VIDEO} with a reference video",
                )
            if self.clip_path.is_file():
                problems = self.source.check("omni")
                if problems:
                    first = problems[0]
                    raise _fail(first.field, first.value, "; ".join(str(p) for p in problems))
            params: dict[str, Any] = {
                "model_name": model,
                "prompt": prompt,
                "video_url": self.video_url(),
                "keep_original_sound": bool(keep_original_sound),
                "images": refs,
                "elements": element_ids,
                "mode": mode,
            }
            ext = f"kw-{uuid.uuid4().hex}"
            self.journal.add_task(ext, "omni-video", params)
            self._status(f"creating Omni-Video task {ext}")
            return self._send_create(ext)

    def _send_create(self, ext: str) -> Task:
        """Send the create of a journaled task; an unanswered one stays ``creating``."""
        record = self.journal.task(ext)
        assert record is not None
        p = record.params
        try:
            if record.kind == "omni-video":
                task = self._create_omni(ext, p)
            else:
                task = self._create_multi(ext, p)
        except KlingValidationError as exc:
            self.journal.update_task(ext, status=REJECTED, error=str(exc))
            raise
        except _AMBIGUOUS:
            # The create may have reached Kling: never send it blind again. The row stays
            # "creating"; resume() looks it up by external_task_id before any re-send.
            self._status(
                f"no answer to the create of {ext}; resume() will look it up before re-sending"
            )
            raise
        except KlingAPIError as exc:
            self.journal.update_task(ext, status=REJECTED, error=str(exc))
            raise
        self._record(task, ext)
        return task

    def _create_multi(self, ext: str, p: Mapping[str, Any]) -> Task:
        def send(session_id: str) -> Task:
            if session_id != p["session_id"]:
                params = dict(p, session_id=session_id)
                self.journal.update_task(ext, params=params, session_id=session_id)
            return self.client.create_task(
                session_id,
                p["edit_mode"],
                p["prompt"],
                image_list=self._image_wire(p.get("images") or []) or None,
                negative_prompt=p.get("negative_prompt"),
                mode=p.get("mode") or "std",
                duration=p.get("duration"),
                watermark=p.get("watermark"),
                external_task_id=ext,
            )

        session = self.ensure_session()
        try:
            return send(session.session_id)
        except KlingSessionExpiredError:
            # Refused because the session is gone: nothing was created, same id is safe.
            self.journal.end_session(session.session_id, "gone on the server")
            session = self._rebuild("gone on the server")
            return send(session.session_id)

    def _create_omni(self, ext: str, p: Mapping[str, Any]) -> Task:
        images = self._image_wire(p.get("images") or [])
        return self.client.create_omni_video(
            model_name=p["model_name"],
            prompt=p["prompt"],
            video_list=[
                {
                    "video_url": p["video_url"],
                    "refer_type": "base",
                    "keep_original_sound": "yes" if p.get("keep_original_sound") else "no",
                }
            ],
            image_list=[{"image_url": i} for i in images] or None,
            element_list=[{"element_id": e} for e in p.get("elements") or []] or None,
            mode=p.get("mode") or "pro",
            sound="off",
            external_task_id=ext,
        )

    def _record(self, task: Task, ext: str | None = None) -> None:
        """Journal what Kling said about a task (status history grows on change)."""
        ext = ext or task.external_task_id
        if not ext or self.journal.task(ext) is None:
            return
        created = _ts(task.created_at)
        fields: dict[str, Any] = {
            "task_id": task.task_id or None,
            "status": task.status or None,
            "status_msg": task.status_msg,
            "raw": dict(task.raw),
        }
        if created is not None:
            fields["server_created_at"] = created
            fields["expires_at"] = created + RESULT_LIFETIME_S
        urls = [v.url for v in task.videos if v.url]
        if urls:
            fields["result_urls"] = urls
        self.journal.update_task(ext, **{k: v for k, v in fields.items() if v is not None})

    def _get(self, kind: str, ident: str) -> Task:
        if kind == "omni-video":
            return self.client.get_omni_video(ident)
        return self.client.get_task(ident)

    def _resolve(self, task: Task | TaskRecord | str | None) -> TaskRecord:
        if isinstance(task, TaskRecord):
            ext: str | None = task.external_task_id
        elif isinstance(task, Task):
            ext = task.external_task_id
            if ext is None or self.journal.task(ext) is None:
                ext = next(
                    (r.external_task_id for r in self.journal.tasks() if r.task_id == task.task_id),
                    None,
                )
        elif isinstance(task, str):
            ext = task if self.journal.task(task) else None
            if ext is None:
                ext = next(
                    (r.external_task_id for r in self.journal.tasks() if r.task_id == task), None
                )
        else:
            records = self.journal.tasks()
            ext = records[-1].external_task_id if records else None
        record = self.journal.task(ext) if ext else None
        if record is None:
            raise _fail("task", getattr(task, "task_id", task), "not a task of this project")
        return record

    def _reconcile(self, record: TaskRecord) -> Task:
        """A row left ``creating`` by a crash: adopt the task Kling knows, or send it again."""
        ext = record.external_task_id
        try:
            task = self._get(record.kind, ext)
        except KlingNotFoundError:
            # Only a definite "not found" proves the create never landed; anything else
            # (a 5xx, a dropped connection) leaves the row as it is for the next resume().
            self._status(f"task {ext} never reached Kling; sending it now with the same id")
            return self._send_create(ext)
        self._status(f"found task {task.task_id} ({ext}) on Kling after a restart")
        self._record(task, ext)
        return task

    def _current(self, record: TaskRecord) -> Task:
        if record.status == CREATING or not record.task_id:
            return self._reconcile(record)
        if record.status == REJECTED:
            raise _fail("task", record.external_task_id, f"was rejected: {record.error}")
        task = self._get(record.kind, record.task_id)
        self._record(task, record.external_task_id)
        return task

    def wait(
        self,
        task: Task | TaskRecord | str | None = None,
        timeout: float = 600,
        on_progress: Callable[[Task], None] | None = None,
    ) -> Task:
        """Poll a task (default: the latest) until it ends; download it when it succeeds.

        Returns the final task, succeeded or failed; raises ``KlingTimeoutError`` (the task
        keeps running on Kling's side and :meth:`resume` picks it up later).
        """
        record = self._resolve(task)
        ext = record.external_task_id
        if isinstance(task, Task) and task.task_id and record.status != CREATING:
            current = task
        else:
            with self._lock:  # may re-send a create, which may rebuild the session
                current = self._current(record)

        def progress(t: Task) -> None:
            self._record(t, ext)
            if on_progress is not None:
                on_progress(t)

        if not current.is_final:
            try:
                current = self.client.wait(current, timeout=timeout, on_progress=progress)
            except KlingTaskFailedError:
                current = self._get(record.kind, current.task_id)
        self._record(current, ext)
        if current.succeeded:
            self._download_record(self.journal.task(ext) or record, current)
        elif current.status == "failed":
            self._status(f"task {current.task_id} failed: {current.status_msg or 'no message'}")
        return current

    # --- downloads ---------------------------------------------------------
    def _verified(self, record: TaskRecord) -> Path | None:
        for d in record.downloads:
            if d.path.is_file() and d.path.stat().st_size == d.size:
                return d.path
        return None

    def _download_record(self, record: TaskRecord, task: Task | None = None) -> Path:
        # One download per task at a time (the editor's worker and resume() may race);
        # selection calls are not blocked meanwhile: they take self._lock, not this one.
        with self._lock:
            lock = self._download_locks.setdefault(record.external_task_id, threading.Lock())
        with lock:
            fresh = self.journal.task(record.external_task_id) or record
            return self._download_locked(fresh, task)

    def _download_locked(self, record: TaskRecord, task: Task | None) -> Path:
        have = self._verified(record)
        if have is not None:
            return have
        urls = [v.url for v in task.videos if v.url] if task is not None else []
        urls = urls or record.result_urls
        if not urls:
            if task is None or not task.is_final:
                task = self._current(record)
                urls = [v.url for v in task.videos if v.url]
            if not urls:
                raise _fail(
                    "task", record.external_task_id, f"has no result to download ({record.status})"
                )
        first: Path | None = None
        for i, url in enumerate(urls):
            suffix = "" if i == 0 else f"-{i + 1}"
            dest = self.folder / "results" / f"{record.kind}-{record.external_task_id}{suffix}.mp4"
            self._status(f"downloading the result of {record.task_id or record.external_task_id}")
            got = download_file(url, dest)
            self.journal.add_download(record.external_task_id, url, got.path, got.size, got.sha256)
            first = first or got.path
        assert first is not None
        self._status(f"result saved to {first}")
        return first

    def download(
        self, task: Task | TaskRecord | str | None = None, dest: str | Path | None = None
    ) -> Path:
        """Make sure a succeeded task's result is on disk (atomic, resumable, verified).

        The file lives in the project folder; with ``dest`` it is also copied there
        (atomically) and that path is returned.
        """
        record = self._resolve(task)
        current = task if isinstance(task, Task) else None
        path = self._download_record(record, current)
        if dest is None:
            return path
        target = Path(dest)
        if target.resolve() == path.resolve():
            return path
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)
        return target

    def result_path(self, task: Task | TaskRecord | str | None = None) -> Path | None:
        """The downloaded result of a task (default: the latest), if it is on disk."""
        return self._verified(self._resolve(task))

    # --- reopening ---------------------------------------------------------
    def resume(self, *, wait: bool = False, timeout: float = 600) -> list[Task]:
        """Pick up unfinished work: find ``creating`` tasks, poll running ones, download.

        With ``wait=True`` running tasks are waited for (and downloaded) too.
        """
        out: list[Task] = []
        for record in self.pending():
            try:
                with self._lock:
                    task = self._current(record)
                if wait and not task.is_final:
                    task = self.wait(task, timeout=timeout)
                elif task.succeeded:
                    self._download_record(
                        self.journal.task(record.external_task_id) or record, task
                    )
            except KlingValidationError:
                raise
            except KlingError as exc:
                self._status(f"could not resume task {record.external_task_id}: {exc}")
                raise
            out.append(task)
        return out

    def pending(self) -> list[TaskRecord]:
        """Tasks :meth:`resume` would act on: unconfirmed, running, or not yet on disk."""
        return [
            r
            for r in self.journal.tasks(statuses=(CREATING, "submitted", "processing", "succeed"))
            if r.status != "succeed" or self._verified(r) is None
        ]

    def history(self) -> list[TaskRecord]:
        """Every task of this project, oldest first, with status history, downloads and a
        ``warning`` when a result is not on disk and close to (or past) Kling's deletion."""
        now = self._clock()
        out: list[TaskRecord] = []
        for rec in self.journal.tasks():
            warning = None
            if rec.status == CREATING:
                warning = (
                    f"task {rec.external_task_id}: create not confirmed; "
                    "resume() looks it up before sending it again"
                )
            elif rec.status == "succeed" and self._verified(rec) is None and rec.expires_at:
                left = rec.expires_at - now
                if left <= 0:
                    warning = (
                        f"task {rec.task_id}: result not downloaded and its URL expired "
                        f"{_ago(-left)} ago"
                    )
                elif left <= EXPIRY_WARNING_S:
                    warning = (
                        f"task {rec.task_id}: result not downloaded and deleted by Kling in "
                        f"{_ago(left)}; run project.download({rec.task_id!r})"
                    )
            out.append(_with_warning(rec, warning))
        return out


def _ago(seconds: float) -> str:
    hours = seconds / 3600
    if hours >= 48:
        return f"{math.floor(hours / 24)} days"
    return f"{max(1, math.floor(hours))} h"


def _with_warning(rec: TaskRecord, warning: str | None) -> TaskRecord:
    from dataclasses import replace

    return replace(rec, warning=warning)


__all__ = ["FrameCheck", "Project", "RebuildReport"]
