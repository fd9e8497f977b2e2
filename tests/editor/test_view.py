"""The canvas: click mapping, mask PNGs, what is sent to the browser."""

from __future__ import annotations

import io

import numpy as np
import pytest
from editor_helpers import CommRecorder, canvas_commands, drawn_models, press
from ipycanvas import Canvas
from PIL import Image

from kling_widget import limits
from kling_widget.editor.masklayer import label_map, mask_png, object_color
from kling_widget.editor.view import ADD_COLOR, CoordinateMap, FrameView, Strip


def client_ready(canvas: Canvas) -> None:
    canvas._handle_custom_msg({"event": "client_ready"}, [])


def decode_png(data: bytes) -> np.ndarray:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


def jpeg(w: int, h: int, value: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (value, value, value)).save(buf, format="JPEG")
    return buf.getvalue()


def test_canvas_pixels_map_to_normalized_frame_coordinates() -> None:
    m = CoordinateMap(960, 540)
    assert m.to_norm(0, 0) == (0.0, 0.0)
    assert m.to_norm(480, 135) == (0.5, 0.25)
    assert m.to_norm(960, 540) == (1.0, 1.0)
    assert m.to_norm(-3, 600) == (0.0, 1.0)  # clamped: a drag can end outside
    assert m.to_canvas(0.5, 0.25) == (480, 135)


def test_a_click_reports_normalized_coordinates(sent: CommRecorder) -> None:
    view = FrameView(960, 540)
    got: list[tuple[float, float]] = []
    view.on_click(lambda x, y: got.append((x, y)))
    press(view.surface, 0.25, 0.75)
    assert got == [pytest.approx((0.25, 0.75), abs=1e-12)]


def test_the_canvas_fills_the_cell_and_keeps_its_aspect_ratio(sent: CommRecorder) -> None:
    view = FrameView(960, 540)
    assert (view.canvas.width, view.canvas.height) == (960, 540)
    assert view.canvas.layout.width == "100%"
    assert view.canvas.layout.height == "auto"


def test_mask_png_colours_each_object_and_leaves_the_rest_transparent() -> None:
    a = np.zeros((720, 1280), np.uint8)
    a[100:300, 200:500] = 1
    b = np.zeros((720, 1280), np.uint8)
    b[400:600, 800:1000] = 1
    labels = label_map([a, b], [0, 1], (960, 540))
    rgba = decode_png(mask_png(labels))
    assert rgba.shape == (540, 960, 4)
    # Inside each object (away from its outline): its own colour at the documented alpha.
    assert tuple(rgba[150, 262]) == (*object_color(0), limits.MASK_ALPHA)
    assert tuple(rgba[375, 675]) == (*object_color(1), limits.MASK_ALPHA)
    assert object_color(0) != object_color(1)
    # Outline pixels are opaque, outside is fully transparent.
    assert rgba[75, 262, 3] == 255
    assert rgba[10, 10, 3] == 0 and rgba[539, 959, 3] == 0
    # Coverage at display size is exactly the nearest-neighbour resize of the mask.
    covered = rgba[..., 3] > 0
    expected = np.zeros((540, 960), bool)
    expected[75:225, 150:375] = True
    expected[300:450, 600:750] = True
    assert np.array_equal(covered, expected)


def test_frames_go_out_as_jpeg_once_and_are_redrawn_by_reference(sent: CommRecorder) -> None:
    view = FrameView(320, 180)
    frames = {i: jpeg(320, 180, 10 * i) for i in range(3)}
    calls: list[int] = []

    def make(i: int):  # type: ignore[no-untyped-def]
        def f() -> bytes:
            calls.append(i)
            return frames[i]

        return f

    mark = sent.mark()
    view.show_frame(1, make(1))
    images = [b for b in sent.buffers_since(mark) if b[:2] == b"\xff\xd8"]
    assert images == [frames[1]]
    assert view.frame_jpeg == frames[1]
    # Nothing raw: no buffer is anywhere near an RGBA frame's size.
    assert all(len(b) < 320 * 180 for b in sent.buffers_since(mark))
    mark = sent.mark()
    view.show_frame(2, make(2))
    view.show_frame(1, make(1))  # seen before: only drawing commands
    back = [b for b in sent.buffers_since(mark) if b[:2] == b"\xff\xd8"]
    assert back == [frames[2]]
    assert calls == [1, 2]


