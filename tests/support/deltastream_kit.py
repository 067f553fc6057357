"""Shared pieces of the DeltaStream sink tests (fixtures are in tests/deltastream/conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from defi_tui.config import Settings
from defi_tui.events import TOPICS, Record, topic_of
from defi_tui.simulator import Simulator
from defi_tui.sinks.base import ConnectionState, SinkStatus
from defi_tui.sinks.deltastream import DeltaStreamSink

TOKEN = "ds-token-Zq8w1XvK3p"
"""Distinctive, so that any leak of it into output is found by a plain search."""

SettingsFactory = Callable[..., Settings]
SinkOpener = Callable[..., Awaitable[DeltaStreamSink]]


def records(ticks: int, seed: int = 1, attacks: int = 0) -> list[Record]:
    """Records as the simulator makes them: normal ticks, then ``attacks`` whole attacks."""
    sim = Simulator(seed=seed)
    out: list[Record] = [r for tick in sim.normal_ticks(ticks, 1_767_225_600_000) for r in tick]
    for i in range(attacks):
        out.extend(sim.whole_attack(1_767_225_700_000 + i).records)
    return out


def by_topic(recs: list[Record]) -> dict[str, list[Record]]:
    out: dict[str, list[Record]] = {t: [] for t in TOPICS}
    for r in recs:
        out[topic_of(r)].append(r)
    return out


class StatusLog:
    """Every status a sink reported, with an event per connection state."""

    def __init__(self, sink: DeltaStreamSink) -> None:
        self.seen: list[SinkStatus] = []
        self._events = {state: asyncio.Event() for state in ConnectionState}
        self._watchers: list[Callable[[SinkStatus], None]] = []
        sink.add_status_listener(self)

    def __call__(self, status: SinkStatus) -> None:
        self.seen.append(status)
        self._events[status.state].set()
        for watcher in list(self._watchers):
            watcher(status)

    async def reached(self, state: ConnectionState, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._events[state].wait(), timeout)

    def states(self) -> list[ConnectionState]:
        return [s.state for s in self.seen]

    async def until(self, predicate: Callable[[SinkStatus], bool], timeout: float = 15.0) -> None:
        """Wait until a reported status satisfies ``predicate``."""
        changed = asyncio.Event()

        def check(status: SinkStatus) -> None:
            if predicate(status):
                changed.set()

        if any(predicate(s) for s in self.seen):
            return
        self._watchers.append(check)
        try:
            await asyncio.wait_for(changed.wait(), timeout)
        finally:
            self._watchers.remove(check)
