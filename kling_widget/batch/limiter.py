"""How many tasks a batch keeps in flight: the account's concurrency, given or learned.

Kling refuses a create with code 1303 when the account already runs as many tasks as its
resource pack allows; only task creation takes a slot, from ``submitted`` until the task
ends (``shared/kling-api.md``). The limit is per account and not published per pack, so
:class:`SlotLimiter` either takes it as given or learns it, AIMD-style:

- start optimistic (``start`` slots, or the given limit);
- on a 1303 (the decrease), drop the limit to the number of our own tasks the account is
  known to hold: those whose create was accepted (:meth:`SlotLimiter.confirm`) and whose
  end has not been seen. Creates still unanswered do not count: how many of a burst the
  account took is not known yet, and counting them is what let a burst of refusals leave
  the limit above the account's;
- when a create is accepted, the account held at least the confirmed tasks at once: the
  limit is raised to that number if it was lowered below it (by a refusal processed
  before the acceptances of the same burst);
- after ``probe_after`` tasks in a row ended without a 1303 (additive increase), allow one
  more, never above a given limit: another user of the account may have finished.

What this guarantees (``tests/batch/test_limiter.py`` checks it on simulated accounts in
every order of events): after the first 1303 the limit is never above the account's limit
plus the number of our tasks that ended on Kling but whose end the batch has not seen yet
(a poll away; those slots are really free, so a create sent into them is accepted); with
every end seen it converges to the account's limit as soon as the acceptances of the
first burst are in, and a later 1303 comes only from a probe or from another user of the
account.

A slot is taken before a create is sent and given back when the task ends (or the create
is refused or rejected). Tasks found running after a restart are adopted: they hold a
confirmed slot at once, even above the limit, because the account already counts them.
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
        # Of those in flight: creates the account accepted (or tasks adopted), not yet ended.
        self.confirmed = 0
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
        """Wait for a free slot and take it (FIFO among waiters); returns the number in
        flight with this one."""
        async with self._cond:
            await self._cond.wait_for(lambda: self.in_flight < self.limit)
            self._take()
            return self.in_flight

    def adopt(self) -> None:
        """Take a slot now for a task already running on Kling (found after a restart)."""
        self._take()
        self.confirmed += 1

    def confirm(self) -> None:
        """The create holding a slot was accepted: the account holds that task now."""
        self.confirmed = min(self.in_flight, self.confirmed + 1)
        if self.confirmed > self.limit and (self.given is None or self.confirmed <= self.given):
            self.limit = self.confirmed

    async def release(self, *, task_ended: bool, confirmed: bool | None = None) -> None:
        """Give a slot back; ``task_ended`` when a task finished (not a failed create).

        ``confirmed`` (default: ``task_ended``) says whether the slot held an accepted task.
        """
        async with self._cond:
            self.in_flight = max(0, self.in_flight - 1)
            if task_ended if confirmed is None else confirmed:
                self.confirmed = max(0, self.confirmed - 1)
            self.confirmed = min(self.confirmed, self.in_flight)
            if task_ended:
                self._clean_ends += 1
                can_grow = self.given is None or self.limit < self.given
                if can_grow and self._clean_ends >= self.probe_after:
                    self.limit += 1
                    self.probes += 1
                    self._clean_ends = 0
            self._cond.notify_all()

    async def refused(self) -> None:
        """A create holding a slot was answered 1303: give the slot back and lower the limit
        to the tasks the account is known to hold (at least 1)."""
        async with self._cond:
            self.in_flight = max(0, self.in_flight - 1)
            self.confirmed = min(self.confirmed, self.in_flight)
            self.refusals += 1
            self.limit = max(1, min(self.limit, self.confirmed))
            self._clean_ends = 0
            self._cond.notify_all()

    def stats(self) -> LimiterStats:
        """A snapshot for the batch result."""
        return LimiterStats(self.limit, self.peak, self.refusals, self.probes, self.given)


__all__ = ["DEFAULT_START", "LimiterStats", "SlotLimiter"]
