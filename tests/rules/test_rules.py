"""The rules module: one answer per rule, each citing the doc statement it implements."""

from __future__ import annotations

import pytest
from docs_examples import DOCS_CREATE

from kling_widget import rules
from kling_widget.errors import KlingValidationError
from kling_widget.limits import PROMPT_TEMPLATES


@pytest.mark.parametrize("value", [None, "", "   ", [], ()])
def test_not_given(value: object) -> None:
    # Kling's own example requests send "" and [] for fields they do not use.
    assert not rules.is_given(value)


@pytest.mark.parametrize("value", ["x", 0, False, [1], {"a": 1}])
def test_given(value: object) -> None:
    assert rules.is_given(value)


def test_task_state_maps_both_callback_spellings() -> None:
    assert rules.TaskState.from_wire("succeed") is rules.TaskState.SUCCEEDED
    assert rules.TaskState.from_wire("succeeded") is rules.TaskState.SUCCEEDED
    assert rules.TaskState.SUCCEEDED == "succeed"
    assert rules.TaskState.FAILED.is_final and not rules.TaskState.PROCESSING.is_final
    with pytest.raises(KlingValidationError):
        rules.TaskState.from_wire("done")


def test_default_model_is_the_documented_one() -> None:
    # Omni page: model_name kling-video-o1 (default) or kling-v3-omni.
    assert rules.DEFAULT_OMNI_MODEL == "kling-video-o1"
    assert rules.DEFAULT_MULTI_ELEMENTS_MODEL == "kling-v1-6"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("removal", "Delete the selected object from <<<video_1>>>"),
        (
            "addition",
            "Using the context of <<<video_1>>>, seamlessly add the object from <<<image_1>>>",
        ),
        ("swap", "swap the object from <<<image_1>>> for the selected object from <<<video_1>>>"),
    ],
)
def test_default_prompt_fills_every_placeholder(mode: str, expected: str) -> None:
    assert rules.default_prompt(mode) == expected
    assert "[x]" not in rules.default_prompt(mode, "the dog")


def test_default_prompt_uses_an_object_label() -> None:
    assert rules.default_prompt("removal", "the red car") == "Delete the red car from <<<video_1>>>"
    assert "[x]" not in rules.default_prompt("omni")


def test_resolve_prompt_replaces_the_raw_template_only() -> None:
    assert rules.resolve_prompt("removal", PROMPT_TEMPLATES["removal"]) == rules.default_prompt(
        "removal"
    )
    assert rules.resolve_prompt("removal", "") == rules.default_prompt("removal")
    assert rules.resolve_prompt("removal", "Delete the cat") == "Delete the cat"


@pytest.mark.parametrize(
    ("seconds", "label"),
    [(2.0, "5"), (5.0, "5"), (5.5, "5"), (1.5, "5"), (7.0, "10"), (10.5, "10"), (6.5, "10")],
)
def test_duration_for_clip_one_tolerance(seconds: float, label: str) -> None:
    # "duration": "5" (input 2-5 s) or "10" (input 7-10 s); one relay documents 2-5.5/7-10.5.
    assert rules.duration_for_clip(seconds) == label


@pytest.mark.parametrize("seconds", [6.0, 1.0, 11.0, float("nan")])
def test_duration_for_clip_outside_brackets(seconds: float) -> None:
    with pytest.raises(KlingValidationError) as info:
        rules.duration_for_clip(seconds)
    assert info.value.field == "clip duration" and "2-5 s or 7-10 s" in info.value.rule


def test_external_ids_have_one_format() -> None:
    a, b = rules.new_external_task_id(), rules.new_external_task_id()
    assert a != b and a.startswith("kw-") and len(a) == 35
    assert rules.check_id("external_task_id", a) == a


@pytest.mark.parametrize(
    ("mode", "count"), [("addition", 0), ("addition", 3), ("swap", 2), ("removal", 1)]
)
def test_reference_counts(mode: str, count: int) -> None:
    with pytest.raises(KlingValidationError) as info:
        rules.check_reference_count(mode, count)
    assert info.value.field == "image_list"


def test_limits_on_frames_points_prompt() -> None:
    rules.check_marked_frames(10)
    rules.check_points_per_frame(10)
    with pytest.raises(KlingValidationError):
        rules.check_marked_frames(11)
    with pytest.raises(KlingValidationError):
        rules.check_points_per_frame(11)
    with pytest.raises(KlingValidationError):
        rules.check_points_per_frame(0)
    assert rules.check_prompt("prompt", "p" * 2500, required=True) == "p" * 2500
    with pytest.raises(KlingValidationError):
        rules.check_prompt("prompt", "p" * 2501, required=True)
    with pytest.raises(KlingValidationError):
        rules.check_prompt("prompt", " ", required=True)
    assert rules.check_prompt("negative_prompt", "", required=False) is None


def test_frame_index_against_the_clip() -> None:
    assert rules.check_frame_index(149, frame_count=150) == 149
    with pytest.raises(KlingValidationError) as info:
        rules.check_frame_index(999, frame_count=150)
    assert "150 frames" in info.value.rule


# --- Multi-Elements spec -----------------------------------------------------------------


def test_docs_create_example_is_valid() -> None:
    # The official example: no model_name, "image_list": [], and "" for optional fields.
    assert rules.check_create_body(dict(DOCS_CREATE)) == []


