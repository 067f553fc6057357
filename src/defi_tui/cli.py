"""``defi-event-generator``: the headless generator, for scripts, CI and load tests.

Console output follows the original DeltaStream SDK example (start banner,
``=== ENTITY SETUP ===``, a dot per tick, the attack banner and its steps),
then ends every run with a per-topic summary. With ``--format jsonl`` stdout
carries only the records, one JSON line each, and everything else goes to
stderr so the stream can be piped.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from .config import ConfigError, Settings, load_settings
from .engine import (
    AttackStarted,
    AttackStep,
    Engine,
    EngineEvent,
    RecordsProduced,
    RunSummary,
    SinkReady,
    Stopped,
)
from .events import TOPICS, to_json_str, to_jsonl, topic_of
from .sinks import SinkError, create_sink
from .sinks.base import ConnectionState, EntityState, EntityStatus, SinkStatus

PROG = "defi-event-generator"
DESCRIPTION = (
    "Generate a simulated Ethereum DeFi event stream (transactions, DEX prices, mempool gas and "
    "flash-loan attacks) into DeltaStream, Kafka or the local sink."
)
EXIT_CONFIG = 2


def _fmt_seconds(value: float) -> str:
    return f"{value:g}s"


def entity_line(status: EntityStatus) -> str:
    """One ``=== ENTITY SETUP ===`` line, as the original example prints it."""
    name = status.name
    detail = f" ({status.detail})" if status.detail else ""
    if status.state is EntityState.EXISTS:
        return f"✅ Entity '{name}' already exists"
    if status.state is EntityState.CREATED:
        return f"✅ Created entity '{name}'{detail}"
    if status.state is EntityState.LOCAL:
        return f"✅ Entity '{name}' ready{detail}"
    if status.state is EntityState.AUTO_CREATE:
        return f"⚠️  Topic '{name}' left to auto-create{detail}"
    return f"❌ Entity '{name}' failed: {status.detail or 'unknown error'}"


def summary_lines(summary: RunSummary) -> list[str]:
    """The end-of-run table: produced / delivered / failed / dropped per topic."""
    head = f"{'topic':<22}{'produced':>11}{'delivered':>11}{'failed':>8}{'dropped':>9}{'lost':>7}"
    lines = ["", "=== SUMMARY ===", head]
    rows = [(t, summary.topics[t]) for t in TOPICS] + [("total", summary.total)]
    for name, s in rows:
        lines.append(
            f"{name:<22}{s.produced:>11,}{s.delivered:>11,}{s.failed:>8,}{s.dropped:>9,}"
            f"{s.lost_on_stop:>7,}"
        )
    total = summary.total.produced
    attacks = f"{summary.attacks} attack{'s' if summary.attacks != 1 else ''}"
    lines.append(
        f"{total:,} records in {summary.elapsed:.1f}s "
        f"({summary.records_per_second:,.1f} records/s), {attacks}"
    )
    if summary.total.lost_on_stop:
        lines.append(
            f"⚠️  {summary.total.lost_on_stop:,} records were still pending when the "
            "flush timed out (lost on stop)"
        )
    return lines


class ConsoleReporter:
    """Turns engine events into the console output of the original example."""

    def __init__(self, settings: Settings, out: TextIO, err: TextIO) -> None:
        self.settings = settings
        self.jsonl = settings.output_format == "jsonl"
        # In jsonl mode stdout carries only records; talk goes to stderr.
        self.talk = err if self.jsonl else out
        self.out = out
        self.pipe_closed = False
        self._dots_pending = False

    def _say(self, text: str = "", end: str = "\n") -> None:
        # Dots share a line; anything else starts on a fresh one.
        if end and self._dots_pending:
            text = "\n" + text
        self._dots_pending = not end
        if self.pipe_closed and self.talk is self.out:
            return
        try:
            self.talk.write(text + end)
            self.talk.flush()
        except BrokenPipeError:
            self._close_pipe()

    def _close_pipe(self) -> None:
        # The reader went away (`| head`): stop quietly instead of a traceback,
        # and point stdout at /dev/null so the interpreter's final flush is silent.
        self.pipe_closed = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.out.fileno())
        except (OSError, ValueError):
            pass

    def banner(self) -> None:
        s = self.settings
        self._say("🚀 Started generating real-time on-chain data...")
        if s.load_mode:
            rate = "as fast as possible" if not s.rate else f"{s.rate:g} records/s"
            count = f", {s.count:,} records" if s.count else ""
            self._say(f"   Load mode: {rate}{count}")
            self._say(
                f"   Flash loan attack every {max(1, round(s.attack_interval / s.normal_interval))}"
                " normal ticks"
            )
        else:
            self._say(f"   Normal traffic every {_fmt_seconds(s.normal_interval)}")
            self._say(f"   Flash loan attacks every {_fmt_seconds(s.attack_interval)}")
        if s.duration > 0:
            self._say(f"   Running for {_fmt_seconds(s.duration)}")
        elif not s.count:
            self._say("   Running indefinitely (Ctrl+C to stop)")
        self._say(f"   Seed {s.seed} (--seed {s.seed} reproduces this stream)")
        self._say(f"   Sink: {s.sink}")

    def __call__(self, event: EngineEvent) -> None:
        if isinstance(event, RecordsProduced):
            if self.jsonl and not self.pipe_closed:
                try:
                    self.out.buffer.write(to_jsonl(event.records))
                    self.out.flush()
                except BrokenPipeError:
                    self._close_pipe()
            elif not self.jsonl and event.normal_ticks and not self.settings.load_mode:
                self._say("." * event.normal_ticks, end="")
        elif isinstance(event, SinkReady):
            self._say("\n=== ENTITY SETUP ===")
            for status in event.entities:
                self._say(entity_line(status))
            self._say()
        elif self.settings.load_mode:
            return
        elif isinstance(event, AttackStarted):
            a = event.attack
            self._say(
                f"\n\n🚨 --- SIMULATING FLASH LOAN ATTACK by {a.attacker} "
                f"at block {a.block_number} --- 🚨\n"
            )
        elif isinstance(event, AttackStep):
            if not self.jsonl:
                self._say(f"  → {topic_of(event.record)}: {to_json_str(event.record)}")
            self._say(f"{event.step}. {event.text}")
            if event.step == 5:
                self._say()
        elif isinstance(event, Stopped):
            pass


class SinkStatusLines:
    """Console lines for the sink's connection: retrying since when and why, back, failed.

    A service that fails one statement in three flips between connected and
    retrying all the time; a retrying line is printed only once the state has
    lasted ``grace`` seconds, and a recovery only after a printed retrying line.
    """

    def __init__(
        self, say: Callable[[str], None], current: Callable[[], SinkStatus], grace: float = 1.0
    ) -> None:
        self._say = say
        self._current = current
        self._grace = grace
        self._reported_since: float | None = None
        self._failed = False

    def __call__(self, status: SinkStatus) -> None:
        if status.state is ConnectionState.RETRYING:
            since = status.since
            asyncio.get_running_loop().call_later(self._grace, self._still_retrying, since)
        elif status.state is ConnectionState.CONNECTED and self._reported_since is not None:
            lasted = time.time() - self._reported_since
            self._reported_since = None
            self._say(f"✅ {status.kind} reachable again after {lasted:.1f}s")
        elif status.state is ConnectionState.FAILED and not self._failed and status.entities:
            # A failure during setup is the run's error line; this is one after it.
            self._failed = True
            self._say(f"❌ {status.kind} failed: {status.last_error}")

    def _still_retrying(self, since: float) -> None:
        status = self._current()
        if status.state is not ConnectionState.RETRYING or status.since != since:
            return
        if self._reported_since == since:
            return
        self._reported_since = since
        at = time.strftime("%H:%M:%S", time.localtime(since))
        self._say(
            f"⚠️  {status.kind} unavailable since {at}: {status.last_error}; retrying, "
            f"{status.buffered:,} records waiting"
        )


async def _progress(engine: Engine, reporter: ConsoleReporter) -> None:
    """Load mode prints a line a second instead of a dot per tick."""
    while True:
        await asyncio.sleep(1.0)
        s = engine.stats()
        reporter._say(
            f"   {s.total.produced:>12,} records  {s.records_per_second:>10,.0f}/s  "
            f"{s.attacks:,} attacks  {s.total.delivered:,} delivered"
        )


async def run(settings: Settings, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the generator until DURATION, --count or Ctrl+C; returns the exit status."""
    # Streams are looked up per call, not bound at import: tests and redirections swap them.
    out, err = out or sys.stdout, err or sys.stderr
    reporter = ConsoleReporter(settings, out, err)
    sink = create_sink(settings)
    engine = Engine(settings, sink)
    engine.add_listener(reporter)
    by_user = False
    task = asyncio.current_task()
    assert task is not None

    def on_signal() -> None:
        nonlocal by_user
        if by_user and task is not None:
            # Second Ctrl+C: the user does not want to wait for the flush.
            task.cancel()
        by_user = True
        engine.stop()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)

    def stop_on_closed_pipe(event: EngineEvent) -> None:
        if reporter.pipe_closed:
            engine.stop()

    engine.add_listener(stop_on_closed_pipe)
    sink.add_status_listener(SinkStatusLines(reporter._say, sink.status))
    reporter.banner()
    progress = asyncio.create_task(_progress(engine, reporter)) if settings.load_mode else None
    try:
        summary = await engine.run()
    except SinkError as exc:
        reporter._say()
        err.write(f"{PROG}: error: {exc}\n")
        return 1
    finally:
        if progress is not None:
            progress.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if by_user:
        reporter._say("\n\n⚠️  Stopped by user")
    else:
        reporter._say("\n\n✅ Completed generation cycle")
    for line in summary_lines(summary):
        reporter._say(line)
    if sink.tracker.last_error:
        reporter._say(f"   last error: {sink.tracker.last_error}")
    return 0


