"""``--create-streams`` and ``--drop-entities`` against the loopback DeltaStream API."""

from __future__ import annotations

import pytest

from defi_tui.config import Secret
from defi_tui.events import TOPICS
from defi_tui.sinks.base import SinkError
from defi_tui.sinks.deltastream import create_streams, drop_entities
from support.deltastream_kit import TOKEN, SettingsFactory
from support.deltastream_server import LoopbackDeltaStream


async def test_create_streams_sets_up_entities_and_streams_once(
    server: LoopbackDeltaStream, make_settings: SettingsFactory
) -> None:
    server.add_entity("dex_prices")

    report = await create_streams(make_settings())

    assert report.ok
    assert report.lines == [
        "",
        "=== ENTITY SETUP ===",
        "✅ Created entity 'onchain_transactions' (store kafka_store, 3 partitions, 1 replica)",
        "✅ Entity 'dex_prices' already exists",
        "✅ Created entity 'mempool_data' (store kafka_store, 3 partitions, 1 replica)",
        "",
        "=== STREAMS ===",
        "✅ Created stream 'onchain_transactions' over entity 'onchain_transactions' "
        "(JSON, event time)",
        "✅ Created stream 'dex_prices' over entity 'dex_prices' (JSON, event time)",
        "✅ Created stream 'mempool_data' over entity 'mempool_data' (JSON, event time)",
    ]
    assert server.streams["mempool_data"] == {
        "columns": '"event_timestamp" BIGINT, "block_number" BIGINT, "avg_gas_price_gwei" INTEGER',
        "store": "kafka_store",
        "topic": "mempool_data",
        "value.format": "json",
        "timestamp": "event_timestamp",
    }
    assert server.streams["onchain_transactions"]["columns"] == (
        '"tx_hash" VARCHAR, "block_number" BIGINT, "event_timestamp" BIGINT, '
        '"from_address" VARCHAR, "to_address" VARCHAR, "tx_token" VARCHAR, "tx_amount" DOUBLE'
    )

    again = await create_streams(make_settings())

    assert again.ok
    assert again.lines[-3:] == [f"✅ Stream '{t}' already exists" for t in TOPICS]
    assert len(server.statements_like(r"^CREATE STREAM")) == 3


async def test_create_streams_reports_a_failed_stream(
    server: LoopbackDeltaStream, make_settings: SettingsFactory
) -> None:
    from support.deltastream_server import SqlFailure

    def refuse(statement: str) -> None:
        if statement.startswith('CREATE STREAM "dex_prices"'):
            raise SqlFailure("3D009", "schema registry not configured")

    server.on_statement = refuse
    report = await create_streams(make_settings())

    assert not report.ok
    assert "❌ Stream 'dex_prices' failed: schema registry not configured (SQL state 3D009)" in (
        report.lines
    )


async def test_drop_entities_asks_first_and_drops_streams_then_entities(
    server: LoopbackDeltaStream, make_settings: SettingsFactory
) -> None:
    await create_streams(make_settings())
    server.add_entity("unrelated")
    questions: list[str] = []

    def no(question: str) -> bool:
        questions.append(question)
        return False

    declined = await drop_entities(make_settings(), no)

    assert declined.lines == ["Nothing dropped."]
    assert questions == [
        "Drop stream 'onchain_transactions', stream 'dex_prices', stream 'mempool_data', "
        "entity 'onchain_transactions', entity 'dex_prices', entity 'mempool_data' in "
        "DeltaStream (store 'kafka_store')? The entities' records are deleted with them."
    ]
    assert len(server.streams) == 3

    async def yes(question: str) -> bool:  # a prompt read off the event loop
        return True

    dropped = await drop_entities(make_settings(), yes)

    assert dropped.ok
    assert dropped.lines == [f"🗑️  Dropped stream '{t}'" for t in TOPICS] + [
        f"🗑️  Dropped entity '{t}'" for t in TOPICS
    ]
    assert server.streams == {}
    assert list(server.stores["kafka_store"]) == ["unrelated"]


async def test_yes_skips_the_question_and_nothing_left_says_so(
    server: LoopbackDeltaStream, make_settings: SettingsFactory
) -> None:
    for topic in TOPICS:
        server.add_entity(topic)

    def never(question: str) -> bool:
        raise AssertionError("--yes must not ask")

    report = await drop_entities(make_settings(extra={"yes": True}), never)
    assert report.lines == [f"🗑️  Dropped entity '{t}'" for t in TOPICS]

    empty = await drop_entities(make_settings(extra={"yes": True}), never)
    assert empty.lines == [
        "Nothing to drop: none of onchain_transactions, dex_prices, mempool_data exists."
    ]


async def test_commands_fail_in_one_line_without_the_token(
    make_settings: SettingsFactory,
) -> None:
    with pytest.raises(SinkError) as caught:
        await create_streams(make_settings(deltastream_token=Secret("x" + TOKEN)))
    assert "refused the token" in str(caught.value)
    assert TOKEN not in str(caught.value)
