"""Every documented rule raises KlingValidationError (field, value, rule) and sends nothing."""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kling_fake_server import FakeKling, Reply, envelope, task_json
from PIL import Image

from kling_widget.api import validation as v
from kling_widget.api.client import KlingClient
from kling_widget.errors import KlingValidationError


def img(w: int = 400, h: int = 300, fmt: str = "PNG", mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (w, h)).save(buf, format=fmt)
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


GOOD = img()
URL = "https://cdn.example.com/ref.png"
VIDEO = "https://cdn.example.com/in.mp4"

Call = Callable[[KlingClient], Any]


def me(**kw: Any) -> Call:
    """A create_task call with sensible defaults, overridden by ``kw``."""
    args: dict[str, Any] = {
        "session_id": "s-1",
        "edit_mode": "addition",
        "prompt": "add <<<image_1>>>",
        "image_list": [URL],
    }
    args.update(kw)
    return lambda c: c.create_task(**args)


def omni(**kw: Any) -> Call:
    args: dict[str, Any] = {"prompt": "edit <<<video_1>>>", "video_list": [VIDEO]}
    args.update(kw)
    return lambda c: c.create_omni_video(**args)


def big_png() -> bytes:
    # Stored (level 0) deflate blocks: the PNG is as big as its raw pixels, > 10 MB.
    arr = np.zeros((1900, 1900, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=0)
    return buf.getvalue()


CASES: list[tuple[str, Call, str, str]] = [
    # (id, call, field, a phrase of the rule)
    ("frame-negative", lambda c: c.add_selection("s", -1, [(0.5, 0.5)]), "frame_index", ">= 0"),
    ("frame-float", lambda c: c.add_selection("s", 1.5, [(0.5, 0.5)]), "frame_index", "integer"),
    ("frame-bool", lambda c: c.add_selection("s", True, [(0.5, 0.5)]), "frame_index", "integer"),
    ("frame-str", lambda c: c.add_selection("s", "3", [(0.5, 0.5)]), "frame_index", "integer"),
    (
        "11-points",
        lambda c: c.add_selection("s", 0, [(0.1, 0.1)] * 11),
        "points",
        "at most 10 points",
    ),
    ("no-points", lambda c: c.add_selection("s", 0, []), "points", "at least 1"),
    ("x-above-1", lambda c: c.add_selection("s", 0, [(1.01, 0.5)]), "points[0].x", "[0, 1]"),
    ("y-negative", lambda c: c.add_selection("s", 0, [(0.5, -0.1)]), "points[0].y", "[0, 1]"),
    ("x-nan", lambda c: c.add_selection("s", 0, [(math.nan, 0.5)]), "points[0].x", "finite"),
    ("y-inf", lambda c: c.add_selection("s", 0, [(0.5, math.inf)]), "points[0].y", "finite"),
    ("x-bool", lambda c: c.add_selection("s", 0, [(True, 0.5)]), "points[0].x", "number"),
    ("x-str", lambda c: c.add_selection("s", 0, [{"x": "a", "y": 0}]), "points[0].x", "number"),
    (
        "point-missing-y",
        lambda c: c.add_selection("s", 0, [{"x": 0.1}]),
        "points[0]",
        "both 'x' and 'y'",
    ),
    ("point-triple", lambda c: c.add_selection("s", 0, [(0.1, 0.2, 0.3)]), "points[0]", "(x, y)"),
    ("delete-bad-x", lambda c: c.delete_selection("s", 0, [(2, 0)]), "points[0].x", "[0, 1]"),
    ("session-empty", lambda c: c.clear_selection(""), "session_id", "non-empty"),
    ("session-slash", lambda c: c.preview_selection("a/b"), "session_id", "'/'"),
    ("init-none", lambda c: c.init_selection(), "video_url", "exactly one"),
    (
        "init-both",
        lambda c: c.init_selection(video_url=VIDEO, video_id="1"),
        "video_url",
        "exactly one",
    ),
    ("init-not-url", lambda c: c.init_selection(video_url="clip.mp4"), "video_url", "http"),
    (
        "init-task-id-with-url",
        lambda c: c.init_selection(video_url=VIDEO, task_id="9"),
        "task_id",
        "only with video_id",
    ),
    # Multi-Elements create
    ("edit-mode-unknown", me(edit_mode="replace"), "edit_mode", "addition, swap, removal"),
    ("addition-0-images", me(image_list=[]), "image_list", "1 to 2"),
    ("addition-3-images", me(image_list=[URL] * 3), "image_list", "1 to 2"),
    ("swap-2-images", me(edit_mode="swap", image_list=[URL, URL]), "image_list", "exactly 1"),
    ("removal-1-image", me(edit_mode="removal"), "image_list", "no images"),
    ("prompt-missing", me(prompt=None), "prompt", "required"),
    ("prompt-blank", me(prompt="   "), "prompt", "blank"),
    ("prompt-2501", me(prompt="x" * 2501), "prompt", "at most 2500"),
    ("negative-2501", me(negative_prompt="n" * 2501), "negative_prompt", "at most 2500"),
    ("mode-unknown", me(mode="ultra"), "mode", "std, pro"),
    ("duration-7", me(duration=7), "duration", "5, 10"),
    ("duration-float", me(duration=5.5), "duration", "5, 10"),
    ("watermark-str", me(watermark="yes"), "watermark_info.enabled", "true or false"),
    ("callback-not-url", me(callback_url="ftp://x"), "callback_url", "http"),
    ("external-slash", me(external_task_id="a/b"), "external_task_id", "'/'"),
    ("session-missing", me(session_id=None), "session_id", "non-empty"),
    ("image-gif", me(image_list=[img(400, 400, "GIF")]), "image_list[0]", "jpg/jpeg or png"),
    ("image-small-side", me(image_list=[img(299, 400)]), "image_list[0]", ">= 300"),
    ("image-too-wide", me(image_list=[img(1001, 400)]), "image_list[0]", "1:2.5"),
    ("image-too-tall", me(image_list=[img(300, 751)]), "image_list[0]", "1:2.5"),
    ("image-not-image", me(image_list=[b"not an image"]), "image_list[0]", "readable image"),
    ("image-bad-base64", me(image_list=["@@@@"]), "image_list[0]", "valid base64"),
    ("image-missing-file", me(image_list=["/nope/ref.png"]), "image_list[0]", "not found"),
    (
        "image-b64-small",
        me(image_list=["data:image/png;base64," + b64(img(100, 100))]),
        "image_list[0]",
        ">= 300",
    ),
    (
        "image-array-float",
        me(image_list=[np.zeros((400, 400, 3))]),
        "image_list[0]",
        "uint8",
    ),
    (
        "image-array-small",
        me(image_list=[np.zeros((100, 400, 3), dtype=np.uint8)]),
        "image_list[0]",
        ">= 300",
    ),
    ("image-pil-small", me(image_list=[Image.new("RGB", (200, 600))]), "image_list[0]", ">= 300"),
    ("image-dict-no-key", me(image_list=[{"url": URL}]), "image_list[0]", "needs 'image'"),
    ("image-list-str", me(image_list=URL), "image_list", "list"),
    # listing
    ("page-0", lambda c: c.list_tasks(page=0), "page", "between 1 and 1000"),
    ("page-1001", lambda c: c.list_tasks(page=1001), "page", "between 1 and 1000"),
    ("page-size-501", lambda c: c.list_tasks(page_size=501), "page_size", "between 1 and 500"),
    ("page-size-0", lambda c: c.list_omni_videos(page_size=0), "page_size", "between 1 and 500"),
    ("task-id-empty", lambda c: c.get_task(""), "task_id", "non-empty"),
    ("task-id-slash", lambda c: c.get_omni_video("../x"), "task_id", "'/'"),
    # Omni-Video
    ("omni-model", omni(model_name="kling-v1-6"), "model_name", "kling-video-o1"),
    ("omni-prompt-missing", omni(prompt=None), "prompt", "required"),
    ("omni-prompt-2501", omni(prompt="p" * 2501), "prompt", "at most 2500"),
    ("omni-2-videos", omni(video_list=[VIDEO, VIDEO]), "video_list", "at most 1"),
    (
        "omni-refer-type",
        omni(video_list=[{"video_url": VIDEO, "refer_type": "style"}]),
        "video_list[0].refer_type",
        "base, feature",
    ),
    (
        "omni-keep-sound",
        omni(video_list=[{"video_url": VIDEO, "keep_original_sound": "maybe"}]),
        "video_list[0].keep_original_sound",
        "yes, no",
    ),
    (
        "omni-video-url",
        omni(video_list=[{"video_url": "in.mp4"}]),
        "video_list[0].video_url",
        "http",
    ),
    (
        "omni-5-refs-with-video",
        omni(image_list=[URL] * 3, element_list=[1, 2]),
        "image_list",
        "<= 4",
    ),
    (
        "omni-8-refs-without-video",
        omni(video_list=None, aspect_ratio="1:1", image_list=[URL] * 4, element_list=[1, 2, 3, 4]),
        "image_list",
        "<= 7",
    ),
    (
        "omni-image-type",
        omni(video_list=None, image_list=[{"image_url": URL, "type": "middle"}]),
        "image_list[0].type",
        "first_frame, end_frame",
    ),
    (
        "omni-end-without-first",
        omni(
            video_list=None,
            aspect_ratio="1:1",
            image_list=[{"image_url": URL, "type": "end_frame"}],
        ),
        "image_list",
        "needs a first_frame",
    ),
    (
        "omni-end-frame-3-images",
        omni(
            video_list=None,
            image_list=[
                {"image_url": URL, "type": "first_frame"},
                {"image_url": URL, "type": "end_frame"},
                URL,
            ],
        ),
        "image_list",
        "more than 2 images",
    ),
    (
        "omni-frame-with-base-video",
        omni(image_list=[{"image_url": URL, "type": "first_frame"}]),
        "image_list",
        "base video",
    ),
    ("omni-image-small", omni(image_list=[img(300, 200)]), "image_list[0]", ">= 300"),
    ("omni-element-id", omni(element_list=["abc"]), "element_list[0].element_id", "integer"),
    ("omni-aspect", omni(aspect_ratio="4:3"), "aspect_ratio", "16:9, 9:16, 1:1"),
    ("omni-aspect-missing", omni(video_list=None), "aspect_ratio", "required unless"),
    ("omni-duration-2", omni(duration=2), "duration", "3-10 s"),
    ("omni-duration-16", omni(duration="16", model_name="kling-v3-omni"), "duration", "3-15 s"),
    ("omni-o1-duration-11", omni(duration="11"), "duration", "kling-video-o1 takes 3-10 s"),
    ("omni-mode", omni(mode="fast"), "mode", "std, pro"),
    ("omni-sound-on-with-video", omni(sound=True), "sound", "must be 'off'"),
    (
        "omni-sound-value",
        omni(video_list=None, aspect_ratio="1:1", sound="loud"),
        "sound",
        "on, off",
    ),
    ("omni-multi-shot-str", omni(multi_shot="yes"), "multi_shot", "true or false"),
    (
        "omni-shot-type",
        omni(multi_shot=True, shot_type="auto", multi_prompt=[("a", 5)]),
        "shot_type",
        "customize",
    ),
    (
        "omni-no-multi-prompt",
        omni(multi_shot=True, shot_type="customize"),
        "multi_prompt",
        "1 to 6 shots",
    ),
    (
        "omni-7-shots",
        omni(multi_shot=True, shot_type="customize", duration=7, multi_prompt=[("a", 1)] * 7),
        "multi_prompt",
        "at most 6",
    ),
    (
        "omni-shot-513",
        omni(multi_shot=True, shot_type="customize", multi_prompt=[("s" * 513, 5)]),
        "multi_prompt[0].prompt",
        "at most 512",
    ),
    (
        "omni-shot-0s",
        omni(multi_shot=True, shot_type="customize", multi_prompt=[("a", 0), ("b", 5)]),
        "multi_prompt[0].duration",
        ">= 1",
    ),
    (
        "omni-shots-sum",
        omni(
            multi_shot=True, shot_type="customize", duration=10, multi_prompt=[("a", 4), ("b", 5)]
        ),
        "multi_prompt",
        "sum to the total duration (10)",
    ),
    (
        "omni-shots-sum-default-5",
        omni(multi_shot=True, shot_type="customize", multi_prompt=[("a", 3), ("b", 3)]),
        "multi_prompt",
        "sum to the total duration (5)",
    ),
    ("omni-shot-type-alone", omni(shot_type="customize"), "shot_type", "only with multi_shot"),
    (
        "omni-multi-prompt-alone",
        omni(multi_prompt=[("a", 5)]),
        "multi_prompt",
        "only with multi_shot",
    ),
    ("omni-callback", omni(callback_url="not a url"), "callback_url", "http"),
]


@pytest.mark.parametrize(
    ("call", "field", "phrase"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule_is_enforced_before_sending(
    client: KlingClient, server: FakeKling, call: Call, field: str, phrase: str
) -> None:
    with pytest.raises(KlingValidationError) as info:
        call(client)
    err = info.value
    assert err.field == field
    assert phrase in err.rule
    assert isinstance(err, ValueError)
    assert str(err).startswith(f"{field}=")
    assert server.requests == []


def test_image_over_10_mb_is_refused(
    client: KlingClient, server: FakeKling, tmp_path: Path
) -> None:
    data = big_png()
    assert len(data) > 10 * 1024 * 1024
    path = tmp_path / "big.png"
    path.write_bytes(data)
    for src in (data, path):
        with pytest.raises(KlingValidationError) as info:
            client.create_task("s", "swap", "swap", [src])
        assert info.value.field == "image_list[0]" and "10 MB" in info.value.rule
    assert server.requests == []


def _ok_selection(frame: int) -> Reply:
    return Reply(
        200,
        envelope(
            {"status": 0, "session_id": "s", "res": {"frame_index": frame, "rle_mask_list": []}}
        ),
    )


def test_eleventh_marked_frame_is_refused_locally(client: KlingClient, server: FakeKling) -> None:
    for frame in range(10):
        server.reply(_ok_selection(frame))
        client.add_selection("s", frame * 5, [(0.5, 0.5)])
    assert len(server.requests) == 10
    with pytest.raises(KlingValidationError) as info:
        client.add_selection("s", 99, [(0.5, 0.5)])
    assert info.value.field == "frame_index" and "10 marked frames" in info.value.rule
    assert len(server.requests) == 10
    # More points on an already-marked frame are fine; another session is independent.
    server.reply(_ok_selection(0), _ok_selection(99))
    client.add_selection("s", 0, [(0.1, 0.1)])
    client.add_selection("other", 99, [(0.5, 0.5)])
    assert len(server.requests) == 12


def test_deleting_all_points_of_a_frame_frees_it(client: KlingClient, server: FakeKling) -> None:
    for frame in range(10):
        server.reply(_ok_selection(frame))
        client.add_selection("s", frame, [(0.5, 0.5), (0.25, 0.25)])
    server.reply(_ok_selection(3), _ok_selection(3), _ok_selection(42))
    client.delete_selection("s", 3, [(0.5, 0.5)])
    with pytest.raises(KlingValidationError):
        client.add_selection("s", 42, [(0.5, 0.5)])
    client.delete_selection("s", 3, [{"x": 0.25, "y": 0.25}])
    client.add_selection("s", 42, [(0.5, 0.5)])
    assert sorted(client.selections.frames("s")) == [0, 1, 2, 4, 5, 6, 7, 8, 9, 42]


def test_clear_frees_every_frame(client: KlingClient, server: FakeKling) -> None:
    for frame in range(10):
        server.reply(_ok_selection(frame))
        client.add_selection("s", frame, [(0.5, 0.5)])
    server.reply(Reply(200, envelope({"status": 0, "session_id": "s"})), _ok_selection(50))
    client.clear_selection("s")
    client.add_selection("s", 50, [(0.5, 0.5)])
    assert client.selections.frames("s") == {50: [(0.5, 0.5)]}


def test_points_per_frame_accumulate_across_calls(client: KlingClient, server: FakeKling) -> None:
    server.reply(_ok_selection(0))
    client.add_selection("s", 0, [(0.1, 0.1)] * 8)
    with pytest.raises(KlingValidationError) as info:
        client.add_selection("s", 0, [(0.2, 0.2)] * 3)
    assert info.value.field == "points" and "at most 10 points" in info.value.rule
    assert len(server.requests) == 1


def test_failed_add_does_not_count_a_frame(client: KlingClient, server: FakeKling) -> None:
    server.reply(Reply(400, envelope(None, code=1201, message="bad point")))
    with pytest.raises(Exception, match="bad point"):
        client.add_selection("s", 0, [(0.1, 0.1)])
    assert client.selections.frames("s") == {}


def test_restore_seeds_the_tracker() -> None:
    tracker = v.SelectionTracker()
    tracker.restore("s", {f: [(0.5, 0.5)] for f in range(10)})
    with pytest.raises(KlingValidationError):
        tracker.check_add("s", 10, [{"x": 0.1, "y": 0.1}])
    tracker.check_add("s", 9, [{"x": 0.1, "y": 0.1}])


def test_data_uri_prefix_is_stripped_silently(client: KlingClient, server: FakeKling) -> None:
    server.ok(task_json())
    server.ok(task_json())
    client.create_task("s", "swap", "swap", ["data:image/jpeg;base64," + b64(img(fmt="JPEG"))])
    client.create_omni_video(
        "x <<<image_1>>>",
        image_list=["DATA:image/png;base64," + b64(GOOD)],
        aspect_ratio="1:1",
    )
    assert server.requests[0].json["image_list"] == [{"image": b64(img(fmt="JPEG"))}]
    assert server.requests[1].json["image_list"] == [{"image_url": b64(GOOD)}]


def test_boundary_values_are_accepted(client: KlingClient, server: FakeKling) -> None:
    server.ok({"status": 0, "session_id": "s", "res": {"frame_index": 0, "rle_mask_list": []}})
    server.ok(task_json())
    server.ok(task_json())
    server.ok([])
    client.add_selection("s", 0, [(0.0, 0.0), (1.0, 1.0)] * 5)
    client.create_task(
        "s",
        "addition",
        "p" * 2500,
        [img(300, 750), img(750, 300, "JPEG")],
        negative_prompt="n" * 2500,
    )
    client.create_omni_video(
        model_name="kling-v3-omni",
        multi_shot=True,
        shot_type="customize",
        duration=15,
        multi_prompt=[("s" * 512, 5)] * 3,
        video_list=[{"video_url": VIDEO, "refer_type": "feature"}],
        image_list=[URL] * 2,
        element_list=["1", 2],
        sound="off",
        aspect_ratio="9:16",
    )
    client.list_tasks(page=1000, page_size=500)
    assert len(server.requests) == 4


def test_validators_work_on_wire_bodies_for_the_emulator() -> None:
    body = {
        "model_name": "kling-v1-6",
        "session_id": "s",
        "edit_mode": "addition",
        "image_list": [{"image": "data:image/png;base64," + b64(GOOD)}],
        "prompt": "p",
    }
    with pytest.raises(KlingValidationError) as info:
        v.validate_create_task(body)
    assert info.value.field == "image_list[0].image" and "data: prefix" in info.value.rule
    body["image_list"] = [{"image": b64(GOOD)}]
    v.validate_create_task(body)
    with pytest.raises(KlingValidationError) as info2:
        v.validate_selection_body(
            {"session_id": "s", "frame_index": 0, "points": [{"x": 3, "y": 0}]}
        )
    assert info2.value.rule == "must be in [0, 1] (normalized, from the top-left corner)"
    with pytest.raises(KlingValidationError):
        v.validate_omni_video({"prompt": "x", "video_list": [{"video_url": VIDEO}], "sound": "on"})


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
            st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_points_survive_the_wire_exactly(points: list[tuple[float, float]]) -> None:
    # delete-selection needs the exact coordinates that were added: JSON must not round them.
    wire = json.loads(json.dumps(v.normalize_points(points)))
    assert [(p["x"], p["y"]) for p in wire] == points
    v.validate_points(wire)


@settings(max_examples=50, deadline=None)
@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).filter(lambda f: not 0.0 <= f <= 1.0),
        st.text(max_size=3),
        st.none(),
        st.booleans(),
    )
)
def test_any_bad_coordinate_is_refused(bad: Any) -> None:
    with pytest.raises(KlingValidationError) as info:
        v.normalize_points([(0.5, 0.5), (bad, 0.5)])
    assert info.value.field == "points[1].x"
