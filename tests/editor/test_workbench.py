"""The editor's working aids driven like a person drives them, against the emulator.

Undo / redo against the server's masks (and after a restart), the object list (rename,
hide, delete), keys, playback, mask export read back by pycocotools, compare and the task
history after a real create.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from editor_helpers import CommRecorder, client_for, press
from PIL import Image

from kling_widget.editor.editor import Editor
from kling_widget.emulator import Emulator

ADD = "/v1/videos/multi-elements/add-selection"
DELETE = "/v1/videos/multi-elements/delete-selection"
CLEAR = "/v1/videos/multi-elements/clear-selection"
TIMEOUT = 120
W, H, FPS, FRAMES = 960, 720, 24, 53
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools.*")


def centre(frame: int, which: str = "red") -> tuple[float, float]:
    if which == "red":
        return ((200 + 6 * frame + 70) / W, 330 / H)
    return (740 / W, 560 / H)


def write_clip(path: Path) -> Path:
    import av

    rng = np.random.default_rng(4)
    bg = np.kron(rng.integers(0, 24, (H // 8, W // 8, 3)), np.ones((8, 8, 1))) + np.array(
        [60, 110, 70]
    )
    bg = bg.astype(np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"crf": "18", "preset": "ultrafast"}
        for f in range(FRAMES):
            img = bg.copy()
            x0 = 200 + 6 * f
            img[260:400, x0 : x0 + 140] = (220, 40, 40)  # red square moving right
            img[500:620, 680:800] = (40, 60, 220)  # blue square standing still
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


def requests(emu: Emulator, path: str) -> list[Any]:
    return [r for r in emu.requests if r.path == path and r.method == "POST"]


def click(ed: Editor, x: float, y: float) -> tuple[float, float]:
    """Click the frame at normalized (x, y); returns the point the editor records."""
    press(ed.view.surface, x, y)
    ed.wait_idle(TIMEOUT)
    return ed.points[ed.frame][-1]


def masks(ed: Editor, frame: int) -> list[np.ndarray]:
    """The server's masks on ``frame``, in a fixed order (by their first pixel)."""
    return sorted((m.astype(bool) for m in ed.masks(frame)), key=lambda m: int(m.argmax()))


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def coverage(png: bytes | None) -> int:
    if png is None:
        return 0
    return int((np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))[..., 3] > 0).sum())


def key(k: str, **mods: bool) -> dict[str, Any]:
    return {
        "type": "keydown",
        "key": k,
        "code": "",
        "shiftKey": mods.get("shift", False),
        "ctrlKey": mods.get("ctrl", False),
        "metaKey": mods.get("meta", False),
        "altKey": False,
        "target": {"tagName": "DIV"},
    }


def test_undo_and_redo_of_clicks_give_back_the_servers_masks(editor: Editor, emu: Emulator) -> None:
    red = click(editor, *centre(0))
    after_red = masks(editor, 0)
    blue = click(editor, *centre(0, "blue"))
    after_both = masks(editor, 0)
    assert len(after_both) == 2

    editor.undo()  # the blue click: deleted with its exact coordinates
    assert requests(emu, DELETE)[-1].json["points"] == [{"x": blue[0], "y": blue[1]}]
    assert editor.points == {0: [red]}
    assert same(masks(editor, 0), after_red)
    editor.redo()
    assert requests(emu, ADD)[-1].json["points"] == [{"x": blue[0], "y": blue[1]}]
    assert same(masks(editor, 0), after_both)

    editor.seek(30)
    far = click(editor, *centre(30))
    before_clear = {0: masks(editor, 0), 30: masks(editor, 30)}
    editor.controls.clear_button.click()
    editor.wait_idle(TIMEOUT)
    editor.workbench.submit(lambda: None).result(TIMEOUT)
    assert editor.points == {}
    editor.undo()  # the clear: what was there is replayed
    assert editor.points == {0: [red, blue], 30: [far]}
    assert same(masks(editor, 0), before_clear[0]) and same(masks(editor, 30), before_clear[30])
    assert editor.workbench.history.redo_label() == "clear the selection"
    assert not editor.workbench.undo_button.disabled and not editor.workbench.redo_button.disabled


def test_the_history_survives_a_restart(emu: Emulator, clip: Path, tmp_path: Path) -> None:
    ed = open_editor(clip, emu, tmp_path)
    try:
        point = click(ed, *centre(0))
        click(ed, *centre(0, "blue"))
        ed.undo()
    finally:
        ed.close()
    again = open_editor(clip, emu, tmp_path)
    try:
        assert again.points == {0: [point]}
        assert again.workbench.history.redo_label() == "add 1 point on frame 0"
        again.undo()
        assert requests(emu, DELETE)[-1].json["points"] == [{"x": point[0], "y": point[1]}]
        assert again.points == {}
        again.redo()
        assert again.points == {0: [point]}
        assert len(again.masks(0)) == 1
    finally:
        again.close()


