"""Fixtures for the DeltaStream sink tests.

Every test here drives the real deltastream-sdk over real HTTP to the loopback
DeltaStream API (``support.deltastream_server``), the stand-in for a hosted
service that cannot run here.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from defi_tui.config import Secret, Settings
from defi_tui.sinks.deltastream import DeltaStreamSink
from support.deltastream_kit import TOKEN, SettingsFactory, SinkOpener
from support.deltastream_server import LoopbackDeltaStream


@pytest.fixture(autouse=True)
def no_ambient_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests see only the settings they build: no credentials or .env from the machine."""
    for name in list(os.environ):
        if name.startswith(("DELTASTREAM_", "KAFKA_")) or name in ("SINK", "STORE_NAME"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def server() -> Iterator[LoopbackDeltaStream]:
    srv = LoopbackDeltaStream(token=TOKEN, stores=("kafka_store", "other_store")).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def make_settings(server: LoopbackDeltaStream) -> SettingsFactory:
    """Settings for the loopback server; keyword arguments override fields, ``extra`` merges."""

    def make(**overrides: Any) -> Settings:
        extra = {"deltastream_retry_max": 0.2, **overrides.pop("extra", {})}
        fields: dict[str, Any] = {
            "sink": "deltastream",
            "deltastream_token": Secret(TOKEN),
            "deltastream_org_id": server.organization_id,
            "deltastream_server_url": server.url,
            "deltastream_database_name": "defi_db",
            "flush_timeout": 5.0,
        }
        fields.update(overrides)
        return Settings(**fields, extra=extra)

    return make


@pytest.fixture
async def open_sink(make_settings: SettingsFactory) -> AsyncIterator[SinkOpener]:
    """Opens sinks (settings as for ``make_settings``) and closes them after the test."""
    sinks: list[DeltaStreamSink] = []

    async def opener(**overrides: Any) -> DeltaStreamSink:
        sink = DeltaStreamSink(make_settings(**overrides))
        sinks.append(sink)
        await sink.open()
        return sink

    yield opener
    for sink in sinks:
        await sink.close()
