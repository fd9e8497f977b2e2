"""Moving bytes from the network to memory or disk, bounded and verified.

* :func:`download` / :func:`adownload`: the one resumable downloader (result videos,
  tracking files, anything large), sync and async over one sans-IO core.
* :func:`fetch_bytes` / :func:`afetch_bytes`: a small file into memory, capped.
* :class:`Deadline`, :func:`deadline_scope`, :func:`make_http_client`,
  :func:`make_async_http_client`, :func:`read_capped`: whole-call deadlines and capped
  reads, used by the API clients too.
* :func:`safe_filename`, :func:`inside`, :func:`shown_url`, :func:`check_fetch_url`: names
  and URLs from the server treated as data.

A leaf layer: imports only ``kling_widget.errors``, ``limits`` and ``backoff``.
"""

from kling_widget.backoff import RetryPolicy
from kling_widget.transfer.deadline import (
    Deadline,
    aread_capped,
    check_seconds,
    deadline_scope,
    make_async_http_client,
    make_http_client,
    read_capped,
)
from kling_widget.transfer.download import adownload, afetch_bytes, download, fetch_bytes
from kling_widget.transfer.job import USER_AGENT, DownloadJob, DownloadResult
from kling_widget.transfer.names import check_fetch_url, inside, safe_filename, shown_url

__all__ = [
    "USER_AGENT",
    "Deadline",
    "DownloadJob",
    "DownloadResult",
    "RetryPolicy",
    "adownload",
    "afetch_bytes",
    "aread_capped",
    "check_fetch_url",
    "check_seconds",
    "deadline_scope",
    "download",
    "fetch_bytes",
    "inside",
    "make_async_http_client",
    "make_http_client",
    "read_capped",
    "safe_filename",
    "shown_url",
]
