"""Small generated clips for the video and frame-cache tests.

Every frame carries its own index as a 10-bit code of black/white blocks along
its top edge (readable after scaling, resampling and JPEG), over a moving
gradient, so a test can tell exactly which source frame it is looking at.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

CODE_BITS = 10

_CODECS = {
    ".mp4": "libx264",
    ".mov": "libx264",
    ".avi": "mpeg4",
    ".webm": "libvpx",
    ".mkv": "libx264",
}


def render_frame(index: int, width: int, height: int) -> np.ndarray:
    """The test pattern for frame ``index``: a moving gradient under an index code."""
    y = np.arange(height, dtype=np.int32)[:, None]
    x = np.arange(width, dtype=np.int32)[None, :]
    frame = np.empty((height, width, 3), np.uint8)
    frame[..., 0] = ((x * 255) // max(1, width - 1) + index * 3) % 256 // 2 + 64
    frame[..., 1] = ((y * 255) // max(1, height - 1)) // 2 + 64
    frame[..., 2] = 128
    bw, bh = width // (CODE_BITS + 2), height // 6
    for bit in range(CODE_BITS):
        x0 = (bit + 1) * bw
        frame[0:bh, x0 : x0 + bw] = 255 if (index >> bit) & 1 else 0
    return frame


def read_code(frame: np.ndarray) -> int:
    """The frame index written by ``render_frame`` (works at any scale)."""
    height, width = frame.shape[:2]
    bw, bh = width / (CODE_BITS + 2), height / 6
    value = 0
    for bit in range(CODE_BITS):
        cx, cy = int((bit + 1.5) * bw), int(bh / 2)
        if frame[cy, cx].mean() > 128:
            value |= 1 << bit
    return value


def write_clip(
    path: Path,
    width: int,
    height: int,
    fps: float | Fraction,
    frames: int,
    codec: str | None = None,
    preset: str = "ultrafast",
) -> Path:
    """Encode ``frames`` test-pattern frames into ``path`` (container from the suffix).

    ``preset="veryfast"`` gives an H.264 stream with B-frames (reordered
    timestamps), like most real clips; ``ultrafast`` has none and is quicker.
    """
    codec = codec or _CODECS[path.suffix.lower()]
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": preset, "crf": "20"}
            stream.codec_context.gop_size = 12
        else:
            stream.bit_rate = 4_000_000
            if codec == "libvpx":
                # libvpx's default "good" deadline takes seconds per 720p frame.
                stream.options = {
                    "deadline": "realtime",
                    "cpu-used": "8",
                    "lag-in-frames": "0",
                    "auto-alt-ref": "0",
                }
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(render_frame(i, width, height), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


ClipMaker = Callable[..., Path]


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def make_clip(clip_dir: Path) -> ClipMaker:
    """``make_clip(name, width, height, fps, frames)``: a cached generated clip."""

    def make(
        name: str,
        width: int,
        height: int,
        fps: float,
        frames: int,
        codec: str | None = None,
        preset: str = "ultrafast",
    ) -> Path:
        path = clip_dir / name
        if not path.exists():
            write_clip(path, width, height, fps, frames, codec, preset)
        return path

    return make


@pytest.fixture(scope="session")
def code_of() -> Callable[[np.ndarray], int]:
    """``code_of(frame)``: the frame index drawn into a test-pattern frame."""
    return read_code


@pytest.fixture(scope="session")
def pattern() -> Callable[[int, int, int], np.ndarray]:
    """``pattern(index, width, height)``: the uncompressed test-pattern frame."""
    return render_frame
