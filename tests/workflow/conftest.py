"""Fixtures for the journal and Project tests: a sample clip and an emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from workflow_helpers import ACCESS_KEY, SECRET_KEY, ball_centre, make_clip


@pytest.fixture(scope="session")
def sample_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test clip (720x720, 24 fps, 2 s, a red ball moving right)."""
    return make_clip(tmp_path_factory.mktemp("clips") / "ball.mp4")


@pytest.fixture(scope="session")
def ball() -> tuple[float, float]:
    """Normalized centre of the ball on frame 0."""
    return ball_centre(0)


@pytest.fixture
def emu() -> Iterator[Any]:
    """An emulator on the wall clock with short task delays and an empty fault plan."""
    from kling_widget.emulator import Emulator, FaultPlan

    emulator = Emulator(
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        faults=FaultPlan(seed=1),
        task_delays=(0.2, 0.3),
    )
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def clocked_emu() -> Iterator[Any]:
    """An emulator on a ManualClock: its tasks end only when the test moves the clock."""
    from kling_widget.emulator import Emulator, FaultPlan, ManualClock

    emulator = Emulator(
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        clock=ManualClock(),
        faults=FaultPlan(seed=3),
        task_delays=(2.0, 3.0),
    )
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(autouse=True)
def projects_outside_the_checkout(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any project made without an explicit root lands in a temporary folder, never in
    the working directory (the tests leave no trace in the checkout)."""
    monkeypatch.setenv("KLING_WIDGET_PROJECTS", str(tmp_path_factory.mktemp("projects")))
