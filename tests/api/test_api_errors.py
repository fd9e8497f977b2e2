"""Server errors: the documented table, unreadable bodies, data.status, gone sessions."""

from __future__ import annotations

import pytest
from kling_fake_server import FakeKling, Reply, SleepLog, envelope, shared_http, task_json

from kling_widget import errors as e
from kling_widget.api.client import KlingClient

# (HTTP status, code, error class) for every row of the documented table.
TABLE = [
    (401, 1000, e.KlingAuthError),
    (401, 1001, e.KlingAuthError),
    (401, 1002, e.KlingAuthError),
    (429, 1100, e.KlingAccountError),
    (429, 1101, e.KlingAccountError),
    (429, 1102, e.KlingAccountError),
    (403, 1103, e.KlingPermissionError),
    (400, 1200, e.KlingInvalidRequestError),
    (400, 1201, e.KlingInvalidRequestError),
    (404, 1202, e.KlingNotFoundError),
    (404, 1203, e.KlingNotFoundError),
    (400, 1300, e.KlingContentPolicyError),
    (400, 1301, e.KlingContentPolicyError),
    (429, 1304, e.KlingPermissionError),
]


@pytest.mark.parametrize(("status", "code", "cls"), TABLE, ids=[str(t[1]) for t in TABLE])
def test_final_errors_map_to_their_class_without_retry(
    server: FakeKling,
    sleeps: SleepLog,
    status: int,
    code: int,
    cls: type[e.KlingAPIError],
) -> None:
    server.reply(Reply(status, envelope(None, code=code, message=f"msg {code}", request_id="r-9")))
    # An API key: auth errors are not re-minted (there is nothing to re-mint).
    with (
        KlingClient(
            api_key="k" * 32, base_url=server.url, sleep=sleeps, http_client=shared_http()
        ) as client,
        pytest.raises(cls) as info,
    ):
        client.get_task("t-1")
    err = info.value
    assert type(err) is cls
    assert (err.http_status, err.code, err.request_id) == (status, code, "r-9")
    assert err.message == f"msg {code}"
    assert str(err) == f"msg {code} (HTTP {status}, code {code}, request_id r-9)"
    assert len(server.requests) == 1
    assert sleeps.delays == []


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (429, 1302, e.KlingRateLimitError),
        (429, 1303, e.KlingRateLimitError),
        (500, 5000, e.KlingServerError),
        (503, 5001, e.KlingServerError),
        (504, 5002, e.KlingServerError),
    ],
)
def test_retryable_errors_map_after_retries_run_out(
    client: KlingClient,
    server: FakeKling,
    sleeps: SleepLog,
    status: int,
    code: int,
    cls: type[e.KlingAPIError],
) -> None:
    for _ in range(5):
        server.reply(Reply(status, envelope(None, code=code, message="busy")))
    with pytest.raises(cls) as info:
        client.get_task("t-1")
    assert (info.value.http_status, info.value.code) == (status, code)
    assert len(server.requests) == 5  # 1 + max_retries (4)
    assert len(sleeps.delays) == 4


def test_code_checked_even_with_http_200(client: KlingClient, server: FakeKling) -> None:
    server.reply(Reply(200, envelope(None, code=1201, message="prompt invalid")))
    with pytest.raises(e.KlingInvalidRequestError, match="prompt invalid"):
        client.get_task("t-1")


def test_status_checked_even_with_code_0(
    client: KlingClient, server: FakeKling, sleeps: SleepLog
) -> None:
    server.reply(Reply(403, envelope(None, code=0, message="")))
    with pytest.raises(e.KlingPermissionError) as info:
        client.get_task("t-1")
    assert info.value.http_status == 403 and info.value.code is None


