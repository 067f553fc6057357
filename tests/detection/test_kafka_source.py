"""``--detect kafka:TOPIC`` against librdkafka's mock cluster: a real Kafka-protocol server.

The mock cluster is started by a client configured with ``test.mock.num.brokers``;
its metadata names the 127.0.0.1 brokers other clients bootstrap from. It
creates a topic on the first produce (its admin API cannot), so each test
produces a marker into the detection topic before the run starts: older than
the run, the source must skip it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from defi_tui.clock import FakeClock
from defi_tui.config import Settings
from defi_tui.detection import Judge, ScoreEvent
from defi_tui.detection.base import SourceState
from defi_tui.detection.kafka_source import KafkaSource
from defi_tui.engine import Engine
from defi_tui.events import Transaction
from defi_tui.sinks.local import LocalSink
from support.kafka_mock import MockCluster

TOPIC = "fraud_alerts"


@pytest.fixture
def cluster() -> Iterator[MockCluster]:
    mock = MockCluster()
    mock.produce(TOPIC, b'{"left over": "from an earlier run"}')
    yield mock


async def test_detections_from_a_topic_scored_exactly(cluster: MockCluster) -> None:
    clock = FakeClock()
    settings = Settings(
        seed=12,
        seed_given=True,
        flush_timeout=1,
        kafka_bootstrap_servers=cluster.bootstrap,
        detect=f"kafka:{TOPIC}",
    )
    sink = LocalSink(settings)
    engine = Engine(settings, sink, clock)
    source = KafkaSource(TOPIC, settings)
    judge = Judge(engine, [source], timeout=30)
    events: list[ScoreEvent] = []
    arrived = asyncio.Event()

    def on_score(event: ScoreEvent) -> None:
        events.append(event)
        arrived.set()

    judge.add_listener(on_score)
    await judge.start()
    task = asyncio.create_task(engine.run())
    await engine.wait_idle()
    for _ in range(3):
        engine.inject_attack()
        await engine.wait_idle()
        await clock.advance(10)
    truths = engine.ledger.recent()
    assert [t.finished for t in truths] == [True, True, True]
    normal = next(
        r
        for r in sink.recent["onchain_transactions"]
        if isinstance(r, Transaction) and r.tx_amount < 1_000_000
    )

    # The user's pipeline: attack 1 by its attacker, attack 2 by its repayment,
    # one alert on an ordinary transfer, nothing on attack 3; one line of noise.
    cluster.produce(
        TOPIC,
        orjson.dumps(
            {
                "rule": "flash_loan",
                "attacker": truths[0].attacker,
                "event_timestamp": truths[0].steps[4].record.event_timestamp,
            }
        ),
        orjson.dumps({"repay_hash": truths[1].tx_hashes[2]}),
        orjson.dumps({"rule": "big_transfer", "tx_hash": normal.tx_hash}),
        b"not json",
    )
    async with asyncio.timeout(30):
        while len(events) < 3:
            arrived.clear()
            await arrived.wait()
    engine.stop()
    await task
    judge.finish()
    await judge.stop()

    s = judge.boards[f"kafka:{TOPIC}"].summary()
    assert (s.injected, s.detected, s.missed, s.false_positives, s.duplicates) == (3, 2, 1, 1, 0)
    assert s.by_detector == {"flash_loan": 1, f"kafka:{TOPIC}": 1}
    scores = {sc.attack_id: sc for sc in judge.boards[f"kafka:{TOPIC}"].recent(3)}
    first = scores[truths[0].id]
    assert first.rule == "attacker" and first.event_latency_ms == 4_000
    assert scores[truths[1].id].rule == "tx_hash"
    assert scores[truths[2].id].verdict.value == "missed"
    status = source.status()
    assert status.received == 3 and status.unreadable == 1
    assert status.state is SourceState.STOPPED


async def test_unreachable_cluster_is_shown_not_raised() -> None:
    settings = Settings(seed=1, kafka_bootstrap_servers="127.0.0.1:1", detect="kafka:x")
    engine = Engine(settings, LocalSink(settings), FakeClock())
    source = KafkaSource("x", settings)
    judge = Judge(engine, [source])
    failed = asyncio.Event()
    source.add_status_listener(lambda status: failed.set() if status.last_error else None)
    await judge.start()
    # librdkafka reports the refused connection through the error callback.
    await asyncio.wait_for(failed.wait(), 30)
    assert source.status().state is SourceState.RETRYING
    assert "127.0.0.1:1" in (source.status().last_error or "")
    await judge.stop()
    assert source.status().state is SourceState.STOPPED


def test_generator_exits_3_when_an_attack_is_missed(cluster: MockCluster, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "defi_tui.cli",
            "--sink",
            "local",
            "--normal-interval",
            "0.1",
            "--attack-interval",
            "0.4",
            "--attack-step-delay",
            "0",
            "--duration",
            "0.6",
            "--detect",
            f"kafka:{TOPIC}",
            "--detect-timeout",
            "1",
            "--expect-detected",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={
            "PATH": os.environ.get("PATH", ""),
            "PYTHONIOENCODING": "utf-8",
            "KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap,
        },
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert f"=== DETECTION SCORE (kafka:{TOPIC}) ===" in proc.stdout
    assert "❌ attack #1" in proc.stdout and "(--expect-detected)" in proc.stdout
    assert "Traceback" not in proc.stderr
