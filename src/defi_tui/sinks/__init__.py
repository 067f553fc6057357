"""Sinks as plugins, found through the ``defi_tui.sinks`` entry-point group.

Names are listed without importing anything, and a sink's client library is
imported only when that sink is loaded: a local run never imports Kafka or the
DeltaStream SDK.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from ..config import Settings
from .base import (
    ConnectionState,
    DeliveryTracker,
    EntityState,
    EntityStatus,
    Sink,
    SinkError,
    SinkStatus,
    TopicCounters,
)

GROUP = "defi_tui.sinks"

__all__ = [
    "ConnectionState",
    "DeliveryTracker",
    "EntityState",
    "EntityStatus",
    "Sink",
    "SinkError",
    "SinkStatus",
    "TopicCounters",
    "available_sinks",
    "create_sink",
    "load_sink_class",
]


def available_sinks() -> list[str]:
    """Names of the installed sinks, without importing them."""
    return sorted(ep.name for ep in entry_points(group=GROUP))


def load_sink_class(name: str) -> type[Sink]:
    """Import and return the sink class registered as ``name``.

    Raises:
        SinkError: no sink of that name is installed.
    """
    matches = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not matches:
        raise SinkError(
            f"sink {name!r} is not installed; installed: {', '.join(available_sinks()) or 'none'}"
        )
    cls = matches[0].load()
    if not (isinstance(cls, type) and issubclass(cls, Sink)):
        raise SinkError(f"sink {name!r} does not name a Sink class")
    return cls


def create_sink(settings: Settings) -> Sink:
    """The sink ``settings.sink`` names, constructed (not yet opened)."""
    return load_sink_class(settings.sink)(settings)
