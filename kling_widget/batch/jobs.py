"""``Job``: one clip and one edit, checked before anything is sent.

A job is either a Multi-Elements edit (``removal``, ``swap``, ``addition``) of the objects
under given points, or an Omni-Video prompt edit (``omni``) of the whole clip. Jobs come
from Python (``Job(...)``, ``Job.removal(...)``...) or from a CSV / JSONL file
(:func:`load_jobs`, see ``JOB_FILE_COLUMNS``).

Every rule is checked by :func:`check_jobs` (fields) and :func:`check_media` (the clip
and the images, points against the clip's frames) before the first request of a batch:
a bad job raises :class:`JobError` naming the job (or the file's row), the field, the
value and the rule. The rules are :mod:`kling_widget.rules`' (the edit specs' own
``validate()``, the default prompt and model); this module names the job that broke one.
Imports the edit rules, the limits and the media probe (lazily); never the workflow.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kling_widget.batch.points import POINT_RULE, Point3, check_points, group
from kling_widget.errors import KlingValidationError
from kling_widget.limits import EDIT_MODES, MODES, OMNI_MODELS
from kling_widget.rules import (
    DEFAULT_OMNI_MODEL,
    MultiElementsEdit,
    OmniEdit,
    OmniImage,
    check_choice,
    check_prompt,
    check_url,
    is_url,
    resolve_prompt,
)

OMNI = "omni"
EDITS = (*EDIT_MODES, OMNI)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")
# A rule's wire field, as a job names it.
_JOB_FIELDS = {"image_list": "images", "model_name": "model", "element_list": "elements"}

# Columns of a CSV job file (keys of a JSONL line); only "clip" and "edit" are required.
JOB_FILE_COLUMNS: dict[str, str] = {
    "clip": "path of the clip (relative to the job file) or an http(s) URL",
    "edit": "removal, swap, addition or omni",
    "points": 'FRAME:X,Y;FRAME:X,Y..., quoted in CSV ("0:0.5,0.4"); JSONL: also [[f, x, y]]',
    "images": "reference image paths or URLs separated by ';' (JSONL: also a list)",
    "elements": "Omni element ids separated by ';' (JSONL: also a list)",
    "prompt": "the prompt (default for removal/swap/addition: the documented template)",
    "negative_prompt": "optional negative prompt (Multi-Elements only)",
    "mode": "std or pro (default std for Multi-Elements, pro for Omni)",
    "name": "output name: the result is saved as NAME.mp4 (default: clip-edit-hash)",
    "model": f"Omni model: {' or '.join(OMNI_MODELS)} (default {DEFAULT_OMNI_MODEL})",
    "keep_original_sound": "Omni: yes or no (default yes)",
    "video_url": "a public URL of the clip (needed on the real API, which cannot see files)",
}


class JobError(KlingValidationError):
    """A job breaks a rule. ``where`` says which job (``job 3`` or ``jobs.csv row 4``)."""

    def __init__(self, where: str, field: str, value: Any, rule: str) -> None:
        super().__init__(field, value, rule)
        self.where = where
        self.message = f"{where}: {self.message}"
        self.args = (self.message,)


@contextlib.contextmanager
def _named(where: str) -> Iterator[None]:
    """Name the job (or the file's row) in any rule broken inside the block."""
    try:
        yield
    except JobError:
        raise
    except KlingValidationError as exc:
        field_name = _JOB_FIELDS.get(exc.field.split("[")[0], exc.field)
        raise JobError(where, field_name, exc.value, exc.rule) from None


@dataclass(frozen=True)
class Job:
    """One clip and one edit.

    ``points`` are ``(frame, x, y)``: Kling's (API) frame index and a point normalized to
    [0, 1] from the top-left corner. ``images`` are reference images (paths, URLs, bytes,
    PIL images...): swap takes exactly 1, addition 1-2, removal none, omni up to 4 with
    ``elements``. ``prompt`` defaults to Kling's template for Multi-Elements (with "the
    selected object" for ``[x]``) and is required for Omni; ``model`` defaults to
    :data:`kling_widget.rules.DEFAULT_OMNI_MODEL`. ``name`` is the output file's stem and
    the job's identity in the batch journal (default: ``<clip stem>-<edit>-<hash of the job>``).
    """

    clip: str | Path
    edit: str = "removal"
    points: tuple[Point3, ...] = ()
    images: tuple[Any, ...] = ()
    prompt: str | None = None
    negative_prompt: str | None = None
    mode: str | None = None
    name: str | None = None
    elements: tuple[str, ...] = ()
    model: str = DEFAULT_OMNI_MODEL
    keep_original_sound: bool = True
    video_url: str | None = None
    # Set by load_jobs: where the job came from, for error messages.
    source: str | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Accept lists (the natural thing to type) but keep the dataclass hashable.
        for name in ("points", "images", "elements"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))

    # --- convenience constructors -------------------------------------------------
    @classmethod
    def removal(cls, clip: str | Path, points: Iterable[Any], **kw: Any) -> Job:
        """Remove the objects under ``points`` (``[(frame, x, y), ...]``)."""
        return cls(clip, "removal", tuple(points), **kw)

    @classmethod
    def swap(cls, clip: str | Path, points: Iterable[Any], image: Any, **kw: Any) -> Job:
        """Swap the objects under ``points`` for the one in ``image``."""
        return cls(clip, "swap", tuple(points), (image,), **kw)

    @classmethod
    def addition(cls, clip: str | Path, points: Iterable[Any], images: Any, **kw: Any) -> Job:
        """Add what ``images`` (1 or 2) show, in the context of the selected objects."""
        imgs = tuple(images) if isinstance(images, (list, tuple)) else (images,)
        return cls(clip, "addition", tuple(points), imgs, **kw)

    @classmethod
    def omni(cls, clip: str | Path, prompt: str, images: Any = (), **kw: Any) -> Job:
        """Edit the whole clip from ``prompt`` with Omni-Video (``refer_type`` base)."""
        imgs = tuple(images) if isinstance(images, (list, tuple)) else (images,)
        return cls(clip, OMNI, (), imgs, prompt, **kw)

    # --- derived ------------------------------------------------------------------
    @property
    def is_omni(self) -> bool:
        """True for an Omni-Video prompt edit."""
        return self.edit == OMNI

    @property
    def effective_mode(self) -> str:
        """``mode`` or its default (std for Multi-Elements, pro for Omni)."""
        return self.mode or ("pro" if self.is_omni else "std")

    @property
    def effective_prompt(self) -> str:
        """``prompt`` or, for Multi-Elements, Kling's template with its placeholders filled."""
        if self.is_omni or self.edit not in EDIT_MODES:
            return self.prompt or ""
        return resolve_prompt(self.edit, self.prompt)

    def frames(self) -> dict[int, list[tuple[float, float]]]:
        """Points grouped per frame, in the order given."""
        return group(self.points)

    def fingerprint(self) -> str:
        """A stable hash of everything that decides what this job sends."""
        images = [_image_key(i) for i in self.images]
        clip = str(self.clip)
        if not is_url(clip):
            clip = str(Path(clip).expanduser().resolve())
        spec = {
            "clip": clip,
            "edit": self.edit,
            "points": [[int(f), float(x), float(y)] for f, x, y in self.points],
            "images": images,
            "prompt": self.effective_prompt,
            "negative_prompt": self.negative_prompt,
            "mode": self.effective_mode,
            "elements": list(self.elements),
            "model": self.model if self.is_omni else None,
            "keep_original_sound": bool(self.keep_original_sound) if self.is_omni else None,
        }
        blob = json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()

    @property
    def output_name(self) -> str:
        """The result's file stem (``name``, or clip stem, edit and a hash of the job)."""
        if self.name:
            return self.name
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(str(self.clip)).stem)[:60] or "clip"
        return f"{stem}-{self.edit}-{self.fingerprint()[:8]}"

    def describe(self) -> str:
        """A short human label (name and edit)."""
        return f"{self.output_name} ({self.edit})"