def test_objects_are_listed_renamed_hidden_and_deleted(editor: Editor, emu: Emulator) -> None:
    red = click(editor, *centre(0))
    blue = click(editor, *centre(0, "blue"))
    objs = editor.objects
    assert len(objs) == 2
    by_point = {o.points[0][0]: o for o in objs}
    red_obj, blue_obj = by_point[red], by_point[blue]
    assert red_obj.point_frames == (0,) and red_obj.tracked_frames == ()
    assert red_obj.colour != blue_obj.colour
    panel = editor.workbench.object_list.panel
    row = panel.row(red_obj.id)
    assert row is not None and f"#{red_obj.colour_hex[1:]}" in row.swatch.value

    row.name.value = "red box"  # typed in the list
    assert editor.objects[0].label in ("red box", "") and any(
        o.label == "red box" for o in editor.objects
    )
    prompt = editor.controls.prompt.value
    assert prompt == "Delete the red box and the other selected object from <<<video_1>>>"

    shown = coverage(editor.view.mask_png)
    row.hide.value = True
    hidden = coverage(editor.view.mask_png)
    assert 0 < hidden < shown
    row.hide.value = False
    assert coverage(editor.view.mask_png) == shown

    editor.delete_object(blue_obj.id)
    assert requests(emu, DELETE)[-1].json["points"] == [{"x": blue[0], "y": blue[1]}]
    assert [o.id for o in editor.objects] == [red_obj.id]
    editor.undo()
    assert sorted(editor.points[0]) == sorted([red, blue])


def test_keys_step_frames_switch_tools_and_undo(editor: Editor, emu: Emulator) -> None:
    keys = editor.workbench.keys
    keys.handle(key("ArrowRight"))
    assert editor.frame == 1
    keys.handle(key("ArrowRight", shift=True))
    assert editor.frame == 1 + FPS
    keys.handle(key("End"))
    assert editor.frame == FRAMES - 1
    keys.handle(key("Home"))
    assert editor.frame == 0
    keys.handle(key("r"))
    assert editor.controls.tool.value == "remove"
    keys.handle(key("a"))
    assert editor.controls.tool.value == "add"
    point = click(editor, *centre(0))
    keys.handle(key("z", ctrl=True))
    editor.workbench.submit(lambda: None).result(TIMEOUT)
    assert editor.points == {}
    keys.handle(key("Z", meta=True, shift=True))
    editor.workbench.submit(lambda: None).result(TIMEOUT)
    assert editor.points == {0: [point]}
    keys.handle(key("Backspace"))
    editor.workbench.submit(lambda: None).result(TIMEOUT)
    assert editor.points == {}
    keys.handle(key("?", shift=True))
    assert editor.workbench.help.visible


def test_play_runs_to_the_last_frame_at_the_clips_rate(editor: Editor) -> None:
    editor.screen.frames.wait_ready(TIMEOUT)
    done = threading.Event()
    player = editor.workbench.player
    player.on_state = lambda playing: None if playing else done.set()
    editor.play()
    assert done.wait(TIMEOUT)
    assert editor.frame == FRAMES - 1
    stats = player.stats
    assert stats.shown + stats.dropped == FRAMES
    # The clip lasts FRAMES / FPS seconds; playback took at least that long (the clock).
    assert stats.elapsed >= (FRAMES - 1) / FPS - 1e-3


def test_export_after_preview_holds_every_tracked_frame(editor: Editor, tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    click(editor, *centre(0))
    editor.preview()
    tracked = editor.state.tracked_frames()
    assert len(tracked) >= FRAMES - 2
    result = editor.export_masks(tmp_path / "coco", format="coco")
    assert "tracked masks" in result.note
    coco = COCO(str(tmp_path / "coco" / "masks.coco.json"))
    frames_with_anns = {coco.imgs[a["image_id"]]["frame_index"] for a in coco.anns.values()}
    assert set(tracked) <= frames_with_anns
    ann = coco.loadAnns(coco.getAnnIds(imgIds=[31]))[0]
    assert np.array_equal(coco.annToMask(ann).astype(bool), editor.masks(30)[0].astype(bool))
    mattes = editor.export_masks(tmp_path / "matte", format="matte")
    assert [p.suffix for p in mattes.files].count(".mp4") == 1


def test_export_without_preview_says_it_holds_the_marked_frames(
    editor: Editor, tmp_path: Path
) -> None:
    click(editor, *centre(0))
    result = editor.export_masks(tmp_path / "png", format="png")
    assert result.frames_with_masks == [0]
    assert "marked frames only" in result.note
    with pytest.raises(ValueError, match="format='tiff'"):
        editor.export_masks(tmp_path, format="tiff")


@pytest.mark.slow
def test_a_finished_edit_shows_in_compare_and_in_the_task_history(
    editor: Editor, emu: Emulator
) -> None:
    click(editor, *centre(0))
    task = editor.remove()
    path = editor.wait()
    assert path.is_file()
    outputs = editor.workbench.outputs
    outputs.refresh_tasks(force=True)
    view = outputs.compare_view
    assert view is not None and view.labels[0] == "Original"
    view.seek(10)
    assert view.frames == (10, 10)
    rows = outputs.tasks.rows
    assert rows[0].task_id == task.task_id
    assert rows[0].status_text == "done" and rows[0].result_path == path
    editor.controls.prompt.value = "something else"
    outputs.edit_again(rows[0])
    assert editor.controls.prompt.value == rows[0].prompt
    assert editor.controls.edit_mode.value == "removal"
    cmp = editor.compare("original", task.task_id)
    assert cmp is outputs.compare_view
