"""The DeltaStream sink: every record an ``INSERT INTO ENTITY`` through deltastream-sdk.

This is the path of the original DeltaStream SDK example, built to be left
running for a day against a real organization.

Threads. The SDK is a synchronous urllib3 client under ``async def``: awaiting
it on the engine's loop would freeze the engine, the CLI and the dashboard for
as long as a statement takes, and ``asyncio.wait_for`` cannot interrupt it. So
every SDK call runs on a worker thread of this sink that owns its own event
loop and its own client (urllib3 pool, auth header, context). The engine's
loop only queues records, awaits futures and counts results.

Lanes and order. Each entity has a lane: a queue of records and, by default,
one worker that sends one ``INSERT`` at a time, the next only after the
previous is confirmed. DeltaStream executes concurrent statements in whatever
order they happen to run and the API has no sequence numbers to restore it, so
one statement in flight per entity is what keeps each entity's records in the
order produced, retries included. The three lanes run independently: a slow
entity never holds up another, and three statements are in flight at once.
``--deltastream-in-flight N`` gives every lane N workers for load tests that
value throughput over that order.

Faults. Errors are classified on their cause (see
:mod:`~defi_tui.sinks.deltastream_errors`): a transient one (refused or
dropped connection, timeout, HTTP 408/5xx, "not ready" SQL states) keeps the
record at the head of its lane and retries it with exponential backoff and
jitter; a refused token stops all sending at once, is reported once, and every
record still waiting, or arriving later, is counted as failed; any other error
fails only the statement's record, counted with its reason.

Buffer. At most ``BUFFER_SIZE`` records wait, across the three entities and
including those in flight. When it is full the newest record is refused and
counted as dropped (drop-newest): records already waiting keep their place,
so what reaches DeltaStream is each entity's stream up to the overflow, in
order, and nothing that is mid-retry is ever discarded.

Timeouts and duplicates. Each HTTP request carries the connector's
``_request_timeout`` (``--deltastream-statement-timeout``), and the statement
as a whole, status polling included, is bounded by the same value. Delivery is
at least once: a statement whose answer never came (timeout, dropped
connection) may have been executed and is sent again; a 503 or a refused
connection never executed anything, so those retries cannot duplicate.

Stop. ``flush(timeout)`` waits for the lanes to drain; ``close()`` counts what
is still waiting, in flight included, as lost on stop.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..config import Settings
from ..events import RECORD_TYPES, TOPICS, Record, to_dict
from .base import ConnectionState, EntityStatus, Sink, SinkError, SinkStatus, StateClock
from .deltastream_client import (
    DEFAULT_SERVER_URL,
    RETRY_INITIAL,
    DeltaStreamOptions,
    SetupClient,
    Worker,
    make_client,
)
from .deltastream_commands import CommandReport, create_streams, drop_entities
from .deltastream_errors import Fault, FaultKind, classify, one_line, scrub

__all__ = ["CommandReport", "DeltaStreamSink", "create_streams", "drop_entities"]

log = logging.getLogger(__name__)
# Without a handler, Python prints warnings to stderr: over the dashboard's screen, and
# next to the console's own status lines. Applications that want these records add one.

LOG_EVERY = 60.0
"""Seconds between log lines about entering the retrying state."""


@dataclass(eq=False)
class _Lane:
    """One entity: its waiting records, its workers and their sender tasks."""

    topic: str
    queue: deque[Record] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    workers: list[Worker] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    in_flight: int = 0
    retrying: bool = False


class DeltaStreamSink(Sink):
    """Publishes records to DeltaStream entities, one ``INSERT`` per record."""

    kind = "deltastream"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.options = DeltaStreamOptions.from_settings(settings)
        self._capacity = settings.buffer_size
        self._secret = settings.deltastream_token
        self._state = StateClock()
        self._entities: tuple[EntityStatus, ...] = ()
        self._lanes = {topic: _Lane(topic) for topic in TOPICS}
        self._lane_of = {cls: self._lanes[topic] for topic, cls in RECORD_TYPES.items()}
        self._buffered = 0
        self._drained = asyncio.Event()
        self._drained.set()
        self._auth_error: str | None = None
        self._opened = False
        self._closed = False
        self._jitter = random.Random()
        self._last_retry_log = -LOG_EVERY

    # --- status

    @property
    def target(self) -> str:
        """Where records go, in words: server, store, database. Never the token."""
        url = self.settings.deltastream_server_url or DEFAULT_SERVER_URL
        parts = urlsplit(url)
        where = f"{parts.hostname or url}{':' + str(parts.port) if parts.port else ''}"
        text = f"{where}{parts.path.rstrip('/')} store {self.settings.store_name}"
        if self.settings.deltastream_database_name:
            text += f" database {self.settings.deltastream_database_name}"
        return text

    def status(self) -> SinkStatus:
        s = self._state
        return SinkStatus(
            self.kind, self.target, s.state, s.since, s.last_error, self._entities, self._buffered
        )

    def _enter(self, state: ConnectionState, error: str | None = None) -> None:
        if self._state.set(state, error):
            self.status_changed()

    # --- lifecycle

    async def open(self) -> list[EntityStatus]:
        self._enter(ConnectionState.CONNECTING)
        try:
            admin = SetupClient(self.settings, self.options, "deltastream-setup")
        except SinkError as exc:
            self._enter(ConnectionState.FAILED, str(exc))
            raise
        try:
            await admin.connect()
            statuses = await admin.ensure_entities()
            for lane in self._lanes.values():
                for i in range(self.options.in_flight):
                    client = make_client(self.settings, self.options, use_database=True)
                    lane.workers.append(Worker(f"deltastream-{lane.topic}-{i}", client))
        except SinkError as exc:
            self._enter(ConnectionState.FAILED, str(exc))
            log.error("DeltaStream sink cannot start: %s", exc)
            raise
        finally:
            admin.close()
        self._entities = tuple(statuses)
        self._opened = True
        self._state.last_error = None
        self._enter(ConnectionState.CONNECTED)
        for lane in self._lanes.values():
            for worker in lane.workers:
                task = asyncio.create_task(
                    self._send_loop(lane, worker), name=f"deltastream-{lane.topic}"
                )
                lane.tasks.append(task)
            if lane.queue:
                lane.wake.set()
        return list(statuses)

    async def publish(self, records: Sequence[Record]) -> None:
        if not records:
            return
        if self._auth_error is not None or self._closed:
            # Nothing can be sent any more: count, never hold.
            for topic, n in Counter(self._lane_of[type(r)].topic for r in records).items():
                if self._closed:
                    self.tracker.lost_on_stop(topic, n)
                else:
                    self.tracker.failed(topic, n, self._auth_error or "")
            return
        free = self._capacity - self._buffered
        accepted = records if len(records) <= free else records[: max(free, 0)]
        lane_of = self._lane_of
        woken: set[_Lane] = set()
        for record in accepted:
            lane = lane_of[type(record)]
            lane.queue.append(record)
            woken.add(lane)
        if accepted:
            self._buffered += len(accepted)
            self._drained.clear()
        for lane in woken:
            lane.wake.set()
        if len(accepted) < len(records):
            overflow = records[len(accepted) :]
            for topic, n in Counter(lane_of[type(r)].topic for r in overflow).items():
                self.tracker.dropped(topic, n)

    async def flush(self, timeout: float) -> int:
        # After a refused token only statements already in flight remain; they end soon.
        if self._buffered and self._opened:
            try:
                await asyncio.wait_for(self._drained.wait(), timeout)
            except TimeoutError:
                pass
        return self._buffered

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        tasks = [t for lane in self._lanes.values() for t in lane.tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for lane in self._lanes.values():
            # Cancelled senders put their in-flight record back at the head of the lane.
            if lane.queue:
                self.tracker.lost_on_stop(lane.topic, len(lane.queue))
                lane.queue.clear()
            for worker in lane.workers:
                worker.stop()
        self._buffered = 0
        self._drained.set()
        if self._state.state is not ConnectionState.FAILED:
            self._enter(ConnectionState.CLOSED)

    # --- sending

    async def _send_loop(self, lane: _Lane, worker: Worker) -> None:
        while True:
            while not lane.queue:
                lane.wake.clear()
                await lane.wake.wait()
            record = lane.queue.popleft()
            lane.in_flight += 1
            try:
                await self._deliver(lane, worker, record)
            except asyncio.CancelledError:
                lane.queue.appendleft(record)
                raise
            finally:
                lane.in_flight -= 1
            self._buffered -= 1
            if self._buffered == 0:
                self._drained.set()

    async def _deliver(self, lane: _Lane, worker: Worker, record: Record) -> None:
        """Send one record until it is confirmed or cannot be; counts the outcome."""
        topic, store = lane.topic, self.settings.store_name
        value = to_dict(record)
        timeout = self.options.statement_timeout

        async def insert(client: Any) -> None:
            await asyncio.wait_for(
                client.entities.insert_values(topic, values=[value], store=store), timeout
            )

        attempt = 0
        while True:
            if self._auth_error is not None:
                self.tracker.failed(topic, 1, self._auth_error)
                return
            try:
                await worker.call(insert)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                fault = classify(exc, self._secret)
                if fault.kind is FaultKind.TRANSIENT:
                    attempt += 1
                    self._lane_retrying(lane, fault)
                    await asyncio.sleep(self._backoff(attempt))
                    continue
                if fault.kind is FaultKind.AUTH:
                    self._auth_failed(fault)
                    self.tracker.failed(topic, 1, self._auth_error or fault.message)
                    return
                self._lane_recovered(lane)
                self.tracker.failed(topic, 1, f"{topic}: {fault.message}")
                return
            self._lane_recovered(lane)
            self.tracker.delivered(topic, 1, (record,))
            return

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with equal jitter: half fixed, half random."""
        ceiling = min(self.options.retry_max, RETRY_INITIAL * 2.0 ** (attempt - 1))
        return ceiling / 2 + self._jitter.uniform(0, ceiling / 2)

    def _lane_retrying(self, lane: _Lane, fault: Fault) -> None:
        lane.retrying = True
        # The same words from every lane: one outage is one state, not three.
        message = fault.message
        if self._state.state is not ConnectionState.RETRYING:
            now = time.monotonic()
            # A flaky service flips between states all day; the log says so once a minute.
            if now - self._last_retry_log >= LOG_EVERY:
                self._last_retry_log = now
                log.warning("DeltaStream unavailable, retrying with backoff: %s", message)
        self._enter(ConnectionState.RETRYING, message)

    def _lane_recovered(self, lane: _Lane) -> None:
        lane.retrying = False
        if self._state.state is ConnectionState.RETRYING and not any(
            other.retrying for other in self._lanes.values()
        ):
            outage = time.time() - self._state.since
            if outage >= 1.0:
                log.info("DeltaStream reachable again after %.1fs", outage)
            self._state.last_error = None
            self._enter(ConnectionState.CONNECTED)

    def _auth_failed(self, fault: Fault) -> None:
        if self._auth_error is not None:
            return  # reported once
        message = scrub(
            one_line(
                f"DeltaStream refused the token ({fault.message}); sending stopped, "
                "check DELTASTREAM_TOKEN and DELTASTREAM_ORG_ID",
                400,
            ),
            self._secret,
        )
        self._auth_error = message
        log.error("%s", message)
        for lane in self._lanes.values():
            if lane.queue:
                self.tracker.failed(lane.topic, len(lane.queue), message)
                self._buffered -= len(lane.queue)
                lane.queue.clear()
        # Records still in flight are counted by their senders when they return.
        if self._buffered == 0:
            self._drained.set()
        self._enter(ConnectionState.FAILED, message)
