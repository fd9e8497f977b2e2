"""The editor driven like a person drives it, against the emulator over loopback.

Clicks are the canvas's own mouse-down messages (canvas pixel coordinates), buttons are
``button.click()``; assertions read what the emulator received, the pixels of the mask
PNG put on the canvas, the status line and the files on disk.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from editor_helpers import CommRecorder, client_for, press
from PIL import Image

from kling_widget.editor.editor import Editor
from kling_widget.emulator import Emulator
from kling_widget.emulator.faults import FaultPlan
from kling_widget.errors import KlingInvalidRequestError, KlingValidationError
from kling_widget.media.masks import resize_mask
from kling_widget.media.samples import Sample, make_sample, sample_image

ADD = "/v1/videos/multi-elements/add-selection"
DELETE = "/v1/videos/multi-elements/delete-selection"
INIT = "/v1/videos/multi-elements/init-selection"
CREATE = "/v1/videos/multi-elements"
TIMEOUT = 120


def requests(emu: Emulator, path: str, method: str = "POST") -> list[Any]:
    return [r for r in emu.requests if r.path == path and r.method == method]


def click(ed: Editor, x: float, y: float) -> tuple[float, float]:
    """Click the frame at normalized (x, y); returns the canvas pixel clicked.

    The frame's box is the canvas's own size here, so ``px / w`` is what the editor records.
    """
    w, h = ed.view.size
    press(ed.view.surface, x, y, box=(0.0, 0.0, float(w), float(h)))
    return x * w, y * h


def coverage(png: bytes | None) -> np.ndarray:
    assert png is not None, "no mask on the canvas"
    rgba = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
    return rgba[..., 3] > 0


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.fixture(scope="module")
def sample() -> Sample:
    return make_sample("static")


class ShortClip:
    """A 2.2 s, 24 fps, 960x720 clip: a red square gliding over a soft texture.

    Shorter than the samples so that tracking and rendering on the emulator stay quick;
    its object's exact position is known for every frame.
    """

    fps, width, height, seconds, side = 24, 960, 720, 2.2, 140

    def __init__(self, path: Path) -> None:
        self.path = path
        self.frame_count = round(self.fps * self.seconds)
        rng = np.random.default_rng(7)
        noise = rng.integers(0, 24, (self.height // 8, self.width // 8, 3), dtype=np.uint8)
        texture = np.kron(noise, np.ones((8, 8, 1), np.uint8))
        self.background = (texture + np.array([60, 110, 70], np.uint8)).astype(np.uint8)
        _encode(path, [self.frame(i) for i in range(self.frame_count)], self.fps)

    def box(self, i: int) -> tuple[int, int, int, int]:
        x0 = 200 + 6 * i
        y0 = 260 + round(40 * np.sin(i / 9))
        return x0, y0, x0 + self.side, y0 + self.side

    def frame(self, i: int) -> np.ndarray:
        img = self.background.copy()
        x0, y0, x1, y1 = self.box(i)
        img[y0:y1, x0:x1] = (220, 40, 40)
        return img

    def mask(self, i: int) -> np.ndarray:
        m = np.zeros((self.height, self.width), bool)
        x0, y0, x1, y1 = self.box(i)
        m[y0:y1, x0:x1] = True
        return m

    def centre(self, i: int) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box(i)
        return ((x0 + x1) / 2 / self.width, (y0 + y1) / 2 / self.height)


def _encode(path: Path, frames: list[np.ndarray], fps: int) -> None:
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> ShortClip:
    return ShortClip(tmp_path_factory.mktemp("clip") / "square.mp4")


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as e:
        yield e


@pytest.fixture
def editor(emu: Emulator, sample: Sample, tmp_path: Path, sent: CommRecorder) -> Iterator[Editor]:
    ed = Editor(
        sample.path,
        client=client_for(emu),
        uploader=emu.upload,
        root=tmp_path,
        autodisplay=False,
    )
    yield ed
    ed.close()


def test_a_click_sends_add_selection_and_the_mask_covers_the_object(
    editor: Editor, emu: Emulator, sample: Sample
) -> None:
    assert editor.status.startswith(f"Running on the local Kling emulator at {emu.base_url}")
    oid = sample.object_ids[0]
    x, y = sample.centre(0, oid)
    px, py = click(editor, x, y)
    editor.wait_idle(TIMEOUT)

    (req,) = requests(emu, ADD)
    w, h = editor.view.size
    assert req.json["frame_index"] == 0
    assert req.json["points"] == [{"x": px / w, "y": py / h}]
    assert editor.points == {0: [(px / w, py / h)]}

    # The mask layer's PNG, at display size, covers the ball and little else.
    shown = coverage(editor.view.mask_png)
    assert shown.shape == (h, w)
    truth = resize_mask(sample.mask(0, oid), (h, w)).astype(bool)
    assert iou(shown, truth) >= 0.85
    # Full-resolution masks through the Python API are the server's, decoded.
    (full,) = editor.masks(0)
    assert full.shape == (sample.height, sample.width)
    assert np.array_equal(full, editor.project.masks(0)[0].to_array(full.shape))
    assert iou(full, sample.mask(0, oid)) >= 0.9
    assert "selected" in editor.status
    # The strip marks frame 0.
    assert editor.state.marked_frames() == [0]


def test_remove_deletes_the_nearest_point_with_its_exact_coordinates(
    editor: Editor, emu: Emulator, sample: Sample
) -> None:
    oid = sample.object_ids[0]
    x, y = sample.centre(0, oid)
    a = click(editor, x, y)
    b = click(editor, x + 0.013, y + 0.011)
    editor.wait_idle(TIMEOUT)
    w, h = editor.view.size
    sent_b = {"x": b[0] / w, "y": b[1] / h}
    assert [r.json["points"] for r in requests(emu, ADD)] == [
        [{"x": a[0] / w, "y": a[1] / h}],
        [sent_b],
    ]
    editor.controls.tool.value = "remove"
    click(editor, x + 0.016, y + 0.009)  # a few pixels off point b
    editor.wait_idle(TIMEOUT)
    (req,) = requests(emu, DELETE)
    assert req.json["frame_index"] == 0
    assert req.json["points"] == [sent_b]  # exactly as added, not where the click landed
    assert editor.points == {0: [(a[0] / w, a[1] / h)]}
    assert "removed" in editor.status


def test_clicks_made_while_a_request_runs_are_queued_and_sent_in_order(
    editor: Editor, emu: Emulator, sample: Sample
) -> None:
    oid = sample.object_ids[0]
    x, y = sample.centre(0, oid)
    gate = threading.Event()
    editor.controller.run_on_api(gate.wait)  # the worker is busy: clicks must queue
    try:
        clicked = [click(editor, x + dx, y) for dx in (0.0, -0.01, 0.01)]
        # Handlers returned at once; the points show as pending, nothing was sent yet.
        w, h = editor.view.size
        assert editor.state.pending == {0: [(px / w, py / h) for px, py in clicked]}
        assert requests(emu, ADD) == []
    finally:
        gate.set()
    editor.wait_idle(TIMEOUT)
    got = [r.json["points"] for r in requests(emu, ADD)]
    assert got == [[{"x": px / w, "y": py / h}] for px, py in clicked]
    assert editor.state.pending == {}
    assert editor.points == {0: [(px / w, py / h) for px, py in clicked]}
    assert iou(coverage(editor.view.mask_png), resize_mask(sample.mask(0, oid), (h, w))) > 0.8


def test_server_errors_land_in_the_status_line_and_the_python_api_raises(
    emu: Emulator, sample: Sample, tmp_path: Path, sent: CommRecorder
) -> None:
    emu.faults = FaultPlan().add("error", path="add-selection", status=400, code=1201)
    ed = Editor(
        sample.path,
        client=client_for(emu),
        uploader=emu.upload,
        root=tmp_path,
        autodisplay=False,
    )
    try:
        click(ed, 0.5, 0.5)  # must not raise
        ed.wait_idle(TIMEOUT)
        assert ed.status.startswith("Could not select on frame 0")
        assert "code 1201" in ed.status
        assert ed.state.pending == {} and ed.points == {}
        assert "kling-status-error" in ed.controls.status.value
        with pytest.raises(KlingInvalidRequestError):
            ed.select(0, [(0.5, 0.5)])
    finally:
        ed.close()


def test_limits_are_enforced_before_sending(editor: Editor, emu: Emulator) -> None:
    # Ten frames already carry points (as after ten clicks; set directly to keep this quick).
    for f in range(10):
        editor.state.confirm_add(f * 10, [(0.1, 0.1)])
    editor.seek(101)
    click(editor, 0.2, 0.2)
    # In the user's words, in the status line and next to the tools that were used.
    assert editor.status.startswith("Could not select that point: Kling allows at most 10")
    assert "marked frames" in editor.status and "frame=" not in editor.status
    assert "at most 10 marked frames" in editor.controls.notes["tools"].value
    with pytest.raises(KlingValidationError) as err:
        editor.select(101, [(0.2, 0.2)])
    assert err.value.field == "frame"
    editor.state.confirm_add(0, [(0.01 * i, 0.5) for i in range(9)])
    editor.seek(0)
    click(editor, 0.3, 0.3)
    assert "at most 10 points per frame" in editor.status
    with pytest.raises(KlingValidationError) as err:
        editor.select(0, [(1.5, 0.2)])
    assert err.value.field == "points"
    editor.wait_idle(TIMEOUT)
    assert requests(emu, ADD) == [] and requests(emu, INIT) == []


def test_removal_by_clicking_alone_then_a_swap_by_script(
    emu: Emulator, short: ShortClip, tmp_path: Path, sent: CommRecorder
) -> None:
    # One session for both edits: the emulator tracks the selection once.
    editor = Editor(
        short.path,
        client=client_for(emu),
        uploader=emu.upload,
        root=tmp_path,
        autodisplay=False,
    )
    try:
        _removal_flow(editor, emu, short)
        _swap_by_script(editor, emu, short)
    finally:
        editor.close()


def _swap_by_script(editor: Editor, emu: Emulator, short: ShortClip) -> None:
    """The Python API does what the buttons do, without the canvas."""
    assert iou(editor.masks(0)[0], short.mask(0)) > 0.9
    first = editor.result
    task = editor.swap(sample_image(), prompt="swap the star from <<<image_1>>> for the square")
    assert task.task_id
    path = editor.wait(timeout=TIMEOUT)
    assert path == editor.result and path.is_file() and path != first
    body = requests(emu, CREATE)[-1].json
    assert body["edit_mode"] == "swap" and len(body["image_list"]) == 1
    assert body["prompt"] == "swap the star from <<<image_1>>> for the square"
    editor.clear()
    assert editor.points == {} and editor.view.mask_png is None
    assert editor.state.tracked_frames() == []
    assert requests(emu, "/v1/videos/multi-elements/clear-selection")
    with pytest.raises(KlingValidationError) as err:
        editor.remove()
    assert err.value.field == "selection"


def _removal_flow(editor: Editor, emu: Emulator, short: ShortClip) -> None:
    click(editor, *short.centre(0))
    editor.wait_idle(TIMEOUT)
    w, h = editor.view.size
    assert iou(coverage(editor.view.mask_png), resize_mask(short.mask(0), (h, w))) > 0.85

    editor.controls.preview_button.click()
    editor.wait_idle(TIMEOUT)
    assert "tracked" in editor.status, editor.status
    assert len(editor.state.tracked_frames()) >= short.frame_count - 2
    last = short.frame_count - 1
    editor.seek(last)
    assert iou(coverage(editor.view.mask_png), resize_mask(short.mask(last), (h, w))) > 0.8
    editor.workbench.submit(lambda: None).result(TIMEOUT)  # the preview video is fetched
    (preview,) = [
        w for w in _walk(editor.workbench.outputs.preview_box) if type(w).__name__ == "Video"
    ]
    assert "kling-preview-video" in preview._dom_classes

    assert editor.controls.edit_mode.value == "removal"
    editor.controls.create_button.click()
    editor.wait_idle(TIMEOUT)
    assert editor.status.startswith("Done"), editor.status
    create = requests(emu, CREATE)
    assert len(create) == 1
    body = create[0].json
    assert body["edit_mode"] == "removal"
    assert body["prompt"] == "Delete the selected object from <<<video_1>>>"
    assert body["duration"] == "5"
    result = editor.result
    assert result is not None and result.is_file() and result.stat().st_size > 1000
    assert str(result) in editor.status
    # The result plays inline (with its sound); compare shows it next to the original.
    videos = [
        w
        for box in editor.controls.result.children
        for w in _walk(box)
        if type(w).__name__ == "Video"
    ]
    assert [bytes(v.value) for v in videos] == [result.read_bytes()]
    view = editor.workbench.outputs.compare_view
    assert view is not None and view.labels[0] == "Original" and view.b.source.path == result
    assert editor.controls.create_button.disabled is False
    # The square is gone from the edit: its pixels now look like the background.
    import imageio.v3 as iio

    edited = iio.imread(result, index=10, plugin="pyav")
    x0, y0, x1, y1 = short.box(10)
    inside = edited[y0 + 10 : y1 - 10, x0 + 10 : x1 - 10].astype(float)
    assert abs(inside[..., 0].mean() - inside[..., 1].mean()) < 60  # no longer red


def _walk(w: Any) -> Iterator[Any]:
    yield w
    for c in getattr(w, "children", ()):
        yield from _walk(c)


def test_a_reopened_clip_shows_its_points_and_masks_without_api_calls(
    emu: Emulator, sample: Sample, tmp_path: Path, sent: CommRecorder
) -> None:
    oid = sample.object_ids[0]
    ed = Editor(
        sample.path,
        client=client_for(emu),
        uploader=emu.upload,
        root=tmp_path,
        autodisplay=False,
    )
    ed.select(0, [sample.centre(0, oid)])
    before_png = coverage(ed.view.mask_png)
    points = ed.points
    ed.close()
    n = len(emu.requests)
    again = Editor(
        sample.path,
        client=client_for(emu),
        uploader=emu.upload,
        root=tmp_path,
        autodisplay=False,
    )
    try:
        assert again.points == points
        assert np.array_equal(coverage(again.view.mask_png), before_png)
        assert len(emu.requests) == n
    finally:
        again.close()


def _write_clip(path: Path, fps: int, size: tuple[int, int], seconds: float) -> None:
    import av

    w, h = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(round(fps * seconds)):
            img = np.zeros((h, w, 3), np.uint8)
            img[:, :, 1] = 80
            img[h // 3 : h // 3 + 60, (i * 5) % (w - 60) : (i * 5) % (w - 60) + 60] = (220, 40, 40)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def test_preflight_on_a_bad_clip_then_conform(
    emu: Emulator, tmp_path: Path, sent: CommRecorder
) -> None:
    clip = tmp_path / "phone.mp4"
    _write_clip(clip, fps=25, size=(640, 360), seconds=2.2)
    ed = Editor(clip, client=client_for(emu), uploader=emu.upload, root=tmp_path, autodisplay=False)
    try:
        c = ed.controls
        assert c.preflight.layout.display == "flex"
        text = c.preflight_text.value
        assert "The clip runs at 25 fps" in text and "The clip is 640×360 px" in text
        assert "Conform will scale to 1280x720" in text and "conform()" not in text
        assert "breaks Kling's limits" in ed.status
        click(ed, 0.5, 0.5)
        assert ed.status.startswith("Could not select that point")
        assert "conform" in ed.status
        with pytest.raises(KlingValidationError):
            ed.select(0, [(0.5, 0.5)])
        # Nothing uploaded, nothing sent (only the probe asking whether this is an emulator).
        assert [(r.method, r.path) for r in emu.requests] == [("GET", "/emulator/info")]
        c.conform_button.click()
        ed.wait_idle(TIMEOUT)
        assert ed.status.startswith("Conformed"), ed.status
        assert c.preflight.layout.display == "none"
        assert (ed.source.width, ed.source.height, ed.source.fps) == (1280, 720, 30.0)
        assert ed.view.size == (960, 540)
        ed.select(0, [(0.5, 0.5)])
        assert requests(emu, INIT)
    finally:
        ed.close()


def test_without_a_url_on_the_real_api_it_explains_before_any_call(
    sample: Sample, tmp_path: Path, sent: CommRecorder
) -> None:
    from kling_widget.api.client import KlingClient

    client = KlingClient(api_key="not-a-real-key", base_url="http://127.0.0.1:9", max_retries=0)
    ed = Editor(sample.path, client=client, root=tmp_path, autodisplay=False)
    try:
        assert "video_url=" in ed.status and "uploader=" in ed.status
        click(ed, 0.5, 0.5)
        assert ed.status.startswith("Could not select that point: Kling needs a public URL")
        with pytest.raises(KlingValidationError) as err:
            ed.select(0, [(0.5, 0.5)])
        assert err.value.field == "video_url"
        assert "not-a-real-key" not in ed.status
    finally:
        ed.close()


def test_frame_slider_strip_and_prompt_controls(editor: Editor, sample: Sample) -> None:
    c = editor.controls
    c.slider.value = 45
    assert editor.frame == 45
    assert c.frame_label.value == "frame 45 / 149 · 1.50 s"
    assert editor.view.frame_jpeg == editor.screen.frames.get_jpeg(45)
    editor.select(30, [sample.centre(30, sample.object_ids[0])])
    x30 = (30 + 0.5) * editor.strip.width / sample.frame_count
    press(editor.strip.surface, (x30 + 3) / editor.strip.width, 0.3)
    assert c.slider.value == 30 and editor.frame == 30
    # The prompt follows the mode until the user writes their own.
    assert c.prompt.value == "Delete the selected object from <<<video_1>>>"
    c.edit_mode.value = "swap"
    assert (
        c.prompt.value
        == "swap the object from <<<image_1>>> for the selected object from <<<video_1>>>"
    )
    assert "swap [x] from &lt;&lt;&lt;image_1&gt;&gt;&gt;" in c.prompt_hint.value
    c.prompt.value = "swap the star from <<<image_1>>> for the ball from <<<video_1>>>"
    c.edit_mode.value = "addition"
    assert c.prompt.value.startswith("swap the star")
    assert "duration 5 s" in c.duration.value


def test_reference_upload_shows_thumbnails_and_checks(editor: Editor) -> None:
    good = io.BytesIO()
    sample_image().convert("RGB").save(good, format="JPEG")
    small = io.BytesIO()
    Image.new("RGB", (200, 200), "red").save(small, format="PNG")
    editor.controls.upload.value = (
        {
            "name": "star.jpg",
            "type": "image/jpeg",
            "size": len(good.getvalue()),
            "content": memoryview(good.getvalue()),
            "last_modified": datetime.now(timezone.utc),
        },
        {
            "name": "tiny.png",
            "type": "image/png",
            "size": len(small.getvalue()),
            "content": memoryview(small.getvalue()),
            "last_modified": datetime.now(timezone.utc),
        },
    )
    boxes = editor.controls.thumbs.children
    assert len(boxes) == 2
    texts = [b.children[1].value for b in boxes]
    assert "meets the limits" in texts[0]
    assert "tiny.png" in texts[1] and "300" in texts[1]
    assert boxes[0].children[0].value[:4] == b"\x89PNG"
    # The problem in the user's words next to the upload, with the Fix it promises.
    c = editor.controls
    note = c.notes["references"].value
    assert (
        "The reference image is 200×200 px; Kling needs at least 300 px on each side. "
        "Press Fix to upscale it."
    ) in note
    assert "fix()" not in note and c.fix_button.layout.display != "none"
    c.fix_button.click()
    texts = [b.children[1].value for b in c.thumbs.children]
    assert all("meets the limits" in t for t in texts)
    assert c.fix_button.layout.display == "none"
    assert "Fixed: the reference images meet Kling&#x27;s limits" in c.notes["references"].value


def test_errors_show_next_to_the_control_and_mode_changes_are_said(editor: Editor) -> None:
    c = editor.controls
    c.edit_mode.value = "omni"
    # Omni renders in pro unless asked otherwise: the switch is shown, not silent.
    assert c.quality.value == "pro"
    assert "switched from std to pro" in c.notes["edit"].value
    c.create_button.click()  # an empty Omni prompt
    assert editor.status.startswith("Could not create the edit: Prompt — required")
    assert "Could not create the edit: Prompt — required" in c.notes["create"].value
    c.prompt.value = "make it snow in <<<video_1>>>"
    c.edit_mode.value = "removal"
    c.create_button.click()  # no selection: refused next to Create, the old note replaced
    note = c.notes["create"].value
    assert "needs a selected object" in note and "Prompt" not in note


def test_editor_open_reopens_from_the_journal_file(
    emu: Emulator, sample: Sample, tmp_path: Path, sent: CommRecorder
) -> None:
    ed = Editor(
        sample.path,
        client=client_for(emu),
        uploader=emu.upload,
        root=tmp_path,
        autodisplay=False,
    )
    ed.select(0, [sample.centre(0, sample.object_ids[0])])
    journal = ed.project.journal.path
    points = ed.points
    ed.close()
    n = len(emu.requests)
    again = Editor.open(journal, client=client_for(emu), autodisplay=False)
    try:
        assert again.points == points
        assert again.view.mask_png is not None
        assert len(emu.requests) == n
        # It keeps working: a second click goes to the same (still valid) session.
        again.select(0, [sample.centre(0, sample.object_ids[0])])
        assert requests(emu, INIT) and len(requests(emu, INIT)) == 1
    finally:
        again.close()


def test_shows_itself_once_per_cell(editor: Editor, monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display

    from kling_widget.editor import display

    shown: list[Any] = []
    shell = type("Shell", (), {"kernel": object(), "execution_count": 7})()
    monkeypatch.setattr(display, "_shell", lambda: shell)
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append(obj))
    # What Editor(...) does when created in a kernel.
    editor._displayed_at = display.autodisplay(editor.widget)
    assert shown == [editor.widget]
    editor._ipython_display_()  # the same cell ends with `ed`: not shown a second time
    assert shown == [editor.widget]
    shell.execution_count = 8  # a later cell that shows `ed` again
    editor._ipython_display_()
    assert shown == [editor.widget, editor.widget]
    bundle = editor._repr_mimebundle_()
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == editor.widget.model_id


def test_a_reopened_clip_picks_up_a_running_task_and_shows_its_result(
    emu: Emulator, short: ShortClip, tmp_path: Path, sent: CommRecorder
) -> None:
    # The kernel dies while Kling renders: the next Editor on the clip polls the task,
    # downloads the result and plays it, without creating a second task.
    editor = Editor(
        short.path,
        client=client_for(emu),
        uploader=emu.upload,
        root=tmp_path,
        autodisplay=False,
    )
    editor.select(0, [short.centre(0)])
    task = editor.remove()
    editor.close()
    creates = len(requests(emu, CREATE))
    again = Editor(
        short.path,
        client=client_for(emu),
        uploader=emu.upload,
        root=tmp_path,
        autodisplay=False,
    )
    try:
        again.wait_idle(TIMEOUT)
        assert again.result is not None and again.result.is_file()
        assert again.result.stat().st_size > 0
        assert "picked up from the journal" in again.status, again.status
        assert len(requests(emu, CREATE)) == creates
        assert [t.task_id for t in emu.tasks()].count(task.task_id) == 1
    finally:
        again.close()


def test_a_clip_no_conform_can_fix_offers_no_conform(
    emu: Emulator, tmp_path: Path, sent: CommRecorder
) -> None:
    clip = tmp_path / "one-second.mp4"
    _write_clip(clip, fps=30, size=(1280, 720), seconds=1.0)
    ed = Editor(clip, client=client_for(emu), uploader=emu.upload, root=tmp_path, autodisplay=False)
    try:
        c = ed.controls
        assert c.preflight.layout.display == "flex"
        assert c.conform_button.layout.display == "none"
        assert "No conform can lengthen a clip" in c.preflight_text.value
        assert "Press <i>Conform</i>" not in c.preflight_text.value
        assert "no conform can fix" in ed.status and "Press Conform" not in ed.status
    finally:
        ed.close()


def test_after_a_kill_during_rendering_a_new_editor_restores_and_waits(
    short: ShortClip, tmp_path: Path, sent: CommRecorder
) -> None:
    import os
    import signal
    import subprocess
    import sys

    # Slow enough that the child is killed while Kling renders.
    with Emulator(api_key="reopen-key", task_delays=(1.0, 4.0)) as emu:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KLING_")}
        env.update({"KLING_BASE_URL": emu.base_url, "KLING_API_KEY": "reopen-key"})
        x, y = short.centre(0)
        child = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).parent / "_editor_child.py"),
                str(short.path),
                str(tmp_path / "kp"),
                str(x),
                str(y),
            ],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            line = child.stdout.readline() if child.stdout else ""
            assert line.startswith("CREATED"), line
            task_id = line.split()[1]
            # While the child lives, a second editor on the clip is a read-only view.
            other = Editor(
                short.path, client=client_for(emu), root=tmp_path / "kp", autodisplay=False
            )
            try:
                assert other.read_only
                assert "open in another editor" in other.status
                assert other.controls.edit_panel.layout.display == "none"
                with pytest.raises(KlingValidationError):
                    other.select(0, [(x, y)])
            finally:
                other.close()
            assert [t.task_id for t in emu.tasks()] == [task_id]
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(30)
        ed = Editor(short.path, client=client_for(emu), root=tmp_path / "kp", autodisplay=False)
        try:
            assert ed.status == (
                "Restored 1 point on 1 frame and 1 running task from the journal."
            ), ed.status
            path = ed.wait()
            assert path.is_file() and path.stat().st_size > 0
            assert ed.result == path
            assert ed.task is not None and ed.task.task_id == task_id and ed.task.succeeded
            assert len(requests(emu, CREATE)) == 1
        finally:
            ed.close()
