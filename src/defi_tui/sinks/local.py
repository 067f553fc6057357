"""The embedded default sink: recent records in memory, optionally a JSONL recording.

Nothing to set up, nothing that can be down: every record is delivered the
moment it is accepted. With ``--record FILE`` each record is also appended to
FILE as one JSON line ``{"topic": ..., "record": {...}}``, and each attack's
ground truth as a line of the pseudo topic ``_attacks`` once its five records
are delivered, so a recording says where its attacks are.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from itertools import compress, repeat
from operator import is_
from typing import Any, BinaryIO

import orjson

from ..config import Settings
from ..events import RECORD_TYPES, TOPICS, Record, to_jsonl
from .base import ConnectionState, EntityState, EntityStatus, Sink, SinkStatus

RECENT_PER_TOPIC = 1000
"""Records kept in memory per topic: enough to inspect, bounded over hours."""


class LocalSink(Sink):
    """Keeps the last records per topic in memory and can record them to a file."""

    kind = "local"

    def __init__(self, settings: Settings, recent: int = RECENT_PER_TOPIC) -> None:
        super().__init__(settings)
        self.recent: dict[str, deque[Record]] = {t: deque(maxlen=recent) for t in TOPICS}
        self._file: BinaryIO | None = None
        self._write: asyncio.Future[None] | None = None
        self._notes: list[bytes] = []
        self._state = ConnectionState.CONNECTING
        self._since = time.time()
        self._entities: tuple[EntityStatus, ...] = ()
        self._error: str | None = None

    @property
    def _target(self) -> str:
        if self.settings.record is not None:
            return f"memory + {self.settings.record}"
        return "memory"

    async def open(self) -> list[EntityStatus]:
        if self.settings.record is not None:
            # Opening a local file is quick; writes happen in a thread below.
            self._file = open(self.settings.record, "ab")  # noqa: ASYNC230, SIM115
        detail = "recorded to file" if self._file else "kept in memory"
        entities = [EntityStatus(t, EntityState.LOCAL, detail) for t in TOPICS]
        self._entities = tuple(entities)
        self._state, self._since = ConnectionState.CONNECTED, time.time()
        self.status_changed()
        return entities

    async def publish(self, records: Sequence[Record]) -> None:
        if not records:
            return
        # Split by type with C-level passes: a Python loop over every record
        # was the largest cost of this sink at load speed.
        types = list(map(type, records))
        counts = Counter(types)
        if self._file is not None:
            data = to_jsonl(records)
            if self._notes:
                # Notes were made after the earlier batches were handed to the
                # writer, so they go before this one: the file keeps their order.
                data = b"".join(self._notes) + data
                self._notes.clear()
            # One write in flight: serialising the next batch overlaps with it,
            # and awaiting the previous one keeps order and bounds memory.
            if self._write is not None:
                await self._write
            self._write = asyncio.ensure_future(asyncio.to_thread(self._write_all, data))
        for topic, cls in RECORD_TYPES.items():
            n = counts.get(cls, 0)
            if n:
                kept = list(compress(records, map(is_, types, repeat(cls))))
                self.recent[topic].extend(kept)
                self.tracker.delivered(topic, n, kept)

    @property
    def wants_annotations(self) -> bool:
        return self._file is not None

    def annotate(self, topic: str, data: Mapping[str, Any]) -> None:
        if self._file is not None:
            self._notes.append(orjson.dumps({"topic": topic, "record": data}) + b"\n")

    def _write_all(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)

    async def flush(self, timeout: float) -> int:
        if self._notes and self._file is not None:
            notes = b"".join(self._notes)
            self._notes.clear()
            if self._write is not None:
                await self._write
            self._write = asyncio.ensure_future(asyncio.to_thread(self._write_all, notes))
        if self._write is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._write), timeout)
            except TimeoutError:
                return 0
            self._write = None
        if self._file is not None:
            await asyncio.to_thread(self._file.flush)
        return 0

    async def close(self) -> None:
        await self.flush(self.settings.flush_timeout)
        if self._file is not None:
            self._file.close()
            self._file = None
        self._state, self._since = ConnectionState.CLOSED, time.time()
        self.status_changed()

    def status(self) -> SinkStatus:
        return SinkStatus(
            self.kind, self._target, self._state, self._since, self._error, self._entities, 0
        )
