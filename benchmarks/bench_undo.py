"""Undo / redo round trips checked against the server's masks (the local emulator).

Run: ``python benchmarks/bench_undo.py [--changes 30] [--seed 1]``. A random sequence of
selection changes (add a point on an object or the background of one of four frames,
delete one existing point, now and then clear) goes through ``editor.history.History``
over a ``workflow.Project`` on the emulator, over loopback. After every change the
masks the server answered for each marked frame are kept. Then every change is undone,
one by one, back to the empty selection, and redone to the end; after each step the
server's masks of every marked frame are compared with the ones kept for that state
(pixel-exact, per frame, objects in position order), and the points with the journal's.

Prints the counts of states checked and matched, and the time per undo and redo against
the time per original change (the reference, measured in the same run).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av
import numpy as np

from kling_widget.api.client import KlingClient
from kling_widget.editor.history import History
from kling_widget.emulator import Emulator
from kling_widget.workflow import Project

Point = tuple[float, float]
SIZE, FPS, FRAMES = 720, 24, 50
FRAMES_USED = (0, 12, 25, 40)


def write_clip(path: Path) -> Path:
    rng = np.random.default_rng(3)
    bg = (rng.integers(0, 30, (SIZE // 16, SIZE // 16, 1)) + np.array([80, 110, 90])).astype(
        np.uint8
    )
    bg = np.kron(bg, np.ones((16, 16, 1), np.uint8))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "ultrafast"}
        for f in range(FRAMES):
            img = bg.copy()
            img[150:290, 100 + 4 * f : 240 + 4 * f] = (220, 40, 40)
            img[420:560, 420:560] = (40, 60, 220)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode(None))
    return path


class Ops:
    """``SelectionOps`` over a ``Project``."""

    def __init__(self, project: Project) -> None:
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


def snapshot(project: Project) -> dict[int, list[bytes]]:
    """The server's masks per marked frame, as bytes, objects in position order."""
    out = {}
    for f in sorted(project.points):
        arrays = [m.to_array().astype(bool) for m in project.masks(f)]
        arrays.sort(key=lambda a: int(a.argmax()))
        out[f] = [np.packbits(a).tobytes() for a in arrays]
    return out


def random_point(rng: random.Random, frame: int) -> Point:
    kind = rng.random()
    if kind < 0.45:  # the moving red square
        return ((170 + 4 * frame + rng.uniform(-50, 50)) / SIZE, rng.uniform(170, 270) / SIZE)
    if kind < 0.9:  # the blue square
        return (rng.uniform(440, 540) / SIZE, rng.uniform(440, 540) / SIZE)
    return (rng.uniform(0.05, 0.95), rng.uniform(0.8, 0.95))  # background


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"loadavg before: {os.getloadavg()}")
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_clip(Path(tmp) / "squares.mp4")
        with Emulator(data_dir=Path(tmp) / "emu") as emu:
            client = KlingClient(**emu.client_options(), timeout=300)
            project = Project(clip, client, video_url=emu.upload(clip), root=Path(tmp) / "kp")
            try:
                run(project, rng, args.changes)
            finally:
                project.close()
    print(f"loadavg after: {os.getloadavg()}")


def run(project: Project, rng: random.Random, n_changes: int) -> None:
    history = History(Ops(project))
    states = [({}, {})]  # (points, masks) after 0, 1, ... changes
    change_s: list[float] = []
    kinds: dict[str, int] = {}
    while len(states) <= n_changes:
        points = project.points
        roll = rng.random()
        t = time.perf_counter()
        if roll < 0.08 and points:
            history.clear()
            kind = "clear"
        elif roll < 0.3 and points:
            frame = rng.choice(sorted(points))
            history.delete(frame, [rng.choice(points[frame])])
            kind = "delete"
        else:
            frame = rng.choice(FRAMES_USED)
            if len(points.get(frame, [])) >= 10:
                continue
            history.add(frame, [random_point(rng, frame)])
            kind = "add"
        change_s.append(time.perf_counter() - t)
        kinds[kind] = kinds.get(kind, 0) + 1
        states.append((project.points, snapshot(project)))
    print(f"changes: {n_changes} ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))})")

    checked = matched = points_ok = 0
    undo_s: list[float] = []
    redo_s: list[float] = []
    for i in range(n_changes, 0, -1):
        t = time.perf_counter()
        history.undo()
        undo_s.append(time.perf_counter() - t)
        want_points, want_masks = states[i - 1]
        checked += 1
        matched += snapshot(project) == want_masks
        points_ok += _same_points(project.points, want_points)
    for i in range(1, n_changes + 1):
        t = time.perf_counter()
        history.redo()
        redo_s.append(time.perf_counter() - t)
        want_points, want_masks = states[i]
        checked += 1
        got = snapshot(project)
        matched += got == want_masks
        points_ok += _same_points(project.points, want_points)
    ref = statistics.median(change_s)
    print(
        f"round trips: {checked} states checked after undo/redo; server masks equal: "
        f"{matched}/{checked}; points equal: {points_ok}/{checked}"
    )
    print(
        f"time: change median {ref * 1000:.0f} ms (reference); undo median "
        f"{statistics.median(undo_s) * 1000:.0f} ms ({statistics.median(undo_s) / ref:.2f}x), "
        f"redo median {statistics.median(redo_s) * 1000:.0f} ms "
        f"({statistics.median(redo_s) / ref:.2f}x)"
    )


def _same_points(a: Mapping[int, Sequence[Point]], b: Mapping[int, Sequence[Point]]) -> bool:
    # Re-adding a deleted point puts it last on its frame: compare as sets per frame.
    return a.keys() == b.keys() and all(sorted(a[f]) == sorted(b[f]) for f in a)


if __name__ == "__main__":
    main()
