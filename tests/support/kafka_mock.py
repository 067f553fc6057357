"""librdkafka's mock cluster: a real Kafka-protocol server on 127.0.0.1, for tests.

It is started by a client configured with ``test.mock.num.brokers``; that
client's metadata names the brokers other clients bootstrap from, and the
cluster lives as long as the client does. It creates a topic on the first
produce (its admin API cannot create one).
"""

from __future__ import annotations

from confluent_kafka import Producer


class MockCluster:
    """librdkafka's mock cluster, alive as long as this object."""

    def __init__(self, brokers: int = 1) -> None:
        self.client = Producer({"test.mock.num.brokers": brokers, "log_level": 3})
        metadata = self.client.list_topics(timeout=10)
        self.bootstrap = ",".join(f"{b.host}:{b.port}" for b in metadata.brokers.values())

    def produce(self, topic: str, *values: bytes) -> None:
        """Produce ``values`` to ``topic`` and wait until the cluster has them."""
        for value in values:
            self.client.produce(topic, value)
        assert self.client.flush(10) == 0
