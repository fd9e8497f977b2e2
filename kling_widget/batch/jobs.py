"""``Job``: one clip and one edit, checked before anything is sent.

A job is either a Multi-Elements edit (``removal``, ``swap``, ``addition``) of the objects
under given points, or an Omni-Video prompt edit (``omni``) of the whole clip. Jobs come
from Python (``Job(...)``, ``Job.removal(...)``...) or from a CSV / JSONL file
(:func:`load_jobs`, see ``JOB_FILE_COLUMNS``).

Every rule is checked by :func:`check_jobs` before the first request of a batch: a bad
job raises :class:`JobError` naming the job (or the file's row), the field, the value
and the rule.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kling_widget.errors import KlingValidationError
from kling_widget.limits import (
    EDIT_MODE_IMAGES,
    EDIT_MODES,
    MAX_MARKED_FRAMES,
    MAX_POINTS_PER_FRAME,
    MAX_PROMPT_CHARS,
    MODES,
    OMNI_MAX_REFS_WITH_VIDEO,
    OMNI_MODELS,
    PROMPT_TEMPLATES,
)

OMNI = "omni"
EDITS = (*EDIT_MODES, OMNI)
# Project.omni's and the editor's default model (the newer of the two Omni models).
OMNI_BATCH_MODEL = OMNI_MODELS[-1]
# Filled into the "[x]" placeholders of the documented templates when a job has no prompt.
DEFAULT_SUBJECT = "the selected object"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")
_POINT_RE = re.compile(r"^\s*([^:]*):([^,]*),(.*)$")
POINT_RULE = (
    "each point is FRAME:X,Y (FRAME an integer >= 0, X and Y in [0, 1] from the top-left "
    "corner); several points are separated by ';'"
)

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
    "model": f"Omni model: {' or '.join(OMNI_MODELS)} (default {OMNI_BATCH_MODEL})",
    "keep_original_sound": "Omni: yes or no (default yes)",
    "video_url": "a public URL of the clip (needed on the real API, which cannot see files)",
}
_TRUE = {"yes", "true", "1", "y", "on"}
_FALSE = {"no", "false", "0", "n", "off"}


class JobError(KlingValidationError):
    """A job breaks a rule. ``where`` says which job (``job 3`` or ``jobs.csv row 4``)."""

    def __init__(self, where: str, field: str, value: Any, rule: str) -> None:
        super().__init__(field, value, rule)
        self.where = where
        self.message = f"{where}: {self.message}"
        self.args = (self.message,)


Point3 = tuple[int, float, float]


@dataclass(frozen=True)
class Job:
    """One clip and one edit.

    ``points`` are ``(frame, x, y)``: Kling's (API) frame index and a point normalized to
    [0, 1] from the top-left corner. ``images`` are reference images (paths, URLs, bytes,
    PIL images...): swap takes exactly 1, addition 1-2, removal none, omni up to 4 with
    ``elements``. ``prompt`` defaults to the documented template for Multi-Elements and is
    required for Omni. ``name`` is the output file's stem and the job's identity in the
    batch journal (default: ``<clip stem>-<edit>-<hash of the job>``).
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
    model: str = OMNI_BATCH_MODEL
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
        """``prompt`` or the documented template with its placeholders filled."""
        if self.prompt is not None:
            return self.prompt
        if self.is_omni:
            return ""
        return PROMPT_TEMPLATES[self.edit].replace("[x]", DEFAULT_SUBJECT)

    def frames(self) -> dict[int, list[tuple[float, float]]]:
        """Points grouped per frame, in the order given."""
        out: dict[int, list[tuple[float, float]]] = {}
        for frame, x, y in self.points:
            out.setdefault(int(frame), []).append((float(x), float(y)))
        return out

    def fingerprint(self) -> str:
        """A stable hash of everything that decides what this job sends."""
        images = [_image_key(i) for i in self.images]
        clip = str(self.clip)
        if not _is_url(clip):
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


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _image_key(src: Any) -> str:
    if isinstance(src, (str, Path)):
        text = str(src)
        if _is_url(text) or len(text) > 1024:
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
    if not _is_url(clip) and not Path(clip).expanduser().is_file():
        raise fail("clip", clip, "no such file")
    if job.edit not in EDITS:
        raise fail("edit", job.edit, f"must be one of {', '.join(EDITS)}")
    if job.mode is not None and job.mode not in MODES:
        raise fail("mode", job.mode, f"must be one of {', '.join(MODES)}")
    if job.name is not None and not _NAME_RE.match(job.name):
        raise fail(
            "name",
            job.name,
            "must be 1-120 characters of letters, digits, '.', '_' or '-' "
            "(it becomes the result's file name)",
        )
    points = _check_points(job.points, fail)
    if job.is_omni:
        if points:
            raise fail("points", job.points, "omni edits the whole clip from the prompt: no points")
        if job.prompt is None or not str(job.prompt).strip():
            raise fail("prompt", job.prompt, "required for omni, must not be blank")
        if job.model not in OMNI_MODELS:
            raise fail("model", job.model, f"must be one of {', '.join(OMNI_MODELS)}")
        if job.negative_prompt:
            raise fail("negative_prompt", job.negative_prompt, "Multi-Elements only, not omni")
        refs = len(job.images) + len(job.elements)
        if refs > OMNI_MAX_REFS_WITH_VIDEO:
            raise fail(
                "images+elements",
                refs,
                f"at most {OMNI_MAX_REFS_WITH_VIDEO} with a reference video",
            )
        for i, element in enumerate(job.elements):
            if not str(element).strip():
                raise fail(f"elements[{i}]", element, "must be a non-empty element id")
    else:
        if not points:
            raise fail("points", job.points, f"{job.edit} needs at least one point; {POINT_RULE}")
        if job.elements:
            raise fail("elements", list(job.elements), "Omni only, not Multi-Elements")
        lo, hi = EDIT_MODE_IMAGES[job.edit]
        n = len(job.images)
        if not lo <= n <= hi:
            want = f"exactly {lo}" if lo == hi else f"{lo}-{hi}"
            if hi == 0:
                want = "none"
            raise fail("images", n, f"{job.edit} takes {want} reference image(s)")
    for name in ("prompt", "negative_prompt"):
        text = getattr(job, name)
        if text is not None and not isinstance(text, str):
            raise fail(name, text, "must be text")
        if text is not None and len(text) > MAX_PROMPT_CHARS:
            raise fail(name, f"{len(text)} characters", f"at most {MAX_PROMPT_CHARS} characters")
    for i, src in enumerate(job.images):
        if isinstance(src, (str, Path)) and not _is_url(str(src)):
            text = str(src)
            if len(text) < 1024 and not Path(text).expanduser().is_file():
                raise fail(f"images[{i}]", text, "no such file")
    if job.video_url is not None and not _is_url(job.video_url):
        raise fail("video_url", job.video_url, "must be an http(s) URL")
    return replace(job, points=points)


