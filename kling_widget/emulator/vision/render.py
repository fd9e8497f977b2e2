"""Rendering: the mp4 writer, mask drawing, and the swap and addition composites.

Outputs are H.264 yuv420p mp4 files at the input's size, frame rate and length (an odd
width or height is cropped by one pixel: yuv420p needs even sides). Removal lives in
``plate``. Swap: the reference image, scaled to each frame's object box, is cut by the
object's mask. Addition: the reference image(s) are fitted into the selected region's
box (cut by the region), or, with nothing selected, placed at the lower third's centre.

Imports only NumPy, Pillow, PyAV, the media mask drawing and the vision helpers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from kling_widget.emulator.vision.cancel import check_cancelled
from kling_widget.emulator.vision.ops import BoolArray, bbox
from kling_widget.media.masks import overlay_mask

RGB = NDArray[np.uint8]

CRF = "16"
# Results are encoded with this x264 preset (previews with "ultrafast").
RESULT_PRESET = "superfast"


class Mp4Writer:
    """Writes RGB frames to an H.264 yuv420p mp4 (plays in browsers)."""

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        fps: float | Fraction,
        preset: str = RESULT_PRESET,
        crf: str = CRF,
    ) -> None:
        self.path = path
        self.width, self.height = width - width % 2, height - height % 2
        rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
        self._out = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
        self._stream = self._out.add_stream(
            "libx264", rate=rate, options={"crf": crf, "preset": preset}
        )
        self._stream.width, self._stream.height = self.width, self.height
        self._stream.pix_fmt = "yuv420p"
        self.frames = 0

    def write(self, frame: RGB) -> None:
        """Append one (h, w, 3) uint8 frame (``RenderCancelled`` when the render was
        stopped from outside)."""
        check_cancelled()
        rgb = np.ascontiguousarray(frame[: self.height, : self.width, :3])
        # OpenCV's BT.601 limited-range conversion matches libswscale's default for
        # rgb24 -> yuv420p, at a fraction of its cost.
        yuv = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), np.uint8)
        vf = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        for packet in self._stream.encode(vf):
            self._out.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush and close the file."""
        for packet in self._stream.encode(None):
            self._out.mux(packet)
        self._out.close()

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_mp4(path: Path, frames: Iterable[RGB], fps: float | Fraction) -> int:
    """Write ``frames`` to ``path``; returns how many were written."""
    writer: Mp4Writer | None = None
    try:
        for frame in frames:
            if writer is None:
                writer = Mp4Writer(path, frame.shape[1], frame.shape[0], fps)
            writer.write(frame)
    finally:
        if writer is not None:
            writer.close()
    return 0 if writer is None else writer.frames


def save_jpeg(path: Path, frame: RGB, quality: int = 88) -> None:
    """Save an RGB frame as JPEG."""
    Image.fromarray(frame).save(path, format="JPEG", quality=quality)


def draw_masks(frame: RGB, masks: Sequence[BoolArray]) -> RGB:
    """The frame with every mask drawn in the documented colour (a copy)."""
    out: RGB = frame.copy()
    for m in masks:
        if m.any():
            overlay_mask(out, m)
    return out


# -- swap and addition ---------------------------------------------------------------------


def fit_image(image: Image.Image, width: int, height: int, cover: bool) -> Image.Image:
    """``image`` scaled to cover (crop) or fit inside (letterbox) a width x height box."""
    iw, ih = image.size
    scale = max(width / iw, height / ih) if cover else min(width / iw, height / ih)
    nw, nh = max(1, round(iw * scale)), max(1, round(ih * scale))
    resized = image.resize((nw, nh), Image.Resampling.BILINEAR)
    if cover:
        left, top = (nw - width) // 2, (nh - height) // 2
        return resized.crop((left, top, left + width, top + height))
    return resized


def paste(frame: RGB, image: Image.Image, x0: int, y0: int, cut: BoolArray | None = None) -> RGB:
    """Composite an RGBA/RGB image at (x0, y0) in place, optionally only where ``cut``."""
    rgba = np.asarray(image.convert("RGBA"))
    h, w = frame.shape[:2]
    ih, iw = rgba.shape[:2]
    fx0, fy0 = max(0, x0), max(0, y0)
    fx1, fy1 = min(w, x0 + iw), min(h, y0 + ih)
    if fx0 >= fx1 or fy0 >= fy1:
        return frame
    sub = rgba[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
    alpha = sub[..., 3:4].astype(np.uint16)
    if cut is not None:
        alpha = alpha * cut[fy0:fy1, fx0:fx1, None]
    region = frame[fy0:fy1, fx0:fx1].astype(np.uint16)
    blended = (sub[..., :3].astype(np.uint16) * alpha + region * (255 - alpha) + 127) // 255
    frame[fy0:fy1, fx0:fx1] = blended.astype(np.uint8)
    return frame


def swap_into(frame: RGB, mask: BoolArray, image: Image.Image) -> RGB:
    """Fill the object's mask with the reference image scaled to cover its box."""
    b = bbox(mask)
    if b is None:
        return frame
    y0, x0, y1, x1 = b
    fitted = fit_image(image, x1 - x0, y1 - y0, cover=True)
    return paste(frame, fitted, x0, y0, cut=mask)


def add_into(
    frame: RGB, region: BoolArray | None, image: Image.Image, slot: int, slots: int
) -> RGB:
    """Composite a reference image into ``region`` (its box, cut by it), or at a default
    place: the lower third's centre, side by side when there are several images."""
    h, w = frame.shape[:2]
    if region is not None:
        b = bbox(region)
        if b is not None:
            y0, x0, y1, x1 = b
            fitted = fit_image(image, x1 - x0, y1 - y0, cover=False)
            fx = x0 + (x1 - x0 - fitted.size[0]) // 2
            fy = y0 + (y1 - y0 - fitted.size[1]) // 2
            return paste(frame, fitted, fx, fy, cut=region)
    box_w, box_h = w // (slots + 1), h // 3
    fitted = fit_image(image, box_w, box_h, cover=False)
    cx = w * (slot + 1) // (slots + 1)
    cy = h * 2 // 3 + h // 6
    return paste(frame, fitted, cx - fitted.size[0] // 2, cy - fitted.size[1] // 2)
