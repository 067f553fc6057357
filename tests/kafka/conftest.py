"""Fixtures for the Kafka sink tests: a mock cluster per test and an event-loop heartbeat."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from defi_tui.events import TOPICS
from support.kafka_mock import Heartbeat, MockCluster


@pytest.fixture
def mock_cluster() -> Iterator[MockCluster]:
    """A fresh mock cluster with no topics."""
    cluster = MockCluster()
    yield cluster
    del cluster


@pytest.fixture
def cluster_with_topics(mock_cluster: MockCluster) -> MockCluster:
    """A mock cluster where the three default topics already exist."""
    mock_cluster.precreate(*TOPICS)
    return mock_cluster


@pytest.fixture
async def heartbeat() -> AsyncIterator[Heartbeat]:
    beat = Heartbeat()
    beat.start()
    yield beat
    await beat.stop()
