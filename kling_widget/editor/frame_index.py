"""Mapping between the clip's frame numbers and Kling's ``frame_index``.

Kling numbers frames at the rate its session reports; when that differs from the clip's
own rate, or the clip's frames are unevenly spaced, frames are matched by time.
Imports ``media`` only; never the workflow or a widget.
"""

from __future__ import annotations

from kling_widget.media.frames import api_index_at, api_to_local_index, local_to_api_index
from kling_widget.media.video import VideoSource, local_index_at


def session_rate(session: object) -> tuple[float | None, int | None]:
    """The session's (fps, total_frame), each ``None`` when the session does not say."""
    fps = getattr(session, "fps", None)
    total = getattr(session, "total_frame", None)
    return (float(fps) if fps else None, int(total) if total else None)


def to_api(source: VideoSource, session: object, frame: int) -> int:
    """Kling's ``frame_index`` of the clip's frame ``frame``."""
    fps, total = session_rate(session)
    if not fps or not total:
        return frame
    if source.variable_frame_rate:
        return api_index_at(source.frame_times()[frame], fps, total)
    if abs(fps - source.fps) < 1e-6:
        return frame
    return local_to_api_index(frame, source.fps, fps, total)


def to_local(source: VideoSource, session: object, api_frame: int) -> int:
    """The clip's frame showing Kling's ``frame_index`` ``api_frame``."""
    fps, _ = session_rate(session)
    n = source.frame_count
    if fps and source.variable_frame_rate:
        return local_index_at(source.frame_times(), int(api_frame) / fps)
    if not fps or abs(fps - source.fps) < 1e-6:
        return min(max(0, int(api_frame)), n - 1)
    return api_to_local_index(int(api_frame), fps, source.fps, n)
