"""The Kafka sink's producer process: what travels to it, and what happens when it goes.

Against librdkafka's mock cluster, with the real process the sink starts.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from defi_tui.config import load_settings
from defi_tui.events import TOPICS, Record, to_json, topic_of
from defi_tui.sinks.base import ConnectionState, SinkStatus
from defi_tui.sinks.kafka import KafkaSink
from defi_tui.sinks.kafka_wire import BATCH, Block, encode_batch, frame, read_frame, record_key
from support.kafka_kit import any_record, kafka_settings, normal_records
from support.kafka_mock import Heartbeat, MockCluster


def unpack(block: Block | None) -> list[tuple[bytes, str, int]]:
    """(value, key, timestamp) of each record of a received block."""
    if block is None:
        return []
    assert isinstance(block.values, bytes)
    out, start = [], 0
    for end, key, ts in zip(block.ends, block.keys, block.timestamps, strict=True):
        out.append((block.values[start:end], key, ts))
        start = end
    return out


@given(st.lists(any_record, max_size=30), st.booleans())
@hsettings(max_examples=300, deadline=None)
def test_a_batch_arrives_as_the_design_json_with_keys_and_timestamps_in_order(
    records: list[Record], drop_when_full: bool
) -> None:
    batch, counts = encode_batch(records, drop_when_full)
    sent = b"".join(bytes(piece) for piece in frame(BATCH, batch))
    kind, got = read_frame(io.BytesIO(sent).read)
    assert kind == BATCH
    assert got.drop_when_full is drop_when_full
    for topic, block, n in zip(TOPICS, got.blocks, counts, strict=True):
        mine = [r for r in records if topic_of(r) == topic]
        assert n == len(mine)
        assert unpack(block) == [(to_json(r), record_key(r), r.event_timestamp) for r in mine]


def test_a_cut_frame_is_the_end_of_the_stream() -> None:
    batch, _ = encode_batch(normal_records(3), False)
    sent = b"".join(bytes(piece) for piece in frame(BATCH, batch))
    with pytest.raises(EOFError):
        read_frame(io.BytesIO(sent[:-1]).read)


async def test_secrets_reach_the_producer_process_over_its_socket_never_its_command_line(
    cluster_with_topics: MockCluster,
) -> None:
    settings = load_settings(
        ["--sink", "kafka", "--kafka-bootstrap-servers", cluster_with_topics.bootstrap],
        {"KAFKA_SASL_USERNAME": "reader", "KAFKA_SASL_PASSWORD": "s3cret-Pa55"},
        dotenv=False,
    )
    sink = KafkaSink(settings)
    await sink.open()
    try:
        assert sink._process is not None
        command = await asyncio.to_thread(Path(f"/proc/{sink._process.pid}/cmdline").read_bytes)
        assert b"defi_tui.sinks.kafka_producer" in command
        assert b"s3cret-Pa55" not in command
        await sink.publish(normal_records(10))
        assert await sink.flush(10) == 0
    finally:
        await sink.close()


async def test_a_producer_process_that_dies_fails_the_sink_and_every_record_is_counted(
    cluster_with_topics: MockCluster, heartbeat: Heartbeat
) -> None:
    sink = KafkaSink(kafka_settings(cluster_with_topics.bootstrap))
    failed = asyncio.Event()

    def on_status(status: SinkStatus) -> None:
        if status.state is ConnectionState.FAILED:
            failed.set()

    sink.add_status_listener(on_status)
    await sink.open()
    await sink.publish(normal_records(100))
    assert await sink.flush(10) == 0
    assert sink._process is not None
    os.kill(sink._process.pid, signal.SIGKILL)
    await sink.publish(normal_records(100, seed=6))  # may or may not reach it
    await asyncio.wait_for(failed.wait(), 10)
    status = sink.status()
    assert status.last_error == "the Kafka producer process exited with code -9"
    await sink.publish(normal_records(100, seed=7))  # refused at once, counted as failed
    assert await sink.flush(1) == 0
    await sink.close()
    counters = sink.tracker.counters.values()
    assert sum(c.delivered for c in counters) >= 300
    settled = sum(c.delivered + c.failed + c.dropped + c.lost_on_stop for c in counters)
    assert settled == 900
    assert sink.tracker.last_error == status.last_error
    assert heartbeat.max_gap < 0.5, f"event loop blocked for {heartbeat.max_gap:.2f}s"


async def test_ctrl_c_in_the_terminal_leaves_the_stop_to_the_sink(
    cluster_with_topics: MockCluster,
) -> None:
    sink = KafkaSink(kafka_settings(cluster_with_topics.bootstrap))
    await sink.open()
    try:
        assert sink._process is not None
        # A terminal's Ctrl-C reaches every process of the foreground group.
        os.kill(sink._process.pid, signal.SIGINT)
        await sink.publish(normal_records(50))
        assert await sink.flush(10) == 0
        assert sink.status().state is ConnectionState.CONNECTED
    finally:
        await sink.close()
    assert sum(c.delivered for c in sink.tracker.counters.values()) == 150
