"""Fixtures for the dashboard tests: fixed seed, a fake clock, a driver for the engine."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from defi_tui.clock import FakeClock
from defi_tui.config import Settings
from defi_tui.engine import AttackFinished, AttackStep, EngineEvent, RunState
from defi_tui.tui.app import DefiApp

SEED = 42


@pytest.fixture(autouse=True)
def _deterministic_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """UTC clock labels, no credentials or .env from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith(("DELTASTREAM_", "KAFKA_")) or name in ("SINK", "SEED"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.chdir(tmp_path)
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def settings() -> Settings:
    """Default intervals, a fixed seed, a short flush timeout."""
    return Settings(seed=SEED, seed_given=True, sink="local", flush_timeout=2.0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class Driver:
    """Steps an app's engine on a fake clock and shows the settled state.

    Every wait is on an event: the engine's own idle signal, or an engine
    event seen by a listener; time moves only through the fake clock.
    """

    def __init__(self, app: DefiApp, pilot: Pilot[object], clock: FakeClock) -> None:
        self.app = app
        self.pilot = pilot
        self.clock = clock
        self.events: list[EngineEvent] = []
        self._arrived = asyncio.Event()
        app.engine.add_listener(self._on_event)

    def _on_event(self, event: EngineEvent) -> None:
        self.events.append(event)
        self._arrived.set()

    async def wait_for(self, predicate: type | object, timeout: float = 5.0) -> EngineEvent:
        """The first event (seen so far or next) that ``predicate`` accepts."""

        def match(e: EngineEvent) -> bool:
            if isinstance(predicate, type):
                return isinstance(e, predicate)
            return bool(predicate(e))  # type: ignore[operator]

        async with asyncio.timeout(timeout):
            while True:
                for e in self.events:
                    if match(e):
                        return e
                self._arrived.clear()
                await self._arrived.wait()

    async def until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``condition()`` holds, checking it after each engine event."""
        async with asyncio.timeout(timeout):
            while not condition():
                self._arrived.clear()
                await self._arrived.wait()

    async def started(self) -> None:
        """Wait until the engine has opened the sink and is asleep until its next tick."""
        await self.until(lambda: self.app.engine.state is not RunState.STARTING)
        await self.app.engine.wait_idle()
        await self.show()

    async def show(self) -> None:
        """Move what the engine produced into the panels and let them render."""
        self.app.refresh_panels()
        await self.pilot.pause()

    async def advance(self, seconds: float) -> None:
        """Move time on; every tick and attack step due meanwhile happens, in order."""
        await self.clock.advance(seconds)
        await self.app.engine.wait_idle()
        await self.show()

    async def attack(self) -> None:
        """Press ``a`` and wait until the engine has produced the attack's first step."""
        seen = len([e for e in self.events if isinstance(e, AttackStep)])
        await self.pilot.press("a")
        await self.wait_for(
            lambda e: isinstance(e, AttackStep) and e.step == 1 and self._steps() > seen
        )
        await self.app.engine.wait_idle()
        await self.show()

    def _steps(self) -> int:
        return len([e for e in self.events if isinstance(e, AttackStep)])

    def finished_attacks(self) -> list[AttackFinished]:
        return [e for e in self.events if isinstance(e, AttackFinished)]