def test_opacity_is_a_canvas_setting_not_a_new_image(sent: CommRecorder) -> None:
    view = FrameView(320, 180)
    labels = np.zeros((180, 320), np.uint8)
    labels[50:100, 50:100] = 1
    png = mask_png(labels)
    view.show_masks(("f", 0), lambda: png)
    assert view.mask_png == png
    mark = sent.mark()
    view.set_opacity(0.3)
    assert not any(b[:4] == b"\x89PNG" for b in sent.buffers_since(mark))
    assert view.canvas[1].global_alpha == pytest.approx(0.3)
    view.show_masks(None, lambda: None)
    assert view.mask_png is None


def test_client_ready_redraws_frame_masks_and_points(sent: CommRecorder) -> None:
    view = FrameView(320, 180)
    view.show_frame(0, lambda: jpeg(320, 180, 90))
    view.show_points([(0.5, 0.5)])
    labels = np.zeros((180, 320), np.uint8)
    labels[50:100, 50:100] = 1
    png = mask_png(labels)
    view.show_masks(("f", 0), lambda: png)
    frame_model = view._frames.peek(0).model_id  # type: ignore[union-attr]
    mask_model = view._masks.peek(("f", 0)).model_id  # type: ignore[union-attr]
    mark = sent.mark()
    client_ready(view.canvas[-1])
    # A new browser view starts blank: frame and mask are drawn again (by reference,
    # no image re-sent) and so are the points.
    assert drawn_models(sent.since(mark)) == [frame_model, mask_model]
    names = [n for n, _ in canvas_commands(sent.since(mark))]
    assert "fillCircles" in names
    assert not [b for b in sent.buffers_since(mark) if b[:2] == b"\xff\xd8"]


def test_strip_click_seeks_to_the_mark(sent: CommRecorder) -> None:
    strip = Strip(960, 150)
    seeks: list[int] = []
    strip.on_seek(seeks.append)
    strip.draw(points=[30], tracked=[], current=0)
    x30 = (30 + 0.5) * 960 / 150
    press(strip.surface, (x30 + 4) / 960, 0.5)
    press(strip.surface, 900 / 960, 0.5)
    assert seeks == [30, int(900 * 150 / 960)]


def test_points_layer_draws_one_dot_per_point(sent: CommRecorder) -> None:
    view = FrameView(320, 180)
    mark = sent.mark()
    view.show_points([(0.25, 0.5), (0.75, 0.5)], pending=[(0.5, 0.1)])
    names = [n for n, _ in canvas_commands(sent.since(mark))]
    assert names.count("fillCircles") == 3  # the confirmed points: dark ring, white ring, dot
    assert names.count("strokeCircles") == 1  # the pending point: an amber ring
    fills = [a for n, a in canvas_commands(sent.since(mark)) if n == "set"]
    assert any(ADD_COLOR in map(str, a) for a in fills)


@pytest.mark.parametrize(
    ("width", "height"),
    [(1920, 1080), (1080, 1920), (1080, 1080), (2560, 1080), (3840, 2160), (720, 1280)],
    ids=["16:9", "9:16", "1:1", "21:9", "4K", "phone"],
)
def test_every_shape_fits_a_1280x800_window_by_scaling_the_display(width: int, height: int) -> None:
    import re

    from kling_widget.editor.controls import FIT_VH, stage_max_width
    from kling_widget.editor.screen import DISPLAY_BOX_PX

    class Source:
        pass

    src = Source()
    src.width, src.height = width, height  # type: ignore[attr-defined]
    from kling_widget.editor.screen import display_width_for

    dw = display_width_for(src, 960)  # type: ignore[arg-type]
    dh = round(height * dw / width)
    # The pictures sent are at most the box (the data keeps its full resolution).
    assert dw <= 960 and dh <= DISPLAY_BOX_PX + 1
    css = stage_max_width(dw, dh)
    px, aspect = re.fullmatch(r"min\((\d+)px, calc\((\d+)vh \* ([\d.]+)\)\)", css).group(1, 3)  # type: ignore[union-attr]
    # What the browser computes for a 1280x800 window: the frame's height on screen.
    shown_w = min(float(px), FIT_VH / 100 * 800 * float(aspect), 1280 - 300)
    shown_h = shown_w * dh / dw
    assert shown_h <= FIT_VH / 100 * 800 + 1
    assert abs(float(aspect) - dw / dh) < 1e-3
