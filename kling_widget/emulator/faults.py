"""Faults on demand: a seeded, deterministic plan of what goes wrong and when.

``FaultPlan(seed=0).add(kind, ...)`` adds a rule; rules are checked in order for each
request. Kinds:

- ``error``: answer an error envelope instead of handling the request (default HTTP 500
  with code 5000; ``status``/``code`` pick any pair, e.g. 503/5001, 504/5002, 429/1302,
  429/1303; a missing half is filled in from the documented table).
- ``slow``: wait ``delay`` seconds (default 1.0) before handling; combines with a later rule.
- ``drop``: handle the request fully (a create really creates), then close the connection
  without a reply.
- ``malformed``: handle the request, then answer HTTP 200 with a body that is not JSON.
- ``html``: answer an HTML error page (default HTTP 502) as a proxy would, without handling.
- ``truncate``: handle the request, send the headers with the full ``Content-Length`` but only
  part of the body (``truncate_at`` bytes, default half), then close. Meant for downloads
  under ``/emulator/files/`` so a resumed download can be tested.

Matching: ``path`` is a substring of the request path (without the query); with no
``path`` a rule matches every Kling path (``/v1/...``) but never the emulator's own
``/emulator/...`` endpoints, which must be named explicitly. ``method`` is compared
case-insensitively. ``after`` skips that many matches first; ``times`` fires on at most
that many matches; ``rate`` fires on that fraction of matches, drawn from a
``random.Random(seed)`` so a run is reproducible. Imports nothing from the package.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

KINDS = ("error", "slow", "drop", "malformed", "html", "truncate")

_STATUS_FOR_CODE = {5000: 500, 5001: 503, 5002: 504, 1302: 429, 1303: 429, 1304: 429}
_CODE_FOR_STATUS = {500: 5000, 503: 5001, 504: 5002, 429: 1302, 401: 1000, 403: 1103}


def _status_for_code(code: int) -> int:
    if code in _STATUS_FOR_CODE:
        return _STATUS_FOR_CODE[code]
    if 1000 <= code <= 1004:
        return 401
    if 1100 <= code <= 1102:
        return 429
    if code == 1103:
        return 403
    if 1200 <= code <= 1201 or 1300 <= code <= 1301:
        return 400
    if 1202 <= code <= 1203:
        return 404
    return 500


@dataclass
class FaultRule:
    """One rule of a plan; ``matched`` and ``fired`` count what it has seen and done."""

    kind: str
    path: str | None = None
    method: str | None = None
    times: int | None = None
    rate: float | None = None
    after: int = 0
    status: int | None = None
    code: int | None = None
    delay: float | None = None
    truncate_at: int | None = None
    matched: int = 0
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule applies to a request (before counting and chance)."""
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path is None:
            return path.startswith("/v1/")
        return self.path in path


@dataclass(frozen=True)
class Fault:
    """What to do to one request."""

    kind: str
    status: int = 200
    code: int = 0
    delay: float = 0.0
    truncate_at: int | None = None


class FaultPlan:
    """A seeded, ordered list of fault rules. Thread-safe; ``emu.faults`` can be replaced."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rules: list[FaultRule] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FaultPlan(seed={self.seed!r}, rules={self.rules!r})"

    def add(
        self,
        kind: str,
        *,
        path: str | None = None,
        method: str | None = None,
        times: int | None = None,
        rate: float | None = None,
        after: int = 0,
        status: int | None = None,
        code: int | None = None,
        delay: float | None = None,
        truncate_at: int | None = None,
    ) -> FaultPlan:
        """Add a rule (see the module docstring); returns the plan so calls can chain."""
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r}: must be one of {', '.join(KINDS)}")
        if times is not None and times < 0:
            raise ValueError(f"times={times!r}: must be >= 0")
        if rate is not None and not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate={rate!r}: must be within [0, 1]")
        if after < 0:
            raise ValueError(f"after={after!r}: must be >= 0")
        if delay is not None and delay < 0:
            raise ValueError(f"delay={delay!r}: must be >= 0")
        if kind == "error":
            if status is None and code is None:
                status, code = 500, 5000
            elif status is None:
                assert code is not None
                status = _status_for_code(code)
            elif code is None:
                code = _CODE_FOR_STATUS.get(status, 5000 if status >= 500 else 1200)
        elif kind == "html" and status is None:
            status = 502
        with self._lock:
            self.rules.append(
                FaultRule(
                    kind=kind,
                    path=path,
                    method=method,
                    times=times,
                    rate=rate,
                    after=after,
                    status=status,
                    code=code,
                    delay=delay,
                    truncate_at=truncate_at,
                )
            )
        return self

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self.rules.clear()

    def decide(self, method: str, path: str) -> tuple[float, Fault | None]:
        """Return (seconds to wait first, the terminal fault or None) for one request."""
        delay = 0.0
        with self._lock:
            for rule in self.rules:
                if not rule.matches(method, path):
                    continue
                rule.matched += 1
                if rule.matched <= rule.after:
                    continue
                if rule.times is not None and rule.fired >= rule.times:
                    continue
                if rule.rate is not None and self._rng.random() >= rule.rate:
                    continue
                rule.fired += 1
                if rule.kind == "slow":
                    delay += 1.0 if rule.delay is None else rule.delay
                    continue
                return delay, Fault(
                    kind=rule.kind,
                    status=rule.status or 200,
                    code=rule.code or 0,
                    delay=rule.delay or 0.0,
                    truncate_at=rule.truncate_at,
                )
        return delay, None
