"""Statements per second into DeltaStream: this sink against the original example's loop.

Both talk through the real deltastream-sdk to the loopback DeltaStream API
(``tests/support/deltastream_server.py``), run in its own process so that its
threads do not compete with the client for the interpreter, answering every
statement after a fixed latency (20 ms by default: a nearby region).

- baseline: the original example's approach, each ``insert_values`` awaited
  in turn on the event loop, one record per statement;
- sink: ``DeltaStreamSink``, records handed over with ``publish`` and timed
  until ``flush`` reports every one confirmed. Its default sends one
  statement per entity at a time (each entity's order kept), so with three
  entities its ceiling is three times the baseline; ``--in-flight`` adds runs
  with more statements per entity, which trade that order for throughput.

Rounds alternate baseline and sink so a noisy machine slows both; medians and
their ratio are printed. The server's own insert counter is checked after
every run: every record arrived once.

    uv run python benchmarks/deltastream_throughput.py [--records N] [--rounds R]
        [--latency SECONDS] [--in-flight 2 4]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import IO

from defi_tui.config import Secret, Settings
from defi_tui.events import TOPICS, Record, to_dict, topic_of
from defi_tui.simulator import Simulator
from defi_tui.sinks.deltastream import DeltaStreamSink
from defi_tui.sinks.deltastream_client import DeltaStreamOptions, make_client

SERVER = Path(__file__).resolve().parents[1] / "tests" / "support" / "deltastream_server.py"
TOKEN = "benchmark-token"
ORG = "0b6c8f0e-3f1d-4a7e-9c2b-5d4e3f2a1b0c"


class Server:
    """The loopback API in a child process, driven over its stdin/stdout."""

    def __init__(self, latency: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVER), "--token", TOKEN, "--latency", str(latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self._line().removeprefix("READY ")
        for topic in TOPICS:
            self.ask(f"entity {topic}")

    def _line(self) -> str:
        stdout: IO[str] | None = self.proc.stdout
        assert stdout is not None
        return stdout.readline().strip()

    def ask(self, command: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._line()

    def inserts(self) -> int:
        return int(self.ask("count inserts"))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def workload(n: int) -> list[Record]:
    """``n`` records as the engine makes them: normal ticks with an attack every 24 ticks."""
    sim = Simulator(seed=1)
    records: list[Record] = []
    ts = 1_767_225_600_000
    while len(records) < n:
        for tick in sim.normal_ticks(24, ts):
            records.extend(tick)
        records.extend(sim.whole_attack(ts).records)
        ts += 1000
    return records[:n]


def settings(url: str, in_flight: int, n: int) -> Settings:
    return Settings(
        sink="deltastream",
        deltastream_token=Secret(TOKEN),
        deltastream_org_id=ORG,
        deltastream_server_url=url,
        buffer_size=max(n, 1),
        extra={"deltastream_in_flight": in_flight},
    )


async def baseline(server: Server, records: list[Record]) -> float:
    """The example's loop: each insert awaited in turn on the event loop. Statements/s."""
    s = settings(server.url, 1, len(records))
    client = make_client(s, DeltaStreamOptions.from_settings(s), use_database=False)
    before = server.inserts()
    start = time.perf_counter()
    for record in records:
        await client.entities.insert_values(
            name=topic_of(record), values=[to_dict(record)], store=s.store_name
        )
    elapsed = time.perf_counter() - start
    assert server.inserts() - before == len(records)
    return len(records) / elapsed


async def sink_rate(server: Server, records: list[Record], in_flight: int) -> float:
    """Statements/s of the sink from the hand-over of every record to the last confirmation."""
    sink = DeltaStreamSink(settings(server.url, in_flight, len(records)))
    await sink.open()
    before = server.inserts()
    start = time.perf_counter()
    await sink.publish(records)
    left = await sink.flush(600)
    elapsed = time.perf_counter() - start
    await sink.close()
    delivered = sum(c.delivered for c in sink.tracker.counters.values())
    assert left == 0 and delivered == len(records), (left, delivered)
    assert server.inserts() - before == len(records)
    return len(records) / elapsed


async def main(args: argparse.Namespace) -> None:
    server = Server(args.latency)
    records = workload(args.records)
    try:
        base: list[float] = []
        ours: dict[int, list[float]] = {1: [], **{k: [] for k in args.in_flight}}
        for _ in range(args.rounds):
            base.append(await baseline(server, records))
            for in_flight, rates in ours.items():
                rates.append(await sink_rate(server, records, in_flight))
    finally:
        server.close()
    b = statistics.median(base)
    busiest = max(Counter(topic_of(r) for r in records).values())
    print(
        f"{args.records} records, {args.latency * 1000:g} ms per statement, "
        f"median of {args.rounds} rounds"
    )
    print(
        f"  (one statement in flight per entity: the busiest entity, {busiest} of the "
        f"{len(records)} records, sets the pace, about {len(records) / busiest:.2f}x sequential)"
    )
    print(f"  original example (each insert awaited in turn): {b:8.1f} statements/s")
    for in_flight, rates in ours.items():
        r = statistics.median(rates)
        label = "1 per entity, order kept" if in_flight == 1 else f"{in_flight} per entity"
        print(
            f"  DeltaStreamSink, in flight {label + ':':<26}{r:8.1f} statements/s"
            f"  ratio {r / b:.2f}x"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--in-flight", type=int, nargs="*", default=[2, 4])
    asyncio.run(main(parser.parse_args()))
