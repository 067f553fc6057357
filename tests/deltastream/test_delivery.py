"""Records reach DeltaStream exactly as produced, one INSERT each, in order per entity."""

from __future__ import annotations

import json
import urllib.request

from defi_tui.events import (
    DEX_ROUTER,
    FLASH_LOAN_PROVIDER,
    DexPrice,
    MempoolSample,
    Record,
    Transaction,
    from_dict,
    to_dict,
)
from support.deltastream_kit import TOKEN, SinkOpener, by_topic, records
from support.deltastream_server import LoopbackDeltaStream


def awkward_records() -> list[Record]:
    """Strings a SQL literal and a JSON document must both carry through unchanged."""
    return [
        Transaction(
            "0x" + "ab" * 32,
            18_000_001,
            1_767_225_600_123,
            FLASH_LOAN_PROVIDER,
            DEX_ROUTER,
            "DAI 'quoted' \"double\" \\ back\\slash; DROP ENTITY x; --",
            50_000_000.123456789,
        ),
        DexPrice(1_767_225_600_124, "WETH/DAI ünïcödé ✓ 🚀 日本語", 1850.75, "A'"),
        MempoolSample(1_767_225_600_125, 18_000_001, 250),
        Transaction(
            "0x" + "cd" * 32,
            18_000_002,
            1_767_225_600_126,
            DEX_ROUTER,
            FLASH_LOAN_PROVIDER,
            "line\nbreak\ttab",
            0.1 + 0.2,
        ),
    ]


async def test_records_arrive_exactly_as_produced(
    server: LoopbackDeltaStream, open_sink: SinkOpener
) -> None:
    sink = await open_sink()
    produced = awkward_records()

    await sink.publish(produced)
    assert await sink.flush(5) == 0

    for topic, expected in by_topic(produced).items():
        arrived = server.records(topic)
        assert arrived == [to_dict(r) for r in expected]
        # Field order and types survive too: the wire contract, not just equal values.
        assert [list(d) for d in arrived] == [list(to_dict(r)) for r in expected]
        assert [from_dict(topic, d) for d in arrived] == expected
    # One statement per record, as the SDK sends a single value.
    inserts = server.statements_like(r"^INSERT INTO ENTITY")
    assert len(inserts) == len(produced)
    assert all(' IN STORE "kafka_store" VALUE(\'' in s for s in inserts)
    assert sum(c.delivered for c in sink.tracker.counters.values()) == len(produced)


async def test_order_is_kept_per_entity_while_entities_proceed_independently(
    server: LoopbackDeltaStream, open_sink: SinkOpener
) -> None:
    sink = await open_sink()
    server.set_faults(latency=0.002)
    produced = records(60, attacks=6)

    # Handed over in several batches, as the engine does tick by tick.
    for start in range(0, len(produced), 17):
        await sink.publish(produced[start : start + 17])
    assert await sink.flush(10) == 0

    for topic, expected in by_topic(produced).items():
        assert server.records(topic) == [to_dict(r) for r in expected]


async def test_asynchronous_statements_are_followed_to_their_result(
    server: LoopbackDeltaStream, open_sink: SinkOpener
) -> None:
    sink = await open_sink()
    server.set_faults(async_statements=True)  # 202 + GET /statements/{id}
    produced = records(3)

    await sink.publish(produced)
    assert await sink.flush(5) == 0

    assert server.count("status_polls") == len(produced)
    for topic, expected in by_topic(produced).items():
        assert server.records(topic) == [to_dict(r) for r in expected]


def test_the_loopback_server_takes_json_statement_requests_too(
    server: LoopbackDeltaStream,
) -> None:
    # The SDK sends multipart; the API also accepts a JSON StatementRequest.
    request = urllib.request.Request(
        server.url + "/statements",
        data=json.dumps({"statement": 'LIST ENTITIES IN STORE "kafka_store";'}).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        method="POST",
    )
    server.add_entity("dex_prices")
    with urllib.request.urlopen(request, timeout=5) as response:
        result = json.load(response)
    assert result["sqlState"] == "00000"
    assert result["data"] == [["dex_prices", "true"]]
