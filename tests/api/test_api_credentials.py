"""Credentials: the JWT exactly as Kling documents it, caching, re-minting, env reading."""

from __future__ import annotations

import jwt
import pytest
from kling_fake_server import ACCESS_KEY, API_KEY, SECRET_KEY, FakeKling, task_json

from kling_widget.api.client import KlingClient
from kling_widget.api.credentials import Credentials
from kling_widget.errors import KlingValidationError
from kling_widget.limits import JWT_LIFETIME_S, JWT_REFRESH_MARGIN_S


def _claims(token: str) -> dict[str, int | str]:
    return jwt.decode(
        token, SECRET_KEY, algorithms=["HS256"], options={"verify_exp": False, "verify_nbf": False}
    )


def test_jwt_header_and_claims_match_the_docs() -> None:
    creds = Credentials(access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    token = creds.bearer_token(now=1_700_000_000.4)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = _claims(token)
    assert claims == {"iss": ACCESS_KEY, "exp": 1_700_000_000 + 1800, "nbf": 1_700_000_000 - 5}
    assert claims["exp"] - claims["nbf"] == 1805  # type: ignore[operator]


def test_jwt_signature_uses_the_secret_key() -> None:
    token = Credentials(access_key=ACCESS_KEY, secret_key=SECRET_KEY).bearer_token()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, SECRET_KEY + "x", algorithms=["HS256"])
    # And a real-time token is valid right now.
    assert jwt.decode(token, SECRET_KEY, algorithms=["HS256"])["iss"] == ACCESS_KEY


def test_jwt_is_cached_then_reminted_before_expiry() -> None:
    creds = Credentials(access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    t0 = 1_700_000_000.0
    first = creds.bearer_token(now=t0)
    assert creds.bearer_token(now=t0 + 60) == first
    just_before = t0 + JWT_LIFETIME_S - JWT_REFRESH_MARGIN_S - 1
    assert creds.bearer_token(now=just_before) == first
    renewed = creds.bearer_token(now=t0 + JWT_LIFETIME_S - JWT_REFRESH_MARGIN_S)
    assert renewed != first
    assert _claims(renewed)["exp"] == int(t0) + 2 * JWT_LIFETIME_S - JWT_REFRESH_MARGIN_S


def test_invalidate_forces_a_new_token() -> None:
    creds = Credentials(access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    first = creds.bearer_token(now=100.0)
    creds.invalidate()
    second = creds.bearer_token(now=101.0)
    assert second != first
    assert _claims(second)["nbf"] == 96


def test_api_key_is_the_bearer_token() -> None:
    creds = Credentials(api_key=API_KEY)
    assert creds.bearer_token() == API_KEY
    assert creds.authorization() == f"Bearer {API_KEY}"
    assert not creds.uses_jwt


def test_from_env_prefers_api_key() -> None:
    env = {"KLING_API_KEY": API_KEY, "KLING_ACCESS_KEY": ACCESS_KEY, "KLING_SECRET_KEY": SECRET_KEY}
    assert Credentials.from_env(env).bearer_token() == API_KEY
    env2 = {"KLING_ACCESS_KEY": ACCESS_KEY, "KLING_SECRET_KEY": SECRET_KEY}
    assert _claims(Credentials.from_env(env2).bearer_token())["iss"] == ACCESS_KEY


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "credentials"),
        ({"access_key": ACCESS_KEY}, "secret_key"),
        ({"secret_key": SECRET_KEY}, "access_key"),
        ({"api_key": API_KEY, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY}, "api_key"),
        ({"api_key": "   "}, "credentials"),
    ],
)
def test_incomplete_credentials_name_the_field_not_the_secret(
    kwargs: dict[str, str], field: str
) -> None:
    with pytest.raises(KlingValidationError) as info:
        Credentials(**kwargs)
    assert info.value.field == field
    text = str(info.value) + repr(info.value)
    for secret in (SECRET_KEY, API_KEY):
        assert secret not in text


def test_client_reads_environment(server: FakeKling, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLING_API_KEY", API_KEY)
    monkeypatch.setenv("KLING_BASE_URL", server.url + "/relay/kling/")
    server.ok(task_json())
    with KlingClient() as client:
        assert client.base_url == server.url + "/relay/kling"
        client.get_task("t-1")
    req = server.requests[0]
    assert req.path == "/relay/kling/v1/videos/multi-elements/t-1"
    assert req.headers["Authorization"] == f"Bearer {API_KEY}"


def test_sent_jwt_is_valid_and_sent_with_one_space(server: FakeKling) -> None:
    server.ok(task_json())
    with KlingClient(access_key=ACCESS_KEY, secret_key=SECRET_KEY, base_url=server.url) as c:
        c.get_task("t-1")
    auth = server.requests[0].headers["Authorization"]
    scheme, token = auth.split(" ")
    assert scheme == "Bearer"
    claims = jwt.decode(token, SECRET_KEY, algorithms=["HS256"])
    assert claims["iss"] == ACCESS_KEY
    assert claims["exp"] - claims["nbf"] == 1805