def test_docs_init_example_is_valid() -> None:
    rules.check_init_selection_body({"video_id": "", "video_url": "https://x.example/a.mp4"})
    with pytest.raises(KlingValidationError):
        rules.check_init_selection_body({"video_id": "", "video_url": ""})


def test_multi_elements_edit_never_sends_an_empty_optional_field() -> None:
    edit = rules.MultiElementsEdit(
        session_id="s", edit_mode="removal", negative_prompt="", callback_url=""
    )
    body = edit.to_body()
    assert body == {
        "model_name": "kling-v1-6",
        "session_id": "s",
        "edit_mode": "removal",
        "prompt": "Delete the selected object from <<<video_1>>>",
    }
    edit.validate(clip_seconds=5.0)


def test_multi_elements_duration_against_clip() -> None:
    edit = rules.MultiElementsEdit(session_id="s", edit_mode="removal", duration="10")
    with pytest.raises(KlingValidationError) as info:
        edit.validate(clip_seconds=5.0)
    assert info.value.field == "duration" and "'5'" in info.value.rule
    assert (
        rules.MultiElementsEdit(session_id="s", edit_mode="removal").for_clip(8.0).duration == "10"
    )


# --- Omni spec -----------------------------------------------------------------------------


VIDEO = "https://x.example/in.mp4"


def test_shot_type_intelligence_needs_no_shots() -> None:
    # Omni field text: shot_type customize | intelligence; with intelligence the per-shot
    # prompts are not required.
    rules.OmniEdit(
        multi_shot=True, shot_type="intelligence", aspect_ratio="16:9", duration="5"
    ).validate()
    with pytest.raises(KlingValidationError) as info:
        rules.OmniEdit(multi_shot=True, shot_type="customize", aspect_ratio="16:9").validate()
    assert info.value.field == "multi_prompt"


def test_o1_takes_3_to_10_seconds_v3_omni_3_to_15() -> None:
    # Capability map: kling-video-o1 3-10 s; kling-v3-omni 3-15 s.
    feature = {"video_url": VIDEO, "refer_type": "feature"}
    with pytest.raises(KlingValidationError) as info:
        rules.OmniEdit(prompt="p", video_url=VIDEO, refer_type="feature", duration="11").validate()
    assert "3-10" in info.value.rule
    rules.OmniEdit(
        prompt="p", model_name="kling-v3-omni", video_url=VIDEO, refer_type="feature", duration="15"
    ).validate()
    assert feature  # the same video serves both models


def test_o1_text_to_video_only_5_or_10() -> None:
    # Capability map: O1 text-to-video and first-frame image-to-video only 5 or 10 s.
    with pytest.raises(KlingValidationError) as info:
        rules.OmniEdit(prompt="p", aspect_ratio="16:9", duration="7").validate()
    assert "5 or 10" in info.value.rule
    rules.OmniEdit(prompt="p", aspect_ratio="16:9", duration="10").validate()
    rules.OmniEdit(
        prompt="p", model_name="kling-v3-omni", aspect_ratio="16:9", duration="7"
    ).validate()


def test_end_frame_with_more_than_two_images_refused_for_o1_only() -> None:
    images = (
        rules.OmniImage("https://x.example/1.png", "first_frame"),
        rules.OmniImage("https://x.example/2.png", "end_frame"),
        rules.OmniImage("https://x.example/3.png"),
    )
    with pytest.raises(KlingValidationError) as info:
        rules.OmniEdit(prompt="p", images=images, duration="5").validate()
    assert "kling-video-o1" in info.value.rule
    rules.OmniEdit(prompt="p", model_name="kling-v3-omni", images=images, duration="5").validate()


def test_aspect_ratio_only_without_first_frame_or_video() -> None:
    # The docs' "next shot from <<<video_1>>>" example uses a feature video, no aspect_ratio.
    rules.OmniEdit(
        prompt="next shot of <<<video_1>>>", video_url=VIDEO, refer_type="feature"
    ).validate()
    rules.OmniEdit(
        prompt="p", images=(rules.OmniImage("https://x.example/1.png", "first_frame"),)
    ).validate()
    with pytest.raises(KlingValidationError) as info:
        rules.OmniEdit(prompt="p").validate()
    assert info.value.field == "aspect_ratio"


def test_omni_watermark_and_empty_fields() -> None:
    body = rules.OmniEdit(
        prompt="p", video_url=VIDEO, watermark=True, callback_url="", mode=""
    ).to_body()
    assert body["watermark_info"] == {"enabled": True}
    assert "callback_url" not in body and "mode" not in body
    rules.check_omni_body(body)


def test_omni_clip_length() -> None:
    rules.OmniEdit(prompt="p", video_url=VIDEO).validate(clip_seconds=10.0)
    with pytest.raises(KlingValidationError):
        rules.OmniEdit(prompt="p", video_url=VIDEO).validate(clip_seconds=12.0)


def _png_declaring(width: int, height: int) -> bytes:
    import io
    import struct
    import zlib

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


def test_image_declaring_a_huge_canvas_is_a_validation_error() -> None:
    with pytest.raises(KlingValidationError, match="megapixels") as info:
        rules.check_image("image_list[0].image", _png_declaring(20000, 20000))
    assert info.value.field == "image_list[0].image"


def test_image_with_missing_pixel_data_is_refused() -> None:
    with pytest.raises(KlingValidationError, match="truncated"):
        rules.check_image("image", _png_declaring(400, 400))
