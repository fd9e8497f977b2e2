"""Kling credentials: an API key, or an access key + secret key that sign a short-lived JWT.

Secrets are kept in private attributes and never shown by ``repr``/``str``; errors about
them name the field but never echo the value.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Mapping

import jwt

from kling_widget.errors import KlingValidationError
from kling_widget.limits import JWT_LIFETIME_S, JWT_NOT_BEFORE_SKEW_S, JWT_REFRESH_MARGIN_S

ENV_API_KEY = "KLING_API_KEY"
ENV_ACCESS_KEY = "KLING_ACCESS_KEY"
ENV_SECRET_KEY = "KLING_SECRET_KEY"
ENV_BASE_URL = "KLING_BASE_URL"

# Shown instead of a secret in validation errors.
_HIDDEN = "<hidden>"


class Credentials:
    """How the client authenticates: ``Authorization: Bearer <token>``.

    Give either ``api_key`` (sent as the bearer token itself) or ``access_key`` and
    ``secret_key`` (an HS256 JWT is minted, cached and re-minted
    ``JWT_REFRESH_MARGIN_S`` seconds before it expires).
    """

    __slots__ = (
        "__access_key",
        "__api_key",
        "__lock",
        "__old_tokens",
        "__secret_key",
        "__token",
        "__token_exp",
    )

    def __init__(
        self,
        api_key: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> None:
        api_key = _clean("api_key", api_key)
        access_key = _clean("access_key", access_key)
        secret_key = _clean("secret_key", secret_key)
        if api_key is not None and (access_key is not None or secret_key is not None):
            raise KlingValidationError(
                "api_key", _HIDDEN, "give api_key or access_key + secret_key, not both"
            )
        if api_key is None:
            if access_key is None and secret_key is None:
                raise KlingValidationError(
                    "credentials",
                    None,
                    f"no credentials: pass api_key, or access_key and secret_key "
                    f"(or set {ENV_API_KEY}, or {ENV_ACCESS_KEY} and {ENV_SECRET_KEY})",
                )
            if access_key is None:
                raise KlingValidationError("access_key", None, "required with secret_key")
            if secret_key is None:
                raise KlingValidationError("secret_key", None, "required with access_key")
        self.__api_key = api_key
        self.__access_key = access_key
        self.__secret_key = secret_key
        self.__token: str | None = None
        self.__token_exp = 0.0
        # Tokens minted before the current one stay redactable: a server may echo them later.
        self.__old_tokens: collections.deque[str] = collections.deque(maxlen=8)
        self.__lock = threading.Lock()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """Read ``KLING_API_KEY``, or ``KLING_ACCESS_KEY`` + ``KLING_SECRET_KEY``."""
        env = os.environ if environ is None else environ
        api_key = env.get(ENV_API_KEY) or None
        if api_key:
            return cls(api_key=api_key)
        return cls(
            access_key=env.get(ENV_ACCESS_KEY) or None,
            secret_key=env.get(ENV_SECRET_KEY) or None,
        )

    @staticmethod
    def available_in_env(environ: Mapping[str, str] | None = None) -> bool:
        """True when the environment holds a usable set of credentials."""
        env = os.environ if environ is None else environ
        return bool(env.get(ENV_API_KEY)) or bool(
            env.get(ENV_ACCESS_KEY) and env.get(ENV_SECRET_KEY)
        )

    @property
    def kind(self) -> str:
        """``"api_key"`` or ``"jwt"`` (access key + secret key)."""
        return "api_key" if self.__api_key is not None else "jwt"

    @property
    def uses_jwt(self) -> bool:
        """True when tokens are minted from an access key and a secret key."""
        return self.__api_key is None

    def bearer_token(self, now: float | None = None) -> str:
        """The token for ``Authorization: Bearer``; a cached JWT is reused until near expiry."""
        if self.__api_key is not None:
            return self.__api_key
        assert self.__access_key is not None and self.__secret_key is not None
        t = time.time() if now is None else now
        with self.__lock:
            if self.__token is None or t >= self.__token_exp - JWT_REFRESH_MARGIN_S:
                issued = int(t)
                exp = issued + JWT_LIFETIME_S
                claims = {
                    "iss": self.__access_key,
                    "exp": exp,
                    "nbf": issued - JWT_NOT_BEFORE_SKEW_S,
                }
                if self.__token is not None:
                    self.__old_tokens.append(self.__token)
                self.__token = jwt.encode(
                    claims,
                    self.__secret_key,
                    algorithm="HS256",
                    headers={"alg": "HS256", "typ": "JWT"},
                )
                self.__token_exp = float(exp)
            return self.__token

    def authorization(self, now: float | None = None) -> str:
        """The full ``Authorization`` header value."""
        return f"Bearer {self.bearer_token(now)}"

    def invalidate(self) -> None:
        """Forget the cached JWT so the next call mints a fresh one (after a 1003/1004)."""
        with self.__lock:
            if self.__token is not None:
                self.__old_tokens.append(self.__token)
            self.__token = None
            self.__token_exp = 0.0

    def secrets(self) -> tuple[str, ...]:
        """Every secret string this object holds, including the JWTs it minted and the
        access key (for redaction), longest first so a token is hidden before its parts."""
        with self.__lock:
            held = [self.__api_key, self.__secret_key, self.__access_key, self.__token]
            held += list(self.__old_tokens)
        return tuple(sorted({s for s in held if s}, key=len, reverse=True))

    def __repr__(self) -> str:
        return f"Credentials(kind={self.kind!r})"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[object, ...]:
        # Pickling would write the secrets to disk; refuse rather than leak.
        raise TypeError("Credentials cannot be pickled (they hold secrets)")


def _clean(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise KlingValidationError(field, type(value).__name__, "must be a string")
    value = value.strip()
    return value or None
