"""The preview's files: the clip with the masks drawn, its cover, and the tracking output.

``tracking_output`` (Kling does not document its format) is a JSON document::

    {"format": "kling-widget-emulator/tracking-v1", "width": w, "height": h, "fps": fps,
     "total_frame": n, "object_ids": [1, 2],
     "frames": [{"frame_index": i,
                 "rle_mask_list": [{"object_id": k, "rle_mask": {"size": [h, w], "counts": s}}]}]}

with one entry per frame of the clip and one mask per object visible on it, at the clip's
size (the video is reduced to at most 960x540 pixels' worth a frame). The files
are written to a folder of their own, so they can be made in the background before
anyone asks for them and handed over when the preview is requested.

Imports only NumPy, OpenCV, the RLE codec and the vision helpers.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kling_widget.emulator.vision.ops import BoolArray, ByteArray
from kling_widget.emulator.vision.render import Mp4Writer, draw_masks, save_jpeg
from kling_widget.rle import encode_rle

TRACKING_FORMAT = "kling-widget-emulator/tracking-v1"
# A preview is watched once, to check the masks: encode it as fast as x264 can, at a
# quality that shows them clearly (a third of the time and a seventh of the bytes of
# the results' quality at 1080p).
PREVIEW_PRESET = "ultrafast"
PREVIEW_CRF = "28"
# A preview video larger than this many pixels a frame is reduced to it (aspect kept): a
# 1080p preview (960x540) then costs a quarter as much to draw and encode, and shows the
# masks as clearly.
# The tracking output keeps the clip's size.
PREVIEW_MAX_PIXELS = 960 * 540


def preview_size(width: int, height: int) -> tuple[int, int]:
    """The preview video's (width, height) for a clip of ``width`` x ``height``."""
    scale = min(1.0, (PREVIEW_MAX_PIXELS / (width * height)) ** 0.5)
    if scale >= 1.0:
        return width, height
    # Even sides: the video is yuv420p.
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


MasksFor = Callable[[int, ByteArray], list[tuple[int, BoolArray]]]


@dataclass(frozen=True)
class PreviewFiles:
    """The three files of a preview, in ``folder``."""

    folder: Path
    video: Path
    cover: Path
    tracking: Path

    def discard(self) -> None:
        """Delete the folder and everything in it."""
        shutil.rmtree(self.folder, ignore_errors=True)


def _shrink(mask: BoolArray, size: tuple[int, int]) -> BoolArray:
    small = cv2.resize(mask.view(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    return np.asarray(small, dtype=bool)


def render_preview_files(
    frames: Iterable[ByteArray],
    masks_for: MasksFor,
    size: tuple[int, int],
    rate: Fraction,
    fps: float,
    object_ids: list[int],
    cover_index: int,
    folder: Path,
    cancelled: Callable[[], bool] | None = None,
) -> PreviewFiles | None:
    """Write the preview of ``frames`` into ``folder``; None when cancelled part-way."""
    width, height = size
    shown = preview_size(width, height)
    folder.mkdir(parents=True, exist_ok=True)
    files = PreviewFiles(
        folder, folder / "preview.mp4", folder / "preview_cover.jpg", folder / "tracking.json"
    )
    entries: list[dict[str, Any]] = []
    cover: ByteArray | None = None
    with Mp4Writer(
        files.video, shown[0], shown[1], rate, preset=PREVIEW_PRESET, crf=PREVIEW_CRF
    ) as writer:
        for i, frame in enumerate(frames):
            if cancelled is not None and cancelled():
                break
            masks = masks_for(i, frame)
            if shown == (width, height):
                drawn = draw_masks(frame, [m for _, m in masks])
            else:
                # Bilinear and nearest: an area-averaging reduction by 1.5 costs ten times
                # more, for a picture that is only looked at.
                small = np.asarray(
                    cv2.resize(frame, shown, interpolation=cv2.INTER_LINEAR), np.uint8
                )
                drawn = draw_masks(small, [_shrink(m, shown) for _, m in masks])
            writer.write(drawn)
            entries.append(
                {
                    "frame_index": i,
                    "rle_mask_list": [
                        {"object_id": oid, "rle_mask": encode_rle(m)} for oid, m in masks if m.any()
                    ],
                }
            )
            if i == cover_index or cover is None:
                cover = drawn
    if (cancelled is not None and cancelled()) or cover is None:
        files.discard()
        return None
    save_jpeg(files.cover, cover)
    doc = {
        "format": TRACKING_FORMAT,
        "width": width,
        "height": height,
        "fps": fps,
        "total_frame": len(entries),
        "object_ids": object_ids,
        "frames": entries,
    }
    files.tracking.write_bytes(json.dumps(doc, separators=(",", ":")).encode("utf-8"))
    return files
