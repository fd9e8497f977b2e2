"""``TaskBook``: one project's tasks, journaled before they are sent, never billed twice.

Every create is written to the journal (status ``creating``, with a fresh
``external_task_id``) *before* the request goes out. A create that got no answer stays
``creating``; the next look at it (``settle``, ``wait``, ``resume``) asks Kling for that
``external_task_id`` first and re-sends (with the same id) only on a definite "not found".
Finished tasks are downloaded into the project folder as soon as they are seen.

A create may carry a *request key* (a hash of what it asks for, selection included);
``reuse=True`` then returns the journaled task of an identical earlier request instead of
creating another, which is what makes a re-run of a killed command safe.

Imports the API models, the journal, the edit rules and the workflow's selection, context,
references and results; never the editor, the batch or the command line.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from kling_widget.api.models import Task
from kling_widget.errors import (
    KlingError,
    KlingNotFoundError,
    KlingSessionExpiredError,
    KlingTaskFailedError,
    KlingValidationError,
)
from kling_widget.journal import REJECTED, TaskRecord
from kling_widget.limits import RESULT_LIFETIME_S
from kling_widget.rules import TaskState, new_external_task_id
from kling_widget.workflow import requests
from kling_widget.workflow.context import ProjectContext
from kling_widget.workflow.history import with_warnings
from kling_widget.workflow.references import image_wire
from kling_widget.workflow.results import Results, copy_atomically
from kling_widget.workflow.selection import SelectionSession, may_have_landed

MULTI = "multi-elements"
OMNI = "omni-video"
TaskRef = Task | TaskRecord | str | None


def request_key(spec: Mapping[str, object]) -> str:
    """A stable hash of what a create asks for (same request, same key)."""
    blob = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def check_timeout(timeout: object, field: str = "timeout") -> float:
    """Seconds to wait: a finite number above zero."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise KlingValidationError(field, timeout, "must be a number of seconds")
    if not math.isfinite(timeout) or timeout <= 0:
        raise KlingValidationError(field, timeout, "must be finite and above 0 seconds")
    return float(timeout)


def _ts(value: datetime | None) -> float | None:
    """A model datetime (or None) as Unix seconds."""
    return None if value is None else float(value.timestamp())


