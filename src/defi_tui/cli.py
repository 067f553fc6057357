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

import orjson

from .config import ConfigError, Settings, load_settings
from .detection import AttackScore, Judge, Scoreboard, ScoreEvent, ScoreSummary, create_source
from .engine import (
    AttackStarted,
    AttackStep,
    Engine,
    EngineEvent,
    RecordsProduced,
    RunSummary,
    SinkReady,
    Stopped,
    rate_text,
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
EXIT_MISSED = 3
"""``--expect-detected`` and an attack was missed: a CI job gates a detection pipeline on it."""
PER_ATTACK_ROWS = 20
"""Runs with at most this many attacks list each one in the score table."""


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
    attacks = f"{summary.attacks:,} attack{'s' if summary.attacks != 1 else ''}"
    rate = rate_text(summary.records_per_second)
    lines.append(f"{total:,} records in {summary.elapsed:.1f}s ({rate} records/s), {attacks}")
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


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value / 1000:.1f}s"


def _short(address: str) -> str:
    return f"{address[:8]}…{address[-4:]}" if len(address) > 14 else address


def score_lines(summary: ScoreSummary, board: Scoreboard | None = None) -> list[str]:
    """The end-of-run score of one detection source, and each attack when there are few."""
    s = summary
    caught = ", ".join(f"{name} {n}" for name, n in sorted(s.by_detector.items()))
    lines = [
        "",
        f"=== DETECTION SCORE ({s.source}) ===",
        f"{'attacks injected':<22}{s.injected:>8,}",
        f"{'detected':<22}{s.detected:>8,}" + (f"   first by: {caught}" if caught else ""),
        f"{'missed':<22}{s.missed:>8,}",
        f"{'false positives':<22}{s.false_positives:>8,}",
        f"{'duplicate detections':<22}{s.duplicates:>8,}",
        f"{'latency, wall time':<22}   median {_ms(s.wall_median_ms):>7}   "
        f"p95 {_ms(s.wall_p95_ms):>7}",
        f"{'latency, event time':<22}   median {_ms(s.event_median_ms):>7}   "
        f"p95 {_ms(s.event_p95_ms):>7}",
    ]
    if board is not None and 0 < s.injected <= PER_ATTACK_ROWS:
        lines.append("")
        lines.append(
            f"{'attack':>7}  {'attacker':<14} {'block':>10}  {'result':<9}{'latency':>8}  by"
        )
        for score in reversed(board.recent(PER_ATTACK_ROWS)):
            lines.append(_attack_row(score))
    return lines


def _attack_row(score: AttackScore) -> str:
    mark = {"detected": "✓ found", "missed": "✗ missed"}.get(score.verdict.value, "… pending")
    by = f"{score.detector} ({score.rule})" if score.detector else ""
    return (
        f"{'#' + str(score.attack_id):>7}  {_short(score.attacker):<14} {score.block_number:>10}  "
        f"{mark:<9}{_ms(score.wall_latency_ms):>8}  {by}".rstrip()
    )


class ScorePrinter:
    """Prints each detection as it is matched, each miss, each false positive."""

    def __init__(self, say: Callable[[str], None], quiet_duplicates: bool) -> None:
        self._say = say
        self._quiet = quiet_duplicates

    def __call__(self, event: ScoreEvent) -> None:
        score, det = event.score, event.detection
        if event.kind == "detected" and score is not None and det is not None:
            late = " (late)" if score.late else ""
            self._say(
                f"🎯 attack #{score.attack_id} detected by {det.detector} [{event.source}, "
                f"{score.rule}] {_ms(score.wall_latency_ms)} after its first record "
                f"(event time {_ms(score.event_latency_ms)}){late}"
            )
        elif event.kind == "duplicate" and det is not None and not self._quiet:
            which = f"#{score.attack_id}" if score is not None else "an earlier attack"
            self._say(f"   also {det.detector} on attack {which}")
        elif event.kind == "missed" and score is not None:
            self._say(
                f"❌ attack #{score.attack_id} by {_short(score.attacker)} missed by "
                f"{event.source}: no detection in time"
            )
        elif event.kind == "false_positive" and det is not None:
            text = to_json_text(det.fields)
            self._say(f"⚠️  false positive from {event.source} ({det.detector}): {text}")


def to_json_text(fields: dict[str, object], limit: int = 160) -> str:
    """A detection's fields as one line of JSON, cut to ``limit`` characters."""
    text = orjson.dumps(fields, default=str).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    scoring = bool(settings.extra.get("score") or settings.extra.get("expect_detected"))
    judge: Judge | None = None
    ticking: asyncio.Task[None] | None = None
    reporter.banner()
    if scoring:
        judge = Judge(
            engine, [create_source(settings.detect, settings)], timeout=settings.detect_timeout
        )
        judge.add_listener(ScorePrinter(reporter._say, quiet_duplicates=settings.load_mode))
        reporter._say(f"   Scoring detections from {judge.labels[0]}")
        await judge.start()
        for source in judge.sources:
            status = source.status()
            if status.last_error:
                reporter._say(f"❌ detection source {source.label}: {status.last_error}")
        ticking = asyncio.create_task(_tick(judge))
    progress = asyncio.create_task(_progress(engine, reporter)) if settings.load_mode else None
    try:
        summary = await engine.run()
    except SinkError as exc:
        reporter._say()
        err.write(f"{PROG}: error: {exc}\n")
        if judge is not None:
            await judge.stop()
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
    if judge is None:
        return 0
    if ticking is not None:
        ticking.cancel()
    return await _finish_scoring(judge, settings, reporter, waiting=not by_user)


async def _tick(judge: Judge) -> None:
    while True:
        await asyncio.sleep(0.5)
        judge.tick()


async def _finish_scoring(
    judge: Judge, settings: Settings, reporter: ConsoleReporter, waiting: bool
) -> int:
    """Wait (bounded) for the last detections, print the score, pick the exit status."""
    label = judge.labels[0]
    board = judge.boards[label]
    if waiting and board.pending and label != "builtin":
        reporter._say(
            f"\n⏳ waiting up to {settings.detect_timeout:g}s for detections of "
            f"{board.pending} attack{'s' if board.pending != 1 else ''}..."
        )
        await judge.settle(settings.detect_timeout)
    judge.finish()
    await judge.stop()
    status = judge.sources[0].status()
    summary = board.summary()
    for line in score_lines(summary, board):
        reporter._say(line)
    if status.unreadable:
        reporter._say(f"   {status.unreadable:,} messages were not JSON objects (skipped)")
    if status.last_error:
        reporter._say(f"   detection source error: {status.last_error}")
    if settings.extra.get("expect_detected") and summary.missed:
        reporter._say(
            f"❌ {summary.missed} of {summary.injected} attacks missed (--expect-detected)"
        )
        return EXIT_MISSED
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
