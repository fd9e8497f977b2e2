"""The click matrix shared by the browser tests: clips, the notebook, one click.

Each front end (JupyterLab 4, Notebook 7, Voila) serves a temporary folder holding three
clips (landscape 16:9, portrait 9:16, square) and one notebook that opens an editor on
each. For every clip the test clicks the object with the frame fully visible, then with
the frame partly below the fold and partly above it, and checks:

* the recorded point (what the kernel sent in add-selection) is within one video pixel
  of the clicked point, measured from the canvas box at the moment of the click;
* the page did not move (no focus scroll);
* the pixel under the click takes the mask's tint once the reply is in.

Chromium is Debian's (never a downloaded browser). Nothing is written in the checkout.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import jupyter_pages
import nbformat
import numpy as np
from jupyter_pages import (
    FILLED_JS,
    PIXEL_JS,
    poll,
)

from kling_widget.emulator import Emulator

API_KEY = "browser-matrix-key"
TOKEN = "kling-browser-matrix"
VIEWPORT = {"width": 1280, "height": 800}
NOTEBOOK = "matrix.ipynb"
FPS = 24
SECONDS = 2.25


@dataclass(frozen=True)
class Shape:
    """One clip shape of the matrix."""

    name: str
    width: int
    height: int


SHAPES = (Shape("landscape", 1280, 720), Shape("portrait", 720, 1280), Shape("square", 720, 720))
# Where the frame is when clicked, and which part of the visible frame is clicked.
VISIBILITY = ("fully visible", "partly below the fold", "partly above the fold")
# Frame of the clip each visibility clicks (a fresh frame each: its mask is new).
FRAME_FOR = {"fully visible": 0, "partly below the fold": 20, "partly above the fold": 40}


def disc_centre(shape: Shape, frame: int) -> tuple[float, float]:
    """Normalized centre of the red disc on ``frame`` (it drifts right a little)."""
    return (0.45 + 0.002 * frame, 0.5)


def disc_radius(shape: Shape) -> float:
    """Disc radius in pixels: a third of the shorter side."""
    return min(shape.width, shape.height) / 3


def write_clip(path: Path, shape: Shape) -> None:
    """A textured green background with a red disc: H.264, 24 fps, 2.25 s."""
    rng = np.random.default_rng(3)
    h, w = shape.height, shape.width
    noise = rng.integers(0, 30, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    bg = np.kron(noise, np.ones((8, 8, 1), np.uint8))[:h, :w] + np.array([40, 110, 60], np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    n = round(FPS * SECONDS)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "20", "preset": "ultrafast", "g": "12"}
        for i in range(n):
            cx, cy = disc_centre(shape, i)
            img = bg.copy()
            inside = (xx - cx * w) ** 2 + (yy - cy * h) ** 2 <= disc_radius(shape) ** 2
            img[inside] = (215, 40, 45)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def write_notebook(folder: Path) -> None:
    """The notebook: a spacer above each editor, so each can be put anywhere on screen."""
    cells = [
        nbformat.v4.new_code_cell(
            "from IPython.display import HTML, display\n"
            "from kling_widget import Editor\n"
            "editors = {}"
        )
    ]
    for shape in SHAPES:
        cells.append(
            nbformat.v4.new_code_cell(
                "display(HTML('<div style=\"height:700px;background:#f3f4f6\">spacer</div>'))\n"
                f"editors[{shape.name!r}] = Editor({shape.name + '.mp4'!r}, root='kp-{shape.name}')"
            )
        )
    cells.append(
        nbformat.v4.new_code_cell(
            "display(HTML('<div style=\"height:900px;background:#f3f4f6\">end</div>'))"
        )
    )
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, folder / NOTEBOOK)


def prepare_folder(folder: Path) -> None:
    """Clips and notebook in ``folder`` (a temporary directory)."""
    folder.mkdir(parents=True, exist_ok=True)
    for shape in SHAPES:
        write_clip(folder / f"{shape.name}.mp4", shape)
    write_notebook(folder)


def kernel_env(emu: Emulator, tmp: Path) -> dict[str, str]:
    """The servers' environment: the kernels talk to ``emu``."""
    return jupyter_pages.kernel_env(tmp, {"KLING_BASE_URL": emu.base_url, "KLING_API_KEY": API_KEY})