def _image_key(src: Any) -> str:
    if isinstance(src, (str, Path)):
        text = str(src)
        if is_url(text) or len(text) > 1024:
            return text if len(text) <= 1024 else hashlib.sha256(text.encode()).hexdigest()
        p = Path(text).expanduser()
        return str(p.resolve()) if p.exists() else text
    if isinstance(src, (bytes, bytearray, memoryview)):
        return "sha256:" + hashlib.sha256(bytes(src)).hexdigest()
    return f"{type(src).__name__}@{id(src)}"


# --- checks ---------------------------------------------------------------------------
def _where(job: Job, index: int) -> str:
    return job.source or f"job {index + 1}"


def check_job(job: Job, index: int = 0) -> Job:
    """Check one job's own fields (no file probing); returns it with points normalized."""
    where = _where(job, index)

    def fail(field_name: str, value: Any, rule: str) -> JobError:
        return JobError(where, field_name, value, rule)

    clip = str(job.clip) if job.clip is not None else ""
    if not clip.strip():
        raise fail("clip", job.clip, "required: a clip path or an http(s) URL")
    if not is_url(clip) and not Path(clip).expanduser().is_file():
        raise fail("clip", clip, "no such file")
    if job.name is not None and not _NAME_RE.match(job.name):
        raise fail(
            "name",
            job.name,
            "must be 1-120 characters of letters, digits, '.', '_' or '-' "
            "(it becomes the result's file name)",
        )
    points = check_points(job.points, fail)
    with _named(where):
        check_choice("edit", job.edit, EDITS)
        if job.mode is not None:
            check_choice("mode", job.mode, MODES)
        for name in ("prompt", "negative_prompt"):
            check_prompt(name, getattr(job, name), required=False)
        if job.video_url is not None:
            check_url("video_url", job.video_url)
        if job.is_omni:
            _check_omni(job, points, fail)
        else:
            _check_multi(job, points, fail)
    for i, src in enumerate(job.images):
        if isinstance(src, (str, Path)) and not is_url(str(src)):
            text = str(src)
            if len(text) < 1024 and not Path(text).expanduser().is_file():
                raise fail(f"images[{i}]", text, "no such file")
    return replace(job, points=points)


