"""Fixtures of the command-line tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _projects_elsewhere(projects_outside_the_checkout: None) -> None:
    """Every test here: projects without an explicit root go to a temporary folder."""
