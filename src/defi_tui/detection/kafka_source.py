"""``--detect kafka:TOPIC``: the user's detection output topic, read with confluent-kafka.

Each message is one detection, a JSON object. A consumer in a fresh group
reads the topic from its start and skips messages older than the run (by
the message timestamp), so detections left from earlier runs are not
scored. The consumer polls in its own thread; what it reads is handed to the
event loop in batches, where it is stamped and scored.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, Message

from ..config import Settings
from ..sinks.kafka import client_properties
from .base import (
    Detection,
    DetectionSource,
    SourceContext,
    SourceState,
    detector_name,
    event_time,
)

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
"""Longest a poll waits for messages; also how soon a stop is noticed."""
BATCH = 500
"""Messages read per poll at most."""
STOP_SECONDS = 5.0
"""How long a stop waits for the consumer to leave its group."""


def consumer_config(settings: Settings, group_id: str) -> dict[str, Any]:
    """librdkafka properties of the detection consumer.

    The one place they are made: client properties the cluster needs
    (security, ...) belong here too, so the consumer reaches every cluster
    the Kafka sink can.
    """
    # Connection and security properties are shared with the sink, so the
    # consumer reaches every cluster the sink can; producer tuning is not
    # passed on (librdkafka would log a warning for each such property).
    shared = {
        name: value
        for name, value in client_properties(settings).items()
        if name.startswith(_SHARED_PREFIXES)
    }
    return {
        **shared,
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "group.id": group_id,
        "client.id": "defi-tui-detection",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        # A detection topic that appears after the run started is found soon.
        "topic.metadata.refresh.interval.ms": 5000,
        "log.connection.close": False,
        # librdkafka's own log lines would land on the dashboard's screen.
        "logger": log,
    }


_SHARED_PREFIXES = (
    "security.",
    "sasl.",
    "ssl.",
    "ssl_",
    "enable.ssl",
    "https.",
    "client.dns",
    "broker.",
    "socket.",
    "reconnect.",
    "api.version",
    "metadata.",
    "connections.",
)


class KafkaSource(DetectionSource):
    """Reads detections from one Kafka topic."""

    kind = "kafka"

    def __init__(self, target: str, settings: Settings) -> None:
        super().__init__(target, settings)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Any = None

    async def start(self, ctx: SourceContext) -> None:
        loop = asyncio.get_running_loop()
        # Message timestamps are real wall-clock ms, whatever clock the engine runs on.
        since_ms = time.time_ns() // 1_000_000
        status = self._status

        def on_error(err: KafkaError) -> None:  # called in the consumer's thread
            loop.call_soon_threadsafe(self._failed, err.str(), err.fatal())

        conf = consumer_config(self.settings, f"defi-tui-detect-{uuid.uuid4()}")
        conf["error_cb"] = on_error
        try:
            self._consumer = Consumer(conf)
            self._consumer.subscribe([self.target])
        except Exception as exc:
            status.state = SourceState.FAILED
            status.last_error = f"Kafka consumer for topic {self.target!r}: {exc}"
            return

        def deliver(found: list[tuple[dict[str, Any], int | None]], unreadable: int) -> None:
            # On the loop: stamped with the engine's clock, like every detection.
            status.unreadable += unreadable
            if status.state not in (SourceState.FAILED, SourceState.READING):
                status.state = SourceState.READING
                self.status_changed()
            if not found:
                return
            now = ctx.wall_ms()
            label = self.label
            detections = [
                Detection(
                    label, detector_name(fields, label), fields, now, event_time(fields) or stamp
                )
                for fields, stamp in found
            ]
            status.received += len(detections)
            ctx.emit(detections)

        def poll() -> None:
            consumer = self._consumer
            try:
                while not self._stop.is_set():
                    messages = consumer.consume(num_messages=BATCH, timeout=POLL_SECONDS)
                    if not messages:
                        continue
                    found, unreadable = _read(messages, since_ms, loop, self)
                    if found or unreadable:
                        loop.call_soon_threadsafe(deliver, found, unreadable)
            finally:
                consumer.close()

        status.state = SourceState.STARTING
        self._thread = threading.Thread(target=poll, name=f"detect:{self.target}", daemon=True)
        self._thread.start()

    def _failed(self, error: str, fatal: bool) -> None:
        status = self._status
        status.last_error = f"Kafka {self.settings.kafka_bootstrap_servers}: {error}"
        if status.state is not SourceState.STOPPED:
            status.state = SourceState.FAILED if fatal else SourceState.RETRYING
        self.status_changed()

    async def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            # Leaving the group can take a moment; bounded, and off the loop.
            await asyncio.to_thread(thread.join, STOP_SECONDS)
        self._status.state = SourceState.STOPPED
        self.status_changed()


def _read(
    messages: list[Message], since_ms: int, loop: asyncio.AbstractEventLoop, source: KafkaSource
) -> tuple[list[tuple[dict[str, Any], int | None]], int]:
    """The JSON objects among ``messages`` newer than ``since_ms``, and how many were not."""
    found: list[tuple[dict[str, Any], int | None]] = []
    unreadable = 0
    for msg in messages:
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                loop.call_soon_threadsafe(source._failed, err.str(), err.fatal())
            continue
        kind, stamp = msg.timestamp()
        if kind != 0 and stamp < since_ms:
            continue  # from before this run
        try:
            value = orjson.loads(msg.value() or b"")
        except orjson.JSONDecodeError:
            unreadable += 1
            continue
        if not isinstance(value, dict):
            unreadable += 1
            continue
        found.append((value, stamp if kind != 0 else None))
    return found, unreadable
