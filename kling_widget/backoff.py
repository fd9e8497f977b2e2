"""The one retry/backoff policy of the package, and ``Retry-After`` parsing.

Used by the API client (retries of 1302/1303/5xxx and network failures), the downloader
(broken transfers) and the batch runner. A leaf module: imports nothing from the package.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter: ``base * 2**n`` (capped) times a factor in [1, 1.5).

    Kling's error table asks for backoff of at least 1 s on 1303, growing exponentially.
    """

    max_retries: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0
    # A Retry-After beyond this is not waited for; the error is raised instead.
    max_retry_after: float = 120.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def delay(self, retry: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait before retry number ``retry`` (0-based); None: do not retry."""
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            return max(0.0, retry_after)
        raw = min(self.max_delay, self.base_delay * (2.0 ** max(0, retry)))
        return min(self.max_delay, raw * (1.0 + self.jitter * self.rng.random()))


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); None when absent or bad."""
    value = None
    for key, val in headers.items():
        if key.lower() == "retry-after":
            value = val
            break
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    try:
        return max(0.0, when.timestamp() - time.time())
    except (OverflowError, OSError, ValueError):
        return None
