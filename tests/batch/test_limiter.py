"""The slot limiter: at most ``limit`` in flight, learning the limit from 1303 answers."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import pytest

from kling_widget.batch.limiter import SlotLimiter


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_given_limit_is_never_exceeded_and_waiters_go_in_order() -> None:
    async def main() -> list[int]:
        lim = SlotLimiter(2)
        order: list[int] = []
        in_flight = 0
        peak = 0

        async def job(i: int) -> None:
            nonlocal in_flight, peak
            await lim.acquire()
            in_flight += 1
            peak = max(peak, in_flight)
            order.append(i)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            in_flight -= 1
            await lim.release(task_ended=True)

        await asyncio.gather(*(job(i) for i in range(8)))
        assert peak == 2 and lim.peak == 2 and lim.in_flight == 0
        return order

    assert run(main()) == list(range(8))


def test_1303_drops_the_limit_to_the_accepted_tasks() -> None:
    async def main() -> SlotLimiter:
        lim = SlotLimiter(None, start=16)
        for _ in range(6):
            await lim.acquire()
        for _ in range(5):
            lim.confirm()  # the account took five...
        await lim.refused()  # ...and refused the sixth
        assert lim.limit == 5 and lim.in_flight == 5 and lim.refusals == 1
        # A seventh waits until one of the five ends.
        waiter = asyncio.ensure_future(lim.acquire())
        await asyncio.sleep(0)
        assert not waiter.done()
        await lim.release(task_ended=True)
        await asyncio.wait_for(waiter, 1)
        assert lim.in_flight == 5
        return lim

    run(main())


def test_a_burst_refused_before_its_acceptances_arrive_settles_on_the_accepted() -> None:
    async def main() -> None:
        lim = SlotLimiter(None, start=16)
        for _ in range(6):
            await lim.acquire()
        # Two of the burst were accepted, four refused; the refusals arrive first.
        for _ in range(4):
            await lim.refused()
        assert lim.limit == 1  # nothing known to be held yet: the safe side
        lim.confirm()
        lim.confirm()
        assert lim.limit == 2 and lim.in_flight == 2  # the account held two at once

    run(main())


def test_additive_increase_after_clean_ends_up_to_the_given_cap() -> None:
    async def main() -> None:
        learned = SlotLimiter(None, start=2, probe_after=3)
        for _ in range(3):
            await learned.acquire()
            await learned.release(task_ended=True)
        assert learned.limit == 3 and learned.probes == 1

        capped = SlotLimiter(2, probe_after=1)
        await capped.acquire()
        capped.confirm()
        await capped.acquire()
        await capped.refused()  # someone else uses the account: drop to 1
        assert capped.limit == 1
        await capped.release(task_ended=True)  # one clean end: back up to 2
        assert capped.limit == 2
        await capped.acquire()
        capped.confirm()
        await capped.acquire()
        capped.confirm()
        await capped.release(task_ended=True)
        assert capped.limit == 2  # never above the given limit

        # A failed create is not a clean end and does not count towards a probe.
        other = SlotLimiter(None, start=1, probe_after=1)
        await other.acquire()
        await other.release(task_ended=False)
        assert other.limit == 1

    run(main())


def test_a_refusal_with_nothing_in_flight_keeps_one_slot() -> None:
    async def main() -> None:
        lim = SlotLimiter(None, start=4)
        await lim.acquire()
        await lim.refused()  # another process holds the whole account
        assert lim.limit == 1 and lim.in_flight == 0

    run(main())


def test_adopted_tasks_count_at_once_even_above_the_limit() -> None:
    async def main() -> None:
        lim = SlotLimiter(1)
        lim.adopt()
        lim.adopt()
        assert lim.in_flight == 2 and lim.peak == 2
        waiter = asyncio.ensure_future(lim.acquire())
        await lim.release(task_ended=True)
        await asyncio.sleep(0)
        assert not waiter.done()  # still 1 in flight = the limit
        await lim.release(task_ended=True)
        await asyncio.wait_for(waiter, 1)

    run(main())


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_bad_concurrency_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        SlotLimiter(bad)  # type: ignore[arg-type]


# --- what the limiter guarantees, on simulated accounts --------------------------------


@dataclass
class Account:
    """Kling's side: at most ``limit`` tasks at once; 1303 for a create beyond that."""

    limit: int
    running: set[int] = field(default_factory=set)


