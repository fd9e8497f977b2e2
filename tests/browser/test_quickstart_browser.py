"""The quickstart in a real browser: JupyterLab + headless Chromium (Debian's) + Playwright.

The test starts the emulator in this process and a JupyterLab server whose kernels reach it
through ``KLING_BASE_URL`` and the emulator's API key, opens ``notebooks/quickstart.ipynb``,
runs every cell, clicks the ball on the canvas and checks what a person would see (the mask
overlay in the canvas pixels, then a result ``<video>`` after Create) and what Kling (the
emulator) received (add-selection at the clicked normalized coordinates).

Never skipped: a missing Chromium fails the test (``scripts/test.sh`` installs it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kling_widget.emulator import Emulator
from kling_widget.media.samples import make_sample

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "quickstart.ipynb"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
API_KEY = "browser-test-key"
TOKEN = "kling-browser-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"JupyterLab exited early:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"JupyterLab did not answer {url}:\n{log.read_text()[-4000:]}")


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
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KLING_") and k not in ("JUPYTER_TOKEN",)
    }
    env.update(
        {
            "KLING_BASE_URL": emulator.base_url,
            "KLING_API_KEY": API_KEY,
            "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
            "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
            "PYTHONPATH": os.pathsep.join(
                [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
        }
    )
    log = tmp_path / "jupyterlab.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
        f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI run as root; still loopback + token
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{base}/api/status?token={TOKEN}", 90, proc, log)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _requests(emu: Emulator, suffix: str) -> list[Any]:
    return [r for r in emu.requests if r.path.endswith(suffix)]


def _body(req: Any) -> Any:
    body = getattr(req, "json", None)
    if body is None:
        body = json.loads(req.body)
    return body


def _poll(fn: Any, timeout: float, what: str, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _settle_lab(page: Any, seconds: float = 8.0) -> None:
    """Answer JupyterLab's start-up prompts as a person would.

    Depending on timing, Lab asks which kernel to start (accept the notebook's own) and
    whether to fetch news (no); both block clicks on the page until answered.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        dialog = page.query_selector(".jp-Dialog button.jp-mod-accept")
        if dialog is not None and dialog.is_visible():
            _click_if_still_there(dialog)
            deadline = time.monotonic() + 2.0
        news = page.query_selector(".jp-Notification-Toast-Close, .jp-toast-button >> text=No")
        if news is not None and news.is_visible():
            _click_if_still_there(news)
        time.sleep(0.25)


def _click_if_still_there(element: Any) -> None:
    # Lab animates and re-renders its prompts; one can vanish between finding and clicking it
    # (then it no longer blocks the page, which is all this helper is for).
    from playwright.sync_api import Error as PlaywrightError

    with contextlib.suppress(PlaywrightError):
        element.click(timeout=5_000)


PIXEL_JS = """(el, [x, y]) => {
    const ctx = el.getContext('2d');
    return Array.from(ctx.getImageData(Math.floor(x), Math.floor(y), 1, 1).data);
}"""

FILLED_JS = """(el) => {
    const ctx = el.getContext('2d');
    const d = ctx.getImageData(0, 0, el.width, el.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4 * 97) if (d[i] > 0) n++;
    return n;
}"""


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
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            # Generous: on a busy 2-core CI machine JupyterLab's first load takes a while.
            page.set_default_navigation_timeout(180_000)
            page.set_default_timeout(120_000)
            page.goto(f"{lab}/lab/tree/{NOTEBOOK}?token={TOKEN}", wait_until="domcontentloaded")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            _settle_lab(page)
            # Kernel ready, then Run > Run All Cells through JupyterLab's own menu.
            page.wait_for_selector(
                ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000
            )
            _settle_lab(page)
            page.click(".lm-MenuBar-itemLabel:text-is('Run')")
            page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")

            canvas = page.wait_for_selector("canvas.kling-frame-canvas", timeout=120_000)
            assert canvas is not None
            _poll(lambda: canvas.evaluate(FILLED_JS) > 100, 60, "the first frame on the canvas")
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

            adds = _poll(lambda: _requests(emulator, "/add-selection"), 60, "add-selection")
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

            _poll(tinted, 60, "the mask overlay under the click")
            # Away from the object the frame is untouched by the overlay.
            far = (10.0, 10.0) if cx > 0.2 else (size[0] - 10.0, size[1] - 10.0)
            far_before = canvas.evaluate(PIXEL_JS, list(far))
            status = page.inner_text(".kling-status-line")
            assert "selected" in status, status

            page.click("button.kling-create")
            video = page.wait_for_selector(
                "video.kling-result-video, .kling-editor video", timeout=180_000
            )
            assert video is not None
            assert canvas.evaluate(PIXEL_JS, list(far)) == far_before
            _poll(
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
