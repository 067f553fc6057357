"""Entity setup: list the store once, create what is missing, report each entity."""

from __future__ import annotations

from defi_tui.events import TOPICS
from defi_tui.sinks.base import ConnectionState, EntityState, EntityStatus
from support.deltastream_kit import SinkOpener, records
from support.deltastream_server import LoopbackDeltaStream, SqlFailure


async def test_missing_entities_are_created_with_the_examples_parameters(
    server: LoopbackDeltaStream, open_sink: SinkOpener
) -> None:
    sink = await open_sink()

    statuses = sink.status().entities
    assert [s.name for s in statuses] == list(TOPICS)
    assert [s.state for s in statuses] == [EntityState.CREATED] * 3
    for topic in TOPICS:
        entity = server.entity(topic)
        assert entity is not None
        assert entity.params == {
            "kafka.partitions": 3,
            "kafka.replicas": 1,
            "kafka.topic.retention.ms": "604800000",
        }
    # USE DATABASE first, then one listing of the store for all three entities.
    assert server.statement_log[0] == 'USE DATABASE "defi_db"'
    assert server.statements_like(r"^LIST ENTITIES") == ['LIST ENTITIES IN STORE "kafka_store"']
    assert sink.status().state is ConnectionState.CONNECTED


async def test_existing_entities_are_reported_and_left_alone(
    server: LoopbackDeltaStream, open_sink: SinkOpener
) -> None:
    for topic in TOPICS:
        server.add_entity(topic, **{"kafka.partitions": 12})

    sink = await open_sink()

    assert [s.state for s in sink.status().entities] == [EntityState.EXISTS] * 3
    assert server.statements_like(r"^CREATE") == []
    assert server.entity("dex_prices").params == {"kafka.partitions": 12}  # type: ignore[union-attr]


async def test_an_entity_created_concurrently_counts_as_existing(
    server: LoopbackDeltaStream, open_sink: SinkOpener
) -> None:
    def race(statement: str) -> None:
        # Another generator creates dex_prices between our LIST and our CREATE.
        if statement.startswith('CREATE ENTITY "dex_prices"'):
            server.add_entity("dex_prices")

    server.on_statement = race
    sink = await open_sink()

    states = {s.name: s.state for s in sink.status().entities}
    assert states == {
        "onchain_transactions": EntityState.CREATED,
        "dex_prices": EntityState.EXISTS,
        "mempool_data": EntityState.CREATED,
    }


async def test_parameters_can_be_overridden(
    server: LoopbackDeltaStream, open_sink: SinkOpener
) -> None:
    await open_sink(
        extra={
            "deltastream_partitions": 6,
            "deltastream_replicas": 3,
            "deltastream_retention_ms": 86_400_000,
        }
    )

    assert server.entity("mempool_data").params == {  # type: ignore[union-attr]
        "kafka.partitions": 6,
        "kafka.replicas": 3,
        "kafka.topic.retention.ms": "86400000",
    }


async def test_a_failed_entity_is_reported_with_its_reason_and_the_rest_still_works(
    server: LoopbackDeltaStream, open_sink: SinkOpener
) -> None:
    def refuse(statement: str) -> None:
        if statement.startswith('CREATE ENTITY "mempool_data"'):
            raise SqlFailure("42501", "permission denied to create entity in store kafka_store")

    server.on_statement = refuse
    sink = await open_sink()

    mempool = sink.status().entities[2]
    assert mempool == EntityStatus(
        "mempool_data",
        EntityState.FAILED,
        "permission denied to create entity in store kafka_store (SQL state 42501)",
    )
    assert sink.status().state is ConnectionState.CONNECTED

    # Records of the failed entity fail with the service's reason; the others arrive.
    await sink.publish(records(4))
    assert await sink.flush(5) == 0
    counters = sink.tracker.counters
    assert counters["dex_prices"].delivered == 4
    assert counters["mempool_data"].failed == 4
    assert "does not exist" in (sink.tracker.last_error or "")


async def test_a_store_other_than_the_default_is_used_throughout(
    server: LoopbackDeltaStream, open_sink: SinkOpener
) -> None:
    # The SDK's entities.create() would DESCRIBE the new entity without the store and
    # fail here although the entity was made; the sink must not be fooled by that.
    sink = await open_sink(store_name="other_store")

    assert [s.state for s in sink.status().entities] == [EntityState.CREATED] * 3
    assert server.entity("onchain_transactions", "other_store") is not None
    assert server.entity("onchain_transactions", "kafka_store") is None

    recs = records(2)
    await sink.publish(recs)
    assert await sink.flush(5) == 0
    assert len(server.records("dex_prices", "other_store")) == 2
