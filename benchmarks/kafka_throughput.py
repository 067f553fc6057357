"""Unthrottled load into librdkafka's mock cluster, next to the client's own limit.

Four measurements per round, each into a fresh mock cluster (3 brokers on
127.0.0.1) whose topics exist beforehand:

- plain: a bare ``Producer.produce`` loop with the kafka sink's producer
  settings (idempotence, queue size, delivery-report callback that counts),
  sending pre-serialized values taken from the simulator's own records (same
  sizes), no key, to one topic; what this client can do from Python;
- keyed: the same loop sending each value to its record's topic with the
  sink's key and timestamp: what the client can do with the sink's messages;
- engine: ``defi-event-generator --sink kafka --rate 0 --count N`` in
  process: the real Engine and simulator generating, the Kafka sink
  serializing and keying, its producer process producing and counting
  delivery reports;
- sink: the same records generated beforehand and handed to the sink in the
  engine's batch size, to show the sink's own cost.

Rates count delivery-confirmed records over the time from the first record
to the last confirmation. Each measurement runs in a fresh process (its own
mock cluster, no leftovers of the previous one in memory); rounds alternate
so that a noisy machine slows all four alike; medians and ratios are
printed (a ratio is the median of the rounds' own ratios), and for engine
and sink the CPU time per record of the event-loop thread and of the
producer process, which a busy machine disturbs less than wall-clock rates.

    uv run python benchmarks/kafka_throughput.py [--records N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

from confluent_kafka import Producer

from defi_tui.config import Settings
from defi_tui.engine import LOAD_BATCH, Engine
from defi_tui.events import TOPICS, Record, topic_of
from defi_tui.simulator import Simulator
from defi_tui.sinks.kafka import KafkaSink, client_properties
from defi_tui.sinks.kafka_wire import encode_value, record_key

PLAIN_TOPIC = "plain_baseline"


class MockCluster:
    """A librdkafka mock cluster, alive while this object is."""

    def __init__(self, brokers: int = 3) -> None:
        self._client = Producer({"test.mock.num.brokers": brokers, "log_level": 0})
        metadata = self._client.list_topics(timeout=10)
        self.bootstrap = ",".join(f"{b.host}:{b.port}" for b in metadata.brokers.values())
        # The mock cluster creates topics on first produce; do it now so the
        # measured runs find them (its admin API cannot create topics).
        for topic in (*TOPICS, PLAIN_TOPIC):
            self._client.produce(topic, b"{}")
        self._client.flush(10)


def settings_for(cluster: MockCluster, n: int) -> Settings:
    return Settings(
        sink="kafka",
        kafka_bootstrap_servers=cluster.bootstrap,
        seed=7,
        seed_given=True,
        rate=0.0,
        count=n,
        extra={"kafka_setup_timeout": 5.0},
    )


def sample_records(n: int) -> list[Record]:
    """The engine's normal records (same mix), built beforehand."""
    sim = Simulator(7)
    records: list[Record] = []
    while len(records) < n:
        for tick in sim.normal_ticks(1000, 1_767_225_600_000):
            records.extend(tick)
    del records[n:]
    return records


def sample_values(n: int) -> list[bytes]:
    """Pre-serialized values with the sizes of the engine's records (same mix)."""
    return [encode_value(r) for r in sample_records(n)]


def counting_producer(settings: Settings) -> tuple[Producer, list[int]]:
    """A producer with the sink's settings, and the count its delivery callback keeps."""
    delivered = [0]

    def on_delivery(err: Any, msg: Any) -> None:
        if err is None:
            delivered[0] += 1

    producer = Producer(
        {
            **client_properties(settings),
            "enable.idempotence": "true",
            "queue.buffering.max.messages": settings.buffer_size,
            "on_delivery": on_delivery,
        }
    )
    return producer, delivered


def producer_cpu_us(n: int) -> float:
    """CPU µs per record of the producer process (it has ended by the time this is asked)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) / n * 1e6


def plain(n: int) -> tuple[float, float, float]:
    """A bare produce loop with the sink's producer settings: delivered records/s."""
    cluster = MockCluster()
    settings = settings_for(cluster, n)
    producer, delivered = counting_producer(settings)
    produce, poll = producer.produce, producer.poll
    pool = itertools.cycle(sample_values(30_000))
    start = time.perf_counter()
    for i in range(n):
        value = next(pool)
        while True:
            try:
                produce(PLAIN_TOPIC, value)
                break
            except BufferError:
                poll(0.005)
        if not i & 1023:
            poll(0)
    producer.flush(60)
    elapsed = time.perf_counter() - start
    assert delivered[0] == n, f"plain loop delivered {delivered[0]} of {n}"
    return n / elapsed, 0.0, 0.0


