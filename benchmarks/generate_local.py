"""Unthrottled generation through the real engine into the local sink.

Prints records/s for the engine with ``--record`` (every record serialized
and appended to a JSONL file) and without, next to a baseline measured in the
same process: the original DeltaStream example's per-record work with no I/O
at all (a hash from ``uuid.uuid4().hex``, a dict, ``json.dumps``). Then peak
RSS after 200,000 and after 2,000,000 records of one run.

Rates are per CPU second of this process (every thread, the recording's
writer included): on a shared machine, time stolen by other work would
otherwise swing wall-clock rates by a third from run to run. Rounds
alternate baseline and engine, and the ratio is the median of the rounds'
own ratios.

    uv run python benchmarks/generate_local.py [--records N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from defi_tui.config import Settings
from defi_tui.engine import Engine, EngineEvent, RecordsProduced
from defi_tui.sinks.local import LocalSink


def baseline(n: int) -> float:
    """The original example's per-record work, no I/O: records/s."""
    start = time.process_time()
    for i in range(n):
        record = {
            "tx_hash": "0x" + uuid.uuid4().hex,
            "block_number": 18_000_000 + i,
            "event_timestamp": 1_767_225_600_000 + i,
            "from_address": "0xUserA",
            "to_address": "0xUserB",
            "tx_token": "USDC",
            "tx_amount": 1000,
        }
        json.dumps(record)
    return n / (time.process_time() - start)


def engine_rate(n: int, record: Path | None) -> float:
    """Records/s of the real engine producing ``n`` records unthrottled into the local sink."""
    settings = Settings(seed=1, count=n, rate=0.0, record=record, seed_given=True)
    engine = Engine(settings, LocalSink(settings))
    start = time.process_time()
    summary = asyncio.run(engine.run())
    elapsed = time.process_time() - start
    assert summary.total.delivered == n, summary
    return n / elapsed


def peak_rss(n_small: int, n_large: int) -> tuple[int, int]:
    """Peak RSS (KiB) after ``n_small`` and after ``n_large`` records of one run."""
    settings = Settings(seed=2, count=n_large, rate=0.0, seed_given=True)
    engine = Engine(settings, LocalSink(settings))
    marks: dict[str, int] = {}
    produced = 0

    def watch(event: EngineEvent) -> None:
        nonlocal produced
        if isinstance(event, RecordsProduced):
            produced += len(event.records)
            if produced >= n_small and "small" not in marks:
                marks["small"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    engine.add_listener(watch)
    asyncio.run(engine.run())
    marks["large"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return marks["small"], marks["large"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = args.records

    base, rec, plain = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "recording.jsonl"
        for i in range(args.rounds):
            base.append(baseline(n))
            path.unlink(missing_ok=True)
            rec.append(engine_rate(n, path))
            plain.append(engine_rate(n, None))
            print(
                f"round {i + 1}: baseline {base[-1]:,.0f}/s  engine+record {rec[-1]:,.0f}/s  "
                f"engine {plain[-1]:,.0f}/s",
                file=sys.stderr,
            )
        # A recording also describes its attacks (one "_attacks" line each).
        with path.open("rb") as recording:
            lines = sum(1 for line in recording if not line.startswith(b'{"topic":"_attacks"'))
        assert lines == n, f"recording has {lines} record lines, expected {n}"

    b, r, p = statistics.median(base), statistics.median(rec), statistics.median(plain)
    r_ratio = statistics.median(x / y for x, y in zip(rec, base, strict=True))
    p_ratio = statistics.median(x / y for x, y in zip(plain, base, strict=True))
    print(f"records per run:                      {n:,} (median of {args.rounds} rounds)")
    print(f"baseline (uuid4 + dict + json.dumps): {b:>12,.0f} records per CPU second")
    print(
        f"engine -> local sink with --record:   {r:>12,.0f} records per CPU second  "
        f"({r_ratio:.2f}x baseline)"
    )
    print(
        f"engine -> local sink, no recording:   {p:>12,.0f} records per CPU second  "
        f"({p_ratio:.2f}x baseline)"
    )
    small, large = peak_rss(200_000, 2_000_000)
    print(f"peak RSS after   200,000 records:     {small / 1024:>8.1f} MiB")
    print(
        f"peak RSS after 2,000,000 records:     {large / 1024:>8.1f} MiB  "
        f"(+{(large - small) / 1024:.1f} MiB)"
    )


if __name__ == "__main__":
    main()
