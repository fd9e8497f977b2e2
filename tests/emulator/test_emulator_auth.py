"""Authentication: JWT (HS256, iss/exp/nbf) or API key, and every documented 401 code."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from emu_helpers import ME, assert_envelope, call, client_of

from kling_widget.api.client import KlingClient
from kling_widget.emulator import Emulator, ManualClock
from kling_widget.errors import KlingAuthError

LIST = ME + "?pageNum=1&pageSize=5"


def token(emu: Emulator, **claims: Any) -> str:
    now = time.time()
    body = {"iss": emu.access_key, "exp": int(now + 1800), "nbf": int(now - 5)}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    assert emu.secret_key is not None
    return jwt.encode(body, emu.secret_key, algorithm="HS256")


def test_a_valid_jwt_and_the_api_key_are_both_accepted(emu: Emulator) -> None:
    assert_envelope(call(emu, "GET", LIST, token=token(emu)), 200, 0)
    assert emu.api_key is not None
    assert_envelope(call(emu, "GET", LIST, token=emu.api_key), 200, 0)


def test_missing_or_empty_authorization_is_1001(emu: Emulator) -> None:
    import httpx

    resp = httpx.get(emu.base_url + LIST)
    body = assert_envelope(resp, 401, 1001)
    assert body["data"] is None
    assert_envelope(call(emu, "GET", LIST, headers={"Authorization": "Bearer"}), 401, 1001)


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Basic dXNlcjpwYXNz", 1002),
        ("Bearer not.a.jwt", 1002),
        ("Bearer aaaa.bbbb.cccc", 1002),
    ],
)
def test_malformed_tokens_are_1002(emu: Emulator, header: str, code: int) -> None:
    assert_envelope(call(emu, "GET", LIST, headers={"Authorization": header}), 401, code)


def test_jwt_without_exp_or_iss_is_invalid_1002(emu: Emulator) -> None:
    assert_envelope(call(emu, "GET", LIST, token=token(emu, exp=None)), 401, 1002)
    assert_envelope(call(emu, "GET", LIST, token=token(emu, iss=None)), 401, 1002)


def test_wrong_signature_wrong_issuer_or_wrong_api_key_is_1000(emu: Emulator) -> None:
    forged = jwt.encode(
        {"iss": emu.access_key, "exp": int(time.time() + 600)},
        "not-the-secret-" * 3,
        algorithm="HS256",
    )
    assert_envelope(call(emu, "GET", LIST, token=forged), 401, 1000)
    assert_envelope(call(emu, "GET", LIST, token=token(emu, iss="someone-else")), 401, 1000)
    assert_envelope(call(emu, "GET", LIST, token="a-wrong-api-key"), 401, 1000)


def test_not_yet_valid_is_1003_and_expired_is_1004(emu: Emulator) -> None:
    now = time.time()
    assert_envelope(call(emu, "GET", LIST, token=token(emu, nbf=int(now + 120))), 401, 1003)
    assert_envelope(
        call(emu, "GET", LIST, token=token(emu, exp=int(now - 1), nbf=int(now - 100))), 401, 1004
    )


def test_jwt_time_comes_from_jwt_clock_not_the_business_clock(tmp_path: Any) -> None:
    business = ManualClock()
    jwt_time = ManualClock()
    with Emulator(clock=business, jwt_clock=jwt_time, data_dir=tmp_path) as emu:
        fresh = token(emu)
        business.advance(25 * 3600)
        assert_envelope(call(emu, "GET", LIST, token=fresh), 200, 0)
        jwt_time.advance(1801)
        assert_envelope(call(emu, "GET", LIST, token=fresh), 401, 1004)


def test_the_client_raises_auth_errors_with_the_code(emu: Emulator) -> None:
    bad = KlingClient(
        access_key=emu.access_key, secret_key="wrong-secret-" * 3, base_url=emu.base_url
    )
    with bad, pytest.raises(KlingAuthError) as info:
        bad.list_tasks()
    assert info.value.code == 1000
    assert info.value.http_status == 401


def test_api_key_only_emulator_refuses_jwts(tmp_path: Any) -> None:
    with Emulator(api_key="k-123456", data_dir=tmp_path) as emu:
        assert emu.access_key is None
        assert_envelope(call(emu, "GET", LIST, token="k-123456"), 200, 0)
        other = jwt.encode({"iss": "x", "exp": int(time.time() + 60)}, "s" * 32, algorithm="HS256")
        assert_envelope(call(emu, "GET", LIST, token=other), 401, 1000)
        with client_of(emu) as c:
            assert c.list_tasks() == []


def test_secrets_never_reach_the_request_log_or_errors(emu: Emulator) -> None:
    good = token(emu)
    call(emu, "GET", LIST, token=good)
    call(emu, "GET", LIST, token="a-wrong-api-key")
    logged = repr(emu.requests)
    for secret in (good, "a-wrong-api-key", emu.secret_key, emu.api_key):
        assert secret is not None
        assert secret not in logged
    assert all(r.headers.get("Authorization") == "<redacted>" for r in emu.requests)
    resp = call(emu, "GET", LIST, token="a-wrong-api-key")
    assert "a-wrong-api-key" not in resp.text
    assert emu.secret_key not in repr(emu) and emu.secret_key not in repr(emu.auth)
