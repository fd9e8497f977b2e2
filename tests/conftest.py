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


@pytest.fixture
def projects_outside_the_checkout(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any project made without an explicit root (and any child process, which inherits
    the environment) lands in a temporary folder, never in the checkout. Test folders
    that make projects use it for every test (``autouse`` in their conftest)."""
    monkeypatch.setenv("KLING_WIDGET_PROJECTS", str(tmp_path_factory.mktemp("projects")))
