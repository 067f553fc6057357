"""The SDK's blocking HTTP never runs on the event loop: the loop keeps its pace."""

from __future__ import annotations

import asyncio

from defi_tui.events import TOPICS
from defi_tui.sinks.deltastream import DeltaStreamSink
from support.deltastream_kit import SettingsFactory, records
from support.deltastream_server import LoopbackDeltaStream

BEAT = 0.01


async def test_the_heartbeat_never_lags_50ms_while_every_statement_takes_500ms(
    server: LoopbackDeltaStream, make_settings: SettingsFactory
) -> None:
    for topic in TOPICS:
        server.add_entity(topic)
    server.set_faults(latency=0.5)
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    done = asyncio.Event()

    async def heartbeat() -> None:
        # Timing the sleeps is the measurement itself, not a wait for something.
        while not done.is_set():
            start = loop.time()
            await asyncio.sleep(BEAT)
            lags.append(loop.time() - start - BEAT)

    beating = asyncio.create_task(heartbeat())
    sink = DeltaStreamSink(make_settings())
    started = loop.time()
    await sink.open()  # USE DATABASE, LIST ENTITIES: 1 s of statements
    await sink.publish(records(2))  # two statements per entity, one after the other
    assert await sink.flush(10) == 0
    elapsed = loop.time() - started
    await sink.close()
    done.set()
    await beating

    assert elapsed >= 2.0  # the statements did take their 500 ms each, in sequence per entity
    assert server.count("inserts") == 6
    assert len(lags) > elapsed / BEAT / 2
    assert max(lags) < 0.05, f"event loop lagged {max(lags) * 1000:.0f} ms"
