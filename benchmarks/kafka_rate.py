"""Paced load into librdkafka's mock cluster: does ``--rate R`` hold R records/s?

Runs ``defi-event-generator --sink kafka --rate R --duration S`` in process
(the real Engine, simulator and Kafka sink, normal topic mix and attack
schedule) against a mock cluster on 127.0.0.1 and samples the engine's
counters once a second. Prints the rate of every second, produced and
delivered over the whole run, and how far each is from R.

    uv run python benchmarks/kafka_rate.py [--rate 20000] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from confluent_kafka import Producer

from defi_tui.config import Settings
from defi_tui.engine import Engine, RunState, StateChanged
from defi_tui.events import TOPICS
from defi_tui.sinks.kafka import KafkaSink


async def measure(bootstrap: str, rate: float, seconds: float) -> None:
    settings = Settings(
        sink="kafka",
        kafka_bootstrap_servers=bootstrap,
        seed=11,
        seed_given=True,
        rate=rate,
        duration=seconds,
        extra={"kafka_setup_timeout": 5.0},
    )
    engine = Engine(settings, KafkaSink(settings))
    samples: list[tuple[float, int, int]] = []

    async def sample() -> None:
        while True:
            s = engine.stats()
            samples.append((time.perf_counter(), s.total.produced, s.total.delivered))
            await asyncio.sleep(1.0)

    running = asyncio.Event()
    engine.add_listener(
        lambda e: (
            running.set() if isinstance(e, StateChanged) and e.state is RunState.RUNNING else None
        )
    )
    run = asyncio.create_task(engine.run())
    await running.wait()
    sampler = asyncio.create_task(sample())
    summary = await run
    sampler.cancel()
    end = time.perf_counter()
    samples.append((end, summary.total.produced, summary.total.delivered))

    per_second = [
        (p1 - p0) / (t1 - t0)
        for (t0, p0, _), (t1, p1, _) in zip(samples, samples[1:], strict=False)
    ][:-1]  # the last interval is the partial one at the stop
    for i, r in enumerate(per_second, 1):
        print(f"second {i:>3}: {r:>10,.0f} records/s  ({r / rate - 1:+.1%})")
    produced = summary.total.produced
    elapsed = summary.elapsed
    worst = max(abs(r / rate - 1) for r in per_second)
    print(f"target:                  {rate:>10,.0f} records/s for {seconds:g}s")
    print(
        f"produced:                {produced:>10,} in {elapsed:.2f}s = {produced / elapsed:,.0f}/s"
        f"  ({produced / elapsed / rate - 1:+.2%})"
    )
    print(
        f"delivered:               {summary.total.delivered:>10,}"
        f"  (failed {summary.total.failed}, dropped {summary.total.dropped}, "
        f"lost {summary.total.lost_on_stop})"
    )
    print(
        f"1-second windows:        median {statistics.median(per_second):,.0f}/s, "
        f"worst {worst:.1%} from target"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    cluster = Producer({"test.mock.num.brokers": 3, "log_level": 0})
    metadata = cluster.list_topics(timeout=10)
    bootstrap = ",".join(f"{b.host}:{b.port}" for b in metadata.brokers.values())
    for topic in TOPICS:  # the mock cluster creates topics on first produce only
        cluster.produce(topic, b"{}")
    cluster.flush(10)
    asyncio.run(measure(bootstrap, args.rate, args.seconds))


if __name__ == "__main__":
    main()
