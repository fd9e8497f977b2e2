"""Rendering: the preview, removal, swap and addition results, and the mp4 writer.

Outputs are H.264 yuv420p mp4 files at the input's size, frame rate and length (an odd
width or height is cropped by one pixel: yuv420p needs even sides).

Removal (static or translating camera): the camera's translation per frame is estimated
(phase correlation at work resolution, refined by a small full-resolution search), every
tracked region is mapped into one "world" plate, each plate pixel takes the median of the
sampled frames in which it is visible, pixels never visible are inpainted from the border
inwards (nearest known neighbours, then smoothed), and each frame's region is filled from
the plate. Swap: the reference image, scaled to each frame's object box, is cut by the
object's mask. Addition: the reference image(s) are fitted into the selected region's box
(cut by the region), or, with nothing selected, placed at the lower third's centre.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from kling_widget.emulator.vision.ops import BoolArray, bbox, dilate
from kling_widget.media.masks import overlay_mask

RGB = NDArray[np.uint8]

# At most this many frames are sampled for the removal plate (memory: K x region).
PLATE_SAMPLES = 30
PLATE_BUDGET_BYTES = 400 * 1024 * 1024
CRF = "16"


class Mp4Writer:
    """Writes RGB frames to an H.264 yuv420p mp4 (plays in browsers)."""

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        fps: float | Fraction,
        preset: str = "veryfast",
    ) -> None:
        self.path = path
        self.width, self.height = width - width % 2, height - height % 2
        rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
        self._out = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
        self._stream = self._out.add_stream(
            "libx264", rate=rate, options={"crf": CRF, "preset": preset}
        )
        self._stream.width, self._stream.height = self.width, self.height
        self._stream.pix_fmt = "yuv420p"
        self.frames = 0

    def write(self, frame: RGB) -> None:
        """Append one (h, w, 3) uint8 frame."""
        rgb = np.ascontiguousarray(frame[: self.height, : self.width, :3])
        vf = av.VideoFrame.from_ndarray(rgb, format="rgb24")
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


# -- removal -------------------------------------------------------------------------------


def _peak_offset(c_minus: float, c0: float, c_plus: float) -> float:
    """Sub-pixel peak position from three samples (parabola through them)."""
    denom = c_minus - 2 * c0 + c_plus
    if denom >= 0:
        return 0.0
    return float(np.clip(0.5 * (c_minus - c_plus) / denom, -0.5, 0.5))


def phase_shift(a: NDArray[np.float32], b: NDArray[np.float32]) -> tuple[float, float]:
    """Sub-pixel (dy, dx) with b(p) ~ a(p + d), by phase correlation."""
    fa = np.fft.rfft2(a)
    fb = np.fft.rfft2(b)
    cross = fb * np.conj(fa)
    cross /= np.abs(cross) + 1e-9
    corr = np.fft.irfft2(cross, s=a.shape)
    h, w = a.shape
    i, j = np.unravel_index(int(np.argmax(corr)), corr.shape)
    fy = _peak_offset(corr[(i - 1) % h, j], corr[i, j], corr[(i + 1) % h, j])
    fx = _peak_offset(corr[i, (j - 1) % w], corr[i, j], corr[i, (j + 1) % w])
    dy = (i - h if i > h // 2 else i) + fy
    dx = (j - w if j > w // 2 else j) + fx
    # corr peaks at -d for b(p) = a(p + d).
    return -float(dy), -float(dx)


def _prep(frame: RGB, hole: BoolArray) -> NDArray[np.float32]:
    gray = frame.astype(np.float32).mean(axis=2)
    keep = ~hole
    g = gray - (gray[keep].mean() if keep.any() else gray.mean())
    g[hole] = 0
    wy = np.hanning(g.shape[0]).astype(np.float32)[:, None]
    wx = np.hanning(g.shape[1]).astype(np.float32)[None, :]
    result: NDArray[np.float32] = (g * wy * wx).astype(np.float32)
    return result


def estimate_camera(
    work_frames: Callable[[int], RGB], holes_work: Sequence[BoolArray], factor: int
) -> list[tuple[int, int]]:
    """Per-frame camera offset in full-resolution px: frame t's pixel p shows world p + o_t.

    Each frame is compared with a reference frame (the first, replaced when the view has
    moved by more than a quarter of the frame) by sub-pixel phase correlation of the
    work-resolution frames with the tracked objects masked out, so errors do not
    accumulate frame after frame.
    """
    count = len(holes_work)
    if count == 0:
        return []
    offsets = [(0.0, 0.0)]
    ref_index = 0
    ref = _prep(work_frames(0), dilate(holes_work[0], 1))
    h, w = ref.shape
    for t in range(1, count):
        cur = _prep(work_frames(t), dilate(holes_work[t], 1))
        dy, dx = phase_shift(ref, cur)
        base = offsets[ref_index]
        offsets.append((base[0] + dy, base[1] + dx))
        if abs(dy) > h / 4 or abs(dx) > w / 4:
            ref_index, ref = t, cur
    return [(round(oy * factor), round(ox * factor)) for oy, ox in offsets]


class Plate:
    """The clean background of the tracked regions, in world coordinates."""

    def __init__(self, origin: tuple[int, int], pixels: RGB) -> None:
        self.origin = origin
        self.pixels = pixels

    def fill(self, frame: RGB, hole: BoolArray, offset: tuple[int, int]) -> RGB:
        """Replace ``hole`` pixels of ``frame`` (in place) by the plate; returns ``frame``."""
        ys, xs = np.nonzero(hole)
        if ys.size == 0:
            return frame
        py = np.clip(ys + offset[0] - self.origin[0], 0, self.pixels.shape[0] - 1)
        px = np.clip(xs + offset[1] - self.origin[1], 0, self.pixels.shape[1] - 1)
        frame[ys, xs] = self.pixels[py, px]
        return frame


def world_box(
    holes: Sequence[BoolArray | None], offsets: Sequence[tuple[int, int]]
) -> tuple[int, int, int, int] | None:
    """World-coordinate (y0, x0, y1, x1) covering every hole."""
    box: list[int] | None = None
    for hole, (oy, ox) in zip(holes, offsets, strict=False):
        if hole is None:
            continue
        b = bbox(hole)
        if b is None:
            continue
        wb = [b[0] + oy, b[1] + ox, b[2] + oy, b[3] + ox]
        box = (
            wb
            if box is None
            else [min(box[0], wb[0]), min(box[1], wb[1]), max(box[2], wb[2]), max(box[3], wb[3])]
        )
    return None if box is None else (box[0], box[1], box[2], box[3])


def build_plate(
    samples: Iterable[tuple[RGB, BoolArray, tuple[int, int]]], box: tuple[int, int, int, int]
) -> Plate:
    """Median of the visible samples per world pixel of ``box``; the rest inpainted.

    ``samples`` yields (frame, hole, offset) for the sampled frames.
    """
    y0, x0, y1, x1 = box
    hh, ww = y1 - y0, x1 - x0
    values: list[NDArray[np.int16]] = []
    for frame, hole, (oy, ox) in samples:
        h, w = frame.shape[:2]
        v = np.full((hh, ww, 3), 999, dtype=np.int16)
        # World rows y0..y1 are frame rows y0-oy..y1-oy.
        fy0, fy1 = max(0, y0 - oy), min(h, y1 - oy)
        fx0, fx1 = max(0, x0 - ox), min(w, x1 - ox)
        if fy0 < fy1 and fx0 < fx1:
            crop = frame[fy0:fy1, fx0:fx1].astype(np.int16)
            crop[hole[fy0:fy1, fx0:fx1]] = 999
            py0, px0 = fy0 + oy - y0, fx0 + ox - x0
            v[py0 : py0 + (fy1 - fy0), px0 : px0 + (fx1 - fx0)] = crop
        values.append(v)
    if not values:
        return Plate((y0, x0), np.zeros((hh, ww, 3), np.uint8))
    stack = np.stack(values)
    count = (stack[..., 0] != 999).sum(axis=0)
    stack.sort(axis=0)
    idx = np.clip((count - 1) // 2, 0, None)[None, :, :, None]
    med = np.take_along_axis(stack, np.broadcast_to(idx, (1, hh, ww, 3)), axis=0)[0]
    known = count > 0
    pixels = np.where(known[..., None], med, 0).astype(np.float32)
    if not known.all():
        pixels = inpaint(pixels, known)
    return Plate((y0, x0), np.clip(np.rint(pixels), 0, 255).astype(np.uint8))


def inpaint(pixels: NDArray[np.float32], known: BoolArray, smooth: int = 30) -> NDArray[np.float32]:
    """Fill unknown pixels from the border inwards, then smooth the filled area."""
    out: NDArray[np.float32] = pixels.copy()
    have = known.copy()
    if not have.any():
        return out
    hole = ~known
    while not have.all():
        total = np.zeros_like(out)
        n = np.zeros(have.shape, dtype=np.float32)
        for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            src = np.roll(np.roll(out * have[..., None], dy, axis=0), dx, axis=1)
            cnt = np.roll(np.roll(have, dy, axis=0), dx, axis=1).astype(np.float32)
            if dy == 1:
                src[0], cnt[0] = 0, 0
            if dy == -1:
                src[-1], cnt[-1] = 0, 0
            if dx == 1:
                src[:, 0], cnt[:, 0] = 0, 0
            if dx == -1:
                src[:, -1], cnt[:, -1] = 0, 0
            total += src
            n += cnt
        grow = ~have & (n > 0)
        out[grow] = total[grow] / n[grow][:, None]
        have |= grow
    for _ in range(smooth):
        padded = np.pad(out, ((1, 1), (1, 1), (0, 0)), mode="edge")
        avg = (padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]) / 4
        out[hole] = avg[hole]
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
