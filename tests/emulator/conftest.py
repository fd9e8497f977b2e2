"""Fixtures for the emulator tests: emulators, clips and sessions on them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from emu_helpers import client_of, write_clip

from kling_widget.emulator import Emulator, ManualClock


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of generated test clips (shared by the whole run)."""
    return tmp_path_factory.mktemp("emulator-clips")


@pytest.fixture(scope="session")
def small_clip(clip_dir: Path) -> Path:
    """720x720, 24 fps, 2 s: the smallest clip inside the Multi-Elements limits."""
    return write_clip(clip_dir / "small.mp4")


@pytest.fixture(scope="session")
def omni_clip(clip_dir: Path) -> Path:
    """720x720, 30 fps, 3 s: inside the Omni limits."""
    return write_clip(clip_dir / "omni.mp4", fps=30, seconds=3.0)


@pytest.fixture
def clock() -> ManualClock:
    """A business clock that only moves when told."""
    return ManualClock()


@pytest.fixture
def emu(clock: ManualClock, tmp_path: Path) -> Iterator[Emulator]:
    """An emulator on a manual clock (tasks move only when the clock is advanced)."""
    with Emulator(clock=clock, task_delays=(1.0, 2.0), data_dir=tmp_path / "emu") as e:
        yield e


@pytest.fixture(scope="module")
def live_emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """An emulator on wall time with no task delay, shared by a module."""
    data = tmp_path_factory.mktemp("emu-live")
    with Emulator(task_delays=(0.0, 0.0), data_dir=data) as e:
        yield e


@pytest.fixture
def client(emu: Emulator) -> Iterator[Any]:
    """A ``KlingClient`` of ``emu`` (JWT credentials)."""
    c = client_of(emu, timeout=600)
    yield c
    c.close()
