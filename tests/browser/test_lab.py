"""JupyterLab 4: every clip shape, the frame fully visible and partly off screen; each
click is recorded where it landed (kernel side) and the mask appears under it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from matrix import API_KEY, check_front_end, front_end

from kling_widget.emulator import Emulator

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(api_key=API_KEY) as e:
        yield e


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, emu: Emulator) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("lab")
    with front_end("lab", tmp, emu) as base:
        yield base, tmp


@pytest.mark.timeout(600)
def test_clicks_land_where_clicked_in_jupyterlab(lab: tuple[str, Path], emu: Emulator) -> None:
    base, tmp = lab
    check_front_end("lab", base, tmp, emu)
