"""Omni-Video: what the emulator renders for a prompt.

The emulator has no generative model, so it renders a visible, deterministic emulation:

- **Editing a base video** (``video_list[0].refer_type == "base"``): the clip, resampled to
  24 fps (nearest earlier frame), same size (even sides) and length, colour-graded by
  keywords in the prompt, checked in this order: "black and white" / "grayscale" /
  "monochrome" -> grey; "sepia" / "vintage" -> sepia; "night" / "dark" -> darker and blue;
  "warm" / "sunset" / "golden" -> warmer; "cold" / "cool" / "winter" -> colder;
  "bright" -> brighter; otherwise a hue rotation by an angle taken from a hash of the
  prompt. The prompt's first 60 characters are captioned at the bottom-left.
- **Generating** (no base video): ``duration`` seconds (default 5) at 24 fps, sized by
  ``mode`` (std 720p, pro 1080p) and ``aspect_ratio`` (or the first frame's shape, or a
  ``feature`` video's): the ``first_frame`` image (cross-fading to ``end_frame`` when
  given, with a slow zoom), or a gradient coloured from the prompt's hash, with the same
  caption.

Imports ``emulator.vision.render`` (the mp4 writer) and ``kling_widget.media`` only.
"""

from __future__ import annotations

import atexit
import hashlib
import math
import shutil
import tempfile
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from kling_widget.emulator.vision.render import Mp4Writer, fit_image
from kling_widget.limits import OMNI_OUTPUT_FPS
from kling_widget.media.video import VideoSource

RGB = NDArray[np.uint8]

GRADES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("grey", ("black and white", "black-and-white", "grayscale", "greyscale", "monochrome")),
    ("sepia", ("sepia", "vintage")),
    ("night", ("night", "dark")),
    ("warm", ("warm", "sunset", "golden")),
    ("cold", ("cold", "cool", "winter")),
    ("bright", ("bright",)),
)
CAPTION_CHARS = 60
SIZES = {
    ("std", "16:9"): (1280, 720),
    ("std", "9:16"): (720, 1280),
    ("std", "1:1"): (720, 720),
    ("pro", "16:9"): (1920, 1080),
    ("pro", "9:16"): (1080, 1920),
    ("pro", "1:1"): (1080, 1080),
}


def grade_for(prompt: str) -> str:
    """The grade a prompt selects: a keyword grade, or ``"hue:<degrees>"``."""
    text = prompt.lower()
    for name, words in GRADES:
        if any(w in text for w in words):
            return name
    angle = int.from_bytes(hashlib.sha256(prompt.encode("utf-8")).digest()[:2], "big") % 300 + 30
    return f"hue:{angle}"


def _hue_matrix(degrees: float) -> NDArray[np.float32]:
    # Rotation about the grey axis (luma-preserving approximation).
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array(
        [
            [
                0.213 + c * 0.787 - s * 0.213,
                0.715 - c * 0.715 - s * 0.715,
                0.072 - c * 0.072 + s * 0.928,
            ],
            [
                0.213 - c * 0.213 + s * 0.143,
                0.715 + c * 0.285 + s * 0.140,
                0.072 - c * 0.072 - s * 0.283,
            ],
            [
                0.213 - c * 0.213 - s * 0.787,
                0.715 - c * 0.715 + s * 0.715,
                0.072 + c * 0.928 + s * 0.072,
            ],
        ],
        dtype=np.float32,
    )


