"""Callbacks of both documented shapes become typed tasks (Kling's callback page)."""

from __future__ import annotations

import json

import pytest

from kling_widget.api.models import Task
from kling_widget.api.webhooks import (
    WebhookVerificationError,
    parse_callback,
    verify_callback,
    verify_webhook,
)
from kling_widget.errors import KlingResponseError
from kling_widget.rules import TaskState

# Kling's official test vector.
SECRET = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI="
VECTOR_BODY = (
    '{"id":"1234567890","status":"succeeded","message":"","create_time":1781080778802,'
    '"update_time":1781080794151}'
)
VECTOR_HEADERS = {
    "webhook-id": "9876543210",
    "webhook-timestamp": "1781080794",
    "webhook-signature": "v1,UsKlJP00XoQyOn410NM9xv34sP+Gl0jnOO9Lcpr7NJ4=",
}
# The console's "send test callback" body (always the new shape).
CONSOLE_BODY = (
    '{"id":"913827032734642185","status":"submitted","outputs":[],"message":"",'
    '"create_time":1785901861504,"update_time":1785901861504}'
)
NEW_SHAPE = {
    "id": "t-9",
    "status": "succeeded",
    "message": "",
    "create_time": 1781080778802,
    "update_time": 1781080794151,
    "external_id": "kw-1",
    "outputs": [
        {"type": "video", "id": "v-1", "url": "https://cdn.example/r.mp4", "duration": "5.1"},
        {"type": "image", "id": "i-1", "url": "https://cdn.example/c.png"},
    ],
    "billing": [
        {
            "charge_type": "task",
            "cash_type": "credit",
            "amount": 1.5,
            "currency": "CNY",
            "package_type": "video",
            "list_price": "2",
        }
    ],
    "something_new": {"x": 1},
}
OLD_SHAPE = {
    "task_id": "t-8",
    "task_status": "succeed",
    "task_status_msg": "",
    "created_at": 1722769557708,
    "updated_at": 1722769557708,
    "final_unit_deduction": "1",
    "final_balance_deduction": {"quota": 10, "list_price": "12.5"},
    "watermark_info": {"enabled": True},
    "task_info": {"external_task_id": "kw-2"},
    "task_result": {"videos": [{"id": "v-2", "url": "https://cdn.example/o.mp4", "duration": "5"}]},
}


def test_official_vector_verifies_into_a_typed_task() -> None:
    task = verify_callback(SECRET, VECTOR_HEADERS, VECTOR_BODY, now=1781080794)
    assert task.task_id == "1234567890"
    assert task.status == "succeed" and task.state is TaskState.SUCCEEDED and task.succeeded
    assert task.created_at is not None and task.created_at.year == 2026
    # The older helper still returns the dict.
    assert verify_webhook(SECRET, VECTOR_HEADERS, VECTOR_BODY, now=1781080794)["id"] == "1234567890"


def test_console_test_body() -> None:
    task = parse_callback(CONSOLE_BODY)
    assert task.task_id == "913827032734642185" and task.status == "submitted"
    assert not task.is_final and task.videos == []


def test_new_shape_outputs_billing_and_unknown_fields() -> None:
    task = parse_callback(json.dumps(NEW_SHAPE).encode(), kind="omni-video")
    assert task.kind == "omni-video" and task.external_task_id == "kw-1"
    assert [v.url for v in task.videos] == ["https://cdn.example/r.mp4"]
    assert task.videos[0].duration == 5.1
    assert task.billing[0].amount == 1.5 and task.billing[0].list_price == 2.0
    assert task.billing[0].currency == "CNY"
    assert task.raw["something_new"] == {"x": 1}


def test_old_shape_is_the_task_object() -> None:
    task = parse_callback(OLD_SHAPE)
    assert task == Task.from_json(OLD_SHAPE)
    assert task.succeeded and task.external_task_id == "kw-2"
    assert task.final_balance_deduction is not None
    assert (
        task.final_balance_deduction.quota == 10 and task.final_balance_deduction.list_price == 12.5
    )
    assert task.watermark_info is not None and task.watermark_info.enabled is True


@pytest.mark.parametrize("body", ["[1, 2]", "not json", '{"hello": 1}', b"\xff\xfe"])
def test_unreadable_callbacks_are_response_errors(body: str | bytes) -> None:
    with pytest.raises(KlingResponseError):
        parse_callback(body)


def test_bad_signature_is_refused_before_parsing() -> None:
    headers = {**VECTOR_HEADERS, "webhook-signature": "v1,AAAA"}
    with pytest.raises(WebhookVerificationError):
        verify_callback(SECRET, headers, VECTOR_BODY, now=1781080794)
    for bad in ("garbage", "v1", "v1,", "v2,abc v1"):
        with pytest.raises(WebhookVerificationError):
            verify_callback(
                SECRET, {**VECTOR_HEADERS, "webhook-signature": bad}, VECTOR_BODY, now=1781080794
            )