def _check_omni(job: Job, points: tuple[Point3, ...], fail: Any) -> None:
    if points:
        raise fail("points", job.points, "omni edits the whole clip from the prompt: no points")
    if job.prompt is None or not str(job.prompt).strip():
        raise fail("prompt", job.prompt, "required for omni, must not be blank")
    check_choice("model", job.model, OMNI_MODELS)
    if job.negative_prompt:
        raise fail("negative_prompt", job.negative_prompt, "Multi-Elements only, not omni")
    for i, element in enumerate(job.elements):
        if not str(element).strip():
            raise fail(f"elements[{i}]", element, "must be a non-empty element id")
    # The spec's own validate(): reference counts, element ids, every Omni rule.
    OmniEdit(
        prompt=job.prompt,
        model_name=job.model,
        video_url=job.video_url or "https://pending.invalid/clip.mp4",
        keep_original_sound="yes" if job.keep_original_sound else "no",
        images=tuple(OmniImage(f"image-{i}") for i in range(len(job.images))),
        element_ids=tuple(str(e) for e in job.elements),
        mode=job.effective_mode,
        sound="off",
    ).validate()


def _check_multi(job: Job, points: tuple[Point3, ...], fail: Any) -> None:
    if not points:
        raise fail("points", job.points, f"{job.edit} needs at least one point; {POINT_RULE}")
    if job.elements:
        raise fail("elements", list(job.elements), "Omni only, not Multi-Elements")
    # The spec's own validate(): reference count, prompts, mode.
    MultiElementsEdit(
        session_id="pending-session",
        edit_mode=job.edit,
        prompt=job.prompt,
        images=tuple(f"image-{i}" for i in range(len(job.images))),
        negative_prompt=job.negative_prompt,
        mode=job.effective_mode,
    ).validate()


def check_jobs(jobs: Iterable[Job]) -> list[Job]:
    """Check every job's fields and that output names are unique; returns normalized jobs."""
    checked: list[Job] = []
    seen: dict[str, str] = {}
    for i, job in enumerate(jobs):
        if not isinstance(job, Job):
            raise JobError(f"job {i + 1}", "job", job, "must be a kling_widget.batch.Job")
        job = check_job(job, i)
        name = job.output_name
        if name in seen:
            raise JobError(
                _where(job, i), "name", name, f"must be unique; {seen[name]} has the same name"
            )
        seen[name] = _where(job, i)
        checked.append(job)
    return checked


def check_media(jobs: Sequence[Job]) -> None:
    """Probe every distinct clip and local image against Kling's limits (no request sent)."""
    from kling_widget.media.images import ReferenceImage
    from kling_widget.media.video import VideoSource

    clip_problems: dict[tuple[str, str], list[Any]] = {}
    frame_counts: dict[str, int | None] = {}
    for i, job in enumerate(jobs):
        clip = str(job.clip)
        target = OMNI if job.is_omni else "multi-elements"
        if not is_url(clip):
            key = (str(Path(clip).expanduser().resolve()), target)
            if key not in clip_problems:
                try:
                    source = VideoSource(clip)
                    clip_problems[key] = source.check(target)
                    frame_counts[key[0]] = int(source.frame_count) or None
                except KlingValidationError as exc:
                    raise JobError(_where(job, i), "clip", clip, exc.rule) from None
                except Exception as exc:  # unreadable media: name it, never a traceback
                    raise JobError(
                        _where(job, i), "clip", clip, f"cannot be read as a video ({exc})"
                    ) from None
            problems = clip_problems[key]
            frame_count = frame_counts.get(key[0])
            for frame, _, _ in job.points:
                if frame_count is not None and frame >= frame_count:
                    raise JobError(
                        _where(job, i),
                        "points",
                        f"frame {frame}",
                        f"the clip has {frame_count} frames (0-{frame_count - 1})",
                    )
            if problems:
                first = problems[0]
                rule = "; ".join(str(p) for p in problems)
                raise JobError(
                    _where(job, i), f"clip {first.field}", first.value, f"{target}: {rule}"
                )
        for k, src in enumerate(job.images):
            if isinstance(src, str) and is_url(src):
                continue
            try:
                problems = ReferenceImage.load(src).check()
            except KlingValidationError as exc:
                raise JobError(_where(job, i), f"images[{k}]", _short(src), exc.rule) from None
            if problems:
                rule = "; ".join(str(p) for p in problems)
                raise JobError(_where(job, i), f"images[{k}]", _short(src), rule)


def _short(src: Any) -> Any:
    if isinstance(src, (str, Path)):
        return str(src)
    return type(src).__name__


__all__ = [
    "EDITS",
    "JOB_FILE_COLUMNS",
    "OMNI",
    "Job",
    "JobError",
    "check_job",
    "check_jobs",
    "check_media",
]
