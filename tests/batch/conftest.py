"""Fixtures for the batch and Omni tests: small clips, a reference image, an emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from batch_helpers import make_clip, make_image


@pytest.fixture(scope="session")
def clip2s(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """720x720, 24 fps, 2 s: inside the Multi-Elements limits, too short for Omni."""
    return make_clip(tmp_path_factory.mktemp("clips") / "disc2s.mp4", seconds=2.0)


@pytest.fixture(scope="session")
def clip3s(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """720x720, 24 fps, 3 s: inside both the Multi-Elements and the Omni limits."""
    return make_clip(tmp_path_factory.mktemp("clips") / "disc3s.mp4", seconds=3.0)


@pytest.fixture(scope="session")
def ref_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 400x400 PNG that meets the reference-image rules."""
    return make_image(tmp_path_factory.mktemp("images") / "blue.png")


@pytest.fixture
def emu() -> Iterator[Any]:
    """An emulator on the wall clock: short task delays, limit 3, no faults."""
    from kling_widget.emulator import Emulator

    with Emulator(task_delays=(0.1, 0.2), concurrency_limit=3) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _projects_elsewhere(projects_outside_the_checkout: None) -> None:
    """Every test here: projects without an explicit root go to a temporary folder."""
