"""A JupyterLab 4 server, a notebook and a clip for driving the editor in Chromium.

Used by ``test_experience.py``, ``scripts/screenshots_experience.py`` and
``benchmarks/bench_playback_browser.py`` (imported by path): everything lives in a
temporary folder given by the caller; nothing is read from or written to the checkout.

The clip is a red ball moving right over a blocky texture, with its frame index written
as 10 black / white blocks along the top edge (readable from the canvas after JPEG and
scaling), so the browser can tell exactly which frame is on screen.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TOKEN = "kling-experience-test"
API_KEY = "experience-test-key"
CODE_BITS = 10
T = TypeVar("T")


# --- the clip -------------------------------------------------------------------------


def ball_centre(frame: int, frames: int) -> tuple[float, float]:
    """Normalized centre of the ball on ``frame``."""
    return (0.25 + 0.4 * frame / max(1, frames - 1), 0.55)


def write_clip(path: Path, width: int, height: int, fps: int, frames: int) -> Path:
    """Encode the test clip (H.264, yuv420p) at ``path``."""
    import av
    import numpy as np

    rng = np.random.default_rng(11)
    cell = max(8, width // 60)
    grid = rng.integers(0, 36, (height // cell + 1, width // cell + 1, 1))
    bg = (np.kron(grid, np.ones((cell, cell, 1))) + np.array([70, 105, 80]))[:height, :width]
    bg = bg.astype(np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    radius = 0.12 * height
    bw, bh = width // (CODE_BITS + 2), height // 12
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "20", "preset": "ultrafast"}
        for f in range(frames):
            img = bg.copy()
            cx, cy = ball_centre(f, frames)
            img[(xx - cx * width) ** 2 + (yy - cy * height) ** 2 < radius**2] = (214, 38, 46)
            for bit in range(CODE_BITS):
                x0 = (bit + 1) * bw
                img[0:bh, x0 : x0 + bw] = 255 if (f >> bit) & 1 else 0
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode(None))
    return path


# JS: the frame index shown on a canvas (the code written by ``write_clip``).
READ_CODE_JS = f"""(canvas) => {{
    const ctx = canvas.getContext('2d');
    const w = canvas.width, h = canvas.height, bits = {CODE_BITS};
    const bw = w / (bits + 2), bh = h / 12;
    let v = 0;
    for (let b = 0; b < bits; b++) {{
        const d = ctx.getImageData(Math.floor((b + 1.5) * bw), Math.floor(bh / 2), 1, 1).data;
        if ((d[0] + d[1] + d[2]) / 3 > 128) v |= (1 << b);
    }}
    return v;
}}"""

# JS: watch the frame layer on every animation frame; record (time, index) on change.
WATCH_FRAMES_JS = f"""(canvas) => {{
    const read = {READ_CODE_JS};
    window.__klingFrames = [];
    window.__klingWatch = true;
    let last = -1;
    const tick = (t) => {{
        if (!window.__klingWatch) return;
        const v = read(canvas);
        if (v !== last) {{ window.__klingFrames.push([t, v]); last = v; }}
        requestAnimationFrame(tick);
    }};
    requestAnimationFrame(tick);
}}"""


# --- notebook and server --------------------------------------------------------------


def write_notebook(path: Path, cells: list[str]) -> Path:
    """A notebook of code ``cells`` (Python kernel)."""
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"cell-{i}",
                "metadata": {},
                "outputs": [],
                "source": src,
            }
            for i, src in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def lab_server(root: Path, work: Path, env_extra: dict[str, str]) -> Iterator[str]:
    """JupyterLab on loopback serving ``root``; yields its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLING_")}
    env.pop("JUPYTER_TOKEN", None)
    env.update(
        {
            "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
            "JUPYTER_CONFIG_DIR": str(work / "config"),
            "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])]),
            **env_extra,
        }
    )
    log = work / "jupyterlab.log"
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
        f"--LabApp.workspaces_dir={work / 'workspaces'}",
        f"--LabApp.user_settings_dir={work / 'settings'}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers run as root; still loopback + token
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"JupyterLab exited early:\n{log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    tail = log.read_text()[-4000:]
                    raise AssertionError(f"JupyterLab did not start:\n{tail}") from None
                time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# --- the page -------------------------------------------------------------------------


def poll(fn: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """``fn()`` until it is truthy (returned), or fail after ``timeout`` s naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def settle_lab(page: Any, seconds: float = 6.0) -> None:
    """Answer JupyterLab's start-up prompts (kernel choice, news) as a person would."""
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for sel in (
            ".jp-Dialog button.jp-mod-accept",
            ".jp-Notification-Toast-Close",
            ".jp-toast-button >> text=No",
        ):
            el = page.query_selector(sel)
            if el is not None and el.is_visible():
                with contextlib.suppress(PlaywrightError):
                    el.click(timeout=5_000)
                deadline = max(deadline, time.monotonic() + 1.5)
        time.sleep(0.25)


def open_and_run(page: Any, base: str, notebook: str) -> None:
    """Open ``notebook`` in Lab and run every cell through Lab's own Run menu."""
    page.set_default_navigation_timeout(180_000)
    page.set_default_timeout(120_000)
    page.goto(f"{base}/lab/tree/{notebook}?token={TOKEN}", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    settle_lab(page)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    settle_lab(page, 2.0)
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")


def frame_layer(page: Any) -> Any:
    """The editor's frame canvas (ipycanvas shows its layers composited in one element),
    once it shows a picture."""
    handle = page.wait_for_selector("canvas.kling-frame-canvas", timeout=180_000)
    poll(
        lambda: handle.evaluate(
            "(c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            " let n = 0; for (let i = 3; i < d.length; i += 4 * 101) if (d[i] > 0) n++;"
            " return n > 100; }"
        ),
        120,
        "the first frame on the canvas",
    )
    return handle


def click_norm(page: Any, selector: str, x: float, y: float) -> None:
    """Click the element ``selector`` at normalized (x, y) of its box."""
    el = page.query_selector(selector)
    assert el is not None, selector
    el.scroll_into_view_if_needed()
    box = el.bounding_box()
    assert box is not None, selector
    page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])


def hover(page: Any, selector: str) -> None:
    """Move the pointer over the middle of ``selector`` (gives the editor the keyboard)."""
    el = page.query_selector(selector)
    assert el is not None, selector
    box = el.bounding_box()
    assert box is not None, selector
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def outputs_text(page: Any) -> str:
    """The text of every cell output (what the kernel printed), not the cells' code."""
    return str(
        page.evaluate(
            "() => Array.from(document.querySelectorAll('.jp-OutputArea-output'))"
            ".map(e => e.innerText).join('\\n')"
        )
    )
