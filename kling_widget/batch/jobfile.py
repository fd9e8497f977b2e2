"""Job files: jobs from a CSV (header row) or JSONL (one object per line) file.

``JOB_FILE_COLUMNS`` lists the columns; relative clip and image paths are taken relative to
the file's folder. A bad row raises :class:`~kling_widget.batch.jobs.JobError` naming the
file's row, the field, the value and the rule (a file that is not UTF-8 too).
Imports the batch's jobs and points, and the edit rules.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kling_widget.batch.jobs import EDITS, JOB_FILE_COLUMNS, Job, JobError, check_job, check_jobs
from kling_widget.batch.points import POINT_RULE, parse_points
from kling_widget.errors import KlingValidationError
from kling_widget.rules import DEFAULT_OMNI_MODEL, is_url

_TRUE = {"yes", "true", "1", "y", "on"}
_FALSE = {"no", "false", "0", "n", "off"}


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
        rows = list(_csv_rows(p, _text(p, "row")))
    elif suffix in (".jsonl", ".ndjson"):
        rows = list(_jsonl_rows(p, _text(p, "line")))
    else:
        raise KlingValidationError("jobs", str(path), "must be a .csv or .jsonl file")
    jobs = [_row_to_job(p, where, row) for where, row in rows]
    if not jobs:
        raise KlingValidationError("jobs", str(path), "holds no jobs")
    return check_jobs(jobs)


def _text(p: Path, unit: str) -> str:
    """The file's text (UTF-8, a BOM allowed); a byte that is not UTF-8 is named by row."""
    data = p.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise JobError(
            f"{p.name} {unit} {line}",
            "file",
            str(p),
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8",
        ) from None


def _csv_rows(p: Path, text: str) -> Iterable[tuple[str, dict[str, Any]]]:
    with io.StringIO(text, newline="") as fh:
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


def _jsonl_rows(p: Path, text: str) -> Iterable[tuple[str, dict[str, Any]]]:
    with io.StringIO(text) as fh:
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
        if is_url(value):
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
        model=opt("model") or DEFAULT_OMNI_MODEL,
        keep_original_sound=keep_sound,
        video_url=opt("video_url"),
        source=where,
    )
    return check_job(job)


__all__ = ["load_jobs"]
