"""Editor speed: click -> overlay redrawn, and changing frame, Python side.

Run: ``python benchmarks/bench_editor.py`` (about half a minute). Prints medians, the bytes
sent to the browser per frame, and ratios against references measured in the same run:

- click -> overlay: from a ``Selection`` in hand (the server's reply, built from the
  sample's exact mask) to the mask PNG set on the widget: RLE decode, label map at display
  size, palette PNG, image model + draw commands. Reference: the naive path, pycocotools
  decode + a full-resolution RGBA overlay encoded as PNG with Pillow's defaults.
  Target: median <= 30 ms at 960 px display width.
- frame change from the cache (masks on every frame, as after Preview): ``Editor.seek``.
  Reference: decoding that frame from the video and JPEG-encoding it (no cache).
  Targets: median <= 20 ms, bytes sent per frame <= 150 KB (reference: raw RGBA size).

No network: the editor gets a client for an unreachable address and a ``video_url``, and no
call is made; replies are built locally.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import comm
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kling_widget.api.client import KlingClient
from kling_widget.api.models import Selection
from kling_widget.editor.editor import Editor
from kling_widget.editor.state import FrameMasks
from kling_widget.media.samples import make_sample
from kling_widget.rle import encode_rle

DISPLAY_WIDTH = 960
REPEATS = 40
CLICK_TARGET_MS = 30.0
FRAME_TARGET_MS = 20.0
FRAME_TARGET_BYTES = 150 * 1024


class Meter:
    """Counts the bytes every widget would send to the browser (comm messages)."""

    def __init__(self) -> None:
        self.total = 0

    def install(self) -> None:
        meter = self

        def publish_msg(
            self: Any,
            msg_type: str,
            data: Any = None,
            metadata: Any = None,
            buffers: Any = None,
            **keys: Any,
        ) -> None:
            meter.total += len(json.dumps(data, default=str))
            meter.total += sum(len(memoryview(b).cast("B")) for b in (buffers or []))

        comm.DummyComm.publish_msg = publish_msg  # type: ignore[method-assign]


def selection_for(mask: np.ndarray, frame: int) -> Selection:
    rle = encode_rle(mask.astype(np.uint8))
    return Selection.from_json(
        {
            "status": 0,
            "session_id": "bench",
            "res": {
                "frame_index": frame,
                "rle_mask_list": [{"object_id": 1, "rle_mask": rle, "png_mask": {}}],
            },
        }
    )


def ms(values: list[float]) -> float:
    return statistics.median(values) * 1000.0


def naive_overlay(rle: dict[str, Any], color: tuple[int, int, int]) -> bytes:
    from pycocotools import mask as cocomask

    m = cocomask.decode({"size": rle["size"], "counts": rle["counts"].encode()})
    rgba = np.zeros((*m.shape, 4), np.uint8)
    rgba[m > 0] = (*color, 163)
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    return buf.getvalue()


def main() -> None:
    meter = Meter()
    meter.install()
    sample = make_sample("static")
    oid = sample.object_ids[0]
    root = tempfile.mkdtemp(prefix="bench-editor-")
    client = KlingClient(api_key="bench", base_url="http://127.0.0.1:9", max_retries=0)
    ed = Editor(
        sample.path,
        client=client,
        video_url="http://127.0.0.1:9/clip.mp4",
        root=root,
        display_width=DISPLAY_WIDTH,
        autodisplay=False,
    )
    ed.screen.frames.wait_ready(120)
    dw, dh = ed.view.size
    n = sample.frame_count
    print(f"clip {sample.width}x{sample.height} {sample.fps:g} fps, {n} frames; display {dw}x{dh}")

    # --- click -> overlay ------------------------------------------------------------
    masks = {f: sample.mask(f, oid) for f in range(n)}
    replies = {f: selection_for(masks[f], f) for f in range(0, n, max(1, n // REPEATS))}
    click_times: list[float] = []
    for f, sel in replies.items():
        t0 = time.perf_counter()
        ed.controller.apply_selection(f, [sample.centre(f, oid)], sel)
        click_times.append(time.perf_counter() - t0)
        ed.state.confirm_remove(f, [sample.centre(f, oid)])
    ref_times: list[float] = []
    for f in replies:
        rle = replies[f].masks[0].rle
        t0 = time.perf_counter()
        naive_overlay(rle, (116, 255, 82))
        ref_times.append(time.perf_counter() - t0)
    click_ms, ref_ms = ms(click_times), ms(ref_times)
    verdict = "OK" if click_ms <= CLICK_TARGET_MS else "OVER TARGET"
    print(
        f"click -> overlay (Selection in hand -> mask PNG on the widget): median "
        f"{click_ms:.2f} ms [target <= {CLICK_TARGET_MS:g} ms: {verdict}]; reference "
        f"(pycocotools + full-res RGBA PNG) {ref_ms:.2f} ms; ratio {click_ms / ref_ms:.2f}x"
    )

    # --- frame change from the cache -------------------------------------------------
    # Masks on every frame, as after Preview; their PNGs are rendered once, up front.
    for f in range(n):
        ed.state.replace_masks(f, FrameMasks([oid], [masks[f].astype(np.uint8)], "tracked"))
        ed.screen.mask_png(f)
    order = list(range(0, n, 3))
    first_times, first_bytes = [], []
    for f in order:
        before = meter.total
        t0 = time.perf_counter()
        ed.seek(f)
        first_times.append(time.perf_counter() - t0)
        first_bytes.append(meter.total - before)
    again_times, again_bytes = [], []
    for f in order[-40:]:
        before = meter.total
        t0 = time.perf_counter()
        ed.seek(f)
        again_times.append(time.perf_counter() - t0)
        again_bytes.append(meter.total - before)
    ref_frame: list[float] = []
    src = ed.source
    for f in order[:: max(1, len(order) // 20)]:
        t0 = time.perf_counter()
        arr = src.read_frame(f)
        img = Image.fromarray(arr).resize((dw, dh), Image.BILINEAR)
        img.save(io.BytesIO(), format="JPEG", quality=85)
        ref_frame.append(time.perf_counter() - t0)
    f_ms, a_ms, r_ms = ms(first_times), ms(again_times), ms(ref_frame)
    verdict = "OK" if max(f_ms, a_ms) <= FRAME_TARGET_MS else "OVER TARGET"
    print(
        f"frame change (cached frame + cached mask PNG): median {f_ms:.2f} ms first visit, "
        f"{a_ms:.2f} ms revisit [target <= {FRAME_TARGET_MS:g} ms: {verdict}]; reference "
        f"(decode + JPEG encode, no cache) {r_ms:.2f} ms; ratio {f_ms / r_ms:.2f}x"
    )
    raw = dw * dh * 4
    worst = max(first_bytes)
    verdict = "OK" if worst <= FRAME_TARGET_BYTES else "OVER TARGET"
    print(
        f"bytes sent per frame: median {statistics.median(first_bytes) / 1024:.1f} KB first "
        f"visit (max {worst / 1024:.1f} KB) [target <= 150 KB: {verdict}], "
        f"{statistics.median(again_bytes) / 1024:.2f} KB revisit; raw RGBA frame would be "
        f"{raw / 1024:.0f} KB ({statistics.median(first_bytes) / raw:.3f}x)"
    )
    ed.close()


if __name__ == "__main__":
    main()
