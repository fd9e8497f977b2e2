"""Faults inside one process: unanswered creates and unanswered selection calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from workflow_helpers import ball_centre, project_on

from kling_widget.api.client import KlingClient
from kling_widget.errors import KlingTransportError
from kling_widget.workflow import Project

CREATE_PATH = "/v1/videos/multi-elements"


def test_dropped_create_reply_is_adopted_not_repeated(
    emu: Any, sample_clip: Path, ball: tuple[float, float], tmp_path: Path
) -> None:
    """The server creates the task, the connection drops before the reply arrives."""
    p = project_on(emu, sample_clip, tmp_path)
    p.select(0, [ball])
    emu.faults.add("drop", path=CREATE_PATH, method="POST", times=1)
    task = p.create("removal")
    assert len(emu.tasks()) == 1
    assert emu.tasks()[0].external_task_id == task.external_task_id
    creates = [r for r in emu.requests if r.method == "POST" and r.path == CREATE_PATH]
    assert len(creates) == 1  # found by its external id, never sent twice
    rec = p.history()[-1]
    assert rec.task_id == task.task_id and rec.status != "creating"
    p.close()


def test_unanswered_selection_call_resyncs_the_session(
    emu: Any, sample_clip: Path, ball: tuple[float, float], tmp_path: Path
) -> None:
    """add-selection processed but unanswered: the server may hold a point the journal
    does not; the next call clears the session and replays the journal first."""
    p = Project(
        sample_clip,
        KlingClient(**emu.client_options(), max_retries=0),
        video_url=emu.upload(sample_clip),
        root=tmp_path,
    )
    p.select(0, [ball])
    emu.faults.add("drop", path="/add-selection", method="POST", times=1)
    lost = ball_centre(30)
    with pytest.raises(KlingTransportError):
        p.select(30, [lost])
    assert p.points == {0: [ball]}  # only answered calls are journaled
    n = len(emu.requests)
    p.select(30, [lost])
    calls = [(r.path.rsplit("/", 1)[-1], r.json.get("frame_index")) for r in emu.requests[n:]]
    assert calls == [
        ("clear-selection", None),
        ("add-selection", 0),
        ("add-selection", 30),
    ]
    assert p.points == {0: [ball], 30: [lost]}
    assert p.last_rebuild is not None and p.last_rebuild.ok
    p.close()
