"""Faults: transient ones are retried while records wait, nothing disappears without a number."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from defi_tui.engine import Engine
from defi_tui.events import TOPICS, Record, to_dict, topic_of
from defi_tui.sinks.base import ConnectionState
from defi_tui.sinks.deltastream import DeltaStreamSink
from support.deltastream_kit import SettingsFactory, SinkOpener, StatusLog, by_topic, records
from support.deltastream_server import LoopbackDeltaStream


def assert_arrived_once_in_order(server: LoopbackDeltaStream, produced: list[Record]) -> None:
    for topic, expected in by_topic(produced).items():
        assert server.records(topic) == [to_dict(r) for r in expected], topic
    assert server.count("inserts") == len(produced)


def totals(sink: DeltaStreamSink) -> Counter[str]:
    out: Counter[str] = Counter()
    for c in sink.tracker.counters.values():
        out.update(delivered=c.delivered, failed=c.failed, dropped=c.dropped, lost=c.lost_on_stop)
    return out


async def test_nothing_is_lost_under_30_percent_503s_and_a_10_second_outage(
    server: LoopbackDeltaStream, open_sink: SinkOpener
) -> None:
    # Default buffer (BUFFER_SIZE 100,000); retries capped at 1 s to bound the test.
    sink = await open_sink(extra={"deltastream_retry_max": 1.0})
    assert sink.settings.buffer_size == 100_000
    status = StatusLog(sink)
    server.set_faults(unavailable_rate=0.3)
    produced = records(40, attacks=4)  # 140 records
    before, during, after = produced[:60], produced[60:110], produced[110:]

    await sink.publish(before)
    assert await server.wait_for(lambda s: s.counters.inserts >= 20)
    server.outage(10.0)
    await sink.publish(during)
    await status.until(lambda s: "connection refused" in (s.last_error or ""))
    assert s_state(sink) is ConnectionState.RETRYING
    await sink.publish(after)

    assert await sink.flush(40) == 0

    assert_arrived_once_in_order(server, produced)
    assert totals(sink) == Counter(delivered=len(produced))
    assert server.count("unavailable") > 0
    assert s_state(sink) is ConnectionState.CONNECTED
    assert sink.status().last_error is None


def s_state(sink: DeltaStreamSink) -> ConnectionState:
    return sink.status().state


async def test_a_hanging_statement_is_abandoned_after_the_timeout_and_retried(
    server: LoopbackDeltaStream, open_sink: SinkOpener
) -> None:
    sink = await open_sink(extra={"deltastream_statement_timeout": 0.5})
    status = StatusLog(sink)
    server.set_faults(hang=1)
    produced = records(3)

    await sink.publish(produced)
    assert await sink.flush(10) == 0

    assert server.count("hung") == 1
    assert_arrived_once_in_order(server, produced)
    assert any(s.last_error == "timed out" for s in status.seen)


async def test_dropped_connections_are_retried(
    server: LoopbackDeltaStream, open_sink: SinkOpener
) -> None:
    sink = await open_sink()
    status = StatusLog(sink)
    server.set_faults(drop=2)
    produced = records(3)

    await sink.publish(produced)
    assert await sink.flush(10) == 0

    assert server.count("dropped") == 2
    assert_arrived_once_in_order(server, produced)
    assert any(s.last_error == "connection dropped" for s in status.seen)


async def test_timeouts_and_server_errors_are_retried(
    server: LoopbackDeltaStream, open_sink: SinkOpener
) -> None:
    sink = await open_sink()
    server.set_faults(statuses=[500, 502, 504, 408, 429])
    produced = records(2)

    await sink.publish(produced)
    assert await sink.flush(10) == 0

    assert_arrived_once_in_order(server, produced)
    assert totals(sink) == Counter(delivered=len(produced))


async def test_a_statement_the_service_rejects_fails_alone_with_its_reason(
    server: LoopbackDeltaStream, open_sink: SinkOpener
) -> None:
    sink = await open_sink()
    server.set_faults(statuses=[400])
    # One entity only, so the statement that meets the 400 is known: the first.
    produced = [r for r in records(3) if topic_of(r) == "dex_prices"]

    await sink.publish(produced)
    assert await sink.flush(10) == 0

    assert totals(sink) == Counter(failed=1, delivered=2)
    assert sink.tracker.last_error == "dex_prices: HTTP 400: injected HTTP 400"
    assert server.records("dex_prices") == [to_dict(r) for r in produced[1:]]
    assert server.count("inserts") == 2
    assert s_state(sink) is ConnectionState.CONNECTED


async def test_a_revoked_token_stops_sending_and_is_reported_once(
    server: LoopbackDeltaStream, open_sink: SinkOpener, caplog: pytest.LogCaptureFixture
) -> None:
    sink = await open_sink()
    status = StatusLog(sink)
    server.set_faults(forbid=True)
    caplog.set_level(logging.ERROR, logger="defi_tui")

    await sink.publish(records(10))
    assert await sink.flush(5) == 0
    asked = server.count("forbidden")
    await sink.publish(records(5, seed=2))

    # At most one refused statement per entity, then nothing more is sent.
    assert 1 <= asked <= len(TOPICS)
    assert server.count("forbidden") == asked
    assert totals(sink) == Counter(failed=45)
    assert s_state(sink) is ConnectionState.FAILED
    error = sink.status().last_error or ""
    assert error.startswith(
        "DeltaStream refused the token (HTTP 403: invalid or expired API token)"
    )
    assert status.states().count(ConnectionState.FAILED) == 1
    assert [r.getMessage() for r in caplog.records] == [error]
    assert sink.tracker.last_error == error


async def test_a_full_buffer_refuses_the_newest_records_and_counts_them(
    server: LoopbackDeltaStream, open_sink: SinkOpener
) -> None:
    sink = await open_sink(buffer_size=10)
    server.go_down()
    produced = records(8)  # 24 records for 10 places

    await sink.publish(produced[:6])
    await sink.publish(produced[6:])

    assert sink.pending() == 10
    dropped = Counter(topic_of(r) for r in produced[10:])
    assert {t: c.dropped for t, c in sink.tracker.counters.items()} == {
        t: dropped[t] for t in TOPICS
    }
    server.come_up()
    assert await sink.flush(10) == 0
    assert_arrived_once_in_order(server, produced[:10])


async def test_records_still_pending_after_the_flush_are_counted_as_lost_on_stop(
    server: LoopbackDeltaStream, make_settings: SettingsFactory
) -> None:
    sink = DeltaStreamSink(make_settings())
    await sink.open()
    server.go_down()
    produced = records(3)

    await sink.publish(produced)
    assert await sink.flush(0.3) == len(produced)
    await sink.close()

    assert totals(sink) == Counter(lost=len(produced))
    assert sink.pending() == 0
    assert s_state(sink) is ConnectionState.CLOSED


async def test_the_engine_runs_through_the_sink(
    server: LoopbackDeltaStream, make_settings: SettingsFactory
) -> None:
    settings = make_settings(count=90, rate=0.0, seed=3, seed_given=True)
    sink = DeltaStreamSink(settings)
    server.set_faults(unavailable_rate=0.2)

    summary = await Engine(settings, sink).run()

    assert summary.total.produced == 90
    assert summary.total.delivered == 90
    assert server.count("inserts") == 90
    assert s_state(sink) is ConnectionState.CLOSED
