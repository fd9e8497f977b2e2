"""The quickstart in a real browser: JupyterLab + headless Chromium (Debian's) + Playwright.

The test starts the emulator in this process and a JupyterLab server whose kernels reach it
through ``KLING_BASE_URL`` and the emulator's API key, opens ``notebooks/quickstart.ipynb``,
runs every cell, clicks the ball on the canvas and checks what a person would see (the mask
overlay in the canvas pixels, then a result ``<video>`` after Create) and what Kling (the
emulator) received (add-selection at the clicked normalized coordinates).

Never skipped: a missing Chromium fails the test (``scripts/test.sh`` installs it).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_pages import (
    CHROMIUM,
    FILLED_JS,
    PIXEL_JS,
    REPO,
    kernel_env,
    open_and_run,
    open_browser,
    poll,
    serving,
)

from kling_widget.emulator import Emulator
from kling_widget.media.samples import make_sample

pytestmark = pytest.mark.browser

NOTEBOOK = "quickstart.ipynb"
API_KEY = "browser-test-key"
TOKEN = "kling-browser-test"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(api_key=API_KEY) as emu:
        yield emu


@pytest.fixture
def lab(tmp_path: Path, emulator: Emulator) -> Iterator[str]:
    """A JupyterLab server on loopback serving a temp copy of the notebooks."""
    root = tmp_path / "notebooks"
    # Never the demo's clicks: kling-projects/ stays behind.
    shutil.copytree(
        REPO / "notebooks",
        root,
        ignore=shutil.ignore_patterns("kling-projects", ".ipynb_checkpoints"),
    )
    env = kernel_env(tmp_path, {"KLING_BASE_URL": emulator.base_url, "KLING_API_KEY": API_KEY})
    with serving("lab", root, tmp_path, env, TOKEN) as base:
        yield base


def _requests(emu: Emulator, suffix: str) -> list[Any]:
    return [r for r in emu.requests if r.path.endswith(suffix)]


def _body(req: Any) -> Any:
    body = getattr(req, "json", None)
    if body is None:
        body = json.loads(req.body)
    return body


@pytest.mark.slow
def test_quickstart_click_mask_create_video(lab: str, emulator: Emulator, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/test.sh does)")
    from playwright.sync_api import sync_playwright

    sample = make_sample("static")
    object_id = sample.object_ids[0]
    cx, cy = sample.centre(0, object_id)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()

    with sync_playwright() as p:
        browser = open_browser(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            # Run > Run All Cells through JupyterLab's own menu, once the kernel is ready.
            open_and_run(page, lab, NOTEBOOK, TOKEN, "lab")

            canvas = page.wait_for_selector("canvas.kling-frame-canvas", timeout=120_000)
            assert canvas is not None
            poll(lambda: canvas.evaluate(FILLED_JS) > 100, 60, "the first frame on the canvas")
            canvas.scroll_into_view_if_needed()
            box = canvas.bounding_box()
            assert box is not None
            size = canvas.evaluate("el => [el.width, el.height]")
            page.screenshot(path=str(artifacts / "editor-before-click.png"))

            # Click the ball where a person would: its centre, in page coordinates.
            px = box["x"] + cx * box["width"]
            py = box["y"] + cy * box["height"]
            canvas_xy = (
                (px - box["x"]) * size[0] / box["width"],
                (py - box["y"]) * size[1] / box["height"],
            )
            before = canvas.evaluate(PIXEL_JS, [canvas_xy[0] + 0, canvas_xy[1] + 0])
            page.mouse.click(px, py)

            adds = poll(lambda: _requests(emulator, "/add-selection"), 60, "add-selection")
            body = _body(adds[0])
            assert body["frame_index"] == 0
            (point,) = body["points"]
            # The clicked spot in normalized frame coordinates, within one canvas pixel.
            assert abs(point["x"] - cx) <= 1.0 / size[0] + 1e-9
            assert abs(point["y"] - cy) <= 1.0 / size[1] + 1e-9

            # The overlay appears: the pixel under the click takes the mask's tint.
            def tinted() -> bool:
                now = canvas.evaluate(PIXEL_JS, [canvas_xy[0], canvas_xy[1]])
                return sum(abs(a - b) for a, b in zip(now[:3], before[:3], strict=True)) > 30

            poll(tinted, 60, "the mask overlay under the click")
            # Away from the object the frame is untouched by the overlay.
            far = (10.0, 10.0) if cx > 0.2 else (size[0] - 10.0, size[1] - 10.0)
            far_before = canvas.evaluate(PIXEL_JS, list(far))
            # The status line is its own widget message: it may come a moment after the mask.
            poll(
                lambda: "selected" in page.inner_text(".kling-status-line"),
                60,
                "the status line to say what is selected",
            )

            page.click("button.kling-create")
            video = page.wait_for_selector(
                "video.kling-result-video, .kling-editor video", timeout=180_000
            )
            assert video is not None
            assert canvas.evaluate(PIXEL_JS, list(far)) == far_before
            poll(
                lambda: page.evaluate(
                    "() => Array.from(document.querySelectorAll('.kling-editor video'))"
                    ".some(v => v.readyState >= 1 && v.videoWidth > 0)"
                ),
                60,
                "the result video to load",
            )
            creates = _requests(emulator, "/v1/videos/multi-elements")
            assert creates and _body(creates[-1])["edit_mode"] == "removal"
        except BaseException:
            # What the page looked like when it failed, for whoever reads the CI log.
            try:
                page.screenshot(path=str(artifacts / "browser-failure.png"), full_page=True)
                (artifacts / "browser-failure.txt").write_text(page.inner_text("body"))
            except Exception as exc:  # the browser may be gone; keep the original error
                print(f"could not save the failure screenshot: {exc}", file=sys.stderr)
            raise
        finally:
            browser.close()
