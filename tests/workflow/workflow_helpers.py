"""Shared constants and helpers of the journal tests (imported by name, like a module)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx

from kling_widget.api.client import KlingClient
from kling_widget.workflow import Project

# Known secrets: the secrets test greps every byte of a project folder for them.
ACCESS_KEY = "AKjournaltest0123456789"
SECRET_KEY = "SKjournal-secret-never-stored-9876543210"


def project_on(emu: Any, clip: Path, root: Path, **kw: Any) -> Project:
    """A Project on the emulator, the clip uploaded to it (keywords go to ``Project``)."""
    return Project(
        clip, KlingClient(**emu.client_options()), video_url=emu.upload(clip), root=root, **kw
    )


def served_sha256(url: str) -> tuple[str, int]:
    """SHA-256 and size of what the emulator serves at ``url`` (fetched afresh)."""
    data = httpx.get(url, timeout=60).content
    return hashlib.sha256(data).hexdigest(), len(data)


# The smallest clip Kling accepts (720x720, 24 fps, 2 s): the emulator renders it fast.
CLIP_SIZE = 720
CLIP_FPS = 24
CLIP_FRAMES = 48
BALL_RADIUS = 80


def ball_centre(frame: int) -> tuple[float, float]:
    """Normalized centre of the red ball on a frame of the test clip."""
    return ((200 + 3 * frame) / CLIP_SIZE, 0.5)


def make_clip(path: Path, frames: int = CLIP_FRAMES) -> Path:
    """Write the test clip: a red ball moving right over a blocky green texture."""
    import numpy as np

    from kling_widget.media.samples import write_test_clip

    rng = np.random.default_rng(5)
    cells = CLIP_SIZE // 16
    bg = (rng.integers(0, 40, (cells, cells, 1)) + np.array([90, 110, 80])).astype(np.uint8)
    bg = np.kron(bg, np.ones((16, 16, 1), np.uint8))
    yy, xx = np.mgrid[0:CLIP_SIZE, 0:CLIP_SIZE]

    def frame(f: int) -> np.ndarray:
        img = bg.copy()
        cx, cy = (c * CLIP_SIZE for c in ball_centre(f % CLIP_FRAMES))
        img[(xx - cx) ** 2 + (yy - cy) ** 2 < BALL_RADIUS**2] = (214, 38, 46)
        return img

    write_test_clip((frame(f) for f in range(frames)), CLIP_SIZE, CLIP_SIZE, CLIP_FPS, path)
    return path
