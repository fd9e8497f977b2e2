"""Fixtures of the command-line tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def projects_outside_the_checkout(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any project made without an explicit root (and any child process, which inherits
    the environment) lands in a temporary folder, never in the checkout."""
    monkeypatch.setenv("KLING_WIDGET_PROJECTS", str(tmp_path_factory.mktemp("projects")))
