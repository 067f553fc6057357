"""Fixtures shared by every test: a clean environment, fake clock and sink."""

from __future__ import annotations

import os

import pytest

from defi_tui.clock import FakeClock
from support.fakes import FakeSink


@pytest.fixture(autouse=True)
def no_discovered_config(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """Tests see no DeltaStream/Kafka settings and no .env from the developer's machine."""
    for name in list(os.environ):
        if name.startswith(("DELTASTREAM_", "KAFKA_")) or name in {
            "SINK",
            "SEED",
            "DURATION",
            "NORMAL_TRAFFIC_INTERVAL",
            "ATTACK_INTERVAL",
            "ATTACK_STEP_DELAY",
            "STORE_NAME",
            "BUFFER_SIZE",
            "FLUSH_TIMEOUT",
            "RECORD_FILE",
            "RATE",
            "COUNT",
            "OUTPUT_FORMAT",
            "DETECTION_SOURCE",
            "DETECTION_TIMEOUT",
        }:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_sink() -> FakeSink:
    return FakeSink()
