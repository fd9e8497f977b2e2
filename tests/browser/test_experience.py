"""The editing aids in JupyterLab 4, used as a person would (Playwright + Debian's chromium).

One JupyterLab server and one page for the module; the tests run in order on the same
editor, each picking up where the previous one left the clip: name the clicked object in
the list (the prompt follows), keys (only with the pointer on the editor; typing in the
prompt box is never taken), undo / redo with the keyboard against what the server
received, play, the inline preview video and an export read back by pycocotools, then a
create shown in compare and in the task history.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jupyter_pages
import pytest
from experience_lab import (
    API_KEY,
    READ_CODE_JS,
    TOKEN,
    WATCH_FRAMES_JS,
    ball_centre,
    click_norm,
    frame_layer,
    hover,
    write_clip,
    write_notebook,
)
from jupyter_pages import CHROMIUM, kernel_env, open_browser, poll, serving

from kling_widget.emulator import Emulator

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools.*"),
]

W, H, FPS, FRAMES = 1280, 720, 24, 54
ADD = "/v1/videos/multi-elements/add-selection"
DELETE = "/v1/videos/multi-elements/delete-selection"
SETUP = """
from kling_widget.editor.editor import Editor
ed = Editor("clip.mp4", root="kp")
ed
"""


def open_session(work: Path, front_end: str) -> Iterator[dict[str, Any]]:
    """The emulator, ``front_end`` ("lab" or "notebook7") on ``work``, and a page with the
    editor open (shared by this file and the Notebook 7 one)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/test.sh does)")
    from playwright.sync_api import sync_playwright

    root = work / "nb"
    root.mkdir()
    write_clip(root / "clip.mp4", W, H, FPS, FRAMES)
    write_notebook(root / "editor.ipynb", [SETUP])
    with Emulator(api_key=API_KEY, task_delays=(0.5, 1.0)) as emu:
        env = kernel_env(work, {"KLING_BASE_URL": emu.base_url, "KLING_API_KEY": API_KEY})
        with serving(front_end, root, work, env, TOKEN) as base, sync_playwright() as p:
            browser = open_browser(p)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1100})
                jupyter_pages.open_and_run(page, base, "editor.ipynb", TOKEN, front_end)
                canvas = frame_layer(page)
                yield {"page": page, "emu": emu, "root": root, "canvas": canvas}
            finally:
                browser.close()


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """JupyterLab 4 with the editor open."""
    yield from open_session(tmp_path_factory.mktemp("experience"), "lab")


def posts(emu: Emulator, path: str) -> list[Any]:
    return [r for r in emu.requests if r.path == path and r.method == "POST"]


def label(page: Any) -> str:
    """The text next to the slider: ``frame 12 / 53 · 0.50 s``."""
    texts = page.eval_on_selector_all(
        ".kling-stage .widget-label", "els => els.map(e => e.innerText)"
    )
    return next((str(t) for t in texts if str(t).startswith("frame ")), "")


def shown_frame(session: dict[str, Any]) -> int:
    return int(session["canvas"].evaluate(READ_CODE_JS))


def test_the_clicked_object_is_listed_and_its_name_goes_in_the_prompt(
    session: dict[str, Any],
) -> None:
    page, emu = session["page"], session["emu"]
    x, y = ball_centre(0, FRAMES)
    click_norm(page, ".kling-frame-surface", x, y)
    poll(lambda: posts(emu, ADD), 60, "add-selection")
    row = page.wait_for_selector(".kling-object-row", timeout=60_000)
    assert row is not None and "points on 0" in row.inner_text()
    name = page.query_selector(".kling-object-name input")
    assert name is not None
    name.click()  # as a person would: the pointer leaves the frame for the text box
    name.type("red ball")
    name.press("Enter")
    poll(
        lambda: (
            page.input_value(".kling-editor textarea") == "Delete the red ball from <<<video_1>>>"
        ),
        30,
        "the prompt naming the object",
    )


def test_keys_act_on_the_editor_and_typing_in_the_prompt_is_left_alone(
    session: dict[str, Any],
) -> None:
    page, emu = session["page"], session["emu"]
    hover(page, ".kling-frame-canvas")
    page.keyboard.press("ArrowRight")
    poll(lambda: label(page).startswith("frame 1 /"), 30, "one frame on")
    poll(lambda: shown_frame(session) == 1, 30, "frame 1 on the canvas")
    page.keyboard.press("Shift+ArrowRight")
    poll(lambda: label(page).startswith(f"frame {1 + FPS} /"), 30, "one second on")
    page.keyboard.press("End")
    poll(lambda: label(page).startswith(f"frame {FRAMES - 1} /"), 30, "the last frame")
    page.keyboard.press("Home")
    poll(lambda: label(page).startswith("frame 0 /"), 30, "the first frame")
    page.keyboard.press("r")
    poll(lambda: "Remove" in _active_tool(page), 30, "the Remove tool")
    page.keyboard.press("a")
    poll(lambda: "Add" in _active_tool(page), 30, "the Add tool")
    page.keyboard.press("?")
    page.wait_for_selector(".kling-keys-panel", state="visible", timeout=30_000)
    page.keyboard.press("?")
    page.wait_for_selector(".kling-keys-panel", state="hidden", timeout=30_000)
    # The front end's own single-key shortcuts (Notebook 7: R makes the cell raw, A adds
    # one above, arrows move between cells) left the notebook alone.
    assert _cells(page) == ["code"]

    # Typing in the prompt box: every key goes to the text, none to the editor.
    box = page.query_selector(".kling-editor textarea")
    assert box is not None
    box.click()
    page.keyboard.press("End")
    page.keyboard.type(" a r")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Backspace")
    page.keyboard.press("Home")
    assert page.input_value(".kling-editor textarea").endswith(" ar")
    page.wait_for_timeout(500)  # anything the editor would have done has arrived by now
    assert label(page).startswith("frame 0 /")
    assert "Add" in _active_tool(page)
    assert posts(emu, DELETE) == []
    box.fill("Delete the red ball from <<<video_1>>>")