def _check_points(points: Any, fail: Any) -> tuple[Point3, ...]:
    if isinstance(points, str):
        return _check_points(parse_points(points, fail), fail)
    out: list[Point3] = []
    for i, p in enumerate(points or ()):
        if isinstance(p, Mapping):
            try:
                raw = (p["frame"], p["x"], p["y"])
            except KeyError:
                raise fail(f"points[{i}]", dict(p), "needs keys frame, x and y") from None
        elif isinstance(p, Sequence) and not isinstance(p, str) and len(p) == 3:
            raw = (p[0], p[1], p[2])
        else:
            raise fail(f"points[{i}]", p, "must be (frame, x, y)")
        frame, x, y = raw
        if isinstance(frame, bool) or not isinstance(frame, int):
            if isinstance(frame, float) and frame.is_integer():
                frame = int(frame)
            else:
                raise fail(f"points[{i}].frame", frame, "must be an integer >= 0")
        if frame < 0:
            raise fail(f"points[{i}].frame", frame, "must be an integer >= 0")
        coords = []
        for axis, v in (("x", x), ("y", y)):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise fail(f"points[{i}].{axis}", v, "must be a number in [0, 1]")
            if not math.isfinite(v) or not 0.0 <= v <= 1.0:
                raise fail(f"points[{i}].{axis}", v, "must be in [0, 1] (normalized, top-left)")
            coords.append(float(v))
        out.append((frame, coords[0], coords[1]))
    frames: dict[int, int] = {}
    for frame, _, _ in out:
        frames[frame] = frames.get(frame, 0) + 1
    if len(frames) > MAX_MARKED_FRAMES:
        raise fail(
            "points", sorted(frames), f"at most {MAX_MARKED_FRAMES} marked frames per session"
        )
    for frame, n in frames.items():
        if n > MAX_POINTS_PER_FRAME:
            raise fail(
                "points",
                f"{n} points on frame {frame}",
                f"at most {MAX_POINTS_PER_FRAME} per frame",
            )
    return tuple(out)