class TaskBook:
    """The task half of a :class:`~kling_widget.workflow.Project`."""

    def __init__(self, ctx: ProjectContext, selection: SelectionSession) -> None:
        self.ctx = ctx
        self.journal = ctx.journal
        self.selection = selection
        self.results = Results(ctx)

    # --- creating ----------------------------------------------------------
    def create(
        self,
        edit_mode: str,
        prompt: str | None = None,
        images: object = None,
        negative_prompt: str | None = None,
        mode: str = "std",
        duration: str | int | None = None,
        watermark: bool | None = None,
        *,
        subject: str | None = None,
        reuse: bool = False,
    ) -> Task:
        """Create a Multi-Elements task on the current selection.

        Every rule is checked before anything is sent (``duration`` against the clip too).
        The task is journaled (status ``creating``, with its ``external_task_id``) before
        the request goes out; after a crash :meth:`resume` finds it by that id. ``prompt``
        defaults to Kling's template with ``subject`` (default "the selected object").
        ``reuse=True`` returns the task of an identical earlier request (same arguments,
        same selection) instead of creating another.
        """
        with self.ctx.lock:
            req = requests.multi_elements(
                self.ctx, self.selection, edit_mode, prompt, images,
                negative_prompt, mode, duration, watermark, subject,
            )  # fmt: skip
            key = request_key(req.spec)
            earlier = self.find(key) if reuse else None
            if earlier is not None:
                return self._pick_up(earlier)
            session = self.selection.ensure()
            params = dict(req.params, session_id=session.session_id)
            return self.submit(req.kind, params, key, session_id=session.session_id)

    def omni(
        self,
        prompt: str,
        images: object = None,
        elements: Iterable[str] | None = None,
        keep_original_sound: bool = True,
        model: str | None = None,
        mode: str = "pro",
        *,
        reuse: bool = False,
    ) -> Task:
        """An Omni-Video prompt edit of the whole clip (``refer_type`` base), journaled
        before it is sent. ``model`` defaults to :data:`kling_widget.rules.DEFAULT_OMNI_MODEL`.
        """
        with self.ctx.lock:
            req = requests.omni(
                self.ctx, prompt, images, elements, keep_original_sound, model, mode
            )
            key = request_key(req.spec)
            earlier = self.find(key) if reuse else None
            if earlier is not None:
                return self._pick_up(earlier)
            params = dict(req.params, video_url=self.ctx.video_url())
            return self.submit(req.kind, params, key)

    def _pick_up(self, earlier: TaskRecord) -> Task:
        self.ctx.status(
            f"task {earlier.task_id or earlier.external_task_id} of an earlier run asked for "
            "exactly this; picking it up instead of creating another"
        )
        return self.current(earlier)

    def find(self, key: str) -> TaskRecord | None:
        """The latest journaled task of an identical request that may still give a result
        (not refused, not failed)."""
        for record in reversed(self.journal.tasks()):
            if record.params.get("request") == key and not (record.rejected or record.failed):
                return record
        return None

    def submit(
        self,
        kind: str,
        params: dict[str, object],
        key: str,
        *,
        session_id: str | None = None,
    ) -> Task:
        """Journal a create (status ``creating``) and send it."""
        ext = new_external_task_id()
        self.journal.add_task(ext, kind, dict(params, request=key), session_id=session_id)
        self.ctx.status(f"creating {params.get('edit_mode') or 'Omni-Video'} task {ext}")
        return self.send_create(ext)

    def send_create(self, ext: str) -> Task:
        """Send the create of a journaled task; an unanswered one stays ``creating``."""
        record = self.journal.task(ext)
        if record is None:
            raise KlingValidationError("task", ext, "not a task of this project")
        try:
            if record.kind == OMNI:
                task = self._create_omni(ext, record.params)
            else:
                task = self._create_multi(ext, record.params)
        except KlingError as exc:
            if may_have_landed(exc):
                # The create may have reached Kling: never send it blind again. The row
                # stays "creating"; settle()/resume() look it up by external_task_id first.
                self.ctx.status(
                    f"no answer to the create of {ext}; it is looked up before any re-send"
                )
            else:
                self.journal.update_task(ext, status=REJECTED, error=str(exc))
            raise
        self.record(task, ext)
        return task

    def _create_multi(self, ext: str, p: Mapping[str, Any]) -> Task:
        def send(session_id: str) -> Task:
            if session_id != p["session_id"]:
                self.journal.update_task(
                    ext, params=dict(p, session_id=session_id), session_id=session_id
                )
            return self.ctx.client.create_task(
                session_id,
                p["edit_mode"],
                p["prompt"],
                image_list=image_wire(self.journal, p.get("images") or []) or None,
                negative_prompt=p.get("negative_prompt"),
                mode=p.get("mode") or "std",
                duration=p.get("duration"),
                watermark=p.get("watermark"),
                external_task_id=ext,
            )

        with self.ctx.lock:  # a refused session is rebuilt, which replays the selection
            session = self.selection.ensure()
            try:
                return send(session.session_id)
            except KlingSessionExpiredError:
                # Refused because the session is gone: nothing was created, same id is safe.
                self.journal.end_session(session.session_id, "gone on the server")
                session = self.selection.rebuild("gone on the server")
                return send(session.session_id)

    def _create_omni(self, ext: str, p: Mapping[str, Any]) -> Task:
        images = image_wire(self.journal, p.get("images") or [])
        return self.ctx.client.create_omni_video(
            p["prompt"],
            model_name=p["model_name"],
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

    def record(self, task: Task, ext: str | None = None) -> None:
        """Journal what Kling said about a task (the status history grows on change).

        A poll that changed nothing writes nothing (the comparison reads one row).
        """
        ext = ext or task.external_task_id
        if not ext:
            return
        try:
            task_id, status, server_created_at, result_urls = self.journal.task_state(ext)
        except KeyError:
            return
        fields: dict[str, Any] = {}
        if task.task_id and task.task_id != task_id:
            fields["task_id"] = task.task_id
        if task.status and task.status != status:
            fields["status"] = task.status
            fields["status_msg"] = task.status_msg
        created = _ts(task.created_at)
        if created is not None and created != server_created_at:
            fields["server_created_at"] = created
            fields["expires_at"] = created + RESULT_LIFETIME_S
        urls = [v.url for v in task.videos if v.url]
        if urls and urls != result_urls:
            fields["result_urls"] = urls
        if fields:
            fields["raw"] = dict(task.raw)
            self.journal.update_task(ext, **fields)

    # --- looking tasks up --------------------------------------------------
    def get(self, kind: str, ident: str) -> Task:
        """Ask Kling for a task by ``task_id`` or ``external_task_id``."""
        if kind == OMNI:
            return self.ctx.client.get_omni_video(ident)
        return self.ctx.client.get_task(ident)

    def latest(self, *, include_rejected: bool = True) -> TaskRecord | None:
        """The newest journaled task (optionally skipping creates Kling refused)."""
        for record in reversed(self.journal.tasks()):
            if include_rejected or not record.rejected:
                return record
        return None

    def running(self) -> TaskRecord | None:
        """The newest task that is unconfirmed, running, or succeeded but not on disk."""
        for record in reversed(self.journal.tasks()):
            if record.active or (record.succeeded and record.result_path is None):
                return record
        return None

    def resolve(self, task: TaskRef) -> TaskRecord:
        """The journal's record of a task given as a Task, a record, an id, or None."""
        record: TaskRecord | None
        if isinstance(task, TaskRecord):
            record = self.journal.task(task.external_task_id)
        elif isinstance(task, Task):
            record = self.journal.task(task.external_task_id) if task.external_task_id else None
            record = record or (self.journal.task_by_id(task.task_id) if task.task_id else None)
        elif isinstance(task, str):
            record = self.journal.task(task) or self.journal.task_by_id(task)
        else:
            record = self.running() or self.latest()
            if record is None:
                raise KlingValidationError(
                    "task", None, "nothing to wait for: this project has no task yet"
                )
        if record is None:
            raise KlingValidationError(
                "task", getattr(task, "task_id", task), "not a task of this project"
            )
        return record

    def reconcile(self, record: TaskRecord) -> Task:
        """A row left ``creating`` by a crash: adopt the task Kling knows, or send it again."""
        ext = record.external_task_id
        try:
            task = self.get(record.kind, ext)
        except KlingNotFoundError:
            # Only a definite "not found" proves the create never landed; anything else
            # (a 5xx, a dropped connection) leaves the row as it is for the next look.
            self.ctx.status(f"task {ext} never reached Kling; sending it now with the same id")
            return self.send_create(ext)
        self.ctx.status(f"found task {task.task_id} ({ext}) on Kling after a restart")
        self.record(task, ext)
        return task

    def current(self, record: TaskRecord) -> Task:
        """What Kling says about a journaled task now (confirming an unanswered create)."""
        if record.rejected:
            raise KlingValidationError(
                "task", record.external_task_id, f"was refused by Kling: {record.error}"
            )
        self.ctx.require_writable("look a task up")
        if record.unconfirmed or not record.task_id:
            return self.reconcile(record)
        task = self.get(record.kind, record.task_id)
        self.record(task, record.external_task_id)
        return task

    def refresh(self, task: Task) -> Task:
        """Poll a task once and journal what changed."""
        fresh = self.get(task.kind, task.task_id)
        self.record(fresh, task.external_task_id or fresh.external_task_id)
        return fresh

    def settle(self, record: TaskRecord | None = None) -> Task | None:
        """Kling's task for a journaled create (default: the newest one), confirming it.

        An unanswered create is looked up (and re-sent with the same id only when Kling
        has no such task; a refusal of that re-send raises). Returns None when the create
        was refused outright before: no task exists and a new create is needed.
        """
        record = record or self.latest()
        if record is None or record.rejected:
            return None
        return self.current(record)

    # --- waiting -----------------------------------------------------------
    def wait(
        self,
        task: TaskRef = None,
        timeout: float = 600,
        on_progress: Callable[[Task], None] | None = None,
    ) -> Task:
        """Poll a task (default: the running one, else the latest) until it ends; download
        it when it succeeds. Returns the final task, succeeded or failed; raises
        ``KlingTimeoutError`` (the task keeps running; waiting again picks it up)."""
        timeout = check_timeout(timeout)
        record = self.resolve(task)
        ext = record.external_task_id
        if isinstance(task, Task) and task.task_id and not record.unconfirmed:
            current = task
        else:
            current = self.current(record)

        def progress(t: Task) -> None:
            self.record(t, ext)
            if on_progress is not None:
                on_progress(t)

        if not current.is_final:
            try:
                current = self.ctx.client.wait(current, timeout=timeout, on_progress=progress)
            except KlingTaskFailedError:
                current = self.get(record.kind, current.task_id)
        self.record(current, ext)
        if current.succeeded:
            self.fetch(self.journal.task(ext) or record, current)
        elif current.status == TaskState.FAILED.value:
            self.ctx.status(f"task {current.task_id} failed: {current.status_msg or 'no message'}")
        return current

    def wait_result(self, task: TaskRef = None, timeout: float = 600) -> Path:
        """Wait for a task (default: the running one) and return its downloaded result.

        Raises ``KlingTaskFailedError`` when the task failed.
        """
        final = self.wait(task, timeout)
        if not final.succeeded:
            raise KlingTaskFailedError(
                f"task {final.task_id} failed: {final.status_msg or 'no message'}",
                task_id=final.task_id,
            )
        return self.fetch(self.resolve(final), final)

    # --- results -----------------------------------------------------------
    def fetch(self, record: TaskRecord, task: Task | None = None) -> Path:
        """The task's result in the project folder, downloaded now if it is not there."""
        have = record.result_path
        if have is not None:
            return have
        urls = [v.url for v in task.videos if v.url] if task is not None else []
        urls = urls or record.result_urls
        if not urls and (task is None or not task.is_final):
            task = self.current(record)
            urls = [v.url for v in task.videos if v.url]
        if not urls:
            raise KlingValidationError(
                "task", record.external_task_id, f"has no result to download ({record.status})"
            )
        return self.results.fetch(record, urls)

    def download(self, task: TaskRef = None, dest: str | Path | None = None) -> Path:
        """Make sure a succeeded task's result is on disk (atomic, resumable, verified).

        The file lives in the project folder; with ``dest`` it is also copied there
        (atomically: nothing half-written, no temporary left on failure).
        """
        record = self.resolve(task)
        path = self.fetch(record, task if isinstance(task, Task) else None)
        if dest is None:
            return path
        target = Path(dest)
        if target.resolve() == path.resolve():
            return path
        return copy_atomically(path, target)

    def result_path(self, task: TaskRef = None) -> Path | None:
        """The downloaded result of a task (default: the latest), if it is on disk."""
        record = self.resolve(task) if task is not None else self.latest()
        return record.result_path if record is not None else None

    # --- reopening ---------------------------------------------------------
    def pending(self) -> list[TaskRecord]:
        """Tasks :meth:`resume` would act on: unconfirmed, running, or not yet on disk."""
        return [
            r for r in self.journal.tasks() if r.active or (r.succeeded and r.result_path is None)
        ]

    def resume(self, *, wait: bool = False, timeout: float = 600) -> list[Task]:
        """Pick up unfinished work: confirm ``creating`` tasks, poll running ones, download.

        With ``wait=True`` running tasks are waited for (and downloaded) too.
        """
        out: list[Task] = []
        for record in self.pending():
            try:
                task = self.current(record)
                if wait and not task.is_final:
                    task = self.wait(task, timeout=timeout)
                elif task.succeeded:
                    self.fetch(self.journal.task(record.external_task_id) or record, task)
            except KlingValidationError:
                raise
            except KlingError as exc:
                self.ctx.status(f"could not resume task {record.external_task_id}: {exc}")
                raise
            out.append(task)
        return out

    def history(self) -> list[TaskRecord]:
        """Every task, oldest first, with status history, downloads and a ``warning`` when a
        result is not on disk and close to (or past) Kling's deletion."""
        return with_warnings(self.journal.tasks(), self.ctx.clock())


__all__ = [
    "MULTI",
    "OMNI",
    "TaskBook",
    "TaskRef",
    "check_timeout",
    "request_key",
]