def adds(emu: Emulator) -> list[dict[str, Any]]:
    """Bodies of every add-selection the kernels sent, in order."""
    out = []
    for r in emu.requests:
        if r.method == "POST" and r.path.endswith("/add-selection"):
            body = getattr(r, "json", None)
            out.append(body if body is not None else json.loads(r.body))
    return out


_SCROLLER = """
    let p = el.parentElement;
    while (p) {
        const s = getComputedStyle(p);
        if (p.scrollHeight > p.clientHeight + 1 && /(auto|scroll)/.test(s.overflowY)) break;
        p = p.parentElement;
    }
    const sc = p || document.scrollingElement;
"""
# Scrolls the element's scrolling ancestor (or the page) so the element's top is at ``top``
# (viewport pixels); returns the element's top afterwards.
SCROLL_JS = (
    "(el, top) => {"
    + _SCROLLER
    + """
    sc.scrollTop += el.getBoundingClientRect().top - top;
    return el.getBoundingClientRect().top;
}"""
)
# The visible band (top, bottom) of the element's scrolling ancestor, in viewport pixels.
BAND_JS = (
    "(el) => {"
    + _SCROLLER
    + """
    if (!p) return [0, window.innerHeight];
    const r = sc.getBoundingClientRect();
    return [Math.max(0, r.top), Math.min(window.innerHeight, r.bottom)];
}"""
)

RECT_JS = (
    "el => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; }"
)


@dataclass
class CellResult:
    """One cell of the matrix, as measured."""

    front_end: str
    shape: str
    visibility: str
    dx_px: float
    dy_px: float
    page_moved_px: float
    visible_fraction: float
    whole_frame_fits: bool

    def line(self) -> str:
        return (
            f"{self.front_end:9s} {self.shape:9s} {self.visibility:22s} "
            f"offset dx={self.dx_px:.3f} dy={self.dy_px:.3f} video px; page moved "
            f"{self.page_moved_px:.1f} px; {self.visible_fraction:.0%} of the frame on screen; "
            f"whole frame fits the window: {self.whole_frame_fits}"
        )


def seek_by_strip(page: Any, index: int, shape: Shape, frame: int) -> None:
    """Press the strip under editor ``index`` at ``frame``'s slot (seeks the editor)."""
    strip = page.query_selector_all(".kling-strip-surface")[index]
    strip.evaluate(SCROLL_JS, 200)
    left, top, width, height = strip.evaluate(RECT_JS)
    n = round(FPS * SECONDS)
    x = left + (frame + 0.5) * width / n
    page.mouse.click(round(x), round(top + height / 2))


def click_cell(
    page: Any, emu: Emulator, front_end: str, index: int, shape: Shape, visibility: str
) -> CellResult:
    """Put editor ``index``'s frame where ``visibility`` says, click the disc, measure."""
    canvas = page.query_selector_all("canvas.kling-frame-canvas")[index]
    surface = page.query_selector_all(".kling-frame-surface")[index]
    frame = FRAME_FOR[visibility]
    seek_by_strip(page, index, shape, frame)
    band_top, band_bottom = surface.evaluate(BAND_JS)
    left, top, width, height = surface.evaluate(RECT_JS)
    fits = height <= band_bottom - band_top
    # Where the frame goes: centred when fully visible; 45% of it showing otherwise.
    cx, cy = disc_centre(shape, frame)
    r_y = disc_radius(shape) / shape.height
    if visibility == "fully visible":
        want_top = band_top + max(2.0, (band_bottom - band_top - height) / 2)
        target = (cx + 0.05, cy - 0.3 * r_y)
    elif visibility == "partly below the fold":
        want_top = band_bottom - 0.45 * height
        target = (cx - 0.05, cy - 0.5 * r_y)
    else:
        want_top = band_top - 0.55 * height
        target = (cx + 0.03, cy + 0.5 * r_y)
    surface.evaluate(SCROLL_JS, want_top)
    page.wait_for_timeout(300)
    left, top, width, height = surface.evaluate(RECT_JS)
    visible = (min(band_bottom, top + height) - max(band_top, top)) / height
    size = canvas.evaluate("el => [el.width, el.height]")
    # The pointer goes to a whole page pixel; the expected point is measured from the box.
    px = round(left + target[0] * width)
    py = round(top + target[1] * height)
    assert band_top <= py < band_bottom, f"target {py} off screen (frame {top}, {height})"
    expected = ((px - left) / width, (py - top) / height)
    canvas_xy = (expected[0] * size[0], expected[1] * size[1])
    poll(
        lambda: canvas.evaluate(PIXEL_JS, list(canvas_xy))[0] > 150,
        60,
        f"frame {frame} of the {shape.name} clip on the canvas",
    )
    before = canvas.evaluate(PIXEL_JS, list(canvas_xy))
    n_before = len(adds(emu))
    page.mouse.click(px, py)
    after_top = surface.evaluate(RECT_JS)[1]
    body = poll(
        lambda: adds(emu)[n_before:], 90, f"add-selection ({front_end}, {shape.name}, {visibility})"
    )[0]
    (point,) = body["points"]
    dx = abs(point["x"] - expected[0]) * shape.width
    dy = abs(point["y"] - expected[1]) * shape.height

    def tinted() -> bool:
        now = canvas.evaluate(PIXEL_JS, list(canvas_xy))
        return sum(abs(a - b) for a, b in zip(now[:3], before[:3], strict=True)) > 30

    poll(tinted, 90, f"the mask overlay under the click ({front_end}, {shape.name}, {visibility})")
    result = CellResult(
        front_end, shape.name, visibility, dx, dy, abs(after_top - top), visible, fits
    )
    print(result.line(), flush=True)
    return result


