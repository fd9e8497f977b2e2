"""Small clips and images for the batch tests: a coloured disc moving over a plain background."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from kling_widget.api.client import KlingClient
from kling_widget.batch import BatchResult, Job, edit_many
from kling_widget.media.samples import write_test_clip

# Multi-Elements needs 2-5 s, Omni 3-10 s; both take 720 px sides and 24 fps.
SIDE = 720
FPS = 24
DISC_CENTRE = (0.5, 0.5)  # normalized, where the disc is on frame 0


def make_clip(path: Path, seconds: float = 2.0, side: int = SIDE, fps: int = FPS) -> Path:
    """Write an H.264 clip of a red disc drifting right over grey; returns ``path``."""
    yy, xx = np.mgrid[0:side, 0:side]

    def frame(i: int) -> np.ndarray:
        img = np.full((side, side, 3), 96, np.uint8)
        cx = side * DISC_CENTRE[0] + i * 2
        cy = side * DISC_CENTRE[1]
        img[(xx - cx) ** 2 + (yy - cy) ** 2 <= (side * 0.12) ** 2] = (220, 30, 30)
        return img

    write_test_clip((frame(i) for i in range(round(seconds * fps))), side, side, fps, path)
    return path


def run_batch(emu: Any, jobs: Iterable[Job], out: Path, **kw: Any) -> BatchResult:
    """``edit_many`` against the emulator, results in ``out``, no progress bar."""
    return edit_many(
        jobs,
        client=KlingClient(**emu.client_options()),
        out_dir=out,
        uploader=emu.upload,
        progress=False,
        **kw,
    )


def make_image(path: Path, side: int = 400, colour: tuple[int, int, int] = (30, 60, 220)) -> Path:
    """A PNG reference image that meets Kling's image rules."""
    Image.new("RGB", (side, side), colour).save(path)
    return path
