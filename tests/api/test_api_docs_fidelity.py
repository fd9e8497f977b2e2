"""Client behaviour where Kling's documents are specific (each test cites the statement)."""

from __future__ import annotations

import pytest
from kling_fake_server import FakeKling, Reply, envelope, task_json

from kling_widget.api.client import KlingClient
from kling_widget.errors import KlingInvalidRequestError

VIDEO = "https://cdn.example.com/in.mp4"


def test_omni_watermark_is_sent(client: KlingClient, server: FakeKling) -> None:
    # "watermark_info: {"enabled": bool} is accepted on Omni create too".
    server.ok(task_json())
    client.create_omni_video("edit <<<video_1>>>", video_list=[VIDEO], watermark=True)
    assert server.requests[0].json["watermark_info"] == {"enabled": True}


def test_shot_type_intelligence_is_accepted(client: KlingClient, server: FakeKling) -> None:
    # shot_type enum: customize and intelligence (per-shot prompts not required).
    server.ok(task_json())
    client.create_omni_video(multi_shot=True, shot_type="intelligence", aspect_ratio="16:9")
    assert server.requests[0].json["shot_type"] == "intelligence"


def test_feature_video_without_aspect_ratio(client: KlingClient, server: FakeKling) -> None:
    # The docs' own "generate the next shot from <<<video_1>>>" example omits aspect_ratio.
    server.ok(task_json())
    client.create_omni_video(
        "Generate the next shot of <<<video_1>>>",
        video_list=[{"video_url": VIDEO, "refer_type": "feature"}],
    )
    assert "aspect_ratio" not in server.requests[0].json


def test_empty_optional_fields_are_never_sent(client: KlingClient, server: FakeKling) -> None:
    # "Not given" is one rule: None, "" and [] are left out.
    server.ok(task_json())
    client.create_task(
        "s", "removal", "Delete <<<video_1>>>", image_list=[], negative_prompt="", callback_url=""
    )
    body = server.requests[0].json
    assert not {"image_list", "negative_prompt", "callback_url"} & set(body)


def _ambiguous_then(lookup: Reply) -> list[Reply]:
    return [Reply(500, envelope(None, code=5000, message="internal")), lookup]


@pytest.mark.parametrize(
    "lookup",
    [
        Reply(404, envelope(None, code=1203, message="task not found")),
        Reply(404, envelope(None, code=1202, message="wrong method")),
        Reply(400, envelope(None, code=1201, message="task does not exist")),
        Reply(400, envelope(None, code=1201, message="任务不存在")),
    ],
)
def test_not_found_in_any_documented_form_resends(
    client: KlingClient, server: FakeKling, lookup: Reply
) -> None:
    server.reply(*_ambiguous_then(lookup), Reply(200, envelope(task_json("t-2"))))
    task = client.create_task("s", "removal", "Delete <<<video_1>>>")
    assert task.task_id == "t-2"
    assert [r.method for r in server.requests] == ["POST", "GET", "POST"]
    assert server.requests[0].json == server.requests[2].json  # same external id


@pytest.mark.parametrize(
    ("lookup", "error"),
    [
        (
            Reply(400, envelope(None, code=1201, message="invalid parameter")),
            KlingInvalidRequestError,
        ),
        (Reply(403, envelope(None, code=1103, message="no permission")), Exception),
    ],
)
def test_any_other_lookup_answer_never_resends(
    client: KlingClient, server: FakeKling, lookup: Reply, error: type[Exception]
) -> None:
    server.reply(*_ambiguous_then(lookup))
    with pytest.raises(error) as info:
        client.create_task("s", "removal", "Delete <<<video_1>>>", external_task_id="kw-9")
    assert "get_task('kw-9')" in str(info.value)
    assert [r.method for r in server.requests] == ["POST", "GET"]
