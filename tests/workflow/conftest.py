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

    with Emulator(
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        faults=FaultPlan(seed=1),
        task_delays=(0.2, 0.3),
    ) as emulator:
        yield emulator


@pytest.fixture
def clocked_emu() -> Iterator[Any]:
    """An emulator on a ManualClock: its tasks end only when the test moves the clock."""
    from kling_widget.emulator import Emulator, FaultPlan, ManualClock

    with Emulator(
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        clock=ManualClock(),
        faults=FaultPlan(seed=3),
        task_delays=(2.0, 3.0),
    ) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _projects_elsewhere(projects_outside_the_checkout: None) -> None:
    """Every test here: projects without an explicit root go to a temporary folder."""
