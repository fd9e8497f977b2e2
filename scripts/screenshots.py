"""Refresh the editor screenshots in ``docs/`` (run by hand; the test suite never does).

    python scripts/screenshots.py

Starts the local emulator and a JupyterLab server on a temporary folder, opens an editor
on a generated clip in Debian's headless Chromium, clicks the object and saves:

* ``docs/editor-portrait-1280x800.png``: a portrait (9:16) clip in a 1280x800 window;
* ``docs/editor-1920x1080.png``: a landscape (16:9) clip in a 1920x1080 window;
* ``docs/editor.png``: the whole editor (landscape clip), as shown in the README.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "browser"))
sys.path.insert(0, str(REPO))

import nbformat  # noqa: E402
from jupyter_pages import (  # noqa: E402
    free_port,
    lab_command,
    open_browser,
    poll,
    server,
    settle_lab,
)
from matrix import (  # noqa: E402
    API_KEY,
    RECT_JS,
    SHAPES,
    TOKEN,
    Shape,
    disc_centre,
    kernel_env,
    write_clip,
)

from kling_widget.emulator import Emulator  # noqa: E402

DOCS = REPO / "docs"


def notebook(folder: Path, shape: Shape) -> str:
    name = f"shot-{shape.name}.ipynb"
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                f"from kling_widget import Editor\ned = Editor({shape.name + '.mp4'!r})"
            )
        ]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, folder / name)
    return name


def shoot(page: object, base: str, folder: Path, shape: Shape, size: dict[str, int]) -> object:
    """Open the shape's notebook, run it, click the object; returns the editor element."""
    p = page
    p.set_viewport_size(size)  # type: ignore[attr-defined]
    name = notebook(folder, shape)
    # ``reset``: a fresh workspace, so only this notebook is open.
    p.goto(f"{base}/lab/tree/{name}?reset&token={TOKEN}", wait_until="domcontentloaded")  # type: ignore[attr-defined]
    p.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)  # type: ignore[attr-defined]
    settle_lab(p)
    p.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)  # type: ignore[attr-defined]
    settle_lab(p, 2.0)
    p.click(".lm-MenuBar-itemLabel:text-is('Run')")  # type: ignore[attr-defined]
    p.click(".lm-Menu-itemLabel:text-is('Run All Cells')")  # type: ignore[attr-defined]
    surface = p.wait_for_selector(".kling-frame-surface", timeout=180_000)  # type: ignore[attr-defined]
    editor = p.query_selector(".kling-editor")  # type: ignore[attr-defined]
    editor.evaluate("el => el.scrollIntoView({block: 'start'})")
    p.wait_for_timeout(2_000)  # type: ignore[attr-defined]
    left, top, width, height = surface.evaluate(RECT_JS)
    cx, cy = disc_centre(shape, 0)
    p.mouse.click(round(left + cx * width), round(top + cy * height))  # type: ignore[attr-defined]
    poll(
        lambda: "selected" in p.inner_text(".kling-status-line"),  # type: ignore[attr-defined]
        120,
        "the selection",
    )
    p.wait_for_timeout(1_000)  # type: ignore[attr-defined]
    return editor


def main() -> None:
    from playwright.sync_api import sync_playwright

    landscape, portrait = SHAPES[0], SHAPES[1]
    with (
        tempfile.TemporaryDirectory(prefix="kling-shots-") as tmp_name,
        Emulator(api_key=API_KEY) as emu,
    ):
        tmp = Path(tmp_name)
        root = tmp / "work"
        root.mkdir()
        for shape in (landscape, portrait):
            write_clip(root / f"{shape.name}.mp4", shape)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cmd = lab_command(port, root, tmp, TOKEN)
        status = f"{base}/api/status?token={TOKEN}"
        with (
            server(cmd, kernel_env(emu, tmp), root, status, tmp / "lab.log"),
            sync_playwright() as p,
        ):
            browser = open_browser(p)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.set_default_timeout(120_000)
                shoot(page, base, root, portrait, {"width": 1280, "height": 800})
                page.screenshot(path=str(DOCS / "editor-portrait-1280x800.png"))
                page.close()
                page = browser.new_page(viewport={"width": 1920, "height": 1080})
                page.set_default_timeout(120_000)
                editor = shoot(page, base, root, landscape, {"width": 1920, "height": 1080})
                page.screenshot(path=str(DOCS / "editor-1920x1080.png"))
                # Tall enough for the whole editor, then the editor element alone.
                page.set_viewport_size({"width": 1280, "height": 2200})
                editor.evaluate("el => el.scrollIntoView({block: 'start'})")  # type: ignore[attr-defined]
                page.wait_for_timeout(800)
                editor.screenshot(path=str(DOCS / "editor.png"))  # type: ignore[attr-defined]
            finally:
                browser.close()
    for name in ("editor-portrait-1280x800.png", "editor-1920x1080.png", "editor.png"):
        print(DOCS / name)


if __name__ == "__main__":
    main()
