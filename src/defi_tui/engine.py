"""Async orchestration: ticks, the attack schedule, pause / inject / stop, counters.

One task drives everything as a small discrete-event loop over a virtual
schedule (tick times, attack times, pending attack steps). Events due at the
same moment are handled in a fixed order, so a seed plus a schedule gives the
same records whatever the machine's speed. Two pacing modes:

- real time: a normal tick every ``normal_interval``, an attack every
  ``attack_interval`` (the first one interval after start), steps spaced by
  ``attack_step_delay``;
- load mode (``--rate`` / ``--count``): ticks are counted, not timed; an
  attack replaces its share of ticks (``attack_interval / normal_interval``)
  and its five steps come at once.

Front ends observe through listeners (:meth:`Engine.add_listener`), called on
the loop with :class:`EngineEvent` objects; they never poll the sink.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum

from .clock import Clock, SystemClock
from .config import Settings
from .events import TOPIC_OF_TYPE, TOPICS, Record
from .ground_truth import ATTACKS_TOPIC, AttackLedger, AttackTruth
from .simulator import ATTACK_STEPS, STEP_TEXT, Attack, Simulator
from .sinks.base import EntityStatus, Sink, SinkStatus

LOAD_BATCH = 4096
"""Records generated per step in load mode: large enough to amortise the
sink call, small enough to keep the loop responsive (a few ms)."""
PACED_CHUNK_SECONDS = 0.01
"""In paced load mode, records are released in chunks of this much time."""
LOAD_GC_THRESHOLD = 50_000
"""Allocations between young-generation collections in load mode (Python's default: 700)."""
MAX_CATCH_UP_TICKS = 5
"""Ticks replayed after the loop was held up; beyond that the schedule resyncs."""


class RunState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    STOPPED = "stopped"


# Engine events are slotted, not frozen: several go out per attack at load
# speed, where a frozen dataclass's __init__ costs several times more.
# Listeners treat them as read-only.
@dataclass(slots=True)
class SinkReady:
    """The sink is open; one status per entity."""

    entities: list[EntityStatus]


@dataclass(slots=True)
class RecordsProduced:
    """Records handed to the sink, in order (attack records included)."""

    records: Sequence[Record]
    normal_ticks: int
    """How many normal ticks these records hold (the CLI prints a dot each)."""


@dataclass(slots=True)
class AttackStarted:
    attack: Attack


@dataclass(slots=True)
class AttackStep:
    """One of the five steps of an attack was produced."""

    attack: Attack
    step: int
    """1 to 5."""
    record: Record
    text: str


@dataclass(slots=True)
class AttackFinished:
    attack: Attack


@dataclass(slots=True)
class StateChanged:
    state: RunState


@dataclass(slots=True)
class Stopped:
    summary: RunSummary
    reason: str
    """duration, count, or stop."""


EngineEvent = (
    SinkReady
    | RecordsProduced
    | AttackStarted
    | AttackStep
    | AttackFinished
    | StateChanged
    | Stopped
)
Listener = Callable[[EngineEvent], None]


@dataclass(frozen=True)
class TopicStats:
    """What happened to one topic's records so far."""

    produced: int = 0
    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    lost_on_stop: int = 0

    @property
    def pending(self) -> int:
        return max(
            0, self.produced - self.delivered - self.failed - self.dropped - self.lost_on_stop
        )


def rate_text(records_per_second: float) -> str:
    """``5.4`` or ``581,397``: a rate as the CLI summary and the dashboard show it."""
    # A tenth matters at the default few records/s, not at a load run's hundreds of thousands.
    return (
        f"{records_per_second:,.1f}" if records_per_second < 100 else f"{records_per_second:,.0f}"
    )


@dataclass(frozen=True)
class RunSummary:
    """Counters of a run: live from :meth:`Engine.stats`, final in :class:`Stopped`."""

    topics: dict[str, TopicStats]
    elapsed: float
    """Seconds since the run started."""
    attacks: int
    records_per_second: float
    """Produced records per second over the whole run."""
    state: RunState = RunState.RUNNING

    @property
    def total(self) -> TopicStats:
        t = self.topics.values()
        return TopicStats(
            sum(s.produced for s in t),
            sum(s.delivered for s in t),
            sum(s.failed for s in t),
            sum(s.dropped for s in t),
            sum(s.lost_on_stop for s in t),
        )


@dataclass(order=True)
class _Step:
    due: float
    seq: int
    attack: Attack = field(compare=False)


class Engine:
    """Runs the simulator against a sink on a schedule.

    Args:
        settings: validated settings of the run.
        sink: where records go (not yet opened; :meth:`run` opens it).
        clock: time source; :class:`SystemClock` by default, a
            :class:`~defi_tui.clock.FakeClock` in tests.
        simulator: market model; one seeded from ``settings.seed`` by default.
    """

    def __init__(
        self,
        settings: Settings,
        sink: Sink,
        clock: Clock | None = None,
        simulator: Simulator | None = None,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.clock: Clock = clock or SystemClock()
        self.simulator = simulator or Simulator(settings.seed)
        self._listeners: list[Listener] = []
        self._produced: dict[str, int] = dict.fromkeys(TOPICS, 0)
        self._attacks = 0
        self._state = RunState.STARTING
        self._paused = False
        self._stop_requested = False
        self._injects = 0
        self._wake = asyncio.Event()
        self._t0: float | None = None
        self._t_end: float | None = None
        self._paused_at: float | None = None
        self._pause_shift = 0.0
        self._steps: list[_Step] = []
        self._seq = itertools.count()
        self._idle = asyncio.Event()
        self._done = asyncio.Event()
        self.ledger = AttackLedger(self.clock.wall_ms)
        """Ground truth of every attack this run injected (read by front ends and scoring)."""
        sink.tracker.add_listener(self.ledger.delivered)
        self.ledger.on_complete(self._note_attack)

    def _note_attack(self, truth: AttackTruth) -> None:
        # A recording says where its attacks are: one line per attack, written
        # once its records are delivered (or the run ended), after them.
        if self.sink.wants_annotations:
            self.sink.annotate(ATTACKS_TOPIC, truth.to_record())

    # --- observing

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(event)`` on the loop for every engine event."""
        self._listeners.append(listener)

    def _emit(self, event: EngineEvent) -> None:
        for listener in self._listeners:
            listener(event)

    @property
    def state(self) -> RunState:
        return self._state

    @property
    def paused(self) -> bool:
        return self._paused

    def _set_state(self, state: RunState) -> None:
        if state is not self._state:
            self._state = state
            self._emit(StateChanged(state))

    def stats(self) -> RunSummary:
        """Live counters; cheap (no I/O), safe to call at any rate."""
        counters = self.sink.tracker.counters
        topics = {}
        for t in TOPICS:
            c = counters[t]
            topics[t] = TopicStats(
                self._produced[t], c.delivered, c.failed, c.dropped, c.lost_on_stop
            )
        if self._t0 is None:
            elapsed = 0.0
        else:
            elapsed = (
                self._t_end if self._t_end is not None else self.clock.monotonic()
            ) - self._t0
        total = sum(self._produced.values())
        rate = total / elapsed if elapsed > 0 else 0.0
        return RunSummary(topics, elapsed, self._attacks, rate, self._state)

    def sink_status(self) -> SinkStatus:
        return self.sink.status()

    # --- controls (safe to call from the loop at any time)

    def _poke(self) -> None:
        # Not idle any more: the loop has something to handle before it sleeps.
        self._idle.clear()
        self._wake.set()

    def pause(self) -> None:
        """Stop normal traffic and the attack schedule (injected attacks still run)."""
        if self._paused or self._state in (RunState.STOPPING, RunState.STOPPED):
            return
        self._paused = True
        self._paused_at = self.clock.monotonic()
        self._set_state(RunState.PAUSED)
        self._poke()

    def resume(self) -> None:
        """Continue where the schedule left off: the pause does not count toward it."""
        if not self._paused:
            return
        self._paused = False
        if self._paused_at is not None:
            self._pause_shift += self.clock.monotonic() - self._paused_at
            self._paused_at = None
        if self._state is RunState.PAUSED:
            self._set_state(RunState.RUNNING)
        self._poke()

    def toggle_pause(self) -> None:
        if self._paused:
            self.resume()
        else:
            self.pause()

    def inject_attack(self) -> None:
        """Start a flash-loan attack now, also while paused."""
        if self._stop_requested:
            return
        self._injects += 1
        self._poke()

    def stop(self) -> None:
        """Stop cleanly: attacks in flight finish, then the sink is flushed and closed."""
        self._stop_requested = True
        self._poke()

    async def wait_idle(self) -> None:
        """Return once the engine waits for its next scheduled moment (or has finished)."""
        idle = asyncio.ensure_future(self._idle.wait())
        done = asyncio.ensure_future(self._done.wait())
        try:
            await asyncio.wait({idle, done}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            idle.cancel()
            done.cancel()

    # --- running

    async def run(self) -> RunSummary:
        """Open the sink, generate until stopped, flush and close. Returns the final counters."""
        reason = "stop"
        try:
            entities = await self.sink.open()
            self._emit(SinkReady(entities))
            self._t0 = self.clock.monotonic()
            if self._stop_requested:
                pass
            else:
                self._set_state(RunState.PAUSED if self._paused else RunState.RUNNING)
                if self.settings.load_mode:
                    with _rare_young_collections():
                        reason = await self._run_load()
                else:
                    reason = await self._run_realtime()
        finally:
            self._set_state(RunState.STOPPING)
            if self._t0 is not None and self._t_end is None:
                self._t_end = self.clock.monotonic()
            try:
                await self.sink.flush(self.settings.flush_timeout)
            finally:
                self.ledger.close()
                await self.sink.close()
                self._set_state(RunState.STOPPED)
                self._done.set()
        summary = self.stats()
        self._emit(Stopped(summary, reason))
        return summary

    async def _sleep_until(self, deadline: float) -> None:
        if self._wake.is_set():
            self._wake.clear()
            return
        self._idle.set()
        try:
            await self.clock.sleep_until(deadline, self._wake)
        finally:
            self._idle.clear()
            self._wake.clear()

    def _now_ms(self) -> int:
        return self.clock.wall_ms()

    async def _publish(self, records: list[Record], normal_ticks: int) -> None:
        if not records:
            return
        # Counting by type runs in C; topic_of per record would not.
        for cls, n in Counter(map(type, records)).items():
            self._produced[TOPIC_OF_TYPE[cls]] += n
        self.ledger.published(self._produced)
        self._emit(RecordsProduced(records, normal_ticks))
        await self.sink.publish(records)

    def _start_attack(self, batch: list[Record], when: float) -> None:
        attack = self.simulator.start_attack(self._now_ms())
        self._attacks += 1
        self._emit(AttackStarted(attack))
        self._attack_step(attack, batch)
        if not attack.done:
            heapq.heappush(
                self._steps,
                _Step(when + self.settings.effective_step_delay, next(self._seq), attack),
            )

    def _attack_step(self, attack: Attack, batch: list[Record], ts: int | None = None) -> None:
        record = self.simulator.attack_step(attack, self._now_ms() if ts is None else ts)
        step = len(attack.records)
        batch.append(record)
        self.ledger.record_step(attack, record)
        self._emit(AttackStep(attack, step, record, STEP_TEXT[step - 1]))
        if step == ATTACK_STEPS:
            self._emit(AttackFinished(attack))

    async def _run_realtime(self) -> str:
        s = self.settings
        clock = self.clock
        assert self._t0 is not None
        t0 = self._t0
        next_tick = t0
        next_attack = t0 + s.attack_interval
        end = t0 + s.duration if s.duration > 0 else math.inf
        step_delay = s.effective_step_delay
        reason = "stop"
        applied_shift = 0.0
        while True:
            now = clock.monotonic()
            if now >= end and not self._stop_requested:
                self._stop_requested = True
                reason = "duration"
            if self._pause_shift != applied_shift:
                # The pause froze the schedule: move what was due by its length.
                delta = self._pause_shift - applied_shift
                next_tick += delta
                next_attack += delta
                applied_shift = self._pause_shift
            batch: list[Record] = []
            ticks = 0
            while self._injects and not self._stop_requested:
                self._injects -= 1
                self._start_attack(batch, now)
            self._injects = 0
            active = not self._paused and not self._stop_requested
            if active and now - next_tick > MAX_CATCH_UP_TICKS * s.normal_interval:
                next_tick = now - (now - next_tick) % s.normal_interval
            # Handle everything due, earliest first; at one moment attack steps
            # come before ticks, and ticks before a new attack.
            while True:
                candidates: list[tuple[float, int]] = []
                if self._steps and self._steps[0].due <= now:
                    candidates.append((self._steps[0].due, 0))
                if active and next_tick <= now:
                    candidates.append((next_tick, 1))
                if active and next_attack <= now:
                    candidates.append((next_attack, 2))
                if not candidates:
                    break
                due, kind = min(candidates)
                if kind == 0:
                    step = heapq.heappop(self._steps)
                    self._attack_step(step.attack, batch)
                    if not step.attack.done:
                        heapq.heappush(
                            self._steps, _Step(step.due + step_delay, next(self._seq), step.attack)
                        )
                elif kind == 1:
                    batch.extend(self.simulator.normal_tick(self._now_ms()))
                    ticks += 1
                    next_tick += s.normal_interval
                else:
                    self._start_attack(batch, due)
                    next_attack += s.attack_interval
            await self._publish(batch, ticks)
            if self._stop_requested and not self._steps:
                return reason
            deadlines = [end] if not self._stop_requested else []
            if self._steps:
                deadlines.append(self._steps[0].due)
            if active:
                deadlines += [next_tick, next_attack]
            await self._sleep_until(min(deadlines) if deadlines else math.inf)

    async def _run_load(self) -> str:
        s = self.settings
        clock = self.clock
        sim = self.simulator
        assert self._t0 is not None
        rate = s.rate or 0.0
        count = s.count
        end = self._t0 + s.duration if s.duration > 0 else math.inf
        ticks_per_attack = max(1, round(s.attack_interval / s.normal_interval))
        chunk = max(1, min(LOAD_BATCH, int(rate * PACED_CHUNK_SECONDS))) if rate > 0 else LOAD_BATCH
        carry: list[Record] = []
        since_attack = 0
        produced = 0
        while True:
            if self._stop_requested:
                return "stop"
            if count is not None and produced >= count:
                return "count"
            now = clock.monotonic()
            if now >= end:
                return "duration"
            if self._paused and not self._injects:
                await self._sleep_until(end)
                continue
            budget = LOAD_BATCH
            if rate > 0:
                active = now - self._t0 - self._pause_shift - self._current_pause(now)
                # The epsilon keeps float rounding at a chunk boundary from
                # turning "due now" into a zero-length sleep, over and over.
                allowed = int(rate * active + 1e-6) - produced
                if allowed < chunk and (count is None or count - produced > allowed):
                    due = self._t0 + self._pause_shift + (produced + chunk) / rate
                    if due > now:
                        await self._sleep_until(min(due, end))
                        continue
                budget = max(1, min(allowed, LOAD_BATCH))
            if count is not None:
                budget = min(budget, count - produced)
            remaining = math.inf if count is None else count - produced
            batch = carry
            ticks = 0
            ts = self._now_ms()
            while len(batch) < budget or self._injects:
                # An attack goes out whole or not at all: at the end of --count
                # a normal tick takes the place of one that would not fit.
                fits = remaining - len(batch) >= ATTACK_STEPS
                if self._injects:
                    self._injects -= 1
                    if fits:
                        self._load_attack(batch, ts)
                    continue
                if self._paused:
                    break
                if since_attack >= ticks_per_attack:
                    since_attack = 0
                    if fits:
                        self._load_attack(batch, ts)
                        continue
                want = min(ticks_per_attack - since_attack, max(1, (budget - len(batch) + 2) // 3))
                sim.extend_normal(batch, want, ts)
                since_attack += want
                ticks += want
            # Whole ticks keep the topic mix; a tail over budget waits for the
            # next batch (or, at the end of --count, is never published).
            carry = batch[budget:]
            del batch[budget:]
            produced += len(batch)
            await self._publish(batch, ticks)
            if rate <= 0:
                # Unthrottled: still give the UI and the sink's tasks a turn.
                await asyncio.sleep(0)

    def _current_pause(self, now: float) -> float:
        return now - self._paused_at if self._paused_at is not None else 0.0

    def _load_attack(self, batch: list[Record], ts: int) -> None:
        attack = self.simulator.start_attack(ts)
        self._attacks += 1
        self._emit(AttackStarted(attack))
        for _ in range(ATTACK_STEPS):
            self._attack_step(attack, batch, ts)


_relaxed_runs: list[tuple[int, int, int]] = []
"""The collector's thresholds before the first load run still going; one entry per run."""


@contextmanager
def _rare_young_collections() -> Iterator[None]:
    """Run the cyclic collector's youngest generation rarely while generating at full speed.

    Load mode allocates records by the million (tuples, which the collector
    tracks) and drops them a batch later; none is part of a cycle. At the
    default threshold a collection runs every 700 allocations and walks
    objects about to be freed anyway: about a tenth of the loop's time.
    Older generations keep their thresholds, so memory stays bounded. The
    thresholds are process-wide: with several engines in one process, the
    last load run to end puts back what was there before the first began.
    """
    old = _relaxed_runs[0] if _relaxed_runs else gc.get_threshold()
    _relaxed_runs.append(old)
    gc.set_threshold(LOAD_GC_THRESHOLD, *old[1:])
    try:
        yield
    finally:
        _relaxed_runs.pop()
        if not _relaxed_runs:
            gc.set_threshold(*old)
