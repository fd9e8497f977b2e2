"""Expired or forgotten sessions are rebuilt and replayed, and the masks are verified."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from workflow_helpers import ACCESS_KEY, SECRET_KEY, ball_centre

from kling_widget.api.client import KlingClient
from kling_widget.workflow import Project


@pytest.fixture
def clocked() -> Iterator[Any]:
    """An emulator on a ManualClock (its sessions expire when the test says so)."""
    from kling_widget.emulator import Emulator, FaultPlan, ManualClock

    emulator = Emulator(
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        clock=ManualClock(),
        faults=FaultPlan(seed=2),
        task_delays=(0.0, 0.0),
    )
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


def _selection_calls(emu: Any) -> list[Any]:
    return [r for r in emu.requests if r.path.endswith(("/add-selection", "/delete-selection"))]


def _ops(requests: list[Any]) -> list[tuple[str, int, Any]]:
    """Selection calls as (path, frame, points), a retried call counted once.

    On a loaded machine a call can time out on the client after the server received it;
    the retry then reaches the server a second time with the same body.
    """
    ops: list[tuple[str, int, Any]] = []
    for r in requests:
        op = (r.path, r.json["frame_index"], r.json["points"])
        if not ops or ops[-1] != op:
            ops.append(op)
    return ops


def _arrays(masks: list[Any]) -> dict[Any, np.ndarray]:
    return {m.object_id: m.to_array() for m in masks}


def _mark(p: Project) -> dict[int, dict[Any, np.ndarray]]:
    """Two frames marked, a third point added and deleted again; returns the masks."""
    c0, c30 = ball_centre(0), ball_centre(30)
    extra = (round(c0[0] + 0.02, 6), c0[1])
    p.select(0, [c0])
    p.select(0, [extra])
    p.unselect(0, [extra])
    p.select(30, [c30])
    return {f: _arrays(p.masks(f)) for f in (0, 30)}


def _equal(a: dict[Any, np.ndarray], b: dict[Any, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_session_gone_on_server_is_rebuilt_and_replayed(
    clocked: Any, sample_clip: Path, tmp_path: Path
) -> None:
    messages: list[str] = []
    p = Project(
        sample_clip,
        KlingClient(**clocked.client_options()),
        video_url=clocked.upload(sample_clip),
        root=tmp_path / "kp",
        on_status=messages.append,
    )
    before = _mark(p)
    assert all(before[f] for f in before)
    old_sid = p.session.session_id if p.session else None
    sent_ops = _ops(_selection_calls(clocked))

    clocked.clock.advance(25 * 3600)  # only the server knows: the project's clock is wall time
    n = len(clocked.requests)
    p.select(45, [ball_centre(45)])  # the next selection call triggers the rebuild

    new = clocked.requests[n:]
    paths = [r.path.rsplit("/", 1)[-1] for r in new]
    # The refused call, a fresh init, the replay in the original order, then the new call.
    assert paths[0] == "add-selection" and paths[1] == "init-selection"
    assert paths[-1] == "add-selection"
    replay_calls = [
        r for r in new[2:-1] if r.path.endswith(("/add-selection", "/delete-selection"))
    ]
    assert _ops(replay_calls) == sent_ops
    assert all(r.json["session_id"] != old_sid for r in replay_calls)
    assert p.session is not None and p.session.session_id != old_sid
    # The replayed masks equal the originals, pixel for pixel.
    report = p.last_rebuild
    assert report is not None and report.ok and report.replayed == 4
    for f, masks in before.items():
        assert _equal(_arrays(p.masks(f)), masks)
    # Said in plain words: what happened, what is re-marked, and that the masks held.
    assert any(
        m.startswith("Kling no longer knows the selection session")
        and "re-marking 2 points on 2 frames" in m
        for m in messages
    ), messages
    assert "Re-marked 2 points on 2 frames on a new session; every mask came back the same" in (
        messages
    )
    assert p.points.keys() == {0, 30, 45}
    sessions = p.journal.sessions()
    assert sessions[0].end_reason == "gone on the server" and sessions[-1].ended_at is None
    p.close()


def test_expiry_by_the_journal_clock_rebuilds_before_calling(
    clocked: Any, sample_clip: Path, tmp_path: Path
) -> None:
    root = tmp_path / "kp"
    url = clocked.upload(sample_clip)
    p = Project(
        sample_clip,
        KlingClient(**clocked.client_options()),
        video_url=url,
        root=root,
        clock=clocked.clock,
    )
    before = _mark(p)
    p.close()

    clocked.clock.advance(25 * 3600)
    messages: list[str] = []
    client = KlingClient(**clocked.client_options())
    q = Project(sample_clip, client, root=root, clock=clocked.clock, on_status=messages.append)
    assert q.points.keys() == {0, 30}  # back from the journal, no call yet
    n = len(clocked.requests)
    q.preview()
    paths = [r.path.rsplit("/", 1)[-1] for r in clocked.requests[n:]]
    # No call on the dead session: init first (with the journaled URL), replay, preview.
    assert paths[0] == "init-selection"
    assert clocked.requests[n].json["video_url"] == url
    assert paths[-1] == "preview-selection"
    assert paths.count("add-selection") == 3 and paths.count("delete-selection") == 1
    assert any(m.startswith("The selection session expired") for m in messages), messages
    assert q.last_rebuild is not None and q.last_rebuild.ok
    for f, masks in before.items():
        assert _equal(_arrays(q.masks(f)), masks)
    q.close()


def test_replay_stops_at_the_last_clear(clocked: Any, sample_clip: Path, tmp_path: Path) -> None:
    client = KlingClient(**clocked.client_options())
    p = Project(sample_clip, client, video_url=clocked.upload(sample_clip),
                root=tmp_path / "kp", clock=clocked.clock)  # fmt: skip
    p.select(0, [ball_centre(0)])
    p.clear()
    p.select(45, [ball_centre(45)])
    clocked.clock.advance(25 * 3600)
    n = len(clocked.requests)
    p.ensure_session()
    replayed = [r for r in clocked.requests[n:] if r.path.endswith("add-selection")]
    assert [r.json["frame_index"] for r in replayed] == [45]
    assert p.points == {45: [ball_centre(45)]}
    p.close()


def test_a_mask_mismatch_after_replay_is_reported(
    clocked: Any, sample_clip: Path, tmp_path: Path
) -> None:
    messages: list[str] = []
    client = KlingClient(**clocked.client_options())
    p = Project(sample_clip, client, video_url=clocked.upload(sample_clip),
                root=tmp_path / "kp", clock=clocked.clock,
                on_status=messages.append)  # fmt: skip
    p.select(0, [ball_centre(0)])
    p.select(30, [ball_centre(30)])
    # Make the journal remember a different mask for frame 30 (as if the server changed).
    from kling_widget.rle import encode_rle

    arr = p.masks(30)[0].to_array()
    shifted = np.roll(arr, 40, axis=1)
    con = sqlite3.connect(p.journal.path)
    seq, masks = con.execute(
        "SELECT seq, masks FROM selection_ops WHERE frame_index = 30"
    ).fetchone()
    items = json.loads(masks)
    items[0]["rle_mask"] = encode_rle(shifted)
    con.execute("UPDATE selection_ops SET masks = ? WHERE seq = ?", (json.dumps(items), seq))
    con.commit()
    con.close()

    clocked.clock.advance(25 * 3600)
    p.ensure_session()
    report = p.last_rebuild
    assert report is not None and not report.ok
    bad = [f for f in report.frames if not f.matched]
    assert [f.frame_index for f in bad] == [30]
    assert 0.0 < bad[0].iou < 1.0
    assert [f.frame_index for f in report.frames if f.matched] == [0]
    assert any("differ from before on frame 30" in m for m in messages)
    p.close()
