"""Refresh the screenshots of the editing aids in ``docs/`` (not part of the test suite).

Run: ``python scripts/screenshots_experience.py`` (a few minutes). Starts the emulator and
JupyterLab on a temporary copy of a notebook with the demo's sample clip, then uses the
editor in Chromium as a person would: clicks the ball, names it in the object list,
previews, shows the keyboard help, plays, exports, creates a removal and compares it
with the original, and writes:

- ``docs/experience-objects.png``: the frame with the tracked mask, the object list;
- ``docs/experience-keys.png``: the keyboard help popover;
- ``docs/experience-playback.png``: the selection playing in the canvas;
- ``docs/experience-export.png``: the export row after a COCO export;
- ``docs/experience-compare.png`` and ``docs/experience-compare-side.png``: compare, wipe
  and side by side;
- ``docs/experience-tasks.png``: the task history.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "browser"))

import experience_lab as lab  # noqa: E402
from jupyter_pages import open_browser, poll  # noqa: E402

from kling_widget.emulator import Emulator  # noqa: E402
from kling_widget.media.samples import make_sample  # noqa: E402

DOCS = REPO / "docs"
SETUP = """
from kling_widget.editor.editor import Editor
ed = Editor({clip!r}, root="kp")
ed
"""


def main() -> None:
    sample = make_sample("static")
    oid = sample.object_ids[0]
    x, y = sample.centre(0, oid)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = work / "nb"
        root.mkdir()
        lab.write_notebook(root / "editor.ipynb", [SETUP.format(clip=str(sample.path))])
        with Emulator(api_key=lab.API_KEY, task_delays=(1.0, 2.0)) as emu:
            env = {"KLING_BASE_URL": emu.base_url, "KLING_API_KEY": lab.API_KEY}
            with lab.lab_server(root, work, env) as base:
                shoot(base, x, y)


def shoot(base: str, x: float, y: float) -> None:
    from playwright.sync_api import sync_playwright

    DOCS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = open_browser(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            lab.open_and_run(page, base, "editor.ipynb")
            lab.frame_layer(page)
            page.evaluate("() => document.querySelector('.jp-Notebook').style.zoom = '1'")
            lab.click_norm(page, ".kling-frame-surface", x, y)
            page.wait_for_selector(".kling-object-row", timeout=120_000)
            name = page.query_selector(".kling-object-name input")
            assert name is not None
            name.fill("red ball")
            name.press("Enter")
            page.click(".kling-editor button:has-text('Preview')")
            poll(
                lambda: (
                    "tracked on" in page.inner_text(".kling-objects")
                    and "not yet" not in page.inner_text(".kling-objects")
                ),
                300,
                "the tracked masks",
            )
            page.wait_for_selector("video.kling-preview-video", timeout=120_000)
            editor = page.query_selector(".kling-editor")
            assert editor is not None
            page.set_viewport_size({"width": 1280, "height": 2400})
            editor.evaluate("el => el.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(800)
            _shot(page, ".kling-stage", ".kling-objects", DOCS / "experience-objects.png")

            lab.hover(page, ".kling-frame-canvas")
            page.keyboard.press("?")
            page.wait_for_selector(".kling-keys-panel", state="visible", timeout=30_000)
            _shot(page, ".kling-stage", ".kling-keys-panel", DOCS / "experience-keys.png")
            page.keyboard.press("?")

            lab.hover(page, ".kling-frame-canvas")
            page.keyboard.press(" ")
            page.wait_for_timeout(1500)
            _shot(page, ".kling-stage", ".kling-stage", DOCS / "experience-playback.png")
            page.keyboard.press(" ")

            page.click("button.kling-export")
            poll(lambda: "coco:" in page.inner_text(".kling-workbench"), 120, "the export note")
            _shot(page, ".kling-objects", ".kling-workbench", DOCS / "experience-export.png")

            page.click("button.kling-create")
            page.wait_for_selector(".kling-compare-canvas", timeout=300_000)
            page.wait_for_timeout(1500)
            _shot(page, ".kling-compare", ".kling-compare", DOCS / "experience-compare.png")
            page.click(".kling-compare button:has-text('Side by side')")
            page.wait_for_timeout(1500)
            _shot(page, ".kling-compare", ".kling-compare", DOCS / "experience-compare-side.png")
            poll(lambda: "done" in page.inner_text(".kling-tasks"), 120, "the task row")
            _shot(page, ".kling-tasks", ".kling-tasks", DOCS / "experience-tasks.png")
        finally:
            browser.close()
    for png in sorted(DOCS.glob("experience-*.png")):
        print(png.relative_to(REPO))


def _shot(page: object, top: str, bottom: str, path: Path) -> None:
    """A screenshot of the page from the top of ``top`` to the bottom of ``bottom``."""
    a = page.query_selector(top)  # type: ignore[attr-defined]
    b = page.query_selector(bottom)  # type: ignore[attr-defined]
    assert a is not None and b is not None, (top, bottom)
    a.scroll_into_view_if_needed()
    ra, rb = a.bounding_box(), b.bounding_box()
    x0 = min(ra["x"], rb["x"]) - 4
    y0 = ra["y"] - 4
    x1 = max(ra["x"] + ra["width"], rb["x"] + rb["width"]) + 4
    y1 = rb["y"] + rb["height"] + 4
    clip = {"x": max(0, x0), "y": max(0, y0), "width": x1 - max(0, x0), "height": y1 - max(0, y0)}
    page.screenshot(path=str(path), clip=clip)  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
