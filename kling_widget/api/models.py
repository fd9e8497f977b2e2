"""Typed results of the Kling API.

Every model is a frozen dataclass built by ``from_json(data)`` from the envelope's ``data``
object and keeps that object in ``.raw``, so fields Kling adds later are never lost.
Types and ranges are checked (:mod:`kling_widget.api.wire`): numbers may come as strings,
missing values become ``None``, and anything else raises ``KlingResponseError`` naming the
field. ``Task.from_json`` reads both callback shapes (the task object, and the newer
``{id, status, outputs, billing}`` body).

Imports ``wire``, the rules and the leaves; never the clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from kling_widget.api.masks import decode_mask
from kling_widget.api.wire import Fields, bad
from kling_widget.errors import KlingResponseError
from kling_widget.rules import TaskState

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

TaskKind = Literal["multi-elements", "omni-video"]
# Generous bounds on numbers a reply may hold; beyond them the reply is refused.
_MAX_SIDE = 100_000
_MAX_FRAMES = 10_000_000
_MAX_SECONDS = 10_000_000.0


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
        f = Fields(data, "data")
        return cls(
            session_id=f.text("session_id") or "",
            fps=f.number("fps", 0, 1000),
            total_frame=f.integer("total_frame", 0, _MAX_FRAMES),
            original_duration=f.number("original_duration", 0, _MAX_SECONDS * 1000),
            width=f.integer("width", 0, _MAX_SIDE),
            height=f.integer("height", 0, _MAX_SIDE),
            normalized_video=f.text("normalized_video"),
            final_unit_deduction=f.number("final_unit_deduction"),
            status=f.integer("status"),
            raw=dict(f.data),
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
    def from_json(cls, data: Mapping[str, Any], path: str = "rle_mask_list[]") -> ObjectMask:
        """Build from one ``rle_mask_list`` item."""
        f = Fields(data, path)
        rle, png = f.obj("rle_mask"), f.obj("png_mask")
        size: tuple[int, int] | None = None
        counts = ""
        if rle is not None:
            raw_size = rle.data.get("size")
            if raw_size is not None:
                if not isinstance(raw_size, (list, tuple)) or len(raw_size) != 2:
                    raise bad(rle.where("size"), raw_size, "[h, w]")
                pair = Fields({"h": raw_size[0], "w": raw_size[1]}, rle.where("size"))
                size = (pair.integer("h", 0, _MAX_SIDE) or 0, pair.integer("w", 0, _MAX_SIDE) or 0)
            value = rle.data.get("counts")
            if value is not None and not isinstance(value, str):
                raise bad(rle.where("counts"), value, "a compressed RLE string")
            counts = value or ""
        object_id = data.get("object_id")
        if object_id is not None and (
            isinstance(object_id, bool) or not isinstance(object_id, (int, str))
        ):
            raise bad(f.where("object_id"), object_id, "an integer or a string")
        return cls(
            object_id=object_id,
            size=size,
            counts=counts,
            png_base64=png.text("base64") if png is not None else None,
            raw=dict(f.data),
        )

    @property
    def rle(self) -> dict[str, Any]:
        """The mask as a COCO RLE dict ``{"size": [h, w], "counts": str}``."""
        return {"size": list(self.size) if self.size else None, "counts": self.counts}

    def to_array(self, shape: tuple[int, int] | None = None) -> npt.NDArray[np.uint8]:
        """Decode to a uint8 array of 0/1, ``shape`` = (h, w) when given.

        The mask is decoded at its own ``size`` (read as ``[h, w]``, or as ``[w, h]`` when
        that matches the frame's aspect better) and scaled to ``shape``, so masks at the
        normalized video's resolution fit the clip. Nothing larger than the frame (or
        Kling's largest frame) is ever allocated: the size is checked first.
        """
        if self.size is None:
            raise KlingResponseError("reply field rle_mask.size: missing")
        return decode_mask(self.size, self.counts, shape)


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
        f = Fields(data, "data")
        res = f.obj("res")
        items = res.objects("rle_mask_list") if res is not None else []
        masks = [ObjectMask.from_json(m.data, m.path) for m in items]
        return cls(
            session_id=f.text("session_id") or "",
            frame_index=res.integer("frame_index", 0, _MAX_FRAMES) if res is not None else None,
            masks=masks,
            status=f.integer("status"),
            final_unit_deduction=f.number("final_unit_deduction"),
            raw=dict(f.data),
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
        f = Fields(data, "data")
        res = f.obj("res") or Fields({}, "data.res")
        return cls(
            video_url=res.text("video"),
            cover_url=res.text("video_cover"),
            tracking_output_url=res.text("tracking_output"),
            session_id=f.text("session_id"),
            raw=dict(f.data),
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
    def from_json(cls, data: Mapping[str, Any], path: str = "task_result.videos[]") -> TaskVideo:
        """Build from one ``task_result.videos`` (or callback ``outputs``) item."""
        f = Fields(data, path)
        return cls(
            id=f.text("id"),
            url=f.text("url"),
            session_id=f.text("session_id"),
            watermark_url=f.text("watermark_url"),
            duration=f.number("duration", 0, _MAX_SECONDS),
            raw=dict(f.data),
        )


@dataclass(frozen=True)
class BalanceDeduction:
    """``final_balance_deduction``: what the task cost from the account balance."""

    quota: float | None
    list_price: float | None

    @classmethod
    def read(cls, f: Fields | None) -> BalanceDeduction | None:
        """From the reply object, or None when absent."""
        if f is None:
            return None
        return cls(quota=f.number("quota"), list_price=f.number("list_price"))


@dataclass(frozen=True)
class WatermarkInfo:
    """``watermark_info``: whether a watermarked copy was asked for."""

    enabled: bool | None

    @classmethod
    def read(cls, f: Fields | None) -> WatermarkInfo | None:
        """From the reply object, or None when absent."""
        return None if f is None else cls(enabled=f.boolean("enabled"))


@dataclass(frozen=True)
class Billing:
    """One ``billing`` item of a new-shape callback."""

    charge_type: str | None
    cash_type: str | None
    amount: float | None
    currency: str | None
    package_type: str | None
    list_price: float | None

    @classmethod
    def read(cls, f: Fields) -> Billing:
        """From one reply object."""
        return cls(
            charge_type=f.text("charge_type"),
            cash_type=f.text("cash_type"),
            amount=f.number("amount"),
            currency=f.text("currency"),
            package_type=f.text("package_type"),
            list_price=f.number("list_price"),
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
    final_balance_deduction: BalanceDeduction | None = None
    watermark_info: WatermarkInfo | None = None
    billing: list[Billing] = field(default_factory=list)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], kind: TaskKind = "multi-elements") -> Task:
        """Build from a task object (create or query answer) or a callback body of either
        shape (the new one has ``id`` and ``status`` instead of ``task_id``/``task_status``)."""
        f = Fields(data, "data")
        if not f.has("task_id") and f.has("id") and (f.has("status") or f.has("outputs")):
            return cls._from_new_callback(f, kind)
        info = f.obj("task_info")
        result = f.obj("task_result")
        videos = result.objects("videos") if result is not None else []
        external = info.text("external_task_id") if info is not None else None
        return cls(
            task_id=f.text("task_id") or "",
            status=_status(f, "task_status"),
            external_task_id=external or f.text("external_task_id"),
            status_msg=f.text("task_status_msg"),
            videos=[TaskVideo.from_json(v.data, v.path) for v in videos],
            created_at=f.ms_time("created_at"),
            updated_at=f.ms_time("updated_at"),
            final_unit_deduction=f.number("final_unit_deduction"),
            kind=kind,
            final_balance_deduction=BalanceDeduction.read(f.obj("final_balance_deduction")),
            watermark_info=WatermarkInfo.read(f.obj("watermark_info")),
            raw=dict(f.data),
        )

    @classmethod
    def _from_new_callback(cls, f: Fields, kind: TaskKind) -> Task:
        outputs = f.objects("outputs")
        videos = [
            TaskVideo.from_json(o.data, o.path)
            for o in outputs
            if o.text("type") in (None, "video")
        ]
        return cls(
            task_id=f.text("id") or "",
            status=_status(f, "status"),
            external_task_id=f.text("external_id") or f.text("external_task_id"),
            status_msg=f.text("message"),
            videos=videos,
            created_at=f.ms_time("create_time"),
            updated_at=f.ms_time("update_time"),
            kind=kind,
            final_balance_deduction=BalanceDeduction.read(f.obj("final_balance_deduction")),
            watermark_info=WatermarkInfo.read(f.obj("watermark_info")),
            billing=[Billing.read(b) for b in f.objects("billing")],
            raw=dict(f.data),
        )

    @property
    def state(self) -> TaskState | None:
        """The status as a :class:`TaskState` (None for a status Kling may add later)."""
        try:
            return TaskState.from_wire(self.status)
        except ValueError:
            return None

    @property
    def is_final(self) -> bool:
        """True once the task ended (``succeed`` or ``failed``)."""
        return self.state is not None and self.state.is_final

    @property
    def succeeded(self) -> bool:
        """True when the task ended with ``succeed``."""
        return self.state is TaskState.SUCCEEDED

    @property
    def failed(self) -> bool:
        """True when the task ended with ``failed``."""
        return self.state is TaskState.FAILED


def _status(f: Fields, key: str) -> str:
    # Both spellings of success become "succeed"; an unknown status is kept as sent.
    text = f.text(key) or ""
    try:
        return TaskState.from_wire(text).value if text else ""
    except ValueError:
        return text
