"""What scoring costs: the same load-mode run with and without the builtin detection source.

Each run is the real engine producing 1,000,000 normal records and about
1,000 attacks (one every 333 normal ticks) unthrottled into the local sink.
The scored run adds the judge with the builtin reference detectors: every
produced record is read by the three detectors, every alert is matched
against the ground truth and scored. Rounds alternate the two runs so that a
noisy machine slows both; the medians and their ratio are what to compare.
Rates are given per second of this process's CPU time (the runs are single
threaded, so that is their whole cost) and, for reference, per wall-clock
second, which other programs on the machine can stretch.

    uv run python benchmarks/scoring_overhead.py [--normal N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from typing import NamedTuple

from defi_tui.config import Settings
from defi_tui.detection import Judge
from defi_tui.detection.builtin import BuiltinSource
from defi_tui.engine import Engine
from defi_tui.simulator import ATTACK_STEPS
from defi_tui.sinks.local import LocalSink

TICKS_PER_ATTACK = 333
"""Normal ticks (three records each) between two attacks: 1,000 attacks per 1,000,000 records."""
NORMAL_INTERVAL = 5.0


def settings_for(normal: int) -> Settings:
    attacks = normal // (3 * TICKS_PER_ATTACK)
    return Settings(
        seed=1,
        seed_given=True,
        count=normal + attacks * ATTACK_STEPS,
        rate=0.0,
        normal_interval=NORMAL_INTERVAL,
        attack_interval=TICKS_PER_ATTACK * NORMAL_INTERVAL,
    )


class Result(NamedTuple):
    cpu_rate: float
    """Records per second of CPU time."""
    wall_rate: float
    attacks: int
    detected: int


async def _run(settings: Settings, scored: bool) -> Result:
    engine = Engine(settings, LocalSink(settings))
    judge = Judge(engine, [BuiltinSource("", settings)]) if scored else None
    if judge is not None:
        await judge.start()
    cpu, wall = time.process_time(), time.perf_counter()
    summary = await engine.run()
    if judge is not None:
        judge.finish()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    detected = judge.boards["builtin"].detected if judge is not None else 0
    n = summary.total.produced
    return Result(n / cpu, n / wall, summary.attacks, detected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--normal", type=int, default=1_000_000, help="normal records per run")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    settings = settings_for(args.normal)

    plain: list[Result] = []
    scored: list[Result] = []
    for i in range(args.rounds):
        # Back to back, in turns first: a machine that slows down mid-round
        # slows both, and the per-round ratio cancels it.
        for scoring in (False, True) if i % 2 == 0 else (True, False):
            gc.collect()
            (scored if scoring else plain).append(asyncio.run(_run(settings, scored=scoring)))
        print(
            f"round {i + 1}: without scoring {plain[-1].cpu_rate:,.0f}/s  "
            f"with scoring {scored[-1].cpu_rate:,.0f}/s (per CPU second)",
            file=sys.stderr,
        )
    last = scored[-1]
    assert last.detected == last.attacks, f"detected {last.detected} of {last.attacks} attacks"

    p = statistics.median(r.cpu_rate for r in plain)
    s = statistics.median(r.cpu_rate for r in scored)
    paired = statistics.median(b.cpu_rate / a.cpu_rate for a, b in zip(plain, scored, strict=True))
    pw = statistics.median(r.wall_rate for r in plain)
    sw = statistics.median(r.wall_rate for r in scored)
    print(
        f"records per run:           {settings.count:,} ({args.normal:,} normal, "
        f"{last.attacks:,} attacks, all detected), median of {args.rounds} rounds"
    )
    print(f"{'':27}{'per CPU second':>16}{'per wall second':>18}")
    print(f"{'without scoring:':<27}{p:>16,.0f}{pw:>18,.0f}")
    print(f"{'with builtin scoring:':<27}{s:>16,.0f}{sw:>18,.0f}")
    print(f"{'ratio of the medians:':<27}{s / p:>16.3f}{sw / pw:>18.3f}")
    print(
        f"{'median of round ratios:':<27}{paired:>16.3f}"
        f"   -> scoring costs {(1 - paired) * 100:.1f}% of the rate (CPU time)"
    )


if __name__ == "__main__":
    main()
