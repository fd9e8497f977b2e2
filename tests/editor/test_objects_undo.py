"""Names and colours of objects survive undo / redo, against the emulator.

The server may give an object whose points are sent again (a redo, the undo of a clear or
of an object's delete) a new ``object_id``; the user's name and the colour must stay with
the object, in the list, in the default prompt and on the canvas, after a restart too.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from editor_helpers import CommRecorder, client_for, press
from PIL import Image

from kling_widget.editor.editor import Editor
from kling_widget.emulator import Emulator

TIMEOUT = 120
W, H, FPS, FRAMES = 960, 720, 24, 53  # Kling's least: 720 px, 2 s
RED = (0.3, 0.42)  # inside the red square
BLUE = (0.75, 0.75)  # inside the blue square


def write_clip(path: Path) -> Path:
    import av

    rng = np.random.default_rng(7)
    bg = np.kron(rng.integers(0, 24, (H // 8, W // 8, 3)), np.ones((8, 8, 1))) + np.array(
        [60, 110, 70]
    )
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"crf": "18", "preset": "ultrafast"}
        for _ in range(FRAMES):
            img = bg.astype(np.uint8)
            img[220:380, 200:380] = (220, 40, 40)
            img[460:620, 640:800] = (40, 60, 220)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clip") / "squares.mp4")


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as e:
        yield e


def open_editor(clip: Path, emu: Emulator, root: Path) -> Editor:
    return Editor(clip, client=client_for(emu), uploader=emu.upload, root=root, autodisplay=False)


@pytest.fixture
def editor(emu: Emulator, clip: Path, tmp_path: Path, sent: CommRecorder) -> Iterator[Editor]:
    ed = open_editor(clip, emu, tmp_path)
    yield ed
    ed.close()


def click(ed: Editor, x: float, y: float) -> tuple[float, float]:
    press(ed.view.surface, x, y)
    ed.wait_idle(TIMEOUT)
    return ed.points[ed.frame][-1]


def by_point(ed: Editor) -> dict[tuple[float, float], tuple[object, str, tuple[int, int, int]]]:
    """Each point's object as listed: (id, label, colour)."""
    return {p: (o.id, o.label, o.colour) for o in ed.objects for p in o.points.get(0, ())}


def colour_at(ed: Editor, point: tuple[float, float]) -> tuple[int, int, int]:
    """The colour the mask layer shows at ``point`` (what the user sees)."""
    png = ed.view.mask_png
    assert png is not None
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
    h, w = img.shape[:2]
    r, g, b, a = img[int(point[1] * h), int(point[0] * w)]
    assert a > 0
    return (int(r), int(g), int(b))


def test_a_renamed_object_keeps_its_name_and_colour_through_undo_and_redo(
    editor: Editor,
) -> None:
    point = click(editor, *RED)
    (first,) = editor.objects
    editor.rename_object(first.id, "dog")
    assert editor.controls.prompt.value == "Delete the dog from <<<video_1>>>"

    editor.undo()
    assert editor.objects == []
    assert "dog" not in editor.controls.prompt.value
    editor.redo()
    (back,) = editor.objects
    assert back.points == {0: (point,)}
    assert back.label == "dog" and back.colour == first.colour
    assert colour_at(editor, point) == first.colour
    assert editor.controls.prompt.value == "Delete the dog from <<<video_1>>>"

    editor.undo()  # and again, from the id the redo gave it
    editor.redo()
    assert [(o.label, o.colour) for o in editor.objects] == [("dog", first.colour)]


def test_names_come_back_with_the_undo_of_a_clear_and_of_a_delete(editor: Editor) -> None:
    red, blue = click(editor, *RED), click(editor, *BLUE)
    named = by_point(editor)
    editor.rename_object(named[red][0], "red box")
    editor.rename_object(named[blue][0], "blue box")
    before = {p: v[1:] for p, v in by_point(editor).items()}
    prompt = editor.controls.prompt.value
    assert prompt == "Delete the red box and the blue box from <<<video_1>>>"

    editor.controls.clear_button.click()
    editor.wait_idle(TIMEOUT)
    editor.workbench.submit(lambda: None).result(TIMEOUT)
    assert editor.objects == []
    editor.undo()  # the clear: its points are sent again
    assert {p: v[1:] for p, v in by_point(editor).items()} == before
    assert editor.controls.prompt.value == prompt

    editor.delete_object(by_point(editor)[blue][0])
    editor.undo()
    assert {p: v[1:] for p, v in by_point(editor).items()} == before
    assert colour_at(editor, blue) == before[blue][1]


def test_the_name_comes_back_on_a_redo_after_a_restart(
    emu: Emulator, clip: Path, tmp_path: Path, sent: CommRecorder
) -> None:
    ed = open_editor(clip, emu, tmp_path)
    try:
        point = click(ed, *RED)
        ed.rename_object(ed.objects[0].id, "dog")
        ed.undo()
    finally:
        ed.close()
    again = open_editor(clip, emu, tmp_path)
    try:
        assert again.objects == []
        again.redo()
        assert [(o.label, o.points) for o in again.objects] == [("dog", {0: (point,)})]
        assert again.controls.prompt.value == "Delete the dog from <<<video_1>>>"
    finally:
        again.close()


def test_a_hidden_object_stays_hidden_through_undo_and_redo(editor: Editor) -> None:
    red, blue = click(editor, *RED), click(editor, *BLUE)
    ids = by_point(editor)
    editor.hide_object(ids[red][0])
    shown_blue = colour_at(editor, blue)

    def red_alpha() -> int:
        png = editor.view.mask_png
        assert png is not None
        img = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
        h, w = img.shape[:2]
        return int(img[int(red[1] * h), int(red[0] * w), 3])

    assert red_alpha() == 0
    editor.undo()  # the blue point
    editor.undo()  # the red point
    editor.redo()
    editor.redo()
    hidden = {o.points[0][0]: o.hidden for o in editor.objects}
    assert hidden == {red: True, blue: False}
    assert red_alpha() == 0  # the user still sees no mask on the red square
    assert colour_at(editor, blue) == shown_blue
