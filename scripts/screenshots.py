"""Render the README's dashboard screenshots through Textual's own save_screenshot.

    uv run python scripts/screenshots.py [--out screenshots]

Each scene runs the real dashboard headless on a fixed seed and a fake clock
(so the pictures are the same every time), steps the engine, and saves an SVG:
normal traffic, an attack in progress, paused, a sink whose target is down,
and the score of a user's detection pipeline that misses an attack and flags
an ordinary transfer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from textual.pilot import Pilot

from defi_tui.clock import FakeClock
from defi_tui.config import Settings
from defi_tui.detection import Detection, DetectionSource, SourceContext, SourceState
from defi_tui.detection.builtin import BuiltinSource
from defi_tui.engine import RunState
from defi_tui.events import TOPICS, Record, Transaction, topic_of
from defi_tui.sinks.base import (
    ConnectionState,
    EntityState,
    EntityStatus,
    Sink,
    SinkStatus,
)
from defi_tui.sinks.local import LocalSink
from defi_tui.tui.app import DefiApp, make_app

SEED = 2024
SIZE = (120, 36)


class TargetDownSink(Sink):
    """A Kafka-like sink whose broker stopped answering after setup.

    Records wait in the bounded buffer (``buffer_size``); what overflows is
    counted as dropped, and the status says what the last attempt got back.
    """

    kind = "kafka"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._buffer: deque[Record] = deque()
        self._entities = tuple(EntityStatus(t, EntityState.EXISTS) for t in TOPICS)

    async def open(self) -> list[EntityStatus]:
        return list(self._entities)

    async def publish(self, records: Sequence[Record]) -> None:
        for r in records:
            if len(self._buffer) >= self.settings.buffer_size:
                self.tracker.dropped(topic_of(r), 1)
            else:
                self._buffer.append(r)

    async def flush(self, timeout: float) -> int:
        return len(self._buffer)

    async def close(self) -> None:
        for r in self._buffer:
            self.tracker.lost_on_stop(topic_of(r), 1)
        self._buffer.clear()

    def status(self) -> SinkStatus:
        return SinkStatus(
            self.kind,
            "localhost:9092",
            ConnectionState.RETRYING,
            0.0,
            "broker localhost:9092 connection refused; retrying with backoff",
            self._entities,
            len(self._buffer),
        )


class ScriptedPipeline(DetectionSource):
    """Stands in for a user's detection topic: alerts are handed over by the scene."""

    kind = "kafka"

    async def start(self, ctx: SourceContext) -> None:
        self.ctx = ctx
        self._status.state = SourceState.READING

    async def stop(self) -> None:
        self._status.state = SourceState.STOPPED

    def alert(self, fields: dict[str, object]) -> None:
        self._status.received += 1
        self.ctx.emit([Detection(self.label, "loan_repaid", fields, self.ctx.wall_ms())])


Scene = Callable[[DefiApp, Pilot[object], FakeClock], Awaitable[None]]


async def _show(app: DefiApp, pilot: Pilot[object]) -> None:
    app.refresh_panels()
    await pilot.pause()


async def _advance(app: DefiApp, pilot: Pilot[object], clock: FakeClock, seconds: float) -> None:
    await clock.advance(seconds)
    await app.engine.wait_idle()
    await _show(app, pilot)


async def _attack(app: DefiApp, pilot: Pilot[object]) -> None:
    started = app.engine.stats().attacks
    await pilot.press("a")
    while app.engine.stats().attacks == started:
        await pilot.pause()
    await app.engine.wait_idle()


async def normal(app: DefiApp, pilot: Pilot[object], clock: FakeClock) -> None:
    await _advance(app, pilot, clock, 420)


async def attack(app: DefiApp, pilot: Pilot[object], clock: FakeClock) -> None:
    await _advance(app, pilot, clock, 300)
    await _attack(app, pilot)
    await _advance(app, pilot, clock, 3)


async def paused(app: DefiApp, pilot: Pilot[object], clock: FakeClock) -> None:
    await _advance(app, pilot, clock, 200)
    await pilot.press("p")
    await _advance(app, pilot, clock, 45)


async def sink_error(app: DefiApp, pilot: Pilot[object], clock: FakeClock) -> None:
    await _advance(app, pilot, clock, 230)


async def scoring(app: DefiApp, pilot: Pilot[object], clock: FakeClock) -> None:
    pipeline = app.judge.sources[-1]
    assert isinstance(pipeline, ScriptedPipeline)
    reported: set[int] = set()
    for _ in range(3):
        await _advance(app, pilot, clock, 40)
        await _attack(app, pilot)
        await _advance(app, pilot, clock, 5 + len(reported))
        # The pipeline reports each loan with its repayment, but never sees attack #2.
        for attack in app.engine.ledger.recent():
            if attack.finished and attack.id not in reported and attack.id != 2:
                reported.add(attack.id)
                pipeline.alert({"attacker": attack.attacker, "repay_hash": attack.tx_hashes[2]})
    recent = app.sink.recent["onchain_transactions"]  # type: ignore[attr-defined]
    ordinary = next(r for r in recent if isinstance(r, Transaction) and r.tx_amount < 1_000_000)
    pipeline.alert({"tx_hash": ordinary.tx_hash, "tx_amount": ordinary.tx_amount})
    await _advance(app, pilot, clock, 40)


SCENES: dict[str, tuple[Scene, Callable[[Settings], Sink]]] = {
    "dashboard-normal": (normal, LocalSink),
    "dashboard-attack": (attack, LocalSink),
    "dashboard-paused": (paused, LocalSink),
    "dashboard-sink-error": (sink_error, TargetDownSink),
    "dashboard-scoring": (scoring, LocalSink),
}


async def render(name: str, out: Path) -> Path:
    scene, sink_class = SCENES[name]
    settings = Settings(seed=SEED, seed_given=True, sink="local", buffer_size=100)
    clock = FakeClock()
    sources = None
    if scene is scoring:
        sources = [BuiltinSource("", settings), ScriptedPipeline("fraud_alerts", settings)]
    app = make_app(settings, sink_class(settings), clock, sources)
    async with app.run_test(size=SIZE) as pilot:
        while app.engine.state is RunState.STARTING:
            await pilot.pause()
        await app.engine.wait_idle()
        await scene(app, pilot, clock)
        await pilot.pause()
        path = app.save_screenshot(f"{name}.svg", str(out))
        app.exit()
    return Path(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    args = parser.parse_args()
    # Clock labels in UTC so the pictures do not depend on where they are made.
    os.environ["TZ"] = "UTC"
    time.tzset()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in SCENES:
        path = asyncio.run(render(name, args.out))
        print(path)


if __name__ == "__main__":
    main()
