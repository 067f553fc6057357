"""Fixtures for the Kafka sink tests: a mock cluster per test, a heartbeat, a clean environment."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from kafka_support import Heartbeat, MockCluster

from defi_tui.events import TOPICS


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


@pytest.fixture(autouse=True)
def no_ambient_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests see no KAFKA_* / DELTASTREAM_* variables and no .env of the machine."""
    for name in list(os.environ):
        if name.startswith(("KAFKA_", "DELTASTREAM_", "SINK")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
async def heartbeat() -> AsyncIterator[Heartbeat]:
    beat = Heartbeat()
    beat.start()
    yield beat
    await beat.stop()
