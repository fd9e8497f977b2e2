"""How many tasks a batch keeps in flight: the account's concurrency, given or learned.

Kling refuses a create with code 1303 when the account already runs as many tasks as its
resource pack allows; only task creation takes a slot, from ``submitted`` until the task
ends (``shared/kling-api.md``). The limit is per account and not published per pack, so
:class:`SlotLimiter` either takes it as given or learns it, AIMD-style:

- start optimistic (``start`` slots, or the given limit);
- on a 1303 (the decrease), drop the limit to the number of our own tasks the account held
  when it refused: the others in flight when that create was sent (a task that ended while
  the answer travelled does not count against the limit), at least the number still in
  flight. The next create then waits for one of them to end;
- after ``probe_after`` tasks in a row ended without a 1303 (additive increase), allow one
  more, never above a given limit: another user of the account may have finished.

A slot is taken before a create is sent and given back when the task ends (or the create
is refused or rejected). Tasks found running after a restart are adopted: they hold a slot
at once, even above the limit, because the account already counts them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

# Learned mode starts with this many slots; the first 1303 corrects it.
DEFAULT_START = 16
# Tasks that must end without a 1303 before one more slot is tried, at least (and at
# least PROBE_ROUNDS x limit): each probe costs one refused create.
MIN_PROBE_AFTER = 40
PROBE_ROUNDS = 8


@dataclass(frozen=True)
class LimiterStats:
    """What the limiter saw: final limit, peak tasks in flight, 1303 answers, probes."""

    limit: int
    peak_in_flight: int
    refusals: int
    probes: int
    given: int | None


class SlotLimiter:
    """At most ``limit`` tasks in flight; ``given=None`` learns the limit from 1303 answers."""

    def __init__(
        self,
        given: int | None = None,
        *,
        start: int = DEFAULT_START,
        probe_after: int | None = None,
    ) -> None:
        if given is not None and (isinstance(given, bool) or not isinstance(given, int)):
            raise ValueError(f"concurrency={given!r}: must be a positive integer or None")
        if given is not None and given < 1:
            raise ValueError(f"concurrency={given!r}: must be >= 1 (or None to learn it)")
        self.given = given
        self.limit = given if given is not None else max(1, start)
        self.in_flight = 0
        self.peak = 0
        self.refusals = 0
        self.probes = 0
        self._probe_after = probe_after
        self._clean_ends = 0
        self._cond = asyncio.Condition()

    def __repr__(self) -> str:
        return (
            f"SlotLimiter(limit={self.limit}, in_flight={self.in_flight}, "
            f"given={self.given}, refusals={self.refusals})"
        )

    @property
    def probe_after(self) -> int:
        """Clean task ends before the limit is raised by one."""
        if self._probe_after is not None:
            return self._probe_after
        return max(MIN_PROBE_AFTER, PROBE_ROUNDS * self.limit)

    def _take(self) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)

    async def acquire(self) -> int:
        """Wait for a free slot and take it (FIFO among waiters).

        Returns the number in flight with this one: pass it to :meth:`refused`.
        """
        async with self._cond:
            await self._cond.wait_for(lambda: self.in_flight < self.limit)
            self._take()
            return self.in_flight

    def adopt(self) -> None:
        """Take a slot now for a task already running on Kling (found after a restart)."""
        self._take()

    async def release(self, *, task_ended: bool) -> None:
        """Give a slot back; ``task_ended`` when a task finished (not a failed create)."""
        async with self._cond:
            self.in_flight = max(0, self.in_flight - 1)
            if task_ended:
                self._clean_ends += 1
                can_grow = self.given is None or self.limit < self.given
                if can_grow and self._clean_ends >= self.probe_after:
                    self.limit += 1
                    self.probes += 1
                    self._clean_ends = 0
            self._cond.notify_all()

    async def refused(self, seen: int | None = None) -> None:
        """A create holding a slot was answered 1303: give the slot back, lower the limit.

        ``seen``: what :meth:`acquire` returned for that create (None: unknown).
        """
        async with self._cond:
            self.in_flight = max(0, self.in_flight - 1)
            self.refusals += 1
            held = self.in_flight if seen is None else max(self.in_flight, seen - 1)
            self.limit = max(1, min(self.limit, held))
            self._clean_ends = 0
            self._cond.notify_all()

    def stats(self) -> LimiterStats:
        """A snapshot for the batch result."""
        return LimiterStats(self.limit, self.peak, self.refusals, self.probes, self.given)


__all__ = ["DEFAULT_START", "LimiterStats", "SlotLimiter"]
