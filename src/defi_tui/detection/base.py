"""What every detection source shares: the detection itself and the source interface.

A source turns what a fraud-detection pipeline reports into
:class:`Detection` objects and hands them, in batches, to the loop. Three
kinds exist: ``builtin`` (reference detectors over the produced records),
``kafka:TOPIC`` (the user's detection output topic) and ``deltastream:QUERY``
(rows of the user's continuous query). Blocking clients run in threads inside
the source; :meth:`SourceContext.emit` is only ever called on the loop.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from ..config import Settings

if TYPE_CHECKING:
    from ..engine import Engine

DETECTOR_KEYS = ("detector", "rule", "alert_type", "alert", "type")
"""Fields that name the detector of an external detection, first found wins."""


@dataclass(slots=True)
class Detection:
    """One alert of a detection pipeline."""

    source: str
    """Label of the source it came from (``builtin``, ``kafka:alerts``, ...)."""
    detector: str
    """Which detector raised it: a builtin detector's name, or the source's own."""
    fields: dict[str, Any]
    """The alert as the pipeline reported it (one JSON object or query row)."""
    received_ms: int
    """Wall-clock ms it reached this tool (the engine's clock)."""
    event_ms: int | None = None
    """The event time it refers to, if it carries one."""


class SourceState(StrEnum):
    STARTING = "starting"
    READING = "reading"
    RETRYING = "retrying"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass
class SourceStatus:
    """A source at a glance (cheap, no I/O)."""

    label: str
    state: SourceState = SourceState.STARTING
    received: int = 0
    """Detections read so far."""
    unreadable: int = 0
    """Messages that were not a JSON object (skipped, counted)."""
    last_error: str | None = None


@dataclass
class SourceContext:
    """What a source gets when it starts."""

    engine: Engine
    emit: Callable[[list[Detection]], None]
    """Hand detections over; call on the loop thread only."""
    wall_ms: Callable[[], int]
    """The engine's wall clock, to stamp ``received_ms``."""
    start_ms: int = 0
    """Wall-clock ms (engine clock) the sources were started."""


class DetectionSource(ABC):
    """Where detections come from.

    Args:
        target: what follows ``kind:`` in ``--detect`` (empty for builtin).
        settings: the run's settings (cluster, credentials).
    """

    kind: ClassVar[str]

    def __init__(self, target: str, settings: Settings) -> None:
        self.target = target
        self.settings = settings
        self._status = SourceStatus(self.label)
        self._status_listeners: list[Callable[[SourceStatus], None]] = []

    @property
    def label(self) -> str:
        """How the source is named on screen: ``builtin``, ``kafka:alerts``, ..."""
        return f"{self.kind}:{self.target}" if self.target else self.kind

    @abstractmethod
    async def start(self, ctx: SourceContext) -> None:
        """Begin reading; returns once reading runs (or has failed, see :meth:`status`)."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop reading and release the client; bounded."""

    def status(self) -> SourceStatus:
        return self._status

    def add_status_listener(self, listener: Callable[[SourceStatus], None]) -> None:
        """Be told (on the loop) when the source's state or last error changes."""
        self._status_listeners.append(listener)

    def status_changed(self) -> None:
        """Sources call this on the loop after changing their status."""
        for listener in self._status_listeners:
            listener(self._status)


def detector_name(fields: Mapping[str, Any], default: str) -> str:
    """The detector an external alert names (``detector``, ``rule``, ...), else ``default``."""
    for key in DETECTOR_KEYS:
        value = fields.get(key)
        if isinstance(value, str) and value:
            return value
    return default


def walk(fields: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(name, value) of every field, nested objects and lists included (names of the leaf)."""
    for key, value in fields.items():
        if isinstance(value, Mapping):
            yield from walk(value)
        elif isinstance(value, list | tuple):
            for item in value:
                if isinstance(item, Mapping):
                    yield from walk(item)
                else:
                    yield key, item
        else:
            yield key, value


_TIME_WORDS = ("timestamp", "time", "window_start", "window_end", "rowtime")


_TIME_KEYS: dict[str, bool] = {}
_BLOCK_KEYS: dict[str, bool] = {}
_KEYS_KEPT = 10_000
"""Field names whose kind is remembered: a few dozen in practice, bounded anyway."""


def is_time_key(name: str) -> bool:
    """Whether a field's name says it holds a time (``event_timestamp``, ``window_end``...)."""
    known = _TIME_KEYS.get(name)
    if known is None:
        low = name.lower()
        known = low == "ts" or any(word in low for word in _TIME_WORDS)
        if len(_TIME_KEYS) < _KEYS_KEPT:
            _TIME_KEYS[name] = known
    return known


def is_block_key(name: str) -> bool:
    """Whether a field's name says it holds a block number (``block_number``, ``last_block``)."""
    known = _BLOCK_KEYS.get(name)
    if known is None:
        known = "block" in name.lower()
        if len(_BLOCK_KEYS) < _KEYS_KEPT:
            _BLOCK_KEYS[name] = known
    return known


def epoch_ms(value: Any) -> int | None:
    """A time value as epoch ms: ms or s numbers, datetimes, ISO-8601 text; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if value >= 1e11:
            return int(value)
        if value >= 1e8:
            # Seconds: DeltaStream's and Flink's TO_UNIXTIME and friends give these.
            return int(value * 1000)
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(value.timestamp() * 1000)
    if isinstance(value, str) and len(value) >= 10 and value[:4].isdigit():
        try:
            return epoch_ms(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def event_time(fields: Mapping[str, Any]) -> int | None:
    """The latest time among the fields named like a time, in epoch ms."""
    latest: int | None = None
    for key, value in walk(fields):
        if is_time_key(key):
            ms = epoch_ms(value)
            if ms is not None and (latest is None or ms > latest):
                latest = ms
    return latest
