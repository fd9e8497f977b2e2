"""Reopening a project: what came back, Clear in plain words, re-runs that reuse a task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from workflow_helpers import ball_centre, project_on

from kling_widget.errors import KlingValidationError

SELECTION_CALLS = ("/init-selection", "/add-selection", "/delete-selection")
CREATE = "/v1/videos/multi-elements"


def test_clear_after_reopening_says_what_it_did_and_replays_nothing(
    emu: Any, sample_clip: Path, tmp_path: Path
) -> None:
    root = tmp_path / "kp"
    p = project_on(emu, sample_clip, root)
    p.select(0, [ball_centre(0)])
    p.select(30, [ball_centre(30), (0.9, 0.9)])
    p.close()

    messages: list[str] = []
    q = project_on(emu, sample_clip, root, on_status=messages.append)
    assert str(q.restored) == "Restored 3 points on 2 frames from the journal"
    assert q.restored.point_count == 3 and q.restored.frame_count == 2
    n = len(emu.requests)
    q.clear()
    assert q.points == {}
    assert messages[-1] == "Cleared the selection: 3 points on 2 frames removed"
    sent = [r.path for r in emu.requests[n:]]
    assert not [path for path in sent if path.endswith(SELECTION_CALLS)], sent
    q.close()


def test_clear_when_kling_forgot_the_session_is_journal_only(
    clocked_emu: Any, sample_clip: Path, tmp_path: Path
) -> None:
    emu = clocked_emu
    p = project_on(emu, sample_clip, tmp_path / "kp")
    p.select(0, [ball_centre(0)])
    emu.clock.advance(25 * 3600)  # only the server knows: the project's clock is wall time
    n = len(emu.requests)
    p.clear()
    assert p.points == {}
    # Nothing is re-marked just to be removed: no new session, no replay.
    assert not [r for r in emu.requests[n:] if r.path.endswith(SELECTION_CALLS)]
    p.close()


def test_an_identical_request_is_picked_up_and_mark_sends_nothing_twice(
    emu: Any, sample_clip: Path, tmp_path: Path
) -> None:
    p = project_on(emu, sample_clip, tmp_path / "kp")
    frames = {0: [ball_centre(0)]}
    assert p.mark(frames) is True
    n = len(emu.requests)
    assert p.mark(frames) is False and len(emu.requests) == n
    first = p.create("removal", reuse=True)
    again = p.create("removal", reuse=True)
    assert again.external_task_id == first.external_task_id
    creates = [r for r in emu.requests if r.method == "POST" and r.path == CREATE]
    assert len(creates) == 1
    # Without reuse (the editor's Create pressed twice) a second task is made on purpose.
    other = p.create("removal")
    assert other.external_task_id != first.external_task_id
    p.close()


def test_wait_with_nothing_to_wait_for_is_a_clear_error(
    emu: Any, sample_clip: Path, tmp_path: Path
) -> None:
    p = project_on(emu, sample_clip, tmp_path / "kp")
    assert p.restored.empty and str(p.restored) == "Nothing to restore: a new project"
    with pytest.raises(KlingValidationError, match="nothing to wait for"):
        p.wait()
    with pytest.raises(KlingValidationError, match="timeout=nan: must be finite"):
        p.wait(timeout=float("nan"))
    p.close()


def test_a_recorded_download_must_have_the_announced_length(
    emu: Any, sample_clip: Path, tmp_path: Path
) -> None:
    from kling_widget.journal import JournalError

    p = project_on(emu, sample_clip, tmp_path / "kp")
    p.journal.add_task("kw-x", "multi-elements", {})
    part = p.folder / "results" / "short.mp4"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * 90)
    with pytest.raises(JournalError, match="90 bytes on disk, 90 counted, 100 announced"):
        p.journal.add_download("kw-x", "http://x/r.mp4", part, 90, "0" * 64, total=100)
    assert p.journal.downloads("kw-x") == []
    p.close()
