"""The engine's schedule, controls and counters, driven by a fake clock.

No test sleeps: the fake clock moves time and returns once the engine is
waiting for its next moment again.
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from defi_tui.clock import FakeClock
from defi_tui.config import Settings
from defi_tui.engine import (
    LOAD_GC_THRESHOLD,
    AttackFinished,
    AttackStarted,
    AttackStep,
    Engine,
    EngineEvent,
    RecordsProduced,
    RunState,
    SinkReady,
    StateChanged,
    Stopped,
)
from defi_tui.events import DexPrice, MempoolSample, Transaction, to_dict, topic_of
from defi_tui.sinks.local import LocalSink
from support.fakes import FakeSink


class Run:
    """An engine running on a fake clock, with every event it emitted."""

    def __init__(self, engine: Engine, clock: FakeClock, sink: FakeSink) -> None:
        self.engine, self.clock, self.sink = engine, clock, sink
        self.events: list[EngineEvent] = []
        engine.add_listener(self.events.append)
        self.task: asyncio.Task[object] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.engine.run())
        await self.engine.wait_idle()

    async def advance(self, seconds: float) -> None:
        await self.clock.advance(seconds)

    async def finish(self) -> None:
        """Stop, moving fake time on so that an attack in flight can finish."""
        self.engine.stop()
        assert self.task is not None
        for _ in range(100):
            if self.task.done():
                break
            await self.clock.advance(1)
        await self.task

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


def make(clock: FakeClock, **overrides: object) -> Run:
    settings = Settings(seed=11, seed_given=True, **overrides)  # type: ignore[arg-type]
    sink = FakeSink(settings)
    return Run(Engine(settings, sink, clock=clock), clock, sink)


@pytest.fixture
async def run(clock: FakeClock) -> AsyncIterator[Run]:
    r = make(clock)
    await r.start()
    yield r
    if r.task is not None and not r.task.done():
        await r.finish()


async def test_first_tick_at_start_then_every_interval(run: Run) -> None:
    assert isinstance(run.events[0], SinkReady)
    assert len(run.sink.published) == 3
    await run.advance(5)
    assert len(run.sink.published) == 6
    await run.advance(4.9)
    assert len(run.sink.published) == 6
    await run.advance(0.1)
    assert len(run.sink.published) == 9
    assert run.engine.state is RunState.RUNNING


async def test_first_scheduled_attack_one_interval_after_start(run: Run) -> None:
    await run.advance(119.9)
    assert not run.of(AttackStarted)
    await run.advance(0.1)
    assert len(run.of(AttackStarted)) == 1
    assert len(run.of(AttackStep)) == 1  # steps come a second apart
    await run.advance(4)
    steps = run.of(AttackStep)
    assert [s.step for s in steps] == [1, 2, 3, 4, 5]
    assert len(run.of(AttackFinished)) == 1
    # Normal traffic kept flowing while the attack ran (ticks at 120 and 125).
    await run.advance(1)
    attack = steps[0].attack
    normal = [r for r in run.sink.published if r not in attack.records]
    assert len(normal) == 3 * 26
    # The attack's records reached the sink in step order, 1 s apart.
    stamps = [s.record.event_timestamp for s in steps]
    assert [b - a for a, b in zip(stamps, stamps[1:], strict=False)] == [1000] * 4


async def test_pause_stops_traffic_and_freezes_the_schedule(run: Run) -> None:
    await run.advance(100)
    run.engine.pause()
    assert run.engine.paused and run.engine.state is RunState.PAUSED
    before = len(run.sink.published)
    await run.advance(300)
    assert len(run.sink.published) == before
    assert not run.of(AttackStarted)
    run.engine.resume()
    await run.engine.wait_idle()
    assert run.engine.state is RunState.RUNNING
    # The schedule resumes where it stopped: 20 s of the attack interval were left.
    await run.advance(19.9)
    assert not run.of(AttackStarted)
    await run.advance(0.1)
    assert len(run.of(AttackStarted)) == 1
    states = [e.state for e in run.of(StateChanged)]
    assert states == [RunState.RUNNING, RunState.PAUSED, RunState.RUNNING]


async def test_injected_attack_runs_while_paused(run: Run) -> None:
    run.engine.pause()
    run.engine.inject_attack()
    await run.engine.wait_idle()
    assert len(run.of(AttackStep)) == 1
    await run.advance(4)
    assert [s.step for s in run.of(AttackStep)] == [1, 2, 3, 4, 5]
    attack_records = run.of(AttackStep)[0].attack.records
    assert run.sink.published[-5:] == attack_records
    assert len(run.sink.published) == 3 + 5  # only the first tick and the attack


async def test_duration_lets_a_started_attack_finish(clock: FakeClock) -> None:
    r = make(clock, duration=10, attack_interval=9)
    await r.start()
    await r.advance(10)
    assert r.task is not None and not r.task.done()
    await r.advance(3)
    await asyncio.wait_for(r.task, 5)
    stopped = r.of(Stopped)[0]
    assert stopped.reason == "duration"
    assert [s.step for s in r.of(AttackStep)] == [1, 2, 3, 4, 5]
    assert r.sink.flushed and r.sink.closed
    assert stopped.summary.total.produced == len(r.sink.published)
    assert stopped.summary.total.delivered == len(r.sink.published)
    assert r.engine.state is RunState.STOPPED


async def test_stop_mid_attack_finishes_it_first(run: Run) -> None:
    run.engine.inject_attack()
    await run.engine.wait_idle()
    run.engine.stop()
    await run.engine.wait_idle()
    assert run.task is not None and not run.task.done()
    await run.advance(4)
    await asyncio.wait_for(run.task, 5)
    assert [s.step for s in run.of(AttackStep)] == [1, 2, 3, 4, 5]
    assert run.of(Stopped)[0].reason == "stop"


async def test_same_seed_same_schedule_same_records() -> None:
    async def once() -> list:
        clock = FakeClock()
        r = make(clock, attack_interval=30)
        await r.start()
        await r.advance(40)
        r.engine.inject_attack()
        await r.advance(100)
        await r.finish()
        return r.sink.published

    first, second = await once(), await once()
    assert first == second and len(first) > 100


async def test_pending_records_are_counted_not_lost(clock: FakeClock) -> None:
    r = make(clock)
    r.sink.holding = True
    await r.start()
    await r.advance(10)
    stats = r.engine.stats()
    assert stats.total.produced == 9 and stats.total.delivered == 0 and stats.total.pending == 9
    await r.finish()
    final = r.of(Stopped)[0].summary
    assert final.total.lost_on_stop == 9 and final.total.pending == 0


# --- load mode


async def load(count: int, seed: int = 5, **overrides: object) -> tuple[Run, list]:
    clock = FakeClock()
    r = make(clock, count=count, rate=0.0, **overrides)
    r.engine.simulator.__init__(seed)  # type: ignore[misc]
    r.task = asyncio.create_task(r.engine.run())
    await asyncio.wait_for(r.task, 30)
    return r, r.sink.published


@pytest.mark.parametrize("count", [1, 2, 3, 76, 77, 78, 79, 80, 81, 1000, 10_007])
async def test_count_is_exact_and_no_attack_is_cut(count: int) -> None:
    r, records = await load(count)
    assert len(records) == count
    assert r.of(Stopped)[0].reason == "count"
    for started in r.of(AttackStarted):
        assert started.attack.done
        assert all(rec in records for rec in started.attack.records)


async def test_load_mode_keeps_the_attack_share() -> None:
    # Default intervals: 24 ticks (72 records) then one attack (5 records).
    r, records = await load(77 * 40)
    assert len(r.of(AttackStarted)) == 40
    kinds = [type(x) for x in records[:77]]
    assert kinds[:3] == [Transaction, DexPrice, MempoolSample]
    assert records[72:77] == r.of(AttackStarted)[0].attack.records


async def test_load_mode_is_deterministic_at_any_batch_size() -> None:
    _, a = await load(20_000)
    _, b = await load(20_000)
    strip = [(type(x), x[:1]) for x in a]
    assert strip == [(type(x), x[:1]) for x in b]
    assert [to_dict(x) for x in a] == [to_dict(x) for x in b]


async def test_load_mode_collects_young_objects_rarely_and_restores_the_collector() -> None:
    before = gc.get_threshold()
    clock = FakeClock()
    r = make(clock, count=10_000, rate=0.0)
    during: list[tuple[int, int, int]] = []

    def note(event: EngineEvent) -> None:
        if isinstance(event, RecordsProduced):
            during.append(gc.get_threshold())

    r.engine.add_listener(note)
    await asyncio.wait_for(r.engine.run(), 30)
    assert during and all(t == (LOAD_GC_THRESHOLD, *before[1:]) for t in during)
    assert gc.get_threshold() == before


async def test_overlapping_load_runs_put_the_collector_back_once_both_end() -> None:
    before = gc.get_threshold()
    runs = [make(FakeClock(), rate=0.0), make(FakeClock(), rate=0.0)]  # no count: until stopped
    tasks = []
    for r in runs:
        r.engine.pause()
        tasks.append(asyncio.create_task(r.engine.run()))
        await r.engine.wait_idle()  # paused inside its load loop
    # The first to start ends first: the second is still going, its setting stays.
    runs[0].engine.stop()
    await asyncio.wait_for(tasks[0], 30)
    assert gc.get_threshold() == (LOAD_GC_THRESHOLD, *before[1:])
    runs[1].engine.stop()
    await asyncio.wait_for(tasks[1], 30)
    assert gc.get_threshold() == before


async def test_rate_paces_by_the_clock(clock: FakeClock) -> None:
    r = make(clock, rate=1000.0)
    await r.start()
    await r.advance(1)
    produced = len(r.sink.published)
    assert 990 <= produced <= 1010
    await r.advance(2)
    assert 2990 <= len(r.sink.published) <= 3010
    r.engine.pause()
    await r.advance(5)
    paused_at = len(r.sink.published)
    await r.advance(5)
    assert len(r.sink.published) == paused_at
    r.engine.resume()
    await r.engine.wait_idle()
    await r.advance(1)
    assert 3990 <= len(r.sink.published) <= 4010
    await r.finish()


async def test_records_produced_events_cover_every_record(clock: FakeClock) -> None:
    r, records = await load(5000)
    seen = [x for e in r.of(RecordsProduced) for x in e.records]
    assert seen == records


async def test_recording_equals_what_the_engine_produced(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    settings = Settings(seed=3, seed_given=True, count=3000, rate=0.0, record=path)
    engine = Engine(settings, LocalSink(settings), clock=FakeClock())
    produced: list = []
    engine.add_listener(
        lambda e: produced.extend(e.records) if isinstance(e, RecordsProduced) else None
    )
    summary = await engine.run()
    # The attacks' ground-truth lines aside (tests/unit/test_ground_truth.py).
    lines = [line for line in path.read_text().splitlines() if '"topic":"_attacks"' not in line]
    assert len(lines) == len(produced) == 3000 == summary.total.delivered
    for line, record in zip(lines, produced, strict=True):
        assert json.loads(line) == {"topic": topic_of(record), "record": to_dict(record)}