def _cells(page: Any) -> list[str]:
    """The notebook's cells, by type."""
    kinds = page.eval_on_selector_all(
        ".jp-Notebook .jp-Cell",
        "els => els.map(e => e.classList.contains('jp-CodeCell') ? 'code'"
        " : e.classList.contains('jp-RawCell') ? 'raw' : 'other')",
    )
    return [str(k) for k in kinds]


def _active_tool(page: Any) -> str:
    """The pressed one of the Add / Remove buttons."""
    texts = page.eval_on_selector_all(
        ".kling-editor .widget-toggle-button.mod-active", "els => els.map(e => e.innerText)"
    )
    return next((str(t) for t in texts if str(t).strip() in ("Add", "Remove")), "")


def test_undo_and_redo_keys_send_the_exact_points(session: dict[str, Any]) -> None:
    page, emu = session["page"], session["emu"]
    (added,) = [r.json for r in posts(emu, ADD)]
    hover(page, ".kling-frame-canvas")
    page.keyboard.press("Control+z")
    deleted = poll(lambda: posts(emu, DELETE), 60, "delete-selection")
    assert deleted[-1].json["points"] == added["points"]
    assert deleted[-1].json["frame_index"] == added["frame_index"]
    page.wait_for_selector(".kling-object-row", state="detached", timeout=60_000)
    # Ctrl+Z was the editor's alone: the browser's own undo did not reach into the prompt
    # box (it would revert the last typing there and put the caret in it).
    assert page.evaluate("() => document.activeElement.tagName") != "TEXTAREA"
    page.keyboard.press("Control+Shift+z")
    again = poll(lambda: posts(emu, ADD)[1:], 60, "add-selection again")
    assert again[0].json["points"] == added["points"]
    page.wait_for_selector(".kling-object-row", timeout=60_000)
    # The name given before the undo still names the object (same id on the server).
    assert page.input_value(".kling-object-name input") in ("red ball", "")


def test_space_plays_the_clip_in_the_canvas(session: dict[str, Any]) -> None:
    page, canvas = session["page"], session["canvas"]
    hover(page, ".kling-frame-canvas")
    page.keyboard.press("Home")
    poll(lambda: shown_frame(session) == 0, 30, "frame 0")
    canvas.evaluate(WATCH_FRAMES_JS)
    page.keyboard.press(" ")
    last = FRAMES - 1
    poll(
        lambda: page.evaluate(f"() => window.__klingFrames.some(f => f[1] === {last})"),
        120,
        "the last frame on screen",
    )
    seen = page.evaluate("() => { window.__klingWatch = false; return window.__klingFrames; }")
    indices = [int(i) for _, i in seen]
    assert indices == sorted(indices) and len(set(indices)) >= 5, indices
    poll(lambda: page.inner_text("button.kling-play").strip() == "Play", 30, "the Play label")


def test_preview_plays_inline_and_the_export_reads_back(session: dict[str, Any]) -> None:
    from pycocotools.coco import COCO

    page, root = session["page"], session["root"]
    page.click(".kling-editor button:has-text('Preview')")
    video = page.wait_for_selector("video.kling-preview-video", timeout=240_000)
    assert video is not None
    poll(
        lambda: video.evaluate("v => v.readyState >= 1 && v.videoWidth > 0"),
        60,
        "the preview video to load",
    )
    poll(lambda: "not yet" not in page.inner_text(".kling-objects"), 60, "tracked frames")
    page.click("button.kling-export")
    poll(lambda: "coco:" in page.inner_text(".kling-workbench"), 120, "the export note")
    (path,) = root.glob("kp/*/exports/coco-*/masks.coco.json")
    coco = COCO(str(path))
    frames = {coco.imgs[a["image_id"]]["frame_index"] for a in coco.anns.values()}
    assert len(frames) >= FRAMES - 2
    assert {c["name"] for c in coco.cats.values()} <= {"red ball", "object 1", "object 2"}
    doc = json.loads(path.read_text())
    assert "tracked masks" in doc["info"]["description"]


def test_a_create_shows_in_compare_and_in_the_task_history(session: dict[str, Any]) -> None:
    page = session["page"]
    page.click("button.kling-create")
    canvas = page.wait_for_selector(".kling-compare-canvas", timeout=300_000)
    assert canvas is not None
    width = canvas.evaluate("c => c.width")
    page.click(".kling-compare button:has-text('Side by side')")
    poll(lambda: canvas.evaluate("c => c.width") == 2 * width, 30, "side by side")
    page.click(".kling-compare button[title='One frame on']")
    poll(lambda: "Original 1 · Result 1" in page.inner_text(".kling-compare"), 30, "one frame on")
    row = page.wait_for_selector(".kling-task-row", timeout=120_000)
    assert row is not None
    poll(lambda: "done" in row.inner_text(), 120, "the task marked done")
    assert "removal · std" in row.inner_text()
    box = page.query_selector(".kling-editor textarea")
    assert box is not None
    box.fill("something else")
    page.click(".kling-task-row button.kling-task-again")
    poll(
        lambda: (
            page.input_value(".kling-editor textarea") == "Delete the red ball from <<<video_1>>>"
        ),
        30,
        "Edit again filling the prompt",
    )
