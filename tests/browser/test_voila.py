"""Voila: every clip shape, the frame fully visible and partly off screen; each
click is recorded where it landed (kernel side) and the mask appears under it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_pages import open_browser, save_failure, serving
from matrix import API_KEY, NOTEBOOK, TOKEN, VIEWPORT, kernel_env, prepare_folder, run_matrix

from kling_widget.emulator import Emulator

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(api_key=API_KEY) as e:
        yield e


@pytest.fixture(scope="module")
def voila(tmp_path_factory: pytest.TempPathFactory, emu: Emulator) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("voila")
    root = tmp / "work"
    prepare_folder(root)
    with serving("voila", root, tmp, kernel_env(emu, tmp), TOKEN) as base:
        yield base, tmp


@pytest.mark.timeout(600)
def test_clicks_land_where_clicked_in_voila(voila: tuple[str, Path], emu: Emulator) -> None:
    from playwright.sync_api import sync_playwright

    base, tmp = voila
    with sync_playwright() as p:
        browser = open_browser(p)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(120_000)
        try:
            page.goto(f"{base}/voila/render/{NOTEBOOK}", wait_until="domcontentloaded")
            run_matrix(page, emu, "voila")
        except BaseException:
            save_failure(page, tmp)
            raise
        finally:
            browser.close()