@pytest.mark.parametrize(
    ("body", "status", "phrase"),
    [
        (b"<html><body><h1>502 Bad Gateway</h1></body></html>", 502, "502 Bad Gateway"),
        (b"", 200, "an empty body"),
        (b"{not json", 200, "{not json"),
        (b"[1, 2]", 200, "[1, 2]"),
        (b'{"message": "no code here"}', 200, "without a numeric code"),
    ],
)
def test_unreadable_bodies_give_a_clear_error(
    server: FakeKling, sleeps: SleepLog, body: bytes, status: int, phrase: str
) -> None:
    for _ in range(5):
        server.reply(Reply(status, body=body, headers={"Content-Type": "text/html"}))
    with (
        KlingClient(
            api_key="k" * 32, base_url=server.url, sleep=sleeps, http_client=shared_http()
        ) as client,
        pytest.raises(e.KlingResponseError) as info,
    ):
        client.get_task("t-1")
    assert info.value.http_status == status
    assert phrase in str(info.value)
    assert "JSONDecodeError" not in repr(info.value)
    assert not isinstance(info.value.__cause__, ValueError)


def test_long_html_is_excerpted(client: KlingClient, server: FakeKling) -> None:
    page = b"<html>" + b"x" * 5000 + b"</html>"
    server.reply(Reply(200, body=page))
    with pytest.raises(e.KlingResponseError) as info:
        client.get_task("t-1")
    assert len(str(info.value)) < 400


def test_html_5xx_is_retried_then_succeeds(
    client: KlingClient, server: FakeKling, sleeps: SleepLog
) -> None:
    server.reply(Reply(502, body=b"<html>Bad Gateway</html>"))
    server.ok(task_json())
    assert client.get_task("t-1").task_id == "t-1"
    assert len(sleeps.delays) == 1


def test_nonzero_data_status_on_selection_calls(client: KlingClient, server: FakeKling) -> None:
    server.ok({"status": 1, "session_id": "s", "res": {"frame_index": 0, "rle_mask_list": []}})
    with pytest.raises(e.KlingSelectionError, match=r"data\.status=1"):
        client.add_selection("s", 0, [(0.5, 0.5)])
    # The frame was not marked.
    assert client.selections.frames("s") == {}
    server.ok({"status": 2, "session_id": ""})
    with pytest.raises(e.KlingSelectionError):
        client.init_selection(video_url="https://x/y.mp4")


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (400, 1201, "session_id is invalid or expired"),
        (404, 1202, "Session not found"),
        (404, 1203, "session does not exist"),
        (404, None, "unknown session"),
    ],
)
def test_gone_session_is_reported_as_expired(
    client: KlingClient, server: FakeKling, status: int, code: int | None, message: str
) -> None:
    server.reply(
        Reply(200, envelope({"status": 0, "session_id": "s", "res": {"rle_mask_list": []}}))
    )
    client.add_selection("s", 4, [(0.5, 0.5)])
    body = {"message": message, "request_id": "r"} | ({"code": code} if code else {})
    server.reply(Reply(status, body))
    with pytest.raises(e.KlingSessionExpiredError) as info:
        client.add_selection("s", 5, [(0.5, 0.5)])
    assert "session s is gone" in str(info.value)
    assert isinstance(info.value, e.KlingInvalidRequestError)
    # The tracker forgot the dead session.
    assert client.selections.frames("s") == {}


def test_other_1201_on_a_session_call_is_not_expiry(client: KlingClient, server: FakeKling) -> None:
    server.reply(Reply(400, envelope(None, code=1201, message="prompt contains banned words")))
    with pytest.raises(e.KlingInvalidRequestError) as info:
        client.create_task("s", "removal", "Delete <<<video_1>>>")
    assert type(info.value) is e.KlingInvalidRequestError


def test_not_found_on_get_task_is_not_session_expiry(
    client: KlingClient, server: FakeKling
) -> None:
    server.reply(Reply(404, envelope(None, code=1203, message="task not found")))
    with pytest.raises(e.KlingNotFoundError) as info:
        client.get_task("nope")
    assert type(info.value) is e.KlingNotFoundError


def test_connection_refused_is_a_transport_error(sleeps: SleepLog) -> None:
    fake = FakeKling()
    url = fake.url
    fake.close()
    with (
        KlingClient(
            api_key="k" * 32, base_url=url, sleep=sleeps, max_retries=2, http_client=shared_http()
        ) as client,
        pytest.raises(e.KlingTransportError, match="could not connect"),
    ):
        client.get_task("t-1")
    assert len(sleeps.delays) == 2
