"""Shared by the command-line tests: a tiny clip the emulator edits quickly."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np


class SmallClip:
    """The smallest clip Kling accepts (720x720, 24 fps, 2 s) with a red disc moving right.

    Edits render in a fraction of the time the 1280x720 samples take; ``point(f)`` is the
    disc's centre on frame ``f``, normalized.
    """

    width = height = 720
    fps = 24
    frame_count = 48
    radius = 90

    def __init__(self, path: Path) -> None:
        self.path = path
        rng = np.random.default_rng(7)
        tiles = rng.integers(90, 140, (self.height // 8, self.width // 8, 1), dtype=np.uint8)
        background = np.repeat(np.repeat(tiles, 8, 0), 8, 1).repeat(3, 2)
        yy, xx = np.mgrid[0 : self.height, 0 : self.width]
        frames = np.empty((self.frame_count, self.height, self.width, 3), np.uint8)
        for f in range(self.frame_count):
            frames[f] = background
            cx, cy = self.centre(f)
            frames[f][(xx - cx) ** 2 + (yy - cy) ** 2 <= self.radius**2] = (220, 30, 30)
        iio.imwrite(path, frames, plugin="pyav", codec="libx264", fps=self.fps)

    def centre(self, f: int) -> tuple[int, int]:
        return 200 + 4 * f, 360

    def point(self, f: int) -> tuple[float, float]:
        cx, cy = self.centre(f)
        return round((cx + 0.5) / self.width, 4), round((cy + 0.5) / self.height, 4)