def parse_points(text: str, fail: Any = None) -> list[Point3]:
    """Parse ``"FRAME:X,Y;FRAME:X,Y"`` (``;`` or whitespace between points)."""

    def error(value: Any, rule: str) -> Exception:
        if fail is not None:
            return fail("points", value, rule)  # type: ignore[no-any-return]
        return KlingValidationError("points", value, rule)

    out: list[Point3] = []
    for part in re.split(r"[;\s]+", text.strip()):
        if not part:
            continue
        match = _POINT_RE.match(part)
        if not match:
            raise error(part, POINT_RULE)
        f_s, x_s, y_s = (g.strip() for g in match.groups())
        try:
            frame = int(f_s)
            x, y = float(x_s), float(y_s)
        except ValueError:
            raise error(part, POINT_RULE) from None
        out.append((frame, x, y))
    return out


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
    for i, job in enumerate(jobs):
        clip = str(job.clip)
        target = OMNI if job.is_omni else "multi-elements"
        if not _is_url(clip):
            key = (str(Path(clip).expanduser().resolve()), target)
            if key not in clip_problems:
                try:
                    clip_problems[key] = VideoSource(clip).check(target)
                except KlingValidationError as exc:
                    raise JobError(_where(job, i), "clip", clip, exc.rule) from None
                except Exception as exc:  # unreadable media: name it, never a traceback
                    raise JobError(
                        _where(job, i), "clip", clip, f"cannot be read as a video ({exc})"
                    ) from None
            problems = clip_problems[key]
            if problems:
                first = problems[0]
                rule = "; ".join(str(p) for p in problems)
                raise JobError(
                    _where(job, i), f"clip {first.field}", first.value, f"{target}: {rule}"
                )
        for k, src in enumerate(job.images):
            if isinstance(src, str) and _is_url(src):
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


# --- job files ------------------------------------------------------------------------
def load_jobs(path: str | Path) -> list[Job]:
    """Read jobs from a ``.csv`` (header row) or ``.jsonl`` (one object per line) file.

    Relative clip and image paths are taken relative to the file's folder. A bad row
    raises :class:`JobError` naming the file's row, the field, the value and the rule.
    See ``JOB_FILE_COLUMNS`` for the columns.
    """
    p = Path(path)
    if not p.is_file():
        raise KlingValidationError("jobs", str(path), "no such file")
    suffix = p.suffix.lower()
    if suffix == ".csv":
        rows = list(_csv_rows(p))
    elif suffix in (".jsonl", ".ndjson"):
        rows = list(_jsonl_rows(p))
    else:
        raise KlingValidationError("jobs", str(path), "must be a .csv or .jsonl file")
    jobs = [_row_to_job(p, where, row) for where, row in rows]
    if not jobs:
        raise KlingValidationError("jobs", str(path), "holds no jobs")
    return check_jobs(jobs)


