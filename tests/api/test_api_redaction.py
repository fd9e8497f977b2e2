"""Secrets (API key, secret key, the JWT) never appear in repr, str, errors or logs."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest
from kling_fake_server import (
    ACCESS_KEY,
    API_KEY,
    SECRET_KEY,
    FakeKling,
    Recorded,
    Reply,
    SleepLog,
    envelope,
    shared_http,
    task_json,
)

from kling_widget import errors as e
from kling_widget.api.client import KlingClient
from kling_widget.api.credentials import Credentials


def _echo_auth(req: Recorded) -> Reply:
    # A hostile or buggy proxy that echoes the Authorization header into its error message.
    return Reply(
        400, envelope(None, code=1201, message=f"bad header {req.headers['Authorization']}")
    )


def _echo_html(req: Recorded) -> Reply:
    return Reply(200, body=f"<html>{req.headers['Authorization']}</html>".encode())


def test_secrets_never_shown(
    server: FakeKling, sleeps: SleepLog, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    tokens: list[str] = []

    def record(req: Recorded) -> Reply:
        tokens.append(req.headers["Authorization"].split(" ", 1)[1])
        return Reply(200, envelope(task_json(status="succeed", videos=[{"url": server.url}])))

    for creds in (
        {"access_key": ACCESS_KEY, "secret_key": SECRET_KEY},
        {"api_key": API_KEY},
    ):
        client = KlingClient(
            **creds, base_url=server.url, sleep=sleeps, max_retries=1, http_client=shared_http()
        )
        server.reply(record, _echo_auth, _echo_html, Reply(401, envelope(None, code=1004)))
        server.reply(Reply(401, envelope(None, code=1004, message="expired")))
        task = client.get_task("t-1")
        errors: list[BaseException] = []
        for call in (
            lambda c=client: c.get_task("t-2"),
            lambda c=client: c.get_task("t-3"),
            lambda c=client: c.get_task("t-4"),
            lambda c=client: c.add_selection("s", -1, [(0, 0)]),
        ):
            with pytest.raises(e.KlingError) as info:
                call()
            errors.append(info.value)
        shown += [repr(client), str(client), repr(client.credentials), str(client.credentials)]
        shown += [repr(task), str(task), repr(client.last_response)]
        if client.last_response is not None:
            shown.append(repr(client.last_response.request.headers))
        shown += [repr(x) for x in errors] + [str(x) for x in errors]
        shown += [repr(vars(x)) for x in errors]
        client.close()

    with pytest.raises(TypeError):
        pickle.dumps(Credentials(api_key=API_KEY))
    shown.append(caplog.text)
    shown += [r.getMessage() for r in caplog.records]
    everything = "\n".join(shown)
    assert tokens and tokens[-1] == API_KEY
    for secret in (SECRET_KEY, API_KEY, *tokens):
        assert secret not in everything
    # The debug log does say what happened, without headers.
    assert "GET /v1/videos/multi-elements/t-1 -> HTTP 200 code 0" in caplog.text
    assert "Authorization" not in caplog.text


def test_validation_errors_about_credentials_hide_the_value() -> None:
    with pytest.raises(e.KlingValidationError) as info:
        Credentials(api_key=API_KEY, secret_key=SECRET_KEY)
    assert API_KEY not in repr(info.value) and SECRET_KEY not in str(info.value)
    assert API_KEY not in repr(info.value.value)
