"""``--detect deltastream:QUERY`` through the real SDK against the loopback DeltaStream API.

The loopback server (``support.deltastream_server``) stands in for the hosted
service: the SDK submits the query over HTTP, gets a ``streaming`` data-plane
request back, and reads the rows from the server's WebSocket with the
connector's own ``StreamingRows``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from defi_tui.clock import FakeClock
from defi_tui.config import Secret, Settings
from defi_tui.detection import Judge, ScoreEvent
from defi_tui.detection.base import SourceState, SourceStatus
from defi_tui.detection.deltastream_source import DeltaStreamSource
from defi_tui.engine import Engine
from defi_tui.sinks.local import LocalSink
from support.deltastream_kit import TOKEN
from support.deltastream_server import LoopbackDeltaStream

QUERY = (
    "SELECT loan.to_address AS attacker, repay.tx_hash AS repay_hash, loan.block_number "
    "FROM onchain_transactions AS loan JOIN onchain_transactions AS repay WITHIN 60 SECONDS "
    "ON loan.to_address = repay.from_address WHERE loan.tx_amount > 1000000;"
)


@pytest.fixture
def server() -> Iterator[LoopbackDeltaStream]:
    srv = LoopbackDeltaStream(token=TOKEN).start()
    srv.query_columns = [
        ("attacker", "VARCHAR"),
        ("repay_hash", "VARCHAR"),
        ("block_number", "BIGINT"),
    ]
    try:
        yield srv
    finally:
        srv.stop()


def settings_for(server: LoopbackDeltaStream, query: str = QUERY) -> Settings:
    return Settings(
        seed=31,
        seed_given=True,
        flush_timeout=1,
        sink="local",
        deltastream_token=Secret(TOKEN),
        deltastream_org_id=server.organization_id,
        deltastream_server_url=server.url,
        deltastream_database_name="defi_db",
        detect=f"deltastream:{query}",
    )


class States:
    """Waits on a source's reported states."""

    def __init__(self, source: DeltaStreamSource) -> None:
        self.seen: list[SourceStatus] = []
        self._changed = asyncio.Event()
        source.add_status_listener(self._on)

    def _on(self, status: SourceStatus) -> None:
        self.seen.append(status)
        self._changed.set()

    async def reached(self, state: SourceState, timeout: float = 20) -> SourceStatus:
        async with asyncio.timeout(timeout):
            while True:
                for status in self.seen:
                    if status.state is state:
                        return status
                self._changed.clear()
                await self._changed.wait()


async def test_query_rows_are_scored_as_they_come(server: LoopbackDeltaStream) -> None:
    clock = FakeClock()
    settings = settings_for(server)
    engine = Engine(settings, LocalSink(settings), clock)
    source = DeltaStreamSource(QUERY, settings)
    states = States(source)
    judge = Judge(engine, [source])
    events: list[ScoreEvent] = []
    arrived = asyncio.Event()
    judge.add_listener(lambda e: (events.append(e), arrived.set()))
    await judge.start()
    await states.reached(SourceState.READING)
    assert server.queries == [QUERY.rstrip(";")]

    task = asyncio.create_task(engine.run())
    await engine.wait_idle()
    for _ in range(2):
        engine.inject_attack()
        await engine.wait_idle()
        await clock.advance(10)
    first, second = engine.ledger.recent()
    # The user's query reports the first attack (by attacker) and a block of the second.
    server.push_row(first.attacker, first.tx_hashes[2], first.block_number)
    server.push_row(None, None, second.block_number)
    async with asyncio.timeout(20):
        while len(events) < 2:
            arrived.clear()
            await arrived.wait()
    engine.stop()
    await task
    judge.finish()
    await judge.stop()

    board = judge.boards[source.label]
    s = board.summary()
    assert (s.injected, s.detected, s.missed, s.false_positives) == (2, 2, 0, 0)
    rules = {sc.attack_id: sc.rule for sc in board.recent(2)}
    assert rules == {first.id: "attacker", second.id: "block"}
    assert source.status().received == 2
    assert source.label.startswith("deltastream:SELECT loan.to_address")
    assert source.status().state is SourceState.STOPPED


async def test_a_failing_query_is_one_line_without_the_token(server: LoopbackDeltaStream) -> None:
    query = "SELECT * FROM no_such_stream"
    settings = settings_for(server, query)
    engine = Engine(settings, LocalSink(settings), FakeClock())
    source = DeltaStreamSource(query, settings)
    states = States(source)
    judge = Judge(engine, [source])
    await judge.start()
    status = await states.reached(SourceState.FAILED)
    assert status.last_error is not None
    assert "no_such_stream" in status.last_error and "\n" not in status.last_error
    assert TOKEN not in status.last_error
    await judge.stop()


async def test_an_ended_stream_is_reported(server: LoopbackDeltaStream) -> None:
    settings = settings_for(server)
    engine = Engine(settings, LocalSink(settings), FakeClock())
    source = DeltaStreamSource(QUERY, settings)
    states = States(source)
    judge = Judge(engine, [source])
    await judge.start()
    await states.reached(SourceState.READING)
    server.end_queries()
    status = await states.reached(SourceState.STOPPED)
    assert status.last_error == "the query's result stream ended"
    await judge.stop()
