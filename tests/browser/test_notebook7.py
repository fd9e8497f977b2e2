"""Notebook 7: every clip shape, the frame fully visible and partly off screen; each
click is recorded where it landed (kernel side) and the mask appears under it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_pages import open_and_run, open_browser, save_failure, serving
from matrix import API_KEY, NOTEBOOK, TOKEN, VIEWPORT, kernel_env, prepare_folder, run_matrix

from kling_widget.emulator import Emulator

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(api_key=API_KEY) as e:
        yield e


@pytest.fixture(scope="module")
def nb7(tmp_path_factory: pytest.TempPathFactory, emu: Emulator) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("nb7")
    root = tmp / "work"
    prepare_folder(root)
    with serving("notebook7", root, tmp, kernel_env(emu, tmp), TOKEN) as base:
        yield base, tmp


@pytest.mark.timeout(600)
def test_clicks_land_where_clicked_in_notebook7(nb7: tuple[str, Path], emu: Emulator) -> None:
    from playwright.sync_api import sync_playwright

    base, tmp = nb7
    with sync_playwright() as p:
        browser = open_browser(p)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(120_000)
        try:
            open_and_run(page, base, NOTEBOOK, TOKEN, "notebook7")
            run_matrix(page, emu, "notebook7")
        except BaseException:
            save_failure(page, tmp)
            raise
        finally:
            browser.close()
