"""A stalled sink leaves the keys and panels live."""

from __future__ import annotations

import asyncio
import dataclasses
import queue
import threading
import time
from collections import Counter
from collections.abc import Sequence

from defi_tui.clock import FakeClock
from defi_tui.config import Settings
from defi_tui.engine import AttackStarted, RunState, RunSummary, StateChanged
from defi_tui.events import TOPICS, Record, topic_of
from defi_tui.sinks.base import (
    ConnectionState,
    EntityState,
    EntityStatus,
    Sink,
    SinkStatus,
)
from defi_tui.tui.app import make_app
from defi_tui.tui.widgets import SinkStatusPanel, StatusBar

from .conftest import Driver

SECONDS_PER_RECORD = 2.0


class SlowTargetSink(Sink):
    """A sink whose target takes 2 s per record, like a slow DeltaStream statement.

    The slow target is simulated (no real service here can be made that slow
    on demand); the sink around it is built like the real ones: ``publish``
    only queues, a thread talks to the target, results come back to the loop
    with ``call_soon_threadsafe``.
    """

    kind = "slow"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.busy = threading.Event()
        """Set once the target is working on a record."""
        self._queue: queue.Queue[list[Record] | None] = queue.Queue()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending: Counter[str] = Counter()
        self._drained = asyncio.Event()
        self._state = ConnectionState.CONNECTING
        self._entities: tuple[EntityStatus, ...] = ()

    async def open(self) -> list[EntityStatus]:
        loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._deliver, args=(loop,), daemon=True)
        self._thread.start()
        self._entities = tuple(EntityStatus(t, EntityState.EXISTS) for t in TOPICS)
        self._state = ConnectionState.CONNECTED
        return list(self._entities)

    async def publish(self, records: Sequence[Record]) -> None:
        for r in records:
            self._pending[topic_of(r)] += 1
        self._drained.clear()
        self._queue.put(list(records))

    def _deliver(self, loop: asyncio.AbstractEventLoop) -> None:
        while (batch := self._queue.get()) is not None:
            for record in batch:
                self.busy.set()
                # The target's round trip; a close cuts it short.
                if self._closing.wait(SECONDS_PER_RECORD):
                    return
                loop.call_soon_threadsafe(self._delivered, record)

    def _delivered(self, record: Record) -> None:
        topic = topic_of(record)
        self._pending[topic] -= 1
        self.tracker.delivered(topic, 1, [record])
        if not self.pending():
            self._drained.set()

    async def flush(self, timeout: float) -> int:
        if self.pending():
            try:
                await asyncio.wait_for(self._drained.wait(), timeout)
            except TimeoutError:
                pass
        return self.pending()

    async def close(self) -> None:
        self._closing.set()
        self._queue.put(None)
        for topic, n in self._pending.items():
            if n:
                self.tracker.lost_on_stop(topic, n)
        self._pending.clear()
        self._state = ConnectionState.CLOSED

    def pending(self) -> int:
        return sum(self._pending.values())

    def status(self) -> SinkStatus:
        return SinkStatus(
            self.kind,
            "a target taking 2 s per record",
            self._state,
            time.time(),
            None,
            self._entities,
            self.pending(),
        )


async def test_keys_are_handled_within_100ms_while_the_sink_stalls(settings: Settings) -> None:
    settings = dataclasses.replace(settings, normal_interval=0.05, flush_timeout=0.2)
    sink = SlowTargetSink(settings)
    clock = FakeClock()
    app = make_app(settings, sink, clock)
    loop = asyncio.get_running_loop()
    async with app.run_test(size=(120, 36)) as pilot:
        drive = Driver(app, pilot, clock)
        await drive.started()
        await drive.advance(0.99)
        # The target is busy with the first record; everything else waits in the sink.
        assert await asyncio.to_thread(sink.busy.wait, 5.0)
        assert sink.pending() == 20 * 3
        handled: dict[type, float] = {}
        app.engine.add_listener(lambda e: handled.setdefault(type(e), loop.time()))

        pressed = loop.time()
        await pilot.press("p")
        await drive.wait_for(lambda e: isinstance(e, StateChanged) and e.state is RunState.PAUSED)
        assert handled[StateChanged] - pressed < 0.1

        pressed = loop.time()
        await pilot.press("a")
        await drive.wait_for(AttackStarted)
        assert handled[AttackStarted] - pressed < 0.1

        # The panels are live too: they show the stall as it is.
        await drive.show()
        assert app.query_one(StatusBar).run_state == "paused"
        counts = app.query_one(SinkStatusPanel).counts
        assert sum(c.pending for c in counts) >= 20 * 3
        assert sum(c.delivered for c in counts) == 0

        # Quitting lets the attack finish its steps, then waits at most the flush
        # timeout for the stalled target; what did not make it is counted.
        await pilot.press("q")
        await clock.advance(4 * settings.attack_step_delay)
        await app.workers.wait_for_complete()
        await pilot.pause()
    summary = app.return_value
    assert isinstance(summary, RunSummary)
    assert summary.total.lost_on_stop == summary.total.produced - summary.total.delivered > 0