async def run_deltastream_command(
    settings: Settings,
    out: TextIO | None = None,
    err: TextIO | None = None,
    ask: Callable[[str], str] = input,
) -> int:
    """``--create-streams`` or ``--drop-entities``: set up or clean up DeltaStream, then exit."""
    out, err = out or sys.stdout, err or sys.stderr
    create, drop = settings.extra.get("create_streams"), settings.extra.get("drop_entities")
    if create and drop:
        err.write(f"{PROG}: error: --create-streams and --drop-entities cannot be combined\n")
        return EXIT_CONFIG
    flag = "--create-streams" if create else "--drop-entities"
    if settings.sink != "deltastream":
        err.write(
            f"{PROG}: error: {flag} works on DeltaStream but the sink is {settings.sink!r}; "
            "allowed: set DELTASTREAM_TOKEN and DELTASTREAM_ORG_ID (SINK auto or deltastream)\n"
        )
        return EXIT_CONFIG
    # Imported here: only a DeltaStream command loads the DeltaStream SDK.
    from .sinks.deltastream import create_streams, drop_entities

    async def confirm(question: str) -> bool:
        try:
            answer = await asyncio.to_thread(ask, f"{question} [y/N] ")
        except EOFError:
            err.write("no answer (stdin is closed); pass --yes to drop without asking\n")
            return False
        return answer.strip().lower() in ("y", "yes")

    try:
        report = await (create_streams(settings) if create else drop_entities(settings, confirm))
    except SinkError as exc:
        err.write(f"{PROG}: error: {exc}\n")
        return 1
    for line in report.lines:
        out.write(line + "\n")
    out.flush()
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``defi-event-generator``."""
    try:
        settings = load_settings(argv, prog=PROG, description=DESCRIPTION)
    except ConfigError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        raise SystemExit(EXIT_CONFIG) from None
    except SinkError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        raise SystemExit(EXIT_CONFIG) from None
    if settings.extra.get("create_streams") or settings.extra.get("drop_entities"):
        try:
            raise SystemExit(asyncio.run(run_deltastream_command(settings)))
        except KeyboardInterrupt:
            sys.stderr.write("\n⚠️  Stopped by user\n")
            raise SystemExit(130) from None
    try:
        status = asyncio.run(run(settings))
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.stderr.write("\n⚠️  Stopped by user (flush skipped)\n")
        status = 130
    raise SystemExit(status)


if __name__ == "__main__":
    main()
