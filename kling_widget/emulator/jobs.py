"""What the emulator renders for a session: previews and Multi-Elements edits.

The preview's files (and the ``tracking_output`` format) are made by
``vision.preview``, usually in the background; edits are rendered here from the
session's tracked masks (reused when the selection has not changed since).

Imports only the session, the tracked masks, the file store and the vision package.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from kling_widget.emulator.sessions import ObjectTracks, SelectionSession
from kling_widget.emulator.tracked import Anchors
from kling_widget.emulator.uploads import FileStore, StoredFile
from kling_widget.emulator.vision.ops import BoolArray, dilate, resize_mask
from kling_widget.emulator.vision.plate import (
    Plate,
    build_plate,
    camera_path,
    full_path,
    plate_box,
    sample_count,
    scaled_box,
)
from kling_widget.emulator.vision.render import (
    RGB,
    Mp4Writer,
    add_into,
    swap_into,
)

WATERMARK_TEXT = "Kling emulator"


def clip_rate(session: SelectionSession) -> Fraction:
    """The clip's exact frame rate."""
    return session.clip.rate()


def _store_file(store: FileStore, path: Path, name: str) -> StoredFile:
    file_id, dest = store.reserve(name)
    shutil.move(str(path), dest)
    return store.register(file_id, dest)


def render_preview(session: SelectionSession, store: FileStore) -> dict[str, str]:
    """The preview video, its cover and the tracking output; returns their URLs.

    Usually made in the background since the selection last changed; this hands the
    files to the store (waiting for them if they are still being made).
    """
    files = session.preview_files()
    try:
        video = _store_file(store, files.video, "preview.mp4")
        cover = _store_file(store, files.cover, "preview_cover.jpg")
        tracking = _store_file(store, files.tracking, "tracking_output.json")
    finally:
        files.discard()
    return {
        "video": store.url(video),
        "video_cover": store.url(cover),
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


# Work pixels an object's region is grown by before it is filled from the plate.
HOLE_GROW = 2


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
    # Full-resolution holes, generous (grown at work resolution) so an object's blurred
    # edge goes with it; made when needed: a clip's worth would not fit in memory.
    grown = [dilate(h, HOLE_GROW) if h.any() else None for h in work_holes]

    def hole(t: int) -> BoolArray | None:
        g = grown[t] if t < count else None
        return None if g is None else resize_mask(g, shape)

    path = full_path(camera_path(clip.work_frame, count, work_holes), clip.scale)
    box = plate_box([scaled_box(g, clip.scale) for g in grown], path, shape)
    if box is None:
        yield from clip.iter_frames()
        return
    picks = set(np.linspace(0, count - 1, sample_count(box, count)).round().astype(int).tolist())
    empty = np.zeros(shape, dtype=bool)

    def samples() -> Iterator[tuple[RGB, BoolArray, NDArray[np.float64]]]:
        for t, frame in enumerate(clip.iter_frames()):
            if t in picks and t < count:
                h = hole(t)
                yield frame, h if h is not None else empty, path[t]

    plate: Plate = build_plate(samples(), box)
    for t, frame in enumerate(clip.iter_frames()):
        h = hole(t)
        if h is None:
            yield frame
            continue
        out = frame.copy()
        plate.fill(out, h, path[t])
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
