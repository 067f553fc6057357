"""CPU and memory of the dashboard running headless.

    uv run python benchmarks/tui_cpu.py                 # CPU: 30 s per case
    uv run python benchmarks/tui_cpu.py --seconds 10    # quicker
    uv run python benchmarks/tui_cpu.py --memory 600    # peak RSS over 10 min at 1,000 records/s

CPU is this process's user+system time per wall second while the dashboard
runs (Textual's headless driver: every refresh is composed as on a terminal,
only the bytes are not written) with the real engine, the real local sink
and the system clock:

- (a) default intervals (a tick every 5 s, an attack every 120 s);
- (b) load mode at 1,000 records/s (``--rate 1000``).

The same-run baseline is the engine and sink alone, without the dashboard,
on the same settings for the same time; the ratio is dashboard / baseline
and the difference is what the UI costs.

``--memory`` samples RSS every 10 s at 1,000 records/s and prints the
samples, the peak and the growth after the first minute (buffers filled).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import time
from collections.abc import Callable

import psutil

from defi_tui.config import Settings
from defi_tui.engine import Engine, RunState
from defi_tui.sinks.local import LocalSink
from defi_tui.tui.app import make_app

SIZE = (120, 36)
WARMUP = 3.0
DEFAULT = Settings(seed=1, seed_given=True, sink="local")
LOAD = dataclasses.replace(DEFAULT, rate=1000.0)
BUDGET = {"default": 0.05, "1000/s": 0.60}


@dataclasses.dataclass
class Sample:
    cpu: float
    """CPU seconds per wall second (1.0 = one core)."""
    records: int
    wall: float


def _cpu() -> float:
    t = psutil.Process().cpu_times()
    return t.user + t.system


async def _measure(seconds: float, produced: Callable[[], int]) -> Sample:
    gc.collect()
    wall0, cpu0, rec0 = time.perf_counter(), _cpu(), produced()
    await asyncio.sleep(seconds)
    wall = time.perf_counter() - wall0
    return Sample((_cpu() - cpu0) / wall, produced() - rec0, wall)


async def dashboard(settings: Settings, seconds: float) -> Sample:
    app = make_app(settings, LocalSink(settings))
    async with app.run_test(size=SIZE) as pilot:
        while app.engine.state is RunState.STARTING:
            await pilot.pause()
        await asyncio.sleep(WARMUP)
        sample = await _measure(seconds, lambda: app.engine.stats().total.produced)
        app.exit()
    return sample


async def engine_alone(settings: Settings, seconds: float) -> Sample:
    engine = Engine(settings, LocalSink(settings))
    task = asyncio.create_task(engine.run())
    await asyncio.sleep(WARMUP)
    sample = await _measure(seconds, lambda: engine.stats().total.produced)
    engine.stop()
    await task
    return sample


def cpu_report(seconds: float) -> None:
    print(
        f"dashboard CPU, headless {SIZE[0]}x{SIZE[1]}, {seconds:.0f} s per case (1.00 = one core)"
    )
    print(
        f"{'case':<10}{'engine alone':>14}{'dashboard':>11}{'ratio':>8}{'UI cost':>9}"
        f"{'records/s':>11}{'budget':>8}  verdict"
    )
    for name, settings in (("default", DEFAULT), ("1000/s", LOAD)):
        base = asyncio.run(engine_alone(settings, seconds))
        dash = asyncio.run(dashboard(settings, seconds))
        # An idle engine can measure 0.000: no meaningful ratio then.
        ratio = f"{dash.cpu / base.cpu:.1f}" if base.cpu >= 0.001 else "n/a"
        ok = "ok" if dash.cpu <= BUDGET[name] else "OVER"
        print(
            f"{name:<10}{base.cpu:>14.3f}{dash.cpu:>11.3f}{ratio:>8}"
            f"{dash.cpu - base.cpu:>9.3f}{dash.records / dash.wall:>11.1f}"
            f"{BUDGET[name]:>8.2f}  {ok}"
        )


async def _memory(seconds: float, every: float) -> list[tuple[float, int]]:
    proc = psutil.Process()
    samples: list[tuple[float, int]] = []
    app = make_app(LOAD, LocalSink(LOAD))
    async with app.run_test(size=SIZE) as pilot:
        while app.engine.state is RunState.STARTING:
            await pilot.pause()
        t0 = time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < seconds:
            samples.append((elapsed, proc.memory_info().rss))
            print(
                f"  t={elapsed:6.0f}s rss={samples[-1][1] / 2**20:7.1f} MiB "
                f"records={app.engine.stats().total.produced:,}",
                flush=True,
            )
            await asyncio.sleep(every)
        samples.append((time.perf_counter() - t0, proc.memory_info().rss))
        app.exit()
    return samples


def memory_report(seconds: float) -> None:
    print(f"dashboard RSS at 1,000 records/s for {seconds:.0f} s, headless {SIZE[0]}x{SIZE[1]}")
    samples = asyncio.run(_memory(seconds, 10.0))
    peak = max(rss for _, rss in samples)
    settled = [(t, rss) for t, rss in samples if t >= 60] or samples
    (t1, r1), (t2, r2) = settled[0], settled[-1]
    slope = (r2 - r1) / (t2 - t1) if t2 > t1 else 0.0
    print(
        f"peak RSS {peak / 2**20:.1f} MiB; after the first minute "
        f"{r1 / 2**20:.1f} -> {r2 / 2**20:.1f} MiB over {t2 - t1:.0f} s "
        f"({slope * 60 / 2**20:+.2f} MiB/min)"
    )
    if seconds < 600:
        print(
            f"extrapolated to 10 min: {(r2 + slope * (600 - t2)) / 2**20:.1f} MiB "
            "(linear in the growth after the first minute)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds per case")
    parser.add_argument(
        "--memory",
        type=float,
        metavar="SECONDS",
        help="instead of CPU: sample RSS for SECONDS at 1,000 records/s",
    )
    args = parser.parse_args()
    if args.memory:
        memory_report(args.memory)
    else:
        cpu_report(args.seconds)


if __name__ == "__main__":
    main()
