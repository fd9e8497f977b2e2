"""Undo / redo of selection changes: the calls they make, the log, and the server's masks."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fake_selection import FakeOps

from kling_widget.editor.history import (
    Change,
    History,
    JsonLinesLog,
    MemoryLog,
    Step,
    replay_script,
)

Point = tuple[float, float]
P1, P2, P3 = (0.25, 0.5), (0.3000000000000001, 0.52), (0.75, 0.125)


def test_undo_of_an_add_deletes_exactly_the_same_points() -> None:
    ops = FakeOps()
    h = History(ops)
    h.add(3, [P1, P2])
    assert h.undo_label() == "add 2 points on frame 3"
    ops.calls.clear()
    undone = h.undo()
    assert undone is not None
    assert ops.calls == [("delete", 3, [P1, P2])]
    assert ops.points == {}
    assert not h.can_undo and h.can_redo
    ops.calls.clear()
    h.redo()
    assert ops.calls == [("add", 3, [P1, P2])]
    assert ops.points == {3: [P1, P2]}


def test_undo_of_a_delete_adds_the_points_back() -> None:
    ops = FakeOps()
    h = History(ops)
    h.add(0, [P1, P2, P3])
    h.delete(0, [P2])
    ops.calls.clear()
    h.undo()
    assert ops.calls == [("add", 0, [P2])]
    assert sorted(ops.points[0]) == sorted([P1, P2, P3])


def test_undo_of_a_clear_replays_what_was_there_and_redo_clears_again() -> None:
    ops = FakeOps()
    h = History(ops)
    h.add(5, [P1])
    h.add(1, [P2, P3])
    h.clear()
    assert ops.points == {}
    ops.calls.clear()
    h.undo()
    assert ops.calls == [("add", 5, [P1]), ("add", 1, [P2, P3])]
    assert ops.points == {5: [P1], 1: [P2, P3]}
    ops.calls.clear()
    h.redo()
    assert ops.calls == [("clear", None, [])]
    # Undo twice more: back to the empty selection, through exact deletes.
    h.undo()
    ops.calls.clear()
    h.undo()
    h.undo()
    assert ops.calls == [("delete", 1, [P2, P3]), ("delete", 5, [P1])]
    assert h.undo() is None


def test_undo_of_a_clear_replays_the_adds_in_the_order_they_were_made() -> None:
    ops = FakeOps()
    h = History(ops)
    h.add(5, [P1])
    h.add(1, [P2])
    h.add(5, [P3])
    h.clear()
    ops.calls.clear()
    h.undo()
    # The server assigns points to objects in the order they come: same order again.
    assert ops.calls == [("add", 5, [P1]), ("add", 1, [P2]), ("add", 5, [P3])]


def test_replay_script_keeps_the_calls_since_the_last_clear() -> None:
    ops = [
        ("add", 0, [P1, P2]),
        ("clear", None, []),
        ("add", 3, [P1]),
        ("add", 0, [P2, P3]),
        ("delete", 0, [P2]),
        ("add", 3, [P1]),  # already there: not sent again
        ("delete", 3, [P3]),  # never there: not sent
        ("add", 0, [P2]),
    ]
    assert replay_script(ops) == (
        ("add", 3, (P1,)),
        ("add", 0, (P2, P3)),
        ("delete", 0, (P2,)),
        ("add", 0, (P2,)),
    )


def test_undo_of_a_clear_sends_the_deletes_that_shaped_the_objects_too() -> None:
    ops = FakeOps()
    h = History(ops)
    h.add(0, [P1, P2])
    h.delete(0, [P1])
    h.add(0, [P3])
    h.clear()
    ops.calls.clear()
    h.undo()
    assert ops.calls == [("add", 0, [P1, P2]), ("delete", 0, [P1]), ("add", 0, [P3])]
    assert sorted(ops.points[0]) == sorted([P2, P3])


def test_a_clear_behind_the_histories_back_falls_back_to_the_points() -> None:
    ops = FakeOps()
    h = History(ops)
    ops.points = {2: [P1]}  # points the calls log knows nothing of
    h.clear()
    ops.calls.clear()
    h.undo()
    assert ops.calls == [("add", 2, [P1])]


def test_a_new_change_drops_the_redo_stack() -> None:
    ops = FakeOps()
    h = History(ops)
    h.add(0, [P1])
    h.undo()
    assert h.can_redo
    h.add(0, [P2])
    assert not h.can_redo
    assert h.redo() is None


def test_adding_a_point_that_is_already_there_is_not_a_change() -> None:
    ops = FakeOps()
    h = History(ops)
    h.add(0, [P1])
    ops.calls.clear()
    assert h.add(0, [P1]) is None
    assert ops.calls == []
    h.add(0, [P1, P2])
    assert ops.calls == [("add", 0, [P2])]
    h.undo()
    assert ops.points == {0: [P1]}  # the first P1 stays


def test_a_multi_step_change_is_undone_in_one_go_last_step_first() -> None:
    ops = FakeOps()
    h = History(ops)
    h.add(0, [P1])
    h.add(4, [P2])
    h.apply("delete object 1", [Step("delete", 0, (P1,)), Step("delete", 4, (P2,))])
    ops.calls.clear()
    h.undo()
    assert ops.calls == [("add", 4, [P2]), ("add", 0, [P1])]


def test_an_undo_that_failed_half_way_can_be_retried() -> None:
    ops = FakeOps()
    h = History(ops)
    h.add(0, [P1])
    h.add(4, [P2])
    h.apply("delete both", [Step("delete", 0, (P1,)), Step("delete", 4, (P2,))])
    ops.calls.clear()
    # The first inverse step (re-add on frame 4) goes through, the second one fails.
    real_select = ops.select
    calls = {"n": 0}

    def flaky(frame: int, points: Sequence[Point]) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("lost")
        return real_select(frame, points)

    ops.select = flaky  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        h.undo()
    assert h.undo_label() == "delete both"  # still undoable
    assert ops.points == {4: [P2]}
    h.undo()  # frame 4 is already back: only frame 0 is sent
    assert ops.calls[-1] == ("add", 0, [P1])
    assert ops.points == {4: [P2], 0: [P1]}


def test_a_change_made_elsewhere_is_recorded_and_undone() -> None:
    ops = FakeOps()
    h = History(ops)
    ops.select(2, [P1])  # a click the editor sent itself
    h.record("add 1 point on frame 2", [Step("add", 2, (P1,))])
    ops.calls.clear()
    h.undo()
    assert ops.calls == [("delete", 2, [P1])]
    with pytest.raises(ValueError, match="steps"):
        h.record("nothing", [])


def test_a_failed_change_is_not_recorded() -> None:
    ops = FakeOps()
    h = History(ops)
    ops.fail_next = "select"
    with pytest.raises(ConnectionError):
        h.add(0, [P1])
    assert not h.can_undo


def test_history_survives_a_restart_through_its_log(tmp_path: Path) -> None:
    log_path = tmp_path / "history.jsonl"
    ops = FakeOps()
    h = History(ops, JsonLinesLog(log_path))
    h.add(2, [P1])
    h.add(2, [P2])
    h.clear()
    h.undo()  # the clear is undone: redo would clear again
    h.undo()  # the second add is undone
    # A new process: the same selection (from the journal), the history from its log.
    again = History(ops, JsonLinesLog(log_path))
    assert again.undo_label() == "add 1 point on frame 2"
    assert again.redo_label() == "add 1 point on frame 2"
    assert [c.label for c in again.redo_stack()] == [
        "clear the selection",
        "add 1 point on frame 2",
    ]
    ops.calls.clear()
    again.redo()
    again.redo()
    assert ops.calls == [("add", 2, [P2]), ("clear", None, [])]
    again.undo()
    assert ops.points == {2: [P1, P2]}


def test_the_log_ignores_a_line_cut_short_by_a_crash(tmp_path: Path) -> None:
    log_path = tmp_path / "history.jsonl"
    ops = FakeOps()
    h = History(ops, JsonLinesLog(log_path))
    h.add(0, [P1])
    with log_path.open("a") as fh:
        fh.write('{"action": "do", "change": {"label": "x", "st')
    again = History(ops, JsonLinesLog(log_path))
    assert again.undo_label() == "add 1 point on frame 0"


def test_the_log_is_compacted_and_keeps_the_stacks(tmp_path: Path) -> None:
    log = JsonLinesLog(tmp_path / "h.jsonl")
    ops = FakeOps()
    h = History(ops, log, limit=3)
    for i in range(20):
        h.add(0, [(i / 100, 0.5)])
    h.undo()
    lines = (tmp_path / "h.jsonl").read_text().splitlines()
    assert len(lines) <= 13
    again = History(ops, log, limit=3)
    assert [c.label for c in again.undo_stack()] == [c.label for c in h.undo_stack()]
    assert len(again.undo_stack()) == 2 and len(again.redo_stack()) == 1


def test_points_round_trip_exactly_through_json() -> None:
    wiped = (("add", 3, (P2, P3)), ("delete", 3, (P2,)))
    change = Change("x", (Step("clear", wiped=wiped), Step("add", 1, (P2,))))
    again = Change.from_json(json.loads(json.dumps(change.to_json())))
    assert again == change


@pytest.mark.parametrize(
    "bad",
    [
        {"steps": []},
        {"steps": [{"op": "move", "frame": 1}]},
        {"steps": [{"op": "add", "frame": "1", "points": [[0.1, 0.2]]}]},
        {"steps": [{"op": "add", "frame": 1, "points": [[0.1]]}]},
    ],
)
def test_a_log_entry_it_cannot_read_is_refused_by_name(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"step|change|point"):
        Change.from_json(bad)


def test_unreadable_history_is_dropped_not_guessed() -> None:
    log = MemoryLog([{"action": "do", "change": {"label": "x", "steps": [{"op": "zap"}]}}])
    h = History(FakeOps(), log)
    assert not h.can_undo and not h.can_redo


def test_on_change_fires_after_each_change() -> None:
    seen: list[tuple[bool, bool]] = []
    h = History(FakeOps())
    h.on_change = lambda: seen.append((h.can_undo, h.can_redo))
    h.add(0, [P1])
    h.undo()
    h.redo()
    assert seen == [(True, False), (False, True), (True, False)]


# --- against the emulator's masks ------------------------------------------------------


class ProjectOps:
    """``SelectionOps`` over a ``Project`` (API frame indices)."""

    def __init__(self, project: Any) -> None:
        self.project = project

    def select(self, frame: int, points: Sequence[Point]) -> object:
        return self.project.select(frame, points)

    def unselect(self, frame: int, points: Sequence[Point]) -> object:
        return self.project.unselect(frame, points)

    def clear(self) -> object:
        self.project.clear()
        return None

    def current_points(self) -> Mapping[int, Sequence[Point]]:
        return self.project.points

    def calls_since_clear(self) -> Sequence[tuple[str, int | None, Sequence[Point]]]:
        return [(o.op, o.frame_index, o.points) for o in self.project.journal.ops()]


def _two_squares(path: Path) -> Path:
    import av

    size, fps, frames = 720, 24, 50
    rng = np.random.default_rng(3)
    bg = (rng.integers(0, 30, (size // 16, size // 16, 1)) + np.array([80, 110, 90])).astype(
        np.uint8
    )
    bg = np.kron(bg, np.ones((16, 16, 1), np.uint8))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "ultrafast"}
        for f in range(frames):
            img = bg.copy()
            img[150:290, 100 + 2 * f : 240 + 2 * f] = (220, 40, 40)
            img[420:560, 420:560] = (40, 60, 220)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode(None))
    return path


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Any]:
    from kling_widget.api.client import KlingClient
    from kling_widget.emulator import Emulator
    from kling_widget.workflow import Project

    clip = _two_squares(tmp_path / "squares.mp4")
    with Emulator(data_dir=tmp_path / "emu") as emu:
        client = KlingClient(**emu.client_options(), timeout=300)
        p = Project(clip, client, video_url=emu.upload(clip), root=tmp_path / "kp")
        try:
            yield p
        finally:
            p.close()


def _server_masks(project: Any, frames: Sequence[int]) -> dict[int, list[np.ndarray]]:
    """The masks the server answered last for each frame, sorted by position."""
    out = {}
    for f in frames:
        arrays = [m.to_array() for m in project.masks(f)]
        out[f] = sorted((np.asarray(a).astype(bool) for a in arrays), key=lambda a: a.argmax())
    return out


@pytest.mark.slow
def test_round_trips_give_back_the_servers_masks(project: Any) -> None:
    h = History(ProjectOps(project))
    red, blue = (0.236, 0.306), (0.68, 0.68)
    h.add(0, [red])
    h.add(0, [blue])
    h.add(20, [(0.25, 0.3)])
    before = _server_masks(project, [0, 20])
    assert len(before[0]) == 2

    h.undo()  # frame 20's point: deleted exactly
    assert project.points == {0: [red, blue]}
    h.redo()
    assert _equal(_server_masks(project, [0, 20]), before)

    h.clear()
    assert project.points == {}
    h.undo()  # the whole selection comes back
    assert project.points == {0: [red, blue], 20: [(0.25, 0.3)]}
    assert _equal(_server_masks(project, [0, 20]), before)

    h.undo()
    h.undo()  # blue's point removed: only red's mask is left on frame 0
    only_red = _server_masks(project, [0])[0]
    assert len(only_red) == 1 and np.array_equal(only_red[0], before[0][0])


def _equal(a: dict[int, list[np.ndarray]], b: dict[int, list[np.ndarray]]) -> bool:
    if a.keys() != b.keys():
        return False
    for f in a:
        if len(a[f]) != len(b[f]):
            return False
        if not all(np.array_equal(x, y) for x, y in zip(a[f], b[f], strict=True)):
            return False
    return True