def _csv_rows(p: Path) -> Iterable[tuple[str, dict[str, Any]]]:
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        unknown = [h for h in header if h and h.strip() not in JOB_FILE_COLUMNS]
        if unknown:
            raise JobError(
                f"{p.name} row 1",
                "column",
                unknown[0],
                f"unknown column; columns are {', '.join(JOB_FILE_COLUMNS)}",
            )
        for row in reader:
            where = f"{p.name} row {reader.line_num}"
            extra = row.get(None)  # type: ignore[call-overload,unused-ignore]
            if extra:
                raise JobError(
                    where,
                    "row",
                    extra,
                    f"has more cells than the {len(header)} columns; a points cell holds "
                    'commas, so quote it: "0:0.5,0.4;12:0.6,0.4"',
                )
            values = {k.strip(): v for k, v in row.items() if k is not None}
            if not any((v or "").strip() for v in values.values()):
                continue
            yield where, values


def _jsonl_rows(p: Path) -> Iterable[tuple[str, dict[str, Any]]]:
    with p.open(encoding="utf-8-sig") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{p.name} line {n}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise JobError(
                    where, "line", line.strip()[:60], f"is not JSON ({exc.msg})"
                ) from None
            if not isinstance(obj, dict):
                raise JobError(where, "line", obj, "must be a JSON object")
            unknown = [k for k in obj if k not in JOB_FILE_COLUMNS]
            if unknown:
                raise JobError(
                    where, unknown[0], obj[unknown[0]],
                    f"unknown field; fields are {', '.join(JOB_FILE_COLUMNS)}",
                )  # fmt: skip
            yield where, obj


def _split(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [s.strip() for s in str(value).split(";") if s.strip()]


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _row_to_job(file: Path, where: str, row: Mapping[str, Any]) -> Job:
    def fail(field_name: str, value: Any, rule: str) -> JobError:
        return JobError(where, field_name, value, rule)

    base = file.parent

    def local(value: str) -> str:
        if _is_url(value):
            return value
        q = Path(value).expanduser()
        return str(q if q.is_absolute() else base / q)

    clip = row.get("clip")
    if _blank(clip):
        raise fail("clip", clip, "required: a clip path or an http(s) URL")
    edit = row.get("edit")
    if _blank(edit):
        raise fail("edit", edit, f"required: one of {', '.join(EDITS)}")
    for key in ("clip", "edit", "prompt", "negative_prompt", "mode", "name", "model", "video_url"):
        value = row.get(key)
        if value is not None and not isinstance(value, str):
            raise fail(key, value, "must be text")
    raw_points = row.get("points")
    if isinstance(raw_points, str):
        points: Any = parse_points(raw_points, fail)
    elif raw_points is None:
        points = []
    elif isinstance(raw_points, list):
        points = raw_points
    else:
        raise fail("points", raw_points, POINT_RULE)
    images = _split(row.get("images"))
    for i, img in enumerate(images):
        if not isinstance(img, str):
            raise fail(f"images[{i}]", img, "must be a path or URL")
    elements = [str(e) for e in _split(row.get("elements"))]
    keep = row.get("keep_original_sound")
    if _blank(keep):
        keep_sound = True
    elif isinstance(keep, bool):
        keep_sound = keep
    elif str(keep).strip().lower() in _TRUE:
        keep_sound = True
    elif str(keep).strip().lower() in _FALSE:
        keep_sound = False
    else:
        raise fail("keep_original_sound", keep, "must be yes or no")

    def opt(key: str) -> str | None:
        value = row.get(key)
        return None if _blank(value) else str(value)

    job = Job(
        clip=local(str(clip).strip()),
        edit=str(edit).strip().lower(),
        points=tuple(points),
        images=tuple(local(i) for i in images),
        prompt=opt("prompt"),
        negative_prompt=opt("negative_prompt"),
        mode=(opt("mode") or "").lower() or None,
        name=opt("name"),
        elements=tuple(elements),
        model=opt("model") or OMNI_BATCH_MODEL,
        keep_original_sound=keep_sound,
        video_url=opt("video_url"),
        source=where,
    )
    return check_job(job)


__all__ = [
    "EDITS",
    "JOB_FILE_COLUMNS",
    "OMNI",
    "Job",
    "JobError",
    "check_job",
    "check_jobs",
    "check_media",
    "load_jobs",
    "parse_points",
]
