"""What the emulator renders for a session: previews and Multi-Elements edits.

``tracking_output`` (Kling does not document its format) is a JSON file::

    {"format": "kling-widget-emulator/tracking-v1", "width": w, "height": h, "fps": fps,
     "total_frame": n, "object_ids": [1, 2],
     "frames": [{"frame_index": i,
                 "rle_mask_list": [{"object_id": k, "rle_mask": {"size": [h, w], "counts": s}}]}]}

with one entry per frame of the clip and one mask per object visible on it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from kling_widget.emulator.sessions import Anchors, ObjectTracks, SelectionSession
from kling_widget.emulator.uploads import FileStore
from kling_widget.emulator.vision.ops import BoolArray, dilate, resize_mask
from kling_widget.emulator.vision.plate import (
    Plate,
    build_plate,
    camera_path,
    full_path,
    plate_box,
    sample_count,
)
from kling_widget.emulator.vision.render import (
    RGB,
    Mp4Writer,
    add_into,
    draw_masks,
    save_jpeg,
    swap_into,
)
from kling_widget.rle import encode_rle

TRACKING_FORMAT = "kling-widget-emulator/tracking-v1"
WATERMARK_TEXT = "Kling emulator"


def clip_rate(session: SelectionSession) -> Fraction:
    """The clip's exact frame rate."""
    rate = getattr(session.clip.source, "fps_fraction", None)
    if isinstance(rate, Fraction):
        return rate
    return Fraction(session.clip.fps).limit_denominator(1001)


def render_preview(session: SelectionSession, store: FileStore) -> dict[str, str]:
    """Render the preview video, its cover and the tracking output; returns their URLs."""
    clip = session.clip
    tracks = session.tracks()
    cover_index = min(session.points) if session.points else 0
    vid, vpath = store.reserve("preview.mp4")
    frames: list[dict[str, Any]] = []
    cover: RGB | None = None
    # A preview is looked at once: encode it as fast as possible.
    rate = clip_rate(session)
    with Mp4Writer(vpath, clip.width, clip.height, rate, preset="ultrafast") as writer:
        for i, frame in enumerate(clip.iter_frames()):
            masks = session.full_masks(tracks, i, frame) if tracks else []
            drawn = draw_masks(frame, [m for _, m in masks])
            writer.write(drawn)
            frames.append(
                {
                    "frame_index": i,
                    "rle_mask_list": [
                        {"object_id": oid, "rle_mask": encode_rle(m)} for oid, m in masks if m.any()
                    ],
                }
            )
            if i == cover_index or cover is None:
                cover = drawn
    video = store.register(vid, vpath)
    assert cover is not None
    cid, cpath = store.reserve("preview_cover.jpg")
    save_jpeg(cpath, cover)
    cover_file = store.register(cid, cpath)
    doc = {
        "format": TRACKING_FORMAT,
        "width": clip.width,
        "height": clip.height,
        "fps": clip.fps,
        "total_frame": len(frames),
        "object_ids": sorted(tracks),
        "frames": frames,
    }
    tracking = store.add_bytes(
        "tracking_output.json", json.dumps(doc, separators=(",", ":")).encode("utf-8")
    )
    return {
        "video": store.url(video),
        "video_cover": store.url(cover_file),
        "tracking_output": store.url(tracking),
    }


def watermark(frame: RGB) -> RGB:
    """A copy of ``frame`` with the emulator's watermark in the lower-right corner."""
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    h, w = frame.shape[:2]
    draw.text((w - 130, h - 30), WATERMARK_TEXT, fill=(255, 255, 255))
    marked: RGB = np.asarray(image).copy()
    return marked


def render_edit(
    session: SelectionSession,
    anchors: dict[int, Anchors],
    edit_mode: str,
    images: list[Image.Image],
    out_path: Path,
    watermark_path: Path | None = None,
    version: int | None = None,
) -> float:
    """Render a Multi-Elements edit of the session's clip; returns the duration (s)."""
    clip = session.clip
    if not anchors:
        tracks: ObjectTracks = {}
    elif version is not None and version == session.version:
        tracks = session.tracks()  # the selection is unchanged: reuse the cached tracks
    else:
        tracks = session.track_anchors(anchors)
    if edit_mode == "removal":
        frames = _removed(session, tracks)
    elif edit_mode == "swap":
        frames = _swapped(session, tracks, images[0])
    else:
        frames = _added(session, tracks, images)
    rate = clip_rate(session)
    writer = Mp4Writer(out_path, clip.width, clip.height, rate)
    marked = Mp4Writer(watermark_path, clip.width, clip.height, rate) if watermark_path else None
    try:
        for frame in frames:
            writer.write(frame)
            if marked is not None:
                marked.write(watermark(frame))
    finally:
        writer.close()
        if marked is not None:
            marked.close()
    return writer.frames / float(rate)


def _work_holes(session: SelectionSession, tracks: ObjectTracks) -> list[BoolArray]:
    """Per frame, the union of every object's work mask (grown by a pixel)."""
    count = min(len(masks) for masks, _ in tracks.values())
    out = []
    for t in range(count):
        union = np.zeros(session.clip.work_shape(), dtype=bool)
        for masks, _ in tracks.values():
            union |= masks[t]
        out.append(dilate(union, 1))
    return out


def _removed(session: SelectionSession, tracks: ObjectTracks) -> Iterator[RGB]:
    clip = session.clip
    if not tracks:
        yield from clip.iter_frames()
        return
    work_holes = _work_holes(session, tracks)
    count = len(work_holes)
    shape = (clip.height, clip.width)
    # Full-resolution holes: generous, so an object's blurred edge goes with it.
    grow = round(1.5 * clip.scale) + 2
    holes = [dilate(resize_mask(h, shape), grow) if h.any() else None for h in work_holes]
    path = full_path(camera_path(clip.work_frame, count, work_holes), clip.scale)
    empty = np.zeros(shape, dtype=bool)
    box = plate_box([h if h is not None else empty for h in holes], path, shape)
    if box is None:
        yield from clip.iter_frames()
        return
    picks = set(np.linspace(0, count - 1, sample_count(box, count)).round().astype(int).tolist())

    def samples() -> Iterator[tuple[RGB, BoolArray, NDArray[np.float64]]]:
        for t, frame in enumerate(clip.iter_frames()):
            if t in picks and t < count:
                hole = holes[t]
                yield frame, hole if hole is not None else empty, path[t]

    plate: Plate = build_plate(samples(), box)
    for t, frame in enumerate(clip.iter_frames()):
        hole = holes[t] if t < count else None
        if hole is None:
            yield frame
            continue
        out = frame.copy()
        plate.fill(out, hole, path[t])
        yield out


def _swapped(session: SelectionSession, tracks: ObjectTracks, image: Image.Image) -> Iterator[RGB]:
    for i, frame in enumerate(session.clip.iter_frames()):
        out = frame.copy()
        for _, mask in session.full_masks(tracks, i, frame):
            swap_into(out, mask, image)
        yield out


def _added(
    session: SelectionSession, tracks: ObjectTracks, images: list[Image.Image]
) -> Iterator[RGB]:
    for i, frame in enumerate(session.clip.iter_frames()):
        out = frame.copy()
        masks = session.full_masks(tracks, i, frame) if tracks else []
        if masks:
            for k, (_, mask) in enumerate(masks):
                add_into(out, mask, images[k % len(images)], k, len(masks))
        else:
            for k, image in enumerate(images):
                add_into(out, None, image, k, len(images))
        yield out
