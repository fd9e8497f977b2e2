"""The blocking steps of one batch job, run in the batch's worker threads.

Each job has its own :class:`~kling_widget.workflow.Project` under ``root/<name>/`` (with a
``job.json`` manifest naming the job), so everything a job does is journaled exactly as
an editor session is. These functions only call the project's public methods; the
journal's rows and statuses are the task book's business.

Imports the workflow and the batch's jobs; never the engine, the runner or the command
line.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kling_widget.api.models import Task
from kling_widget.batch.jobs import Job, JobError
from kling_widget.journal import TaskRecord
from kling_widget.journal.files import write_atomically
from kling_widget.workflow import Project

if TYPE_CHECKING:
    from kling_widget.api.client import KlingClient

Uploader = Callable[[Path], str]
MANIFEST = "job.json"


class Uploads:
    """Upload each distinct clip once per batch (several jobs may edit the same clip)."""

    def __init__(self, uploader: Uploader) -> None:
        self.uploader = uploader
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._urls: dict[str, str] = {}

    def __call__(self, clip: Path) -> str:
        key = str(Path(clip).resolve())
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._urls:
                self._urls[key] = self.uploader(Path(clip))
            return self._urls[key]


def manifest(job: Job) -> dict[str, object]:
    """What ``job.json`` records about a job (its fingerprint guards its name)."""
    return {
        "name": job.output_name,
        "fingerprint": job.fingerprint(),
        "clip": str(job.clip),
        "edit": job.edit,
        "points": [list(p) for p in job.points],
        "prompt": job.effective_prompt,
    }


def open_project(job: Job, root: Path, client: KlingClient, uploads: Uploader | None) -> Project:
    """The job's project under ``root/<name>/`` (made, with its manifest, on first use)."""
    folder = root / job.output_name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MANIFEST
    if not path.exists():
        write_atomically(path, json.dumps(manifest(job), indent=1).encode())
    return Project(
        job.clip,
        client,
        video_url=job.video_url,
        uploader=uploads,
        root=folder,
    )


def check_names(jobs: list[Job], root: Path) -> None:
    """A job name reused for a different job would mix two jobs' journals: refuse it."""
    for i, job in enumerate(jobs):
        path = root / job.output_name / MANIFEST
        if not path.is_file():
            continue
        try:
            known = json.loads(path.read_text(encoding="utf-8")).get("fingerprint")
        except (OSError, ValueError):
            continue
        if known and known != job.fingerprint():
            raise JobError(
                job.source or f"job {i + 1}",
                "name",
                job.output_name,
                f"was used for a different job in {root} (see {path}); give this job "
                "another name or delete that folder",
            )


def active_record(project: Project) -> TaskRecord | None:
    """The job's task in its journal: the latest one that was not refused outright."""
    return project.tasks.latest(include_rejected=False)


def probe(project: Project) -> None:
    """Probe the clip (the create checks its limits) outside the task slot."""
    _ = project.source


def mark_points(project: Project, job: Job) -> None:
    """Make the project's selection the job's points (nothing sent when it already is)."""
    project.mark(job.frames())


def send_create(project: Project, job: Job) -> Task:
    """Create the job's task (journaled first by the task book)."""
    if job.is_omni:
        return project.omni(
            job.effective_prompt,
            images=list(job.images) or None,
            elements=list(job.elements) or None,
            keep_original_sound=job.keep_original_sound,
            model=job.model,
            mode=job.effective_mode,
        )
    return project.create(
        job.edit,
        prompt=job.effective_prompt,
        images=list(job.images) or None,
        negative_prompt=job.negative_prompt,
        mode=job.effective_mode,
    )


def settle(project: Project) -> Task | None:
    """Kling's task for the job's unconfirmed or running create (re-sent only when Kling
    never got it); None when it was refused outright and must be created anew."""
    return project.tasks.settle(active_record(project))


__all__ = [
    "MANIFEST",
    "Uploads",
    "active_record",
    "check_names",
    "manifest",
    "mark_points",
    "open_project",
    "probe",
    "send_create",
    "settle",
]
