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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jupyter_pages
from jupyter_pages import kernel_env, poll, serving

TOKEN = "kling-experience-test"
API_KEY = "experience-test-key"
CODE_BITS = 10


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
# A new watch ends the previous one (its loop could otherwise see the flag set again
# before its next tick and record every change twice).
WATCH_FRAMES_JS = f"""(canvas) => {{
    const read = {READ_CODE_JS};
    const watch = (window.__klingWatchId || 0) + 1;
    window.__klingWatchId = watch;
    window.__klingFrames = [];
    window.__klingWatch = true;
    let last = -1;
    const tick = (t) => {{
        if (!window.__klingWatch || window.__klingWatchId !== watch) return;
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


@contextlib.contextmanager
def lab_server(root: Path, work: Path, env_extra: dict[str, str]) -> Iterator[str]:
    """JupyterLab on loopback serving ``root``; yields its base URL."""
    with serving("lab", root, work, kernel_env(work, env_extra), TOKEN) as base:
        yield base


# --- the page -------------------------------------------------------------------------


def open_and_run(page: Any, base: str, notebook: str) -> None:
    """Open ``notebook`` in Lab and run every cell through Lab's own Run menu."""
    jupyter_pages.open_and_run(page, base, notebook, TOKEN, "lab")


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
