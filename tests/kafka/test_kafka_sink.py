"""The Kafka sink against librdkafka's mock cluster: a real Kafka protocol server on 127.0.0.1.

Only one thing is faked, and the test says so: the admin client's answer to
``create_topics`` in the successful-creation test, because the mock cluster
cannot create topics through its admin API (it reports controller id 0 while
its brokers are numbered from 1) and no real broker can be installed here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
from collections import Counter, defaultdict
from typing import Any

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from hypothesis import given
from hypothesis import settings as hsettings

from defi_tui import cli
from defi_tui.config import load_settings
from defi_tui.engine import AttackFinished, Engine, EngineEvent, RecordsProduced
from defi_tui.events import (
    DEX_ROUTER,
    FLASH_LOAN_PROVIDER,
    MEMPOOL,
    PRICES,
    TOPICS,
    TRANSACTIONS,
    DexPrice,
    MempoolSample,
    Record,
    Transaction,
    to_json,
    topic_of,
)
from defi_tui.simulator import Attack, Simulator
from defi_tui.sinks import create_sink
from defi_tui.sinks import kafka as kafka_module
from defi_tui.sinks.base import ConnectionState, EntityState, SinkError, SinkStatus
from defi_tui.sinks.kafka import KafkaSink
from defi_tui.sinks.kafka_wire import encode_value, record_key
from support.kafka_kit import any_record, kafka_settings, normal_records
from support.kafka_mock import Heartbeat, MockCluster


def delivered(sink: KafkaSink) -> dict[str, int]:
    return {t: c.delivered for t, c in sink.tracker.counters.items()}


# --- setup


async def test_existing_topics_are_reported_and_the_sink_is_connected(
    cluster_with_topics: MockCluster,
) -> None:
    sink = create_sink(kafka_settings(cluster_with_topics.bootstrap))
    assert isinstance(sink, KafkaSink)
    entities = await sink.open()
    try:
        assert [e.name for e in entities] == list(TOPICS)
        assert [e.state for e in entities] == [EntityState.EXISTS] * 3
        parts = cluster_with_topics.partitions(TRANSACTIONS)
        assert entities[0].detail == f"{parts} partitions"
        status = sink.status()
        assert status.kind == "kafka"
        assert status.target == cluster_with_topics.bootstrap
        assert status.state is ConnectionState.CONNECTED
        assert status.entities == tuple(entities)
    finally:
        await sink.close()
    assert sink.status().state is ConnectionState.CLOSED


async def test_creation_the_cluster_never_confirms_is_bounded_and_producing_goes_on(
    mock_cluster: MockCluster, heartbeat: Heartbeat
) -> None:
    # The mock cluster's admin API waits for a controller that never comes.
    sink = KafkaSink(kafka_settings(mock_cluster.bootstrap, setup_timeout=1.5))
    entities = await asyncio.wait_for(sink.open(), 30)  # a hang fails here, never blocks CI
    try:
        assert [e.state for e in entities] == [EntityState.AUTO_CREATE] * 3
        for entity in entities:
            assert entity.ok
            assert entity.detail.startswith("creation not confirmed within 1.5s")
            assert entity.detail.endswith(
                "the broker creates it on first produce (auto.create.topics.enable)"
            )
        records = normal_records(200)
        await sink.publish(records)
        assert await sink.flush(20) == 0
        assert delivered(sink) == {TRANSACTIONS: 200, PRICES: 200, MEMPOOL: 200}
    finally:
        await sink.close()
    assert heartbeat.max_gap < 0.5, f"event loop blocked for {heartbeat.max_gap:.2f}s"


class FakeCreateAdmin(AdminClient):  # type: ignore[misc]
    """The real admin client, except that ``create_topics`` answers from ``outcomes``.

    Faked because the mock cluster cannot create topics through its admin API
    and no real broker can run here; ``list_topics`` still asks the mock cluster.
    """

    outcomes: dict[str, BaseException | None] = {}
    requested: list[NewTopic] = []

    def create_topics(self, new_topics: list[NewTopic], **kwargs: Any) -> dict[str, Any]:
        futures: dict[str, concurrent.futures.Future[None]] = {}
        for topic in new_topics:
            FakeCreateAdmin.requested.append(topic)
            future: concurrent.futures.Future[None] = concurrent.futures.Future()
            outcome = self.outcomes.get(topic.topic)
            if outcome is None:
                future.set_result(None)
            else:
                future.set_exception(outcome)
            futures[topic.topic] = future
        return futures


async def test_missing_topics_are_created_with_the_options_and_failures_reported_per_topic(
    mock_cluster: MockCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_cluster.precreate("dev.dex_prices")
    denied = KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "not allowed here"))
    monkeypatch.setattr(FakeCreateAdmin, "outcomes", {"dev.gas": denied})
    monkeypatch.setattr(FakeCreateAdmin, "requested", [])
    monkeypatch.setattr(kafka_module, "AdminClient", FakeCreateAdmin)
    extra = {
        "topic_prefix": "dev.",
        "topic_mempool": "gas",
        "topic_partitions": 6,
        "topic_replication_factor": 2,
    }
    sink = KafkaSink(kafka_settings(mock_cluster.bootstrap, extra=extra))
    entities = await sink.open()
    await sink.close()

    assert {
        (t.topic, t.num_partitions, t.replication_factor) for t in FakeCreateAdmin.requested
    } == {
        ("dev.onchain_transactions", 6, 2),
        ("dev.gas", 6, 2),
    }
    tx, px, gas = entities
    assert tx.state is EntityState.CREATED
    assert tx.detail == "topic dev.onchain_transactions: 6 partitions, replication factor 2"
    assert px.state is EntityState.EXISTS
    assert gas.state is EntityState.FAILED
    assert gas.name == MEMPOOL
    assert gas.detail == "topic dev.gas: not allowed here"


async def test_a_topic_created_by_someone_else_meanwhile_counts_as_existing(
    mock_cluster: MockCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    exists = KafkaException(KafkaError(KafkaError.TOPIC_ALREADY_EXISTS, "already there"))
    monkeypatch.setattr(FakeCreateAdmin, "outcomes", {t: exists for t in TOPICS})
    monkeypatch.setattr(kafka_module, "AdminClient", FakeCreateAdmin)
    sink = KafkaSink(kafka_settings(mock_cluster.bootstrap))
    entities = await sink.open()
    await sink.close()
    assert [e.state for e in entities] == [EntityState.EXISTS] * 3


async def test_two_entities_on_one_topic_is_refused_in_one_line(mock_cluster: MockCluster) -> None:
    extra = {"topic_prices": "events", "topic_mempool": "events"}
    sink = KafkaSink(kafka_settings(mock_cluster.bootstrap, extra=extra))
    with pytest.raises(SinkError, match="share one Kafka topic") as caught:
        await sink.open()
    await sink.close()
    assert "\n" not in str(caught.value)


# --- producing


async def test_every_record_comes_back_once_with_its_key_and_timestamp_in_order(
    cluster_with_topics: MockCluster,
) -> None:
    n = 30_000
    # An attack every 10 ticks: hundreds of attacks among the normal traffic.
    settings = kafka_settings(
        cluster_with_topics.bootstrap, count=n, rate=0.0, normal_interval=1.0, attack_interval=10.0
    )
    sink = KafkaSink(settings)
    engine = Engine(settings, sink)
    produced: list[Record] = []
    attacks: list[Attack] = []

    def watch(event: EngineEvent) -> None:
        if isinstance(event, RecordsProduced):
            produced.extend(event.records)
        elif isinstance(event, AttackFinished):
            attacks.append(event.attack)

    engine.add_listener(watch)
    summary = await engine.run()
    assert summary.total.produced == n
    assert (summary.total.delivered, summary.total.failed) == (n, 0)
    assert (summary.total.dropped, summary.total.lost_on_stop) == (0, 0)
    # Each topic's delivery reports are counted for that topic, not another.
    per_topic = Counter(map(topic_of, produced))
    assert {t: stats.delivered for t, stats in summary.topics.items()} == per_topic
    assert len(attacks) > 100

    messages = await asyncio.to_thread(cluster_with_topics.consume, list(TOPICS), n)
    # Exactly once: what the topics hold (by offsets, beyond the one pre-create
    # marker each) is what was produced, no more.
    for topic in TOPICS:
        stored = await asyncio.to_thread(cluster_with_topics.message_count, topic)
        assert stored - 1 == per_topic[topic]
    got = Counter((m.topic(), m.key(), m.value(), m.timestamp()) for m in messages)
    want = Counter(
        (
            topic_of(r),
            record_key(r).encode(),
            to_json(r),
            (TIMESTAMP_CREATE_TIME, r.event_timestamp),
        )
        for r in produced
    )
    assert got == want

    # Per partition, records appear in the order they were produced.
    partition_of = {(m.topic(), m.value()): m.partition() for m in messages}
    expected_order: dict[tuple[str, int], list[bytes]] = defaultdict(list)
    for r in produced:
        value = to_json(r)
        expected_order[(topic_of(r), partition_of[(topic_of(r), value)])].append(value)
    consumed_order: dict[tuple[str, int], list[tuple[int, bytes]]] = defaultdict(list)
    for m in messages:
        consumed_order[(m.topic(), m.partition())].append((m.offset(), m.value()))
    for place, values in expected_order.items():
        assert [v for _, v in sorted(consumed_order[place])] == values

    # An attack's transfers share one partition (the attacker's key), in step order.
    offsets = {(m.topic(), m.value()): (m.partition(), m.offset()) for m in messages}
    for attack in attacks:
        loan, swap, price, gas, repay = attack.records
        where = [offsets[(TRANSACTIONS, to_json(r))] for r in (loan, swap, repay)]
        assert len({p for p, _ in where}) == 1
        assert [o for _, o in where] == sorted(o for _, o in where)
        assert record_key(loan) == record_key(repay) == attack.attacker


def test_keys_follow_the_detection_queries() -> None:
    attack = Simulator(11).whole_attack(1_767_225_600_000)
    loan, swap, price, gas, repay = attack.records
    assert isinstance(loan, Transaction) and loan.from_address == FLASH_LOAN_PROVIDER
    assert isinstance(swap, Transaction) and swap.to_address == DEX_ROUTER
    assert record_key(loan) == record_key(swap) == record_key(repay) == attack.attacker
    assert isinstance(price, DexPrice) and record_key(price) == "WETH/DAI"
    assert isinstance(gas, MempoolSample) and record_key(gas) == str(attack.block_number)
    user = Transaction("0x" + "1" * 64, 1, 1, "0x" + "a" * 40, "0x" + "b" * 40, "USDC", 1.0)
    assert record_key(user) == user.from_address


@given(any_record)
@hsettings(max_examples=500, deadline=None)
def test_values_are_the_design_json_byte_for_byte(record: Record) -> None:
    # Strings that need escaping, unicode, exponents: exactly events.to_json.
    assert encode_value(record) == to_json(record)


async def test_odd_strings_reach_the_topic_as_the_design_json(
    cluster_with_topics: MockCluster,
) -> None:
    odd = [
        Transaction('0x"quoted"', 1, 10, "0xa\\b", "0xc\nd", "DAI\u2028€", 1e-05),
        DexPrice(11, "WETH/DAI\t", 1e16, '"A"'),
        MempoolSample(12, 2, 2**62),
    ]
    sink = KafkaSink(kafka_settings(cluster_with_topics.bootstrap))
    await sink.open()
    await sink.publish(odd)
    assert await sink.flush(10) == 0
    await sink.close()
    messages = await asyncio.to_thread(cluster_with_topics.consume, list(TOPICS), len(odd))
    assert sorted(m.value() for m in messages) == sorted(to_json(r) for r in odd)


async def test_a_full_buffer_waits_for_room_while_the_cluster_delivers(
    cluster_with_topics: MockCluster,
) -> None:
    sink = KafkaSink(kafka_settings(cluster_with_topics.bootstrap, buffer_size=500))
    await sink.open()
    try:
        records = normal_records(5_000)  # 15,000 records, thirty times the buffer, in one call
        await sink.publish(records)
        assert await sink.flush(30) == 0
    finally:
        await sink.close()
    counters = sink.tracker.counters.values()
    assert sum(c.dropped for c in counters) == 0
    assert sum(c.delivered for c in counters) == 15_000


async def test_an_unreachable_cluster_is_retrying_with_its_error_and_never_blocks(
    heartbeat: Heartbeat, caplog: pytest.LogCaptureFixture
) -> None:
    sink = KafkaSink(kafka_settings("127.0.0.1:1", setup_timeout=1.0, buffer_size=100))
    refused = asyncio.Event()
    seen: list[SinkStatus] = []

    def on_status(status: SinkStatus) -> None:
        seen.append(status)
        if status.state is ConnectionState.RETRYING and "refused" in (status.last_error or ""):
            refused.set()

    sink.add_status_listener(on_status)
    entities = await sink.open()
    assert [e.state for e in entities] == [EntityState.FAILED] * 3
    assert [e.detail for e in entities] == ["cluster did not answer in 1s"] * 3
    await asyncio.wait_for(refused.wait(), 20)
    status = sink.status()
    assert status.state is ConnectionState.RETRYING
    assert "127.0.0.1:1" in (status.last_error or "")

    records = normal_records(100)  # 300 records into a buffer of 100
    await sink.publish(records)
    # The producer process drops the overflow at once; a flush has its report.
    assert await sink.flush(0.5) == 100
    assert sink.pending() == 100
    assert sum(c.dropped for c in sink.tracker.counters.values()) == 200
    await sink.close()
    assert sum(c.lost_on_stop for c in sink.tracker.counters.values()) == 100
    assert sink.status().state is ConnectionState.CLOSED
    # The client's own log, from the producer process, under the sink's logger.
    assert any(
        "Connection refused" in r.getMessage()
        for r in caplog.records
        if r.name == kafka_module.__name__
    )
    assert heartbeat.ticks > 0
    assert heartbeat.max_gap < 0.5, f"event loop blocked for {heartbeat.max_gap:.2f}s"


# --- configuration reaching the client


async def test_a_property_the_client_refuses_names_its_variable_and_hides_secrets() -> None:
    settings = load_settings(
        ["--sink", "kafka", "--kafka-bootstrap-servers", "127.0.0.1:1"],
        # librdkafka echoes a bad value of a choice; here it equals the password.
        {"KAFKA_COMPRESSION_TYPE": "hush", "KAFKA_SASL_PASSWORD": "hush"},
        dotenv=False,
    )
    with pytest.raises(SinkError) as caught:
        await KafkaSink(settings).open()
    message = str(caught.value)
    # compression.type is an alias: the variable is named, not librdkafka's canonical name.
    assert message.startswith("Kafka property compression.type (from KAFKA_COMPRESSION_TYPE): ")
    assert "hush" not in message
    assert "********" in message
    assert "\n" not in message


async def test_an_unknown_property_names_its_line_in_the_properties_file(tmp_path: Any) -> None:
    path = tmp_path / "client.properties"
    path.write_text("# cluster\nsecurity.protocol=PLAINTEXT\nno.such.thing=1\n")
    settings = load_settings(
        [
            "--sink",
            "kafka",
            "--kafka-bootstrap-servers",
            "127.0.0.1:1",
            "--kafka-config",
            str(path),
        ],
        {},
        dotenv=False,
    )
    with pytest.raises(SinkError, match=rf"no\.such\.thing \(from {path} line 3\)"):
        await KafkaSink(settings).open()


# --- the headless generator


async def test_generator_prints_entity_setup_and_a_delivered_summary(
    cluster_with_topics: MockCluster,
) -> None:
    settings = load_settings(
        [
            "--kafka-bootstrap-servers",
            cluster_with_topics.bootstrap,
            "--count",
            "3000",
            "--seed",
            "9",
        ],
        {},
        dotenv=False,
    )
    assert settings.sink == "kafka"
    out, err = io.StringIO(), io.StringIO()
    assert await cli.run(settings, out, err) == 0
    text = out.getvalue()
    assert "=== ENTITY SETUP ===" in text
    for topic in TOPICS:
        assert f"✅ Entity '{topic}' already exists" in text
    total = next(line for line in text.splitlines() if line.startswith("total"))
    assert total.split()[1:3] == ["3,000", "3,000"]  # produced, delivered
