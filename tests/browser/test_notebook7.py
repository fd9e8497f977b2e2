"""Notebook 7: every clip shape, the frame fully visible and partly off screen; each
click is recorded where it landed (kernel side) and the mask appears under it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from matrix import (
    API_KEY,
    NOTEBOOK,
    TOKEN,
    VIEWPORT,
    free_port,
    kernel_env,
    open_browser,
    prepare_folder,
    run_matrix,
    save_failure,
    server,
    settle_lab,
)

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
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "notebook",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={root}",
        f"--JupyterNotebookApp.workspaces_dir={tmp / 'workspaces'}",
        f"--JupyterNotebookApp.user_settings_dir={tmp / 'settings'}",
    ]
    base = f"http://127.0.0.1:{port}"
    with server(
        cmd, kernel_env(emu, tmp), root, f"{base}/api/status?token={TOKEN}", tmp / "notebook.log"
    ):
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
            page.goto(f"{base}/notebooks/{NOTEBOOK}?token={TOKEN}", wait_until="domcontentloaded")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
            settle_lab(page)
            page.wait_for_selector(
                ".jp-NotebookKernelStatus-idle, [data-status='idle']",
                timeout=120_000,
                state="attached",
            )
            settle_lab(page, 2.0)
            page.click(".lm-MenuBar-itemLabel:text-is('Run')")
            page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
            run_matrix(page, emu, "notebook7")
        except BaseException:
            save_failure(page, tmp)
            raise
        finally:
            browser.close()
