"""Scoring: per attack and overall, and the builtin source judged end to end on the engine."""

from __future__ import annotations

import asyncio

import pytest

from defi_tui.clock import FakeClock
from defi_tui.config import Settings
from defi_tui.detection import Detection, Judge, ScoreEvent, Verdict
from defi_tui.detection.builtin import FLASH_LOAN, PRICE_ANOMALY, BuiltinSource
from defi_tui.detection.matching import match
from defi_tui.detection.scoring import Scoreboard, percentile
from defi_tui.engine import Engine
from defi_tui.ground_truth import AttackLedger
from defi_tui.simulator import Simulator
from defi_tui.sinks.local import LocalSink

T0 = 1_767_225_600_000


def test_percentile_interpolates() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7], 0.95) == 7
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile(list(range(101)), 0.95) == 95


def test_board_counts_detected_missed_false_positives_and_duplicates() -> None:
    sim = Simulator(2)
    now = [T0]
    ledger = AttackLedger(lambda: now[0])
    board = Scoreboard("kafka:alerts")
    attacks = []
    for i in range(3):
        attack = sim.whole_attack(T0 + i * 1000)
        for record in attack.records:
            truth = ledger.record_step(attack, record)
        board.attack_started(truth)
        board.attack_finished(truth, T0 + 30_000)
        attacks.append(attack)

    def det(fields: dict[str, object], received: int, event: int | None) -> ScoreEvent:
        d = Detection("kafka:alerts", "loans", dict(fields), received, event)
        return board.detection(d, match(d.fields, ledger))

    first = det({"attacker": attacks[0].attacker}, T0 + 1_500, T0 + 900)
    assert first.kind == "detected" and first.score is not None
    assert first.score.wall_latency_ms == 1_500 and first.score.event_latency_ms == 900
    assert det({"attacker": attacks[0].attacker}, T0 + 2_000, None).kind == "duplicate"
    assert det({"tx_hash": "0x" + "9" * 64}, T0 + 2_000, None).kind == "false_positive"
    assert det({"repay_hash": attacks[1].tx_hashes[2]}, T0 + 3_500, None).kind == "detected"
    assert board.expire(T0 + 29_999) == []
    (missed,) = board.expire(T0 + 30_000)
    assert missed.kind == "missed" and missed.score is not None
    assert missed.score.attack_id == attacks[2].id
    s = board.summary()
    assert (s.injected, s.detected, s.missed, s.pending) == (3, 2, 1, 0)
    assert (s.false_positives, s.duplicates, s.detections) == (1, 1, 4)
    assert s.wall_median_ms == 2_500.0 and s.event_median_ms == 900
    assert s.by_detector == {"loans": 2}
    # A detection after the deadline still counts, marked late.
    late = det({"attacker": attacks[2].attacker}, T0 + 40_000, None)
    assert late.kind == "detected" and late.score is not None and late.score.late
    assert (board.summary().detected, board.summary().missed) == (3, 0)


def test_board_memory_is_bounded() -> None:
    sim = Simulator(4)
    ledger = AttackLedger(lambda: 0, keep=10)
    board = Scoreboard("builtin", keep=5, latency_window=3)
    for _ in range(20):
        attack = sim.whole_attack(T0)
        for record in attack.records:
            truth = ledger.record_step(attack, record)
        board.attack_started(truth)
        board.detection(
            Detection("builtin", "x", {}, 10, None), match({"attacker": attack.attacker}, ledger)
        )
    assert len(board.recent(100)) == 5
    assert len(board._wall) == 3
    assert board.summary().detected == 20 and board.summary().injected == 20


# --- end to end: the engine, the local sink and the builtin source on a fake clock


async def _judged_run(clock: FakeClock, attacks: int) -> tuple[Engine, Judge, list[ScoreEvent]]:
    settings = Settings(seed=8, seed_given=True, flush_timeout=1)
    engine = Engine(settings, LocalSink(settings), clock)
    judge = Judge(engine, [BuiltinSource("", settings)])
    events: list[ScoreEvent] = []
    judge.add_listener(events.append)
    await judge.start()
    task = asyncio.create_task(engine.run())
    await engine.wait_idle()
    for _ in range(attacks):
        await clock.advance(7)
        engine.inject_attack()
        await engine.wait_idle()
        await clock.advance(5)
    engine.stop()
    await task
    judge.finish()
    await judge.stop()
    return engine, judge, events


async def test_builtin_detects_every_injected_attack_with_its_latency(clock: FakeClock) -> None:
    engine, judge, events = await _judged_run(clock, attacks=4)
    board = judge.boards["builtin"]
    s = board.summary()
    assert (s.injected, s.detected, s.missed, s.false_positives) == (4, 4, 0, 0)
    # The price drop is the first alert: step 3, two seconds after the loan.
    for score in board.recent(10):
        assert score.verdict is Verdict.DETECTED
        assert score.detector == PRICE_ANOMALY
        assert score.wall_latency_ms == 2_000 and score.event_latency_ms == 2_000
        # Drop, gas spike, repayment pair, rebound: four alerts for one attack.
        assert score.detections == 4
    assert s.wall_median_ms == s.wall_p95_ms == 2_000
    kinds = [e.kind for e in events]
    assert kinds.count("detected") == 4 and "false_positive" not in kinds
    detectors = {e.detection.detector for e in events if e.detection is not None}
    assert FLASH_LOAN in detectors


@pytest.mark.parametrize("step_delay", [0.0, 1.0])
async def test_builtin_source_in_load_mode_scores_all_attacks(step_delay: float) -> None:
    settings = Settings(
        seed=5,
        seed_given=True,
        count=60_000,
        rate=0.0,
        attack_interval=300,
        attack_step_delay=step_delay,
    )
    engine = Engine(settings, LocalSink(settings))
    judge = Judge(engine, [BuiltinSource("", settings)])
    await judge.start()
    summary = await engine.run()
    judge.finish()
    s = judge.boards["builtin"].summary()
    assert s.injected == summary.attacks > 100
    assert (s.detected, s.missed, s.false_positives) == (summary.attacks, 0, 0)