@dataclass
class Outcome:
    refusals: int = 0
    refused_after_first: int = 0
    unseen_events: int = 0
    limit: int = 0


async def simulate(seed: int, limit: int, jobs: int, *, end_delay: bool) -> Outcome:
    """Run ``jobs`` creates through a learning limiter against an account, one event at a
    time in an order drawn from ``seed``. Events: a create is sent (only when the limiter
    grants a slot), reaches the account (accepted or refused), its answer reaches the
    batch, an accepted task ends on the account, the batch sees an end (at once unless
    ``end_delay``). Checks the guarantee after every event."""
    rng = random.Random(seed)
    account = Account(limit)
    lim = SlotLimiter(None, start=16, probe_after=10**6)
    out = Outcome()
    pending = list(range(jobs))
    sent: list[int] = []  # creates on their way to the account
    answers: list[tuple[int, bool]] = []  # (job, accepted) on their way back
    tracked: set[int] = set()  # accepted, answer delivered: the batch polls these
    ended: list[int] = []  # ended on the account, end not seen by the batch yet
    first_known = False
    granted_after_first: set[int] = set()
    max_unseen = 0
    while pending or sent or answers or tracked or ended:
        moves = []
        if pending and lim.in_flight < lim.limit:
            moves.append("send")
        if sent:
            moves.append("arrive")
        if answers:
            moves.append("answer")
        if tracked:
            moves.append("end")
        if ended:
            moves.append("see")
        move = rng.choice(moves)
        if move == "send":
            job = pending.pop(0)
            await lim.acquire()
            if first_known:
                granted_after_first.add(job)
            sent.append(job)
        elif move == "arrive":
            job = sent.pop(rng.randrange(len(sent)))
            ok = len(account.running) < account.limit
            if ok:
                account.running.add(job)
            answers.append((job, ok))
        elif move == "answer":
            job, ok = answers.pop(rng.randrange(len(answers)))
            if ok:
                lim.confirm()
                tracked.add(job)
            else:
                await lim.refused()
                out.refused_after_first += job in granted_after_first
                granted_after_first.discard(job)
                pending.append(job)
                first_known = True
        elif move == "end":
            job = rng.choice(sorted(tracked))
            tracked.discard(job)
            account.running.discard(job)
            if end_delay:
                ended.append(job)
                out.unseen_events += 1
            else:
                await lim.release(task_ended=True)
        else:
            ended.pop(rng.randrange(len(ended)))
            await lim.release(task_ended=True)
        if first_known:
            max_unseen = max(max_unseen, len(ended))
            # Never over the account's limit, except by tasks whose end is not seen yet.
            assert 1 <= lim.limit <= limit + max_unseen, (seed, lim, max_unseen)
    out.refusals, out.limit = lim.refusals, lim.limit
    return out


@pytest.mark.parametrize("limit", [1, 2, 3, 5])
def test_with_every_end_seen_no_create_is_refused_after_the_first_1303(limit: int) -> None:
    """The limit never goes above the account's after the first 1303, so every create the
    limiter lets through afterwards is accepted: refusals happen in the first burst only
    (at most the optimistic start's worth of creates)."""
    for seed in range(300):
        out = asyncio.run(simulate(seed, limit, 12, end_delay=False))
        assert out.refused_after_first == 0, (seed, out)
        assert out.refusals <= 16, (seed, out)


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_an_end_not_yet_seen_costs_at_most_one_more_refusal(limit: int) -> None:
    for seed in range(300):
        out = asyncio.run(simulate(seed, limit, 12, end_delay=True))
        assert out.refused_after_first <= out.unseen_events, (seed, out)
