"""The detection panel: an attack shown detected in time, and the key that switches sources.

The engine runs on a fake clock; the dashboard's own refresh timer runs on the
event loop, so "in time" is measured in event-loop time, from the moment the
attack's last record was produced to the panel update that shows it detected.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from textual.message import Message

from defi_tui.clock import FakeClock
from defi_tui.config import Settings
from defi_tui.detection import Verdict
from defi_tui.engine import AttackFinished, AttackStep, EngineEvent
from defi_tui.sinks.local import LocalSink
from defi_tui.tui.app import make_app
from defi_tui.tui.widgets import DetectionPanel, DetectionView
from support.kafka_mock import MockCluster

from .conftest import Driver

SIZE = (120, 36)


async def test_injected_attack_shown_detected_within_a_second_of_its_last_record(
    settings: Settings, clock: FakeClock
) -> None:
    app = make_app(settings, LocalSink(settings), clock)
    loop = asyncio.get_running_loop()
    updates: list[tuple[float, DetectionView]] = []
    updated = asyncio.Event()
    last_record_at: list[float] = []

    def hook(message: Message) -> None:
        if isinstance(message, DetectionPanel.Updated):
            updates.append((loop.time(), message.view))
            updated.set()

    def on_engine(event: EngineEvent) -> None:
        if isinstance(event, AttackFinished):
            last_record_at.append(loop.time())

    app.engine.add_listener(on_engine)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        drive = Driver(app, pilot, clock)
        await drive.started()
        await pilot.press("a")
        await drive.wait_for(AttackStep)
        # Steps come one second apart on the fake clock: four more to the last.
        await app.engine.wait_idle()
        await clock.advance(4)
        await app.engine.wait_idle()
        assert last_record_at, "the attack did not finish"

        def shown() -> float | None:
            for at, view in updates:
                if view.attacks and view.attacks[0].verdict is Verdict.DETECTED:
                    return at
            return None

        async with asyncio.timeout(5):
            while shown() is None:
                updated.clear()
                await updated.wait()
    at = shown()
    assert at is not None
    assert at - last_record_at[0] <= 1.0
    view = next(v for t, v in updates if t == at)
    attack = view.attacks[0]
    assert attack.detector == "price_anomaly" and attack.wall_latency_ms == 2_000
    assert view.summary.detected == view.summary.injected == 1


@pytest.fixture
def cluster() -> Iterator[MockCluster]:
    mock = MockCluster()
    mock.produce("alerts", b"{}")
    yield mock


async def test_d_switches_the_scored_source_and_the_footer_says_which(
    cluster: MockCluster, clock: FakeClock
) -> None:
    settings = Settings(
        seed=42,
        seed_given=True,
        sink="local",
        flush_timeout=2.0,
        kafka_bootstrap_servers=cluster.bootstrap,
        detect="kafka:alerts",
    )
    app = make_app(settings, LocalSink(settings), clock)
    async with app.run_test(size=SIZE) as pilot:
        drive = Driver(app, pilot, clock)
        await drive.started()
        panel = app.query_one(DetectionPanel)

        def footer_d() -> str:
            shown = app.active_bindings
            return shown["d"].binding.description

        # The source --detect names is scored first.
        assert panel.border_title == "Detection · kafka:alerts"
        assert footer_d() == "Scored: kafka"
        assert panel.view is not None and panel.view.source == "kafka:alerts"
        assert panel.view.status is not None
        await pilot.press("d")
        await pilot.pause()
        assert panel.border_title == "Detection · builtin"
        assert footer_d() == "Scored: builtin"
        assert panel.view.source == "builtin" and panel.view.status is None
        await drive.attack()
        await drive.advance(5)
        assert panel.view.summary.detected == 1
        await pilot.press("d")
        await pilot.pause()
        assert footer_d() == "Scored: kafka"
        # Nothing came on the topic yet: the attack waits for the user's pipeline.
        assert panel.view.summary.injected == 1 and panel.view.summary.detected == 0
        assert panel.view.attacks[0].verdict is Verdict.PENDING
