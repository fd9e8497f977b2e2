"""The one resumable downloader's drivers: :func:`download` and :func:`fetch_bytes` (sync, on
``httpx.Client``) and their async twins :func:`adownload` and :func:`afetch_bytes`, all
running the sans-IO core of :mod:`kling_widget.transfer.job` (as httpx pairs its clients).
The guarantees are listed in that module. Retries use :class:`kling_widget.backoff.RetryPolicy`;
every call has a total ``deadline`` (default ``limits.DOWNLOAD_DEADLINE_S`` for downloads,
60 s for :func:`fetch_bytes`) besides the per-read ``timeout``.

A leaf module: imports ``kling_widget.errors``, ``limits``, ``backoff`` and its siblings.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable

import httpx

from kling_widget.backoff import RetryPolicy
from kling_widget.errors import (
    KlingError,
    KlingRateLimitError,
    KlingResponseError,
    KlingServerError,
    KlingTransportError,
    KlingValidationError,
)
from kling_widget.limits import DOWNLOAD_DEADLINE_S, MAX_DOWNLOAD_BYTES
from kling_widget.transfer.deadline import (
    Deadline,
    aread_capped,
    check_seconds,
    deadline_scope,
    make_async_http_client,
    make_http_client,
    read_capped,
)
from kling_widget.transfer.job import (
    USER_AGENT,
    Body,
    DownloadJob,
    DownloadResult,
    ProgressFn,
    Redirects,
    Schemes,
    Step,
    status_error,
)
from kling_widget.transfer.names import shown_url


def _no_credentials(client: httpx.Client | httpx.AsyncClient | None) -> None:
    # Result and file hosts are third parties: a client that would add a credential to
    # every request is refused rather than used.
    if client is not None and "authorization" in client.headers:
        raise KlingValidationError(
            "client",
            "an httpx client with a default Authorization header",
            "would send a credential to the file host; pass a client without one",
        )


def _retry_delay(
    policy: RetryPolicy, retries: int, deadline: Deadline, what: str, err: Exception
) -> float:
    """The backoff before the next attempt, or raise when out of retries or time."""
    delay = policy.delay(retries) if retries < policy.max_retries else None
    if delay is None:
        if isinstance(err, KlingError):
            raise err
        raise KlingTransportError(f"{what}: broke after {retries} retries ({type(err).__name__})")
    left = deadline.remaining()
    if left is not None and delay >= left:
        raise deadline.error(what) from err
    return delay


_RETRYABLE = (KlingServerError, KlingRateLimitError, KlingTransportError)


def _transport(exc: httpx.HTTPError, deadline: Deadline, what: str) -> Exception:
    if deadline.expired():
        return deadline.error(what)
    if isinstance(exc, httpx.TransportError):
        return KlingTransportError(f"{what}: {type(exc).__name__}")
    return KlingResponseError(f"{what}: unreadable reply ({type(exc).__name__})")


def download(
    url: str,
    dest: str | os.PathLike[str],
    *,
    client: httpx.Client | None = None,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    deadline: float | None = DOWNLOAD_DEADLINE_S,
    timeout: float = 30.0,
    on_progress: ProgressFn | None = None,
    expected_sha256: str | None = None,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    allowed_schemes: Schemes = ("http", "https"),
) -> DownloadResult:
    """Download ``url`` to the file ``dest`` (resumable, verified, bounded); see the module."""
    job = DownloadJob(
        url,
        dest,
        max_bytes=max_bytes,
        expected_sha256=expected_sha256,
        on_progress=on_progress,
        allowed_schemes=allowed_schemes,
    )
    timeout = check_seconds("timeout", timeout)
    policy = policy or RetryPolicy()
    limit = Deadline(deadline)
    what = f"download of {shown_url(job.url)}"
    _no_credentials(client)
    http = client or make_http_client(timeout)
    retries = 0
    try:
        with deadline_scope(limit):
            while True:
                limit.check(what)
                try:
                    step = _attempt(http, job, limit, timeout, what)
                except _RETRYABLE as err:
                    if isinstance(err, KlingTransportError) and limit.expired():
                        raise limit.error(what) from err
                    sleep(_retry_delay(policy, retries, limit, what, err))
                    retries += 1
                    continue
                if isinstance(step, DownloadResult):
                    return step
    finally:
        if client is None:
            http.close()


def _attempt(
    http: httpx.Client, job: DownloadJob, limit: Deadline, timeout: float, what: str
) -> Step:
    req = job.request()
    try:
        with http.stream(
            "GET",
            req.url,
            headers=dict(req.headers),
            timeout=limit.bound(timeout),
            follow_redirects=False,
        ) as response:
            step = job.on_headers(response.status_code, response.headers)
            if not isinstance(step, Body):
                return step
            chunks = response.iter_raw() if step.total is not None else response.iter_bytes()
            with job.open_part(step.append) as fh:
                for chunk in chunks:
                    job.write(fh, chunk)
                    limit.check(what)
    except httpx.HTTPError as exc:
        raise _transport(exc, limit, what) from None
    return job.finish()


async def adownload(
    url: str,
    dest: str | os.PathLike[str],
    *,
    client: httpx.AsyncClient | None = None,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    deadline: float | None = DOWNLOAD_DEADLINE_S,
    timeout: float = 30.0,
    on_progress: ProgressFn | None = None,
    expected_sha256: str | None = None,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    allowed_schemes: Schemes = ("http", "https"),
) -> DownloadResult:
    """The async twin of :func:`download`."""
    import asyncio

    job = DownloadJob(
        url,
        dest,
        max_bytes=max_bytes,
        expected_sha256=expected_sha256,
        on_progress=on_progress,
        allowed_schemes=allowed_schemes,
    )
    policy = policy or RetryPolicy()
    pause = sleep or asyncio.sleep
    timeout = check_seconds("timeout", timeout)
    limit = Deadline(deadline)
    what = f"download of {shown_url(job.url)}"
    _no_credentials(client)
    http = client or make_async_http_client(timeout)
    retries = 0
    try:
        with deadline_scope(limit):
            while True:
                limit.check(what)
                try:
                    step = await _aattempt(http, job, limit, timeout, what)
                except _RETRYABLE as err:
                    if isinstance(err, KlingTransportError) and limit.expired():
                        raise limit.error(what) from err
                    await pause(_retry_delay(policy, retries, limit, what, err))
                    retries += 1
                    continue
                if isinstance(step, DownloadResult):
                    return step
    finally:
        if client is None:
            await http.aclose()


async def _aattempt(
    http: httpx.AsyncClient, job: DownloadJob, limit: Deadline, timeout: float, what: str
) -> Step:
    req = job.request()
    try:
        async with http.stream(
            "GET",
            req.url,
            headers=dict(req.headers),
            timeout=limit.bound(timeout),
            follow_redirects=False,
        ) as response:
            step = job.on_headers(response.status_code, response.headers)
            if not isinstance(step, Body):
                return step
            chunks = response.aiter_raw() if step.total is not None else response.aiter_bytes()
            with job.open_part(step.append) as fh:
                async for chunk in chunks:
                    job.write(fh, chunk)
                    limit.check(what)
    except httpx.HTTPError as exc:
        raise _transport(exc, limit, what) from None
    return job.finish()


def fetch_bytes(
    url: str,
    *,
    max_bytes: int,
    deadline: float | None = 60.0,
    timeout: float = 30.0,
    client: httpx.Client | None = None,
    allowed_schemes: Schemes = ("http", "https"),
) -> bytes:
    """A small file in memory: same URL, redirect, cap and deadline rules; no retries."""
    redirects = Redirects(url, allowed_schemes)
    timeout = check_seconds("timeout", timeout)
    limit = Deadline(deadline)
    what = f"GET {shown_url(redirects.url)}"
    _no_credentials(client)
    http = client or make_http_client(timeout)
    try:
        with deadline_scope(limit):
            while True:
                limit.check(what)
                try:
                    with http.stream(
                        "GET",
                        redirects.url,
                        headers={"User-Agent": USER_AGENT},
                        timeout=limit.bound(timeout),
                        follow_redirects=False,
                    ) as response:
                        if redirects.follow(response.status_code, response.headers):
                            continue
                        if response.status_code != 200:
                            raise status_error(
                                redirects.url, response.status_code, response.headers
                            )
                        return read_capped(response, max_bytes, limit, what)
                except httpx.HTTPError as exc:
                    raise _transport(exc, limit, what) from None
    finally:
        if client is None:
            http.close()


async def afetch_bytes(
    url: str,
    *,
    max_bytes: int,
    deadline: float | None = 60.0,
    timeout: float = 30.0,
    client: httpx.AsyncClient | None = None,
    allowed_schemes: Schemes = ("http", "https"),
) -> bytes:
    """The async twin of :func:`fetch_bytes`."""
    redirects = Redirects(url, allowed_schemes)
    timeout = check_seconds("timeout", timeout)
    limit = Deadline(deadline)
    what = f"GET {shown_url(redirects.url)}"
    _no_credentials(client)
    http = client or make_async_http_client(timeout)
    try:
        with deadline_scope(limit):
            while True:
                limit.check(what)
                try:
                    async with http.stream(
                        "GET",
                        redirects.url,
                        headers={"User-Agent": USER_AGENT},
                        timeout=limit.bound(timeout),
                        follow_redirects=False,
                    ) as response:
                        if redirects.follow(response.status_code, response.headers):
                            continue
                        if response.status_code != 200:
                            raise status_error(
                                redirects.url, response.status_code, response.headers
                            )
                        return await aread_capped(response, max_bytes, limit, what)
                except httpx.HTTPError as exc:
                    raise _transport(exc, limit, what) from None
    finally:
        if client is None:
            await http.aclose()
