"""Mask export: the selection's masks as files other tools read.

Three formats, each from a mapping ``{frame_index: {object_id: mask}}`` (masks are 2-D,
non-zero = object, at the clip's size or any other size: they are resized with nearest
neighbour to the clip's) plus the clip's size, frame count and frame rate:

* ``"png"``: one 8-bit label image per frame of the clip (``frame_000000.png`` ...), 0 =
  background, the object's label value elsewhere, and ``labels.json`` saying which value
  is which object. The value is the object id itself when every id is an integer in
  1..255 (the usual case); otherwise objects are numbered 1..N in id order. Where two
  objects overlap the one with the higher label value is written (a label image holds one
  value per pixel; the COCO file keeps both).
* ``"coco"``: one COCO-style JSON file (``masks.coco.json``): an image per frame, an
  annotation per frame and object with its compressed RLE, area and bbox, a category per
  object. ``pycocotools`` reads it (``COCO(path)``, ``annToMask``).
* ``"matte"``: a black-and-white matte video per object (``matte_<id>.mp4``): H.264, the
  clip's frame rate and size, white where the object is, one video frame per clip frame.
  Odd sizes cannot be 4:2:0, so they are written 4:4:4 (fewer players read that).

Every export also writes ``export.json`` with what was exported (the ``note`` given, the
frames that hold masks, the objects). Frames without masks are written empty, so every
output lines up frame for frame with the clip.

Imports only NumPy, Pillow, PyAV, :mod:`kling_widget.rle` and :mod:`kling_widget.media.masks`;
nothing above the media layer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np
import numpy.typing as npt
from PIL import Image

from kling_widget.media.masks import mask_bbox, resize_mask
from kling_widget.rle import encode_rle

__all__ = [
    "EXPORT_FORMATS",
    "ExportResult",
    "MaskFrames",
    "export_coco",
    "export_masks",
    "export_mattes",
    "export_png_sequence",
    "label_values",
]

ExportFormat = Literal["png", "coco", "matte"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("png", "coco", "matte")
ObjectId = int | str
MaskFrames = Mapping[int, Mapping[ObjectId, npt.ArrayLike]]
Progress = Callable[[int, int], None]

COCO_FILE = "masks.coco.json"
LABELS_FILE = "labels.json"
SUMMARY_FILE = "export.json"
# A matte is mostly flat black and white: a low CRF keeps its edges where the mask is at
# a small cost in size (the flat areas cost almost nothing).
MATTE_CRF = 12


@dataclass(frozen=True)
class ExportResult:
    """What one export wrote."""

    format: str
    folder: Path
    files: list[Path]
    frames_with_masks: list[int]
    objects: list[ObjectId]
    note: str
    labels: dict[int, ObjectId] = field(default_factory=dict)

    def __str__(self) -> str:
        n = len(self.frames_with_masks)
        return (
            f"{self.format}: {len(self.files)} file(s) in {self.folder} "
            f"({len(self.objects)} object(s), masks on {n} frame(s)); {self.note}"
        )


# --- checks ---------------------------------------------------------------------------


def _check_geometry(
    size: Sequence[int], frame_count: int, fps: float | Fraction | None = None
) -> tuple[int, int]:
    if len(size) != 2:
        raise ValueError(f"size={tuple(size)!r}: must be the clip's (width, height)")
    width, height = (int(v) for v in size)
    if width <= 0 or height <= 0:
        raise ValueError(f"size={(width, height)!r}: width and height must be positive")
    if isinstance(frame_count, bool) or int(frame_count) != frame_count or frame_count <= 0:
        raise ValueError(f"frame_count={frame_count!r}: must be a positive integer")
    if fps is not None and (not math.isfinite(float(fps)) or float(fps) <= 0):
        raise ValueError(f"fps={fps!r}: must be a positive frame rate")
    return width, height


def _check_frames(masks: MaskFrames, frame_count: int) -> list[int]:
    frames = []
    for f in masks:
        if isinstance(f, bool) or not isinstance(f, (int, np.integer)):
            raise ValueError(f"frame index={f!r}: must be an integer")
        if not 0 <= int(f) < frame_count:
            raise ValueError(
                f"frame index={f}: must be within 0..{frame_count - 1} "
                f"(the clip has {frame_count} frames)"
            )
        frames.append(int(f))
    return sorted(frames)


def _object_ids(masks: MaskFrames) -> list[ObjectId]:
    seen: dict[ObjectId, None] = {}
    for f in sorted(masks):
        for oid in masks[f]:
            if isinstance(oid, bool) or not isinstance(oid, (int, np.integer, str)):
                raise ValueError(f"object id={oid!r}: must be an integer or a string")
            seen.setdefault(int(oid) if isinstance(oid, np.integer) else oid, None)
    return sorted(seen, key=lambda o: (isinstance(o, str), o))


def label_values(object_ids: Iterable[ObjectId]) -> dict[ObjectId, int]:
    """The 8-bit value each object gets in a label image (see the module docstring)."""
    ids = list(object_ids)
    if len(ids) > 255:
        raise ValueError(f"objects={len(ids)}: an 8-bit label image holds at most 255 objects")
    if all(isinstance(o, int) and 1 <= o <= 255 for o in ids):
        return {o: int(o) for o in ids}
    return {o: i + 1 for i, o in enumerate(ids)}


def _mask_at(mask: npt.ArrayLike, height: int, width: int) -> npt.NDArray[np.bool_]:
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[:, :, 0]
    if m.ndim != 2:
        raise ValueError(f"mask shape={m.shape}: must be 2-D (h, w)")
    if m.shape != (height, width):
        m = resize_mask(m, (height, width))
    return m if m.dtype == np.bool_ else m != 0


def _frame_masks(
    masks: MaskFrames, frame: int, height: int, width: int
) -> dict[ObjectId, npt.NDArray[np.bool_]]:
    found = masks.get(frame)
    if not found:
        return {}
    out: dict[ObjectId, npt.NDArray[np.bool_]] = {}
    for oid, m in found.items():
        key = int(oid) if isinstance(oid, np.integer) else oid
        out[key] = _mask_at(m, height, width)
    return out


def _digits(frame_count: int) -> int:
    return max(6, len(str(frame_count - 1)))


def _write_summary(folder: Path, result: ExportResult, extra: Mapping[str, object]) -> Path:
    summary = {
        "format": result.format,
        "note": result.note,
        "objects": result.objects,
        "frames_with_masks": result.frames_with_masks,
        "files": [p.name for p in result.files],
        **extra,
    }
    path = folder / SUMMARY_FILE
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return path


# --- PNG label sequence ---------------------------------------------------------------


def export_png_sequence(
    masks: MaskFrames,
    dest: str | Path,
    *,
    size: Sequence[int],
    frame_count: int,
    note: str = "",
    progress: Progress | None = None,
) -> ExportResult:
    """One 8-bit label PNG per clip frame in ``dest`` plus ``labels.json``."""
    width, height = _check_geometry(size, frame_count)
    frames = _check_frames(masks, frame_count)
    ids = _object_ids(masks)
    values = label_values(ids)
    folder = Path(dest)
    folder.mkdir(parents=True, exist_ok=True)
    digits = _digits(frame_count)
    files: list[Path] = []
    for f in range(frame_count):
        labels = np.zeros((height, width), np.uint8)
        by_value = sorted(
            _frame_masks(masks, f, height, width).items(), key=lambda kv: values[kv[0]]
        )
        for oid, m in by_value:
            labels[m] = values[oid]
        path = folder / f"frame_{f:0{digits}d}.png"
        Image.fromarray(labels, mode="L").save(path, format="PNG", optimize=False)
        files.append(path)
        if progress is not None:
            progress(f + 1, frame_count)
    label_doc = {
        "background": 0,
        "labels": [{"value": values[o], "object_id": o} for o in ids],
        "overlaps": "the object with the higher value is written",
    }
    labels_path = folder / LABELS_FILE
    labels_path.write_text(json.dumps(label_doc, indent=2) + "\n", encoding="utf-8")
    files.append(labels_path)
    result = ExportResult(
        "png", folder, files, frames, ids, note, labels={v: o for o, v in values.items()}
    )
    files.append(_write_summary(folder, result, {"width": width, "height": height}))
    return result


# --- COCO JSON ------------------------------------------------------------------------


def coco_document(
    masks: MaskFrames,
    *,
    size: Sequence[int],
    frame_count: int,
    fps: float | Fraction,
    labels: Mapping[ObjectId, str] | None = None,
    note: str = "",
    progress: Progress | None = None,
) -> dict[str, object]:
    """The COCO-style document ``export_coco`` writes (images, annotations, categories).

    Image ``id`` is ``frame_index + 1`` (COCO ids start at 1); each image also carries its
    ``frame_index``. Category ``id`` is the object's label value (see :func:`label_values`).
    """
    width, height = _check_geometry(size, frame_count, fps)
    frames = _check_frames(masks, frame_count)
    ids = _object_ids(masks)
    values = label_values(ids)
    names = dict(labels or {})
    digits = _digits(frame_count)
    images = [
        {
            "id": f + 1,
            "frame_index": f,
            "file_name": f"frame_{f:0{digits}d}.png",
            "width": width,
            "height": height,
        }
        for f in range(frame_count)
    ]
    annotations: list[dict[str, object]] = []
    for n, f in enumerate(frames):
        for oid, m in sorted(
            _frame_masks(masks, f, height, width).items(), key=lambda kv: values[kv[0]]
        ):
            area = int(np.count_nonzero(m))
            if area == 0:
                continue
            box = mask_bbox(m)
            x0, y0, x1, y1 = box if box is not None else (0, 0, 0, 0)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": f + 1,
                    "category_id": values[oid],
                    "object_id": oid,
                    "segmentation": encode_rle(m),
                    "area": area,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "iscrowd": 0,
                }
            )
        if progress is not None:
            progress(n + 1, len(frames))
    categories = [
        {"id": values[o], "name": names.get(o) or f"object {o}", "object_id": o} for o in ids
    ]
    return {
        "info": {
            "description": note or "object masks exported by kling-widget",
            "fps": float(fps),
            "frame_count": frame_count,
            "width": width,
            "height": height,
            "frames_with_masks": frames,
        },
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }


def export_coco(
    masks: MaskFrames,
    dest: str | Path,
    *,
    size: Sequence[int],
    frame_count: int,
    fps: float | Fraction,
    labels: Mapping[ObjectId, str] | None = None,
    note: str = "",
    progress: Progress | None = None,
) -> ExportResult:
    """Write ``masks.coco.json`` (see :func:`coco_document`) in ``dest``."""
    doc = coco_document(
        masks,
        size=size,
        frame_count=frame_count,
        fps=fps,
        labels=labels,
        note=note,
        progress=progress,
    )
    folder = Path(dest)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / COCO_FILE
    path.write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")
    ids = _object_ids(masks)
    result = ExportResult(
        "coco",
        folder,
        [path],
        _check_frames(masks, frame_count),
        ids,
        note,
        labels={v: o for o, v in label_values(ids).items()},
    )
    result.files.append(_write_summary(folder, result, {"fps": float(fps)}))
    return result


# --- matte videos ---------------------------------------------------------------------


def _rate(fps: float | Fraction) -> Fraction:
    # 29.97 given as a float becomes 30000/1001, the rate the clip really has.
    return Fraction(fps).limit_denominator(1001)


def _safe_name(oid: ObjectId) -> str:
    text = str(oid)
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text) or "object"


def export_mattes(
    masks: MaskFrames,
    dest: str | Path,
    *,
    size: Sequence[int],
    frame_count: int,
    fps: float | Fraction,
    note: str = "",
    progress: Progress | None = None,
) -> ExportResult:
    """One H.264 matte per object (``matte_<id>.mp4``): white object on black."""
    width, height = _check_geometry(size, frame_count, fps)
    frames = _check_frames(masks, frame_count)
    ids = _object_ids(masks)
    folder = Path(dest)
    folder.mkdir(parents=True, exist_ok=True)
    pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
    rate = _rate(fps)
    files: list[Path] = []
    outputs = []
    try:
        for oid in ids:
            path = folder / f"matte_{_safe_name(oid)}.mp4"
            container = av.open(str(path), "w")
            outputs.append(container)
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
            stream.options = {"crf": str(MATTE_CRF), "preset": "veryfast"}
            files.append(path)
        streams = [c.streams.video[0] for c in outputs]
        black = np.zeros((height, width), np.uint8)
        for f in range(frame_count):
            found = _frame_masks(masks, f, height, width)
            for oid, container, stream in zip(ids, outputs, streams, strict=True):
                m = found.get(oid)
                gray = black if m is None else m.astype(np.uint8) * 255
                frame = av.VideoFrame.from_ndarray(gray, format="gray")
                frame.pts = f
                container.mux(stream.encode(frame))
            if progress is not None:
                progress(f + 1, frame_count)
        for container, stream in zip(outputs, streams, strict=True):
            container.mux(stream.encode(None))
    finally:
        for container in outputs:
            container.close()
    result = ExportResult("matte", folder, files, frames, ids, note)
    files.append(
        _write_summary(
            folder,
            result,
            {"fps": float(fps), "width": width, "height": height, "pix_fmt": pix_fmt},
        )
    )
    return result


# --- one entry point ------------------------------------------------------------------


def export_masks(
    masks: MaskFrames,
    dest: str | Path,
    format: str = "coco",
    *,
    size: Sequence[int],
    frame_count: int,
    fps: float | Fraction,
    labels: Mapping[ObjectId, str] | None = None,
    note: str = "",
    progress: Progress | None = None,
) -> ExportResult:
    """Export ``masks`` to ``dest`` as ``format`` (``"png"``, ``"coco"`` or ``"matte"``)."""
    if format == "png":
        return export_png_sequence(
            masks, dest, size=size, frame_count=frame_count, note=note, progress=progress
        )
    if format == "coco":
        return export_coco(
            masks,
            dest,
            size=size,
            frame_count=frame_count,
            fps=fps,
            labels=labels,
            note=note,
            progress=progress,
        )
    if format == "matte":
        return export_mattes(
            masks, dest, size=size, frame_count=frame_count, fps=fps, note=note, progress=progress
        )
    raise ValueError(f"format={format!r}: must be one of {', '.join(EXPORT_FORMATS)}")
