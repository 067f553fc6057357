"""Test doubles for the sink seam: a sink that records, and can hold or fail.

Used where the test is about the engine or a front end, not about a target:
the real targets have their own tests (local sink directly, DeltaStream over
loopback HTTP, Kafka on librdkafka's mock cluster).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from defi_tui.config import Settings
from defi_tui.events import TOPICS, Record, topic_of
from defi_tui.sinks.base import ConnectionState, EntityState, EntityStatus, Sink, SinkStatus


class FakeSink(Sink):
    """Delivers on publish, or holds records while ``holding`` until :meth:`release`."""

    kind = "fake"

    def __init__(self, settings: Settings | None = None, *, holding: bool = False) -> None:
        super().__init__(settings or Settings())
        self.published: list[Record] = []
        self.delivered_records: list[Record] = []
        self.holding = holding
        self.opened = self.closed = self.flushed = False
        self.error: str | None = None
        self.state = ConnectionState.CONNECTING
        self._pending: list[Record] = []

    async def open(self) -> list[EntityStatus]:
        self.opened = True
        self.state = ConnectionState.CONNECTED
        return [EntityStatus(t, EntityState.CREATED, "fake") for t in TOPICS]

    async def publish(self, records: Sequence[Record]) -> None:
        self.published.extend(records)
        self._pending.extend(records)
        if not self.holding:
            self.release()

    def release(self) -> None:
        """Deliver everything pending, in order."""
        batch, self._pending = self._pending, []
        for r in batch:
            self.delivered_records.append(r)
            self.tracker.delivered(topic_of(r), 1, [r])

    async def flush(self, timeout: float) -> int:
        self.flushed = True
        return len(self._pending)

    async def close(self) -> None:
        for r in self._pending:
            self.tracker.lost_on_stop(topic_of(r), 1)
        self._pending = []
        self.closed = True
        self.state = ConnectionState.CLOSED

    def status(self) -> SinkStatus:
        entities = tuple(EntityStatus(t, EntityState.CREATED) for t in TOPICS)
        return SinkStatus(
            self.kind, "test", self.state, time.time(), self.error, entities, len(self._pending)
        )
