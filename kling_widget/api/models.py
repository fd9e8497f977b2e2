"""Typed results of the Kling API.

Every model is a frozen dataclass built by ``from_json(data)`` from the envelope's ``data``
object and keeps that object in ``.raw``, so fields Kling adds later are never lost.
Parsing is lenient about types (Kling sends some numbers as strings) but never guesses
values that are missing: they become ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from kling_widget.limits import FINAL_STATUSES

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

TaskKind = Literal["multi-elements", "omni-video"]


@dataclass(frozen=True)
class Session:
    """A Multi-Elements editing session (``init-selection``), valid for 24 h."""

    session_id: str
    fps: float | None = None
    total_frame: int | None = None
    original_duration: float | None = None
    width: int | None = None
    height: int | None = None
    normalized_video: str | None = None
    final_unit_deduction: float | None = None
    status: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Session:
        """Build from ``init-selection``'s ``data``."""
        return cls(
            session_id=str(data.get("session_id") or ""),
            fps=_float(data.get("fps")),
            total_frame=_int(data.get("total_frame")),
            original_duration=_float(data.get("original_duration")),
            width=_int(data.get("width")),
            height=_int(data.get("height")),
            normalized_video=_str(data.get("normalized_video")),
            final_unit_deduction=_float(data.get("final_unit_deduction")),
            status=_int(data.get("status")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class ObjectMask:
    """One object's mask on a frame: COCO compressed RLE plus Kling's PNG rendering."""

    object_id: int | str | None
    size: tuple[int, int] | None
    counts: str = field(repr=False)
    png_base64: str | None = field(default=None, repr=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ObjectMask:
        """Build from one ``rle_mask_list`` item."""
        rle = data.get("rle_mask") or {}
        png = data.get("png_mask") or {}
        size_raw = rle.get("size") if isinstance(rle, Mapping) else None
        size: tuple[int, int] | None = None
        if isinstance(size_raw, (list, tuple)) and len(size_raw) == 2:
            size = (int(size_raw[0]), int(size_raw[1]))
        counts = rle.get("counts") if isinstance(rle, Mapping) else None
        png_b64 = png.get("base64") if isinstance(png, Mapping) else None
        object_id = data.get("object_id")
        return cls(
            object_id=object_id if isinstance(object_id, (int, str)) else None,
            size=size,
            counts=str(counts or ""),
            png_base64=str(png_b64) if png_b64 else None,
            raw=dict(data),
        )

    @property
    def rle(self) -> dict[str, Any]:
        """The mask as a COCO RLE dict ``{"size": [h, w], "counts": str}``."""
        return {"size": list(self.size) if self.size else None, "counts": self.counts}

    def to_array(self, shape: tuple[int, int] | None = None) -> npt.NDArray[np.uint8]:
        """Decode to an ``(h, w)`` uint8 array of 0/1.

        ``shape`` (h, w) of the frame lets the codec accept a swapped ``[w, h]`` size.
        """
        from kling_widget.rle import decode_rle

        result: npt.NDArray[np.uint8] = decode_rle(self.rle, shape)
        return result


@dataclass(frozen=True)
class Selection:
    """The answer to add/delete-selection: the masks on one frame."""

    session_id: str
    frame_index: int | None
    masks: list[ObjectMask]
    status: int | None = None
    final_unit_deduction: float | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Selection:
        """Build from add/delete/clear-selection's ``data``."""
        res = data.get("res") or {}
        if not isinstance(res, Mapping):
            res = {}
        items = res.get("rle_mask_list") or []
        masks = [ObjectMask.from_json(m) for m in items if isinstance(m, Mapping)]
        return cls(
            session_id=str(data.get("session_id") or ""),
            frame_index=_int(res.get("frame_index")),
            masks=masks,
            status=_int(data.get("status")),
            final_unit_deduction=_float(data.get("final_unit_deduction")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class Preview:
    """The answer to preview-selection: URLs of the clip with the masks drawn."""

    video_url: str | None
    cover_url: str | None
    tracking_output_url: str | None
    session_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Preview:
        """Build from preview-selection's ``data``."""
        res = data.get("res") or {}
        if not isinstance(res, Mapping):
            res = {}
        return cls(
            video_url=_str(res.get("video")),
            cover_url=_str(res.get("video_cover")),
            tracking_output_url=_str(res.get("tracking_output")),
            session_id=_str(data.get("session_id")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class TaskVideo:
    """One result video of a finished task (URLs are deleted by Kling after 30 days)."""

    id: str | None
    url: str | None
    session_id: str | None = None
    watermark_url: str | None = None
    duration: float | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TaskVideo:
        """Build from one ``task_result.videos`` item."""
        return cls(
            id=_str(data.get("id")),
            url=_str(data.get("url")),
            session_id=_str(data.get("session_id")),
            watermark_url=_str(data.get("watermark_url")),
            duration=_float(data.get("duration")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class Task:
    """A Multi-Elements or Omni-Video task (create and query answers share this shape)."""

    task_id: str
    status: str
    external_task_id: str | None = None
    status_msg: str | None = None
    videos: list[TaskVideo] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    final_unit_deduction: float | None = None
    kind: TaskKind = "multi-elements"
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], kind: TaskKind = "multi-elements") -> Task:
        """Build from a task object (create answer, query answer or callback body)."""
        info = data.get("task_info") or {}
        result = data.get("task_result") or {}
        videos_raw = result.get("videos") if isinstance(result, Mapping) else None
        videos = [TaskVideo.from_json(v) for v in videos_raw or [] if isinstance(v, Mapping)]
        external = info.get("external_task_id") if isinstance(info, Mapping) else None
        if external is None:
            external = data.get("external_task_id")
        return cls(
            task_id=str(data.get("task_id") or ""),
            status=str(data.get("task_status") or ""),
            external_task_id=_str(external),
            status_msg=_str(data.get("task_status_msg")),
            videos=videos,
            created_at=_ms_datetime(data.get("created_at")),
            updated_at=_ms_datetime(data.get("updated_at")),
            final_unit_deduction=_float(data.get("final_unit_deduction")),
            kind=kind,
            raw=dict(data),
        )

    @property
    def is_final(self) -> bool:
        """True once the task ended (``succeed`` or ``failed``)."""
        return self.status in FINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        """True when the task ended with ``succeed``."""
        return self.status == "succeed"

    @property
    def failed(self) -> bool:
        """True when the task ended with ``failed``."""
        return self.status == "failed"


def _str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    f = _float(value)
    if f is None or f != f:  # NaN
        return None
    return int(f)


def _ms_datetime(value: Any) -> datetime | None:
    """Kling timestamps are milliseconds since the epoch; return an aware UTC datetime."""
    ms = _float(value)
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc)
