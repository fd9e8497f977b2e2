"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kling_widget.emulator import Emulator


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    """A local Kling emulator on loopback (wall clock, default task delays), stopped after."""
    with Emulator(data_dir=tmp_path / "kling-emulator") as emu:
        yield emu
