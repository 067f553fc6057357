"""Ground truth: every attack's attacker, block, records and delivery times, kept bounded."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Sequence
from pathlib import Path

import orjson

from defi_tui.clock import FakeClock
from defi_tui.config import Settings
from defi_tui.engine import Engine
from defi_tui.events import MEMPOOL, PRICES, TRANSACTIONS, Record, to_dict, topic_of
from defi_tui.ground_truth import ATTACKS_TOPIC, AttackLedger
from defi_tui.simulator import Simulator
from defi_tui.sinks.local import LocalSink
from support.fakes import FakeSink


class CountingSink(FakeSink):
    """Reports deliveries as counts only, the way Kafka's delivery reports are counted."""

    def release(self) -> None:
        batch, self._pending = self._pending, []
        for r in batch:
            self.delivered_records.append(r)
            self.tracker.delivered(topic_of(r), 1)


async def _run_until_attack_done(engine: Engine, clock: FakeClock) -> None:
    task = asyncio.create_task(engine.run())
    await engine.wait_idle()
    engine.inject_attack()
    await engine.wait_idle()
    await clock.advance(4)
    engine.stop()
    await task


async def test_attack_truth_has_its_records_and_delivery_times(clock: FakeClock) -> None:
    settings = Settings(seed=3, seed_given=True, flush_timeout=1)
    sink = FakeSink(settings)
    engine = Engine(settings, sink, clock)
    await _run_until_attack_done(engine, clock)

    (truth,) = engine.ledger.recent()
    assert all(s.record in sink.published for s in truth.steps)
    assert [s.step for s in truth.steps] == [1, 2, 3, 4, 5]
    assert [s.topic for s in truth.steps] == [
        TRANSACTIONS,
        TRANSACTIONS,
        PRICES,
        MEMPOOL,
        TRANSACTIONS,
    ]
    assert truth.tx_hashes == tuple(
        s.record.tx_hash
        for s in truth.steps  # type: ignore[union-attr]
        if s.topic == TRANSACTIONS
    )
    assert truth.steps[0].record.to_address == truth.attacker  # type: ignore[union-attr]
    # Steps are one second apart on the fake clock; the fake sink delivers on publish.
    start = truth.steps[0].produced_ms
    assert [s.produced_ms - start for s in truth.steps] == [0, 1000, 2000, 3000, 4000]
    assert [s.delivered_ms for s in truth.steps] == [s.produced_ms for s in truth.steps]
    assert truth.complete and truth.finished
    assert engine.ledger.by_value(truth.attacker.upper()) is truth
    assert engine.ledger.by_value(truth.tx_hashes[2]) is truth
    assert engine.ledger.by_block(truth.block_number) is truth


async def test_counting_sink_gives_delivery_when_its_count_passes_the_record(
    clock: FakeClock,
) -> None:
    settings = Settings(seed=3, seed_given=True, flush_timeout=1)
    sink = CountingSink(settings, holding=True)
    engine = Engine(settings, sink, clock)
    task = asyncio.create_task(engine.run())
    await engine.wait_idle()
    engine.inject_attack()
    await engine.wait_idle()
    await clock.advance(4)
    (truth,) = engine.ledger.recent()
    assert truth.finished and not truth.complete
    assert all(s.delivered_ms is None for s in truth.steps)
    await clock.advance(1)
    sink.release()
    assert truth.complete
    assert all(s.delivered_ms == clock.wall_ms() for s in truth.steps)
    engine.stop()
    await task


def test_ledger_keeps_the_last_attacks_and_counts_all() -> None:
    sim = Simulator(5)
    ledger = AttackLedger(lambda: 0, keep=3)
    attacks = [sim.whole_attack(1_000 + i) for i in range(5)]
    for attack in attacks:
        for record in attack.records:
            ledger.record_step(attack, record)
    assert ledger.started == ledger.finished == 5
    assert [t.id for t in ledger.recent()] == [3, 4, 5]
    assert ledger.by_value(attacks[0].attacker) is None
    assert ledger.by_block(attacks[0].block_number) is None
    # Evicted before delivery: reported with what was known, never lost silently.
    assert ledger.completed == 2
    ledger.close()
    assert ledger.completed == 5


def test_evicted_attacks_are_freed_without_the_cyclic_collector() -> None:
    # Load mode runs the collector rarely: an attack that formed a reference
    # cycle would stay in memory long after it left the ledger.
    sim = Simulator(5)
    ledger = AttackLedger(lambda: 0, keep=3)
    attacks = [sim.whole_attack(1_000 + i) for i in range(50)]
    gc.collect()
    gc.disable()
    try:
        for attack in attacks:
            for record in attack.records:
                ledger.record_step(attack, record)
            ledger.published(dict.fromkeys((TRANSACTIONS, PRICES, MEMPOOL), 10**9))
        ledger.delivered(TRANSACTIONS, 10**9, None)
        del attacks
        assert gc.collect() == 0
    finally:
        gc.enable()
    assert len(ledger) == 3


def _lines(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


async def test_recording_holds_each_attack_after_its_records(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    settings = Settings(
        seed=9, seed_given=True, count=3_000, rate=0.0, attack_interval=50.0, record=path
    )
    engine = Engine(settings, LocalSink(settings))
    summary = await engine.run()
    lines = _lines(path)
    truths = [line["record"] for line in lines if line["topic"] == ATTACKS_TOPIC]
    records = [line for line in lines if line["topic"] != ATTACKS_TOPIC]
    assert len(records) == 3_000
    assert len(truths) == summary.attacks > 0
    for truth in truths:
        assert isinstance(truth, dict)
        at = lines.index({"topic": ATTACKS_TOPIC, "record": truth})
        steps = truth["steps"]
        assert [s["step"] for s in steps] == [1, 2, 3, 4, 5]
        for s in steps:
            # The step's record is in the file, before the ground truth that names it.
            assert lines.index({"topic": s["topic"], "record": s["record"]}) < at
            assert s["delivered_ms"] is not None
        assert truth["tx_hashes"] == [
            s["record"]["tx_hash"] for s in steps if s["topic"] == TRANSACTIONS
        ]


async def test_ground_truth_of_an_unfinished_recording_is_written_at_stop(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "run.jsonl"
    settings = Settings(seed=4, seed_given=True, record=path, flush_timeout=1)
    engine = Engine(settings, LocalSink(settings), clock)
    await _run_until_attack_done(engine, clock)
    lines = _lines(path)
    assert lines[-1]["topic"] == ATTACKS_TOPIC
    (truth,) = engine.ledger.recent()
    assert lines[-1]["record"] == orjson.loads(orjson.dumps(truth.to_record()))
    recorded: Sequence[Record] = [s.record for s in truth.steps]
    assert [to_dict(r) for r in recorded] == [s["record"] for s in lines[-1]["record"]["steps"]]
