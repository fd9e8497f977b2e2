"""Total deadlines for HTTP calls, enforced at every socket operation, and capped body reads.

httpx bounds each socket read (its ``timeout``) but not a whole call: a server that sends
one byte a second, even while still sending the status line and headers, never trips a
read timeout. :class:`Deadline` is the whole-call bound. The HTTP clients made by
:func:`make_http_client` / :func:`make_async_http_client` carry a network backend that
shortens every connect, read and write to the time left on the deadline in force
(:func:`deadline_scope`), so a call returns within its deadline whatever the server does.
Clients passed in by a caller are bounded between chunks only.

A leaf module: imports only ``kling_widget.errors`` and ``kling_widget.limits``.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import ssl
import time
import typing
from collections.abc import AsyncIterator, Iterable, Iterator

import httpcore
import httpx

from kling_widget.errors import KlingDeadlineError, KlingResponseError, KlingValidationError

_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "kling_widget_deadline", default=None
)


def check_seconds(field: str, value: object) -> float:
    """A finite number of seconds > 0 (a timeout or a deadline), else KlingValidationError."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise KlingValidationError(field, value, "must be a finite number of seconds > 0")
    return float(value)


class Deadline:
    """A point in (real, monotonic) time by which a call must be over."""

    def __init__(self, seconds: float | None) -> None:
        if seconds is not None:
            seconds = check_seconds("deadline", seconds)
        self.seconds = seconds
        self._end = None if seconds is None else time.monotonic() + seconds

    def remaining(self) -> float | None:
        """Seconds left (may be <= 0), or None for no deadline."""
        return None if self._end is None else self._end - time.monotonic()

    def expired(self) -> bool:
        """True once the deadline has passed."""
        left = self.remaining()
        return left is not None and left <= 0

    def bound(self, timeout: float | None) -> float | None:
        """``timeout`` shortened to the time left (at least a sliver, so httpx raises)."""
        left = self.remaining()
        if left is None:
            return timeout
        left = max(left, 0.001)
        return left if timeout is None else min(timeout, left)

    def error(self, what: str) -> KlingDeadlineError:
        """The error for ``what`` running out of time."""
        return KlingDeadlineError(
            f"{what}: no complete answer within the {self.seconds:g} s deadline"
        )

    def check(self, what: str) -> None:
        """Raise :class:`KlingDeadlineError` once the deadline has passed."""
        if self.expired():
            raise self.error(what)


@contextlib.contextmanager
def deadline_scope(deadline: Deadline) -> Iterator[Deadline]:
    """Make ``deadline`` the one in force for the sockets of clients from this module."""
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)


def _bound(timeout: float | None, exc: type[Exception]) -> float | None:
    deadline = _current.get()
    if deadline is None:
        return timeout
    if deadline.expired():
        raise exc("the call's deadline passed")
    return deadline.bound(timeout)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bound(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bound(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(
            ssl_context, server_hostname, _bound(timeout, httpcore.ConnectTimeout)
        )
        return _Stream(inner)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(
            host, port, _bound(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _Stream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(
            path, _bound(timeout, httpcore.ConnectTimeout), socket_options
        )
        return _Stream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, _bound(timeout, httpcore.ReadTimeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, _bound(timeout, httpcore.WriteTimeout))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        inner = await self._inner.start_tls(
            ssl_context, server_hostname, _bound(timeout, httpcore.ConnectTimeout)
        )
        return _AsyncStream(inner)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(
            host, port, _bound(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _AsyncStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_unix_socket(
            path, _bound(timeout, httpcore.ConnectTimeout), socket_options
        )
        return _AsyncStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle takes milliseconds; every client of the process shares one
    # context (httpx's default: certifi, or SSL_CERT_FILE / SSL_CERT_DIR as read at first use).
    return httpx.create_ssl_context()


def make_http_client(timeout: float = 30.0, **kwargs: typing.Any) -> httpx.Client:
    """An ``httpx.Client`` whose sockets honour the deadline in force (per-read ``timeout``)."""
    transport = httpx.HTTPTransport(verify=_ssl_context())
    pool = getattr(transport, "_pool", None)
    # httpx builds its pool with a private backend attribute; when a future version moves
    # it, calls stay bounded between chunks (and by the per-read timeout) instead.
    if pool is not None and hasattr(pool, "_network_backend"):
        pool._network_backend = _Backend(pool._network_backend)
    return httpx.Client(timeout=httpx.Timeout(timeout), transport=transport, **kwargs)


def make_async_http_client(timeout: float = 30.0, **kwargs: typing.Any) -> httpx.AsyncClient:
    """The async twin of :func:`make_http_client`."""
    transport = httpx.AsyncHTTPTransport(verify=_ssl_context())
    pool = getattr(transport, "_pool", None)
    if pool is not None and hasattr(pool, "_network_backend"):
        pool._network_backend = _AsyncBackend(pool._network_backend)
    return httpx.AsyncClient(timeout=httpx.Timeout(timeout), transport=transport, **kwargs)


def _too_big(what: str, limit: int) -> KlingResponseError:
    return KlingResponseError(f"{what}: reply larger than the {limit}-byte cap; refused")


def _check_declared(response: httpx.Response, max_bytes: int, what: str) -> None:
    # A compressed body's Content-Length is not its decoded size: only the count of
    # decoded bytes can refuse it.
    text = response.headers.get("content-length")
    if text is None or not text.strip().isdigit() or response.headers.get("content-encoding"):
        return
    if int(text.strip()) > max_bytes:
        raise _too_big(what, max_bytes)


def read_capped(response: httpx.Response, max_bytes: int, deadline: Deadline, what: str) -> bytes:
    """The (decoded) body of a streamed response, refusing more than ``max_bytes``.

    ``Content-Length`` is checked against the cap before reading; the bytes are counted as
    they arrive (a gzip bomb or an endless chunked body stops at the cap), and the deadline
    is checked between chunks.
    """
    _check_declared(response, max_bytes, what)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise _too_big(what, max_bytes)
        chunks.append(chunk)
        deadline.check(what)
    return b"".join(chunks)


async def aread_capped(
    response: httpx.Response, max_bytes: int, deadline: Deadline, what: str
) -> bytes:
    """The async twin of :func:`read_capped`."""
    _check_declared(response, max_bytes, what)
    chunks: list[bytes] = []
    size = 0
    body: AsyncIterator[bytes] = response.aiter_bytes()
    async for chunk in body:
        size += len(chunk)
        if size > max_bytes:
            raise _too_big(what, max_bytes)
        chunks.append(chunk)
        deadline.check(what)
    return b"".join(chunks)
