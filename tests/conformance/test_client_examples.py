"""Kling's own example bodies (as in the shared API notes), read and sent by the client.

Request examples go through ``KlingClient`` to the local emulator: the client accepts each
one as given (``""`` and ``[]`` meaning "not given"), sends the same values (never an empty
optional field), and the emulator answers code 0. Response and callback examples are parsed
into typed models. Outcomes are listed in ``EXAMPLES`` below, one line each.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from docs_examples import DOCS_CREATE

from kling_widget.api.client import KlingClient
from kling_widget.api.core import ClientCore, HttpReply
from kling_widget.api.credentials import Credentials
from kling_widget.api.models import ObjectMask, Task
from kling_widget.api.webhooks import parse_callback, verify_callback
from kling_widget.emulator import Emulator
from kling_widget.errors import KlingAPIError
from kling_widget.rle import encode_rle
from kling_widget.rules import is_given

# Official Multi-Elements page.
INIT = {"video_id": "", "video_url": "https://example.invalid/animals-output-5s.mp4"}
ADD = {
    "session_id": "847570360458960960",
    "frame_index": 0,
    "points": [{"x": 0.7738498789346246, "y": 0.297142857142857}],
}
CREATE = DOCS_CREATE
# A relay's page (same API under a prefix).
RELAY_INIT = {"video_id": "784912347344945152", "task_id": "784912347277836288"}
RELAY_ADD = {"session_id": "784914037360041984", "frame_index": 1, "points": [{"x": 0, "y": 1}]}
RELAY_REPLY = {"code": 123, "message": "<string>", "data": {"session_id": "<string>"}}
# Omni-Video: "generate the next shot from <<<video_1>>>" (a feature video, no aspect_ratio).
NEXT_SHOT = {
    "model_name": "kling-video-o1",
    "prompt": "Based on <<<video_1>>>, generate the next shot",
    "video_list": [{"video_url": "...", "refer_type": "feature", "keep_original_sound": "yes"}],
}
# Callback page: the official test vector and the console's test body.
SECRET = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI="
VECTOR = (
    '{"id":"1234567890","status":"succeeded","message":"","create_time":1781080778802,'
    '"update_time":1781080794151}'
)
CONSOLE = (
    '{"id":"913827032734642185","status":"submitted","outputs":[],"message":"",'
    '"create_time":1785901861504,"update_time":1785901861504}'
)

EXAMPLES = """
init {"video_id": "", "video_url": ...}        -> sent as {"video_url"}; code 0
add / delete (official and relay points)       -> sent unchanged; code 0
create (removal, "" fields, "image_list": [])   -> sent without empty fields; code 0
relay init with video_id + task_id              -> sent unchanged; a typed Kling error
relay reply {"code": 123, "data": {...}}        -> KlingAPIError code 123
Omni next shot (feature video, no aspect_ratio) -> sent; code 0
mask size [720, 1280] for a 720x1280 (w x h) clip -> decoded as [w, h]
callback test vector / console body             -> typed Task
"""


def write_clip(path: Path, width: int = 720, height: int = 1280, seconds: float = 3.0) -> Path:
    """A portrait clip like the docs' (720 wide, 1280 high) with a disc at the example's
    point (x 0.77, y 0.30), moving slowly."""
    fps = 24
    ys, xs = np.mgrid[0:height, 0:width]
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps), options={"crf": "23"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for f in range(round(seconds * fps)):
            img = np.full((height, width, 3), (40, 140, 60), dtype=np.uint8)
            cx, cy = 0.77 * width - 2 * f, 0.30 * height
            img[(xs - cx) ** 2 + (ys - cy) ** 2 <= 90**2] = (220, 40, 50)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with Emulator(task_delays=(0.0, 0.0), data_dir=tmp_path_factory.mktemp("emu")) as e:
        yield e


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clip") / "portrait.mp4")


@pytest.fixture(scope="module")
def clip_url(emu: Emulator, clip_path: Path) -> str:
    return emu.upload(clip_path)


@pytest.fixture
def client(emu: Emulator) -> Iterator[KlingClient]:
    with KlingClient(**emu.client_options(), timeout=120) as c:
        yield c


def sent(emu: Emulator, path_end: str) -> Any:
    """The JSON body of the last request whose path ends with ``path_end``."""
    return [r for r in emu.requests if r.path.endswith(path_end)][-1].json


def given_only(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if is_given(v)}


def test_multi_elements_examples_round_trip(
    emu: Emulator, client: KlingClient, clip_url: str
) -> None:
    session = client.init_selection(video_url=clip_url, video_id=INIT["video_id"])
    assert sent(emu, "/init-selection") == {"video_url": clip_url}
    sid = session.session_id
    assert sid and session.width == 720 and session.height == 1280

    sel = client.add_selection(sid, ADD["frame_index"], ADD["points"])
    assert sent(emu, "/add-selection") == {**ADD, "session_id": sid}
    assert sel.masks and sel.masks[0].to_array((1280, 720)).any()

    client.add_selection(sid, RELAY_ADD["frame_index"], RELAY_ADD["points"])
    assert sent(emu, "/add-selection") == {
        **RELAY_ADD,
        "session_id": sid,
        "points": [{"x": 0.0, "y": 1.0}],
    }
    client.delete_selection(sid, RELAY_ADD["frame_index"], RELAY_ADD["points"])
    assert sent(emu, "/delete-selection")["points"] == [{"x": 0.0, "y": 1.0}]

    args = {**CREATE, "session_id": sid}
    task = client.create_task(**args)
    body = sent(emu, "/multi-elements")
    assert given_only(args).items() <= body.items()
    assert set(body) - set(given_only(args)) == {"model_name", "external_task_id"}
    assert task.task_id and task.external_task_id == body["external_task_id"]
    done = client.wait(task, timeout=120)
    assert done.succeeded and done.videos


def test_relay_init_with_a_video_id_is_sent_as_given(emu: Emulator, client: KlingClient) -> None:
    with pytest.raises(KlingAPIError):
        client.init_selection(**RELAY_INIT)
    assert sent(emu, "/init-selection") == RELAY_INIT


def test_omni_next_shot_example(emu: Emulator, client: KlingClient, clip_url: str) -> None:
    video = {**NEXT_SHOT["video_list"][0], "video_url": clip_url}
    task = client.create_omni_video(
        NEXT_SHOT["prompt"], model_name=NEXT_SHOT["model_name"], video_list=[video]
    )
    body = sent(emu, "/omni-video")
    assert body["video_list"] == [video] and "aspect_ratio" not in body
    assert task.task_id and task.status in ("submitted", "processing", "succeed")


def test_relay_reply_placeholder_is_a_typed_error() -> None:
    core = ClientCore(Credentials(api_key="k" * 32))
    spec = core.init_selection(video_url="https://example.invalid/a.mp4")
    reply = HttpReply(200, {}, json.dumps(RELAY_REPLY).encode())
    with pytest.raises(KlingAPIError) as info:
        core.parse_envelope(spec, reply)
    assert info.value.code == 123 and info.value.message == "<string>"


def test_docs_mask_example_with_w_h_size() -> None:
    # "size": [720, 1280] next to an init answer of width 720, height 1280.
    frame = np.zeros((1280, 720), dtype=np.uint8)
    frame[300:500, 400:650] = 1
    counts = encode_rle(frame)["counts"]
    mask = ObjectMask.from_json(
        {"object_id": 0, "rle_mask": {"size": [720, 1280], "counts": counts}}
    )
    assert np.array_equal(mask.to_array((1280, 720)), frame)


def test_callback_examples() -> None:
    headers = {
        "webhook-id": "9876543210",
        "webhook-timestamp": "1781080794",
        "webhook-signature": "v1,UsKlJP00XoQyOn410NM9xv34sP+Gl0jnOO9Lcpr7NJ4=",
    }
    assert verify_callback(SECRET, headers, VECTOR, now=1781080794).succeeded
    console = parse_callback(CONSOLE)
    assert console.task_id == "913827032734642185" and console.status == "submitted"
    assert Task.from_json(json.loads(CONSOLE)) == console


class _Receiver:
    """A loopback callback receiver that keeps (headers, raw body) of every POST."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received = self.received = []  # type: list[tuple[dict[str, str], bytes]]

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append((dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("shape", ["old", "new"])
def test_signed_callbacks_of_both_shapes_become_tasks(
    shape: str, tmp_path: Path, clip_path: Path
) -> None:
    receiver = _Receiver()
    try:
        with (
            Emulator(
                task_delays=(0.0, 0.0),
                data_dir=tmp_path / "emu",
                webhook_secret=SECRET,
                callback_shape=shape,
            ) as cb_emu,
            KlingClient(**cb_emu.client_options(), timeout=120) as client,
        ):
            task = client.create_omni_video(
                "Make it dusk in <<<video_1>>>",
                video_list=[cb_emu.upload(clip_path)],
                callback_url=receiver.url,
            )
            client.wait(task, timeout=120)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if any(b'"succeed' in body for _, body in receiver.received):
                    break
                time.sleep(0.05)
        tasks = [
            verify_callback(SECRET, h, body, kind="omni-video") for h, body in receiver.received
        ]
    finally:
        receiver.close()
    assert tasks and all(t.task_id == task.task_id for t in tasks)
    # Callbacks are separate POSTs and may arrive in any order: the final one is found by
    # its status, as a receiver would, not by its position.
    finals = [t for t in tasks if t.is_final]
    assert len(finals) == 1
    final = finals[0]
    assert final.succeeded and final.videos and final.videos[0].url
    assert final.external_task_id == task.external_task_id
    if shape == "new":
        assert final.billing and final.billing[0].amount is not None