def keyed(n: int) -> tuple[float, float, float]:
    """The bare loop with the sink's topics, keys and timestamps: delivered records/s."""
    cluster = MockCluster()
    settings = settings_for(cluster, n)
    producer, delivered = counting_producer(settings)
    produce, poll = producer.produce, producer.poll
    messages = [
        (topic_of(r), encode_value(r), record_key(r), r.event_timestamp)
        for r in sample_records(30_000)
    ]
    pool = itertools.cycle(messages)
    start = time.perf_counter()
    for i in range(n):
        topic, value, key, ts = next(pool)
        while True:
            try:
                produce(topic, value, key, -1, None, None, ts)
                break
            except BufferError:
                poll(0.005)
        if not i & 1023:
            poll(0)
    producer.flush(60)
    elapsed = time.perf_counter() - start
    assert delivered[0] == n, f"keyed loop delivered {delivered[0]} of {n}"
    return n / elapsed, 0.0, 0.0


def engine(n: int) -> tuple[float, float, float]:
    """The real engine into the kafka sink: delivered/s, CPU µs per record (loop, producer)."""
    cluster = MockCluster()
    settings = settings_for(cluster, n)
    sink = KafkaSink(settings)
    run = Engine(settings, sink)
    start, cpu = time.perf_counter(), time.thread_time()
    summary = asyncio.run(run.run())
    elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu
    assert summary.total.delivered == n, summary.total
    return n / elapsed, cpu / n * 1e6, producer_cpu_us(n)


def sink_only(n: int) -> tuple[float, float, float]:
    """Records generated beforehand, published in the engine's batches: delivered records/s."""
    cluster = MockCluster()
    settings = settings_for(cluster, n)
    records = sample_records(n)

    async def go() -> tuple[float, float, float]:
        sink = KafkaSink(settings)
        await sink.open()
        start, cpu = time.perf_counter(), time.thread_time()
        for i in range(0, n, LOAD_BATCH):
            await sink.publish(records[i : i + LOAD_BATCH])
            await asyncio.sleep(0)
        left = await sink.flush(60)
        elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu
        await sink.close()
        assert left == 0 and sum(c.delivered for c in sink.tracker.counters.values()) == n
        return n / elapsed, cpu / n * 1e6, producer_cpu_us(n)

    return asyncio.run(go())


MEASURES = {"plain": plain, "keyed": keyed, "engine": engine, "sink": sink_only}


def measure_in_child(name: str, n: int) -> tuple[float, float, float]:
    """Run one measurement in a fresh interpreter; its result comes back as JSON."""
    out = subprocess.run(
        [sys.executable, __file__, "--records", str(n), "--one", name],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rate, cpu, producer = json.loads(out.strip().splitlines()[-1])
    return float(rate), float(cpu), float(producer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one", choices=sorted(MEASURES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    n = args.records
    if args.one:
        print(json.dumps(MEASURES[args.one](n)))
        return
    size = statistics.mean(map(len, sample_values(30_000)))

    rates: dict[str, list[float]] = {name: [] for name in MEASURES}
    cpus: dict[str, list[float]] = {name: [] for name in MEASURES}
    producer_cpus: dict[str, list[float]] = {name: [] for name in MEASURES}
    for i in range(args.rounds):
        for name in MEASURES:
            rate, cpu, producer = measure_in_child(name, n)
            rates[name].append(rate)
            cpus[name].append(cpu)
            producer_cpus[name].append(producer)
        print(
            f"round {i + 1}: " + "  ".join(f"{name} {r[-1]:,.0f}/s" for name, r in rates.items()),
            file=sys.stderr,
        )
    p, k, e, s = (statistics.median(rates[m]) for m in ("plain", "keyed", "engine", "sink"))
    ce, cs = statistics.median(cpus["engine"]), statistics.median(cpus["sink"])
    pe, ps = (statistics.median(producer_cpus[k]) for k in ("engine", "sink"))
    # Each round's own ratio first: the plain loop's rate swings between
    # rounds, and a ratio taken within one round cancels that swing.
    rk, re, rs = (
        statistics.median(x / y for x, y in zip(rates[m], rates["plain"], strict=True))
        for m in ("keyed", "engine", "sink")
    )
    print(f"records per run:                      {n:,} (median of {args.rounds} rounds)")
    print(f"mean value size:                      {size:.0f} bytes")
    print(f"plain Producer.produce loop:          {p:>10,.0f} records/s delivered")
    print(
        f"same loop, sink's topics/keys/times:  {k:>10,.0f} records/s delivered"
        f"  ({rk:.0%} of plain)"
    )
    print(
        f"engine -> kafka sink (--rate 0):      {e:>10,.0f} records/s delivered"
        f"  ({re:.0%} of plain; CPU per record: loop thread {ce:.2f} µs,"
        f" producer process {pe:.2f} µs)"
    )
    print(
        f"kafka sink alone (records pre-built): {s:>10,.0f} records/s delivered"
        f"  ({rs:.0%} of plain; CPU per record: loop thread {cs:.2f} µs,"
        f" producer process {ps:.2f} µs)"
    )


if __name__ == "__main__":
    main()
