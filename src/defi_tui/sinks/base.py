"""The one small interface every sink implements, and the counters it keeps.

A sink takes batches of records from the engine and owns everything about
getting them somewhere: its client, its bounded buffer, its retries. The
engine never waits on a sink's I/O: ``publish`` only hands records over (it
may await briefly for backpressure, never for a network round trip), and
blocking clients run in threads inside the sink.

Threading rule: :class:`DeliveryTracker` and ``status_changed`` are called on
the event loop's thread. A sink whose client reports from another thread
(Kafka delivery callbacks, SDK calls in ``asyncio.to_thread``) hands results
back to the loop, batched, before counting them.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from ..config import Settings
from ..events import TOPICS, Record


class EntityState(StrEnum):
    """What setup found or did for one entity / topic."""

    EXISTS = "exists"
    CREATED = "created"
    FAILED = "failed"
    LOCAL = "local"
    AUTO_CREATE = "left to auto-create"


@dataclass(frozen=True)
class EntityStatus:
    """Setup outcome of one entity / topic, shown in the CLI and the dashboard."""

    name: str
    state: EntityState
    detail: str = ""
    """Reason for a failure, or what was created where."""

    @property
    def ok(self) -> bool:
        return self.state is not EntityState.FAILED


class ConnectionState(StrEnum):
    """How the sink's link to its target is doing."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RETRYING = "retrying"
    FAILED = "failed"
    CLOSED = "closed"


@dataclass
class TopicCounters:
    """What became of the records the engine handed to a sink, for one topic."""

    delivered: int = 0
    """Confirmed by the target."""
    failed: int = 0
    """Given up on after an error that retrying cannot fix."""
    dropped: int = 0
    """Discarded because the bounded buffer was full."""
    lost_on_stop: int = 0
    """Still pending when the stop's flush timed out."""


@dataclass(frozen=True)
class SinkStatus:
    """A snapshot of a sink, cheap to take; what front ends display."""

    kind: str
    """Sink name: local, deltastream, kafka, ..."""
    target: str
    """Where records go, in words (store, bootstrap servers, file); no secrets."""
    state: ConnectionState
    since: float
    """Wall-clock time (epoch seconds) the state was entered."""
    last_error: str | None = None
    entities: tuple[EntityStatus, ...] = ()
    buffered: int = 0
    """Records accepted and waiting to be delivered."""


DeliveryListener = Callable[[str, int, Sequence[Record] | None], None]
"""Called with (topic, count, the records if known) whenever records are delivered."""


class DeliveryTracker:
    """Per-topic delivered / failed / dropped counters of one sink."""

    def __init__(self, topics: Sequence[str] = TOPICS) -> None:
        self.counters: dict[str, TopicCounters] = {t: TopicCounters() for t in topics}
        self.last_error: str | None = None
        self._listeners: list[DeliveryListener] = []

    def add_listener(self, listener: DeliveryListener) -> None:
        self._listeners.append(listener)

    def delivered(self, topic: str, n: int = 1, records: Sequence[Record] | None = None) -> None:
        """Count ``n`` records of ``topic`` as confirmed by the target."""
        self.counters[topic].delivered += n
        for listener in self._listeners:
            listener(topic, n, records)

    def failed(self, topic: str, n: int, error: str) -> None:
        """Count ``n`` records as failed for good, remembering why."""
        self.counters[topic].failed += n
        self.last_error = error

    def dropped(self, topic: str, n: int) -> None:
        """Count ``n`` records as dropped because the buffer was full."""
        self.counters[topic].dropped += n

    def lost_on_stop(self, topic: str, n: int) -> None:
        """Count ``n`` records still pending when the stop's flush ran out of time."""
        self.counters[topic].lost_on_stop += n


class Sink(ABC):
    """Where records go. Subclasses live one per module in ``defi_tui.sinks``.

    Lifecycle: ``open()`` once (set up entities, connect), any number of
    ``publish()``, then ``flush(timeout)`` and ``close()``.
    """

    kind: ClassVar[str]
    """Name in the ``defi_tui.sinks`` entry-point group and in ``SINK``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tracker = DeliveryTracker()
        self._status_listeners: list[Callable[[SinkStatus], None]] = []

    @abstractmethod
    async def open(self) -> list[EntityStatus]:
        """Connect and set up the entities; one status per entity, in ``TOPICS`` order.

        Must not raise for a per-entity failure (report it as FAILED); may
        raise :class:`SinkError` when the sink cannot work at all.
        """

    @abstractmethod
    async def publish(self, records: Sequence[Record]) -> None:
        """Accept records for delivery, in order per topic.

        Returns once the records are buffered, not delivered. When the
        buffer is full the overflow is counted as dropped (never silently).
        """

    @abstractmethod
    async def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for pending records; return how many remain."""

    @abstractmethod
    async def close(self) -> None:
        """Release the client. Records still pending are counted as lost on stop."""

    @abstractmethod
    def status(self) -> SinkStatus:
        """A snapshot of the sink's state; must be cheap and never do I/O."""

    def pending(self) -> int:
        """Records accepted but neither delivered, failed nor dropped."""
        return self.status().buffered

    @property
    def wants_annotations(self) -> bool:
        """Whether :meth:`annotate` keeps anything; callers skip building notes otherwise."""
        return False

    def annotate(self, topic: str, data: Mapping[str, Any]) -> None:  # noqa: B027 (optional)
        """Note something about the stream beside the records, such as an attack's ground truth.

        Never published to the target. A sink that records (the local sink's
        ``--record``) writes it as a ``{"topic": topic, "record": data}``
        line after the records already handed over; the default ignores it.
        """

    def add_status_listener(self, listener: Callable[[SinkStatus], None]) -> None:
        """Be told when the sink's connection state or entities change."""
        self._status_listeners.append(listener)

    def status_changed(self) -> None:
        """Subclasses call this (on the loop thread) after a state change."""
        status = self.status()
        for listener in self._status_listeners:
            listener(status)


class SinkError(Exception):
    """The sink cannot work at all (bad credentials, unknown server); one line for the user."""


@dataclass
class StateClock:
    """Connection state plus when it was entered; a helper for sinks."""

    state: ConnectionState = ConnectionState.CONNECTING
    since: float = field(default_factory=time.time)
    last_error: str | None = None

    def set(self, state: ConnectionState, error: str | None = None) -> bool:
        """Enter ``state``; returns whether anything changed."""
        changed = state is not self.state or (error is not None and error != self.last_error)
        if state is not self.state:
            self.since = time.time()
        self.state = state
        if error is not None:
            self.last_error = error
        return changed
