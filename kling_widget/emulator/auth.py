"""Authentication as Kling does it: ``Authorization: Bearer <token>``.

The token is either the configured API key, or an HS256 JWT signed with the configured
secret key whose ``iss`` is the access key. Codes (401 in every case), chosen from the
documented table (1000 auth failed, 1001 empty, 1002 invalid, 1003 not yet valid,
1004 expired):

- no ``Authorization`` header, or an empty bearer token -> 1001;
- a header that is not ``Bearer <token>``, a token that looks like a JWT but cannot be
  decoded, or a JWT without ``exp`` or ``iss`` -> 1002;
- a JWT whose signature does not verify with the secret key, whose ``iss`` is not the
  access key, or a plain token that is not the API key -> 1000;
- ``nbf`` in the future -> 1003; ``exp`` in the past -> 1004.

Time for ``exp``/``nbf`` comes from ``jwt_clock`` (wall time by default), never from the
emulator's business clock. No key or token is ever put in an error message. Imports only
``emulator.envelope`` and PyJWT.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

import jwt

from kling_widget.emulator.envelope import (
    AUTH_EMPTY,
    AUTH_EXPIRED,
    AUTH_FAILED,
    AUTH_INVALID,
    AUTH_NOT_YET_VALID,
    ApiError,
)


class Authenticator:
    """Checks bearer tokens against one account's keys."""

    def __init__(
        self,
        *,
        api_key: str | None,
        access_key: str | None,
        secret_key: str | None,
        jwt_clock: Callable[[], float],
    ) -> None:
        self._api_key = api_key
        self._access_key = access_key
        self._secret_key = secret_key
        self._jwt_clock = jwt_clock

    def __repr__(self) -> str:
        return "Authenticator(<keys hidden>)"

    def check(self, header: str | None) -> None:
        """Return if ``header`` authenticates, else raise ``ApiError`` with a 401 code."""
        if header is None or not header.strip():
            raise ApiError(AUTH_EMPTY, "Authorization header is missing")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise ApiError(AUTH_INVALID, "Authorization must be 'Bearer <token>'")
        token = token.strip()
        if not token:
            raise ApiError(AUTH_EMPTY, "Authorization bearer token is empty")
        if token.count(".") == 2 and self._secret_key is not None:
            self._check_jwt(token)
            return
        if self._api_key is not None and hmac.compare_digest(
            token.encode("utf-8"), self._api_key.encode("utf-8")
        ):
            return
        if token.count(".") == 2:
            # A JWT, but this emulator has no access/secret key pair to check it with.
            raise ApiError(AUTH_FAILED, "authentication failed: JWT not accepted by this account")
        raise ApiError(AUTH_FAILED, "authentication failed: unknown API key")

    def _check_jwt(self, token: str) -> None:
        assert self._secret_key is not None
        try:
            claims = jwt.decode(
                token,
                self._secret_key,
                algorithms=["HS256"],
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise ApiError(
                AUTH_FAILED, "authentication failed: JWT signature does not match"
            ) from None
        except jwt.InvalidTokenError as exc:
            raise ApiError(AUTH_INVALID, f"invalid JWT: {type(exc).__name__}") from None
        exp = claims.get("exp")
        iss = claims.get("iss")
        nbf = claims.get("nbf")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            raise ApiError(AUTH_INVALID, "invalid JWT: 'exp' claim missing or not a number")
        if not isinstance(iss, str):
            raise ApiError(AUTH_INVALID, "invalid JWT: 'iss' claim missing or not a string")
        if nbf is not None and (not isinstance(nbf, (int, float)) or isinstance(nbf, bool)):
            raise ApiError(AUTH_INVALID, "invalid JWT: 'nbf' claim is not a number")
        if self._access_key is None or not hmac.compare_digest(
            iss.encode("utf-8"), self._access_key.encode("utf-8")
        ):
            raise ApiError(AUTH_FAILED, "authentication failed: JWT 'iss' is not this access key")
        now = self._jwt_clock()
        if nbf is not None and now < nbf:
            raise ApiError(AUTH_NOT_YET_VALID, "JWT not yet valid: 'nbf' is in the future")
        if now >= exp:
            raise ApiError(AUTH_EXPIRED, "JWT expired: 'exp' is in the past")