_MATRICES = {
    "grey": np.array([[0.299, 0.587, 0.114]] * 3, dtype=np.float32),
    "sepia": np.array(
        [[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], dtype=np.float32
    ),
    "night": np.array([[0.45, 0.0, 0.0], [0.0, 0.5, 0.0], [0.05, 0.05, 0.75]], dtype=np.float32),
    "warm": np.array([[1.12, 0.0, 0.0], [0.0, 1.02, 0.0], [0.0, 0.0, 0.82]], dtype=np.float32),
    "cold": np.array([[0.85, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.15]], dtype=np.float32),
    "bright": np.array([[1.25, 0.0, 0.0], [0.0, 1.25, 0.0], [0.0, 0.0, 1.25]], dtype=np.float32),
}


def apply_grade(frame: RGB, grade: str) -> RGB:
    """Apply a grade from ``grade_for`` to an RGB frame (a new array)."""
    matrix = _hue_matrix(float(grade[4:])) if grade.startswith("hue:") else _MATRICES[grade]
    out = frame.astype(np.float32) @ matrix.T
    graded: RGB = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return graded


def caption(frame: RGB, prompt: str) -> RGB:
    """The frame with the prompt's start written at the bottom-left (a new array)."""
    text = " ".join(prompt.split())[:CAPTION_CHARS]
    if not text:
        return frame
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    h = frame.shape[0]
    box = draw.textbbox((16, h - 40), text)
    draw.rectangle((box[0] - 6, box[1] - 6, box[2] + 6, box[3] + 6), fill=(0, 0, 0))
    draw.text((16, h - 40), text, fill=(255, 255, 255))
    captioned: RGB = np.asarray(image).copy()
    return captioned


def _resampled(source: VideoSource, fps_out: int) -> Iterator[RGB]:
    """Frames at ``fps_out`` covering the source's length (nearest earlier frame)."""
    count = int(source.frame_count)
    duration = count / float(source.fps)
    total = max(1, math.floor(duration * fps_out + 1e-6))
    wanted = [
        min(count - 1, math.floor(j * float(source.fps) / fps_out + 1e-6)) for j in range(total)
    ]
    j = 0
    last: RGB | None = None
    for i, frame in enumerate(source.iter_frames()):
        last = frame
        while j < total and wanted[j] == i:
            yield frame
            j += 1
        if j >= total:
            return
    while j < total and last is not None:
        yield last
        j += 1


# Renders are deterministic: the same clip bytes and prompt give the same file, so a
# repeat is a copy. Many identical jobs (batch tests, the batch benchmark) then measure
# the scheduling, not the emulator's encoder. (clip sha256, prompt) -> (file, duration);
# the files live in one temporary folder per process, removed at exit.
_EDIT_RENDERS: dict[tuple[str, str], tuple[Path, float]] = {}
_EDIT_RENDERS_LOCK = threading.Lock()
_EDIT_RENDERS_DIR: list[Path] = []


def _renders_dir() -> Path:
    if not _EDIT_RENDERS_DIR:
        folder = Path(tempfile.mkdtemp(prefix="kling-emulator-renders-"))
        atexit.register(shutil.rmtree, folder, True)
        _EDIT_RENDERS_DIR.append(folder)
    return _EDIT_RENDERS_DIR[0]


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def render_edit(video: Path, prompt: str, out: Path) -> float:
    """Grade and caption a base video at 24 fps; returns the output duration (s).

    A render of the same clip bytes with the same prompt is copied from the earlier one.
    """
    key = (_file_sha256(video), prompt)
    with _EDIT_RENDERS_LOCK:
        done = _EDIT_RENDERS.get(key)
    if done is not None and done[0].is_file():
        shutil.copyfile(done[0], out)
        return done[1]
    seconds = _render_edit(video, prompt, out)
    with _EDIT_RENDERS_LOCK:
        kept = _renders_dir() / f"{key[0][:16]}-{len(_EDIT_RENDERS)}.mp4"
        shutil.copyfile(out, kept)
        _EDIT_RENDERS[key] = (kept, seconds)
    return seconds


def _render_edit(video: Path, prompt: str, out: Path) -> float:
    source = VideoSource(video)
    grade = grade_for(prompt)
    writer = Mp4Writer(out, int(source.width), int(source.height), Fraction(OMNI_OUTPUT_FPS))
    try:
        for frame in _resampled(source, OMNI_OUTPUT_FPS):
            writer.write(caption(apply_grade(frame, grade), prompt))
    finally:
        writer.close()
        source.close()
    return writer.frames / OMNI_OUTPUT_FPS


def _gradient(width: int, height: int, prompt: str) -> RGB:
    digest = hashlib.sha256(prompt.encode("utf-8")).digest()
    a = np.array(list(digest[:3]), dtype=np.float32)
    b = np.array(list(digest[3:6]), dtype=np.float32)
    t = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    s = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    img = a * (1 - t) * (1 - 0.3 * s) + b * t * (0.7 + 0.3 * s)
    result: RGB = np.clip(img, 0, 255).astype(np.uint8)
    return result


def _aspect_of(width: int, height: int) -> str:
    return "16:9" if width > 1.2 * height else ("9:16" if height > 1.2 * width else "1:1")


def output_size(
    mode: str,
    aspect: str | None,
    first: Image.Image | None,
    reference: tuple[int, int] | None = None,
) -> tuple[int, int]:
    """(width, height) of a generated video: ``aspect`` when given, else the first frame's
    shape, else a reference video's (``(width, height)``), else 16:9."""
    if aspect is None and first is not None:
        aspect = _aspect_of(*first.size)
    if aspect is None and reference is not None:
        aspect = _aspect_of(*reference)
    return SIZES[(mode, aspect or "16:9")]


def render_generated(
    prompt: str,
    duration: int,
    size: tuple[int, int],
    first: Image.Image | None,
    end: Image.Image | None,
    out: Path,
) -> float:
    """A generated clip (see the module docstring); returns its duration (s)."""
    width, height = size
    base = (
        np.asarray(fit_image(first.convert("RGB"), width, height, cover=True))
        if first is not None
        else _gradient(width, height, prompt)
    )
    last = np.asarray(fit_image(end.convert("RGB"), width, height, cover=True)) if end else None
    total = duration * OMNI_OUTPUT_FPS
    with Mp4Writer(out, width, height, Fraction(OMNI_OUTPUT_FPS)) as writer:
        for j in range(total):
            t = j / max(1, total - 1)
            frame = base.astype(np.float32)
            if last is not None:
                frame = frame * (1 - t) + last.astype(np.float32) * t
            zoom = 1.0 + 0.08 * t
            img = Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8))
            cw, ch = int(width / zoom), int(height / zoom)
            left, top = (width - cw) // 2, (height - ch) // 2
            img = img.crop((left, top, left + cw, top + ch)).resize((width, height))
            writer.write(caption(np.asarray(img), prompt))
    return total / OMNI_OUTPUT_FPS
