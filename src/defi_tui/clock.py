"""Time for the engine: the real clock, and a fake one tests and snapshots advance.

The engine reads two times: a monotonic one for scheduling and wall-clock
milliseconds for ``event_timestamp``. Both come from a :class:`Clock`, so a test
can run an hour of schedule in microseconds and a snapshot can show the same
timestamps every time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    """What the engine needs to know about time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (scheduling)."""
        ...

    def wall_ms(self) -> int:
        """Wall-clock epoch milliseconds (record timestamps)."""
        ...

    async def sleep_until(self, deadline: float, wake: asyncio.Event) -> None:
        """Return at monotonic ``deadline`` or as soon as ``wake`` is set."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep_until(self, deadline: float, wake: asyncio.Event) -> None:
        delay = deadline - time.monotonic()
        if delay <= 0 or wake.is_set():
            return
        if delay == float("inf"):
            await wake.wait()
            return
        try:
            await asyncio.wait_for(wake.wait(), timeout=delay)
        except TimeoutError:
            pass


class FakeClock:
    """A clock that moves only when told to; for tests, snapshots and screenshots.

    ``await clock.advance(seconds)`` moves time forward deadline by deadline
    and, after each, waits until every sleeper it woke is asleep again (or
    finished), so a test observes the engine in a settled state without any
    real sleep.
    """

    def __init__(self, start_wall_ms: int = 1_767_225_600_000, start: float = 0.0) -> None:
        self._now = start
        self._wall0 = start_wall_ms
        self._start = start
        self._seq = itertools.count()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self._now

    def wall_ms(self) -> int:
        return self._wall0 + round((self._now - self._start) * 1000)

    async def sleep_until(self, deadline: float, wake: asyncio.Event) -> None:
        if deadline <= self._now or wake.is_set():
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (deadline, next(self._seq), fut))
        waker: asyncio.Future[None] = asyncio.ensure_future(self._until(wake))
        try:
            await asyncio.wait({fut, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waker.cancel()
            if not fut.done():
                fut.cancel()

    @staticmethod
    async def _until(event: asyncio.Event) -> None:
        await event.wait()

    @property
    def sleepers(self) -> int:
        """Sleepers still waiting on a deadline."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    async def settle(self, sleepers: int | None = None) -> None:
        """Let woken tasks run until ``sleepers`` are asleep again (or they stop).

        Yielding to the loop is the only way to let other tasks run; the
        bound only matters when a woken task finishes instead of sleeping.
        """
        for _ in range(1000):
            await asyncio.sleep(0)
            if sleepers is not None and self.sleepers >= sleepers:
                # One more round lets callbacks scheduled by the sleeper run.
                await asyncio.sleep(0)
                return

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking sleepers deadline by deadline, in order."""
        target = self._now + seconds
        while True:
            self._sleepers = [s for s in self._sleepers if not s[2].done()]
            heapq.heapify(self._sleepers)
            if not self._sleepers or self._sleepers[0][0] > target:
                break
            waiting = self.sleepers
            deadline, _, fut = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            fut.set_result(None)
            await self.settle(waiting)
        self._now = target
        await self.settle(self.sleepers)