def wait_for_editors(page: Any) -> None:
    """All three editors drawn (a frame on each canvas)."""
    poll(
        lambda: len(page.query_selector_all("canvas.kling-frame-canvas")) >= len(SHAPES),
        240,
        "three editors on the page",
        interval=1.0,
    )
    for i in range(len(SHAPES)):
        canvas = page.query_selector_all("canvas.kling-frame-canvas")[i]
        canvas.scroll_into_view_if_needed()
        poll(lambda c=canvas: c.evaluate(FILLED_JS) > 100, 120, f"a frame on editor {i}")


def run_matrix(page: Any, emu: Emulator, front_end: str) -> list[CellResult]:
    """Every shape x visibility cell on an open page; asserts each, returns the figures."""
    wait_for_editors(page)
    results = []
    for i, shape in enumerate(SHAPES):
        for visibility in VISIBILITY:
            results.append(click_cell(page, emu, front_end, i, shape, visibility))
    wheel_scrolls_the_page(page)
    for r in results:
        assert r.dx_px <= 1.0 and r.dy_px <= 1.0, r.line()
        assert r.page_moved_px <= 1.0, r.line()
        assert r.whole_frame_fits, r.line()
    return results


def wheel_scrolls_the_page(page: Any) -> None:
    """The wheel over the frame scrolls the page (the frame does not swallow it)."""
    surface = page.query_selector_all(".kling-frame-surface")[0]
    band_top, band_bottom = surface.evaluate(BAND_JS)
    surface.evaluate(SCROLL_JS, band_top + 20)
    page.wait_for_timeout(300)
    left, top, width, height = surface.evaluate(RECT_JS)
    page.mouse.move(round(left + width / 2), round(top + min(height, band_bottom - top) / 2))
    page.mouse.wheel(0, 240)
    poll(lambda: surface.evaluate(RECT_JS)[1] < top - 100, 30, "the page to scroll")
    print(f"wheel over the frame: page scrolled {top - surface.evaluate(RECT_JS)[1]:.0f} px")


@contextlib.contextmanager
def front_end(name: str, tmp: Path, emu: Emulator) -> Iterator[str]:
    """``name`` ("lab", "notebook7" or "voila") serving the matrix folder; yields its URL."""
    root = tmp / "work"
    prepare_folder(root)
    with jupyter_pages.serving(name, root, tmp, kernel_env(emu, tmp), TOKEN) as base:
        yield base


def check_front_end(name: str, base: str, tmp: Path, emu: Emulator) -> list[CellResult]:
    """Open the matrix notebook in ``name`` in Chromium, as a person would, and run every
    cell of the matrix on it (a failure leaves a screenshot in ``tmp``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = jupyter_pages.open_browser(p)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(120_000)
        try:
            if name == "voila":
                page.goto(f"{base}/voila/render/{NOTEBOOK}", wait_until="domcontentloaded")
            else:
                jupyter_pages.open_and_run(page, base, NOTEBOOK, TOKEN, name)
            return run_matrix(page, emu, name)
        except BaseException:
            jupyter_pages.save_failure(page, tmp)
            raise
        finally:
            browser.close()
