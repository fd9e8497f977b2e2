"""Writing test clips: RGB frames to an H.264 file (imported by name from any test folder)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt


def write_h264(
    path: Path, frames: Iterable[npt.NDArray[np.uint8]], fps: int, side: int, crf: int
) -> Path:
    """Encode square ``side``-pixel RGB frames as yuv420p H.264 at ``fps``; returns ``path``."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "ultrafast"}
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
