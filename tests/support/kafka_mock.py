"""Helpers for the Kafka tests: librdkafka's mock cluster and an event-loop heartbeat.

The mock cluster is a real Kafka-protocol server inside librdkafka, listening
on 127.0.0.1. It is started by a client configured with
``test.mock.num.brokers``; that client's metadata names the brokers other
clients bootstrap from, and the cluster lives as long as the client does.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

from confluent_kafka import Consumer, Message, Producer, TopicPartition


class MockCluster:
    """A librdkafka mock cluster with ``brokers`` brokers on 127.0.0.1."""

    def __init__(self, brokers: int = 3) -> None:
        self._client = Producer({"test.mock.num.brokers": brokers, "log_level": 3})
        metadata = self._client.list_topics(timeout=10)
        self.bootstrap = ",".join(f"{b.host}:{b.port}" for b in metadata.brokers.values())

    def precreate(self, *topics: str) -> None:
        """Make topics exist: the mock cluster creates a topic on its first produce.

        One ``{}`` message goes into each; :meth:`consume` skips it.
        """
        for topic in topics:
            self._client.produce(topic, b"{}")
        assert self._client.flush(10) == 0

    def produce(self, topic: str, *values: bytes) -> None:
        """Produce ``values`` to ``topic`` and wait until the cluster has them."""
        for value in values:
            self._client.produce(topic, value)
        assert self._client.flush(10) == 0

    def partitions(self, topic: str) -> int:
        return len(self._client.list_topics(topic, timeout=10).topics[topic].partitions)

    def message_count(self, topic: str) -> int:
        """Messages stored in a topic, from the partitions' offsets (no consuming)."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "count"})
        try:
            total = 0
            for p in range(self.partitions(topic)):
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                total += high - low
            return total
        finally:
            consumer.close()

    def consume(self, topics: list[str], expected: int, timeout: float = 60.0) -> list[Message]:
        """Read every message of ``topics`` from the start (blocking; call off the loop).

        Stops once ``expected`` messages (not counting the pre-create
        ``{}`` markers) have arrived, or ``timeout`` passes.
        """
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"check-{uuid.uuid4()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe(topics)
        out: list[Message] = []
        deadline = time.monotonic() + timeout
        try:
            while len(out) < expected and time.monotonic() < deadline:
                for msg in consumer.consume(num_messages=10_000, timeout=0.5):
                    if msg.error() is None and msg.value() != b"{}":
                        out.append(msg)
        finally:
            consumer.close()
        return out


@dataclass
class Heartbeat:
    """Ticks on the event loop and records the longest gap: a blocked loop shows up."""

    interval: float = 0.01
    max_gap: float = 0.0
    ticks: int = 0
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(self.interval)
            now = loop.time()
            self.max_gap = max(self.max_gap, now - last)
            self.ticks += 1
            last = now

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
