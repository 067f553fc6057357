"""The judge: runs the detection sources and scores each against the ground truth.

Wiring: the engine's :class:`~defi_tui.ground_truth.AttackLedger` says when
an attack starts and finishes; each source hands its detections over on the
loop; every detection is matched once (:func:`~defi_tui.detection.matching.match`)
and scored on its source's :class:`~defi_tui.detection.scoring.Scoreboard`.
Front ends read the boards and may listen for :class:`ScoreEvent` as they
happen. All of it runs on the event loop and never blocks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from ..engine import Engine
from ..ground_truth import AttackTruth, StepTruth
from .base import Detection, DetectionSource, SourceContext, SourceState
from .matching import DEFAULT_SLACK_MS, match
from .scoring import Scoreboard, ScoreEvent

log = logging.getLogger("defi_tui.detection")

ScoreListener = Callable[[ScoreEvent], None]


class Judge:
    """Detection sources, their scoreboards, and the clock that decides what is missed.

    Args:
        engine: the run whose attacks are judged (its ledger is the ground truth).
        sources: the sources to read; each gets its own scoreboard.
        timeout: seconds after an attack's last record within which it must be detected.
        slack_ms: how long after an attack's last record its time window lasts.
    """

    def __init__(
        self,
        engine: Engine,
        sources: Sequence[DetectionSource],
        timeout: float = 30.0,
        slack_ms: int | None = None,
    ) -> None:
        self.engine = engine
        self.sources = list(sources)
        self.timeout_ms = int(timeout * 1000)
        if slack_ms is None:
            # The rebound comes with the next normal price: at least one tick later.
            slack_ms = max(DEFAULT_SLACK_MS, int(2 * engine.settings.normal_interval * 1000))
        self.slack_ms = slack_ms
        self.boards: dict[str, Scoreboard] = {s.label: Scoreboard(s.label) for s in sources}
        self._listeners: list[ScoreListener] = []
        self._settled = asyncio.Event()
        self._settled.set()
        self._wall_ms = engine.clock.wall_ms
        engine.ledger.on_step(self._on_step)

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.sources]

    def add_listener(self, listener: ScoreListener) -> None:
        """Call ``listener(event)`` on the loop for every detection, miss and false positive."""
        self._listeners.append(listener)

    def _emit(self, events: Sequence[ScoreEvent]) -> None:
        for event in events:
            for listener in self._listeners:
                listener(event)

    # --- ground truth

    def _on_step(self, truth: AttackTruth, step: StepTruth) -> None:
        if step.step == 1:
            for board in self.boards.values():
                board.attack_started(truth)
            self._settled.clear()
        if truth.finished:
            due = step.produced_ms + self.timeout_ms
            for board in self.boards.values():
                board.attack_finished(truth, due)

    # --- detections

    def _receive(self, detections: list[Detection]) -> None:
        ledger = self.engine.ledger
        events = []
        for detection in detections:
            board = self.boards.get(detection.source)
            if board is None:
                continue
            found = match(detection.fields, ledger, self.slack_ms)
            events.append(board.detection(detection, found))
        self._emit(events)
        self._check_settled()

    def tick(self) -> None:
        """Count as missed what ran out of time; front ends call this a few times a second."""
        now = self._wall_ms()
        for board in self.boards.values():
            self._emit(board.expire(now))
        self._check_settled()

    def _check_settled(self) -> None:
        if all(board.pending == 0 for board in self.boards.values()):
            self._settled.set()

    async def settle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for every finished attack to be detected; True if all were."""
        self._check_settled()
        try:
            await asyncio.wait_for(self._settled.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def finish(self) -> None:
        """No more detections will be read: every attack still pending is missed."""
        for board in self.boards.values():
            self._emit(board.finish())
        self._settled.set()

    # --- sources

    async def start(self) -> None:
        """Start every source; one that cannot start is shown as failed, never raised."""
        start_ms = self._wall_ms()
        for source in self.sources:
            ctx = SourceContext(self.engine, self._receive, self._wall_ms, start_ms)
            try:
                await source.start(ctx)
            except Exception as exc:  # a source failing must not stop the run
                status = source.status()
                status.state = SourceState.FAILED
                status.last_error = str(exc) or type(exc).__name__
                log.debug("detection source %s failed to start", source.label, exc_info=True)

    async def stop(self) -> None:
        """Stop every source (each bounds its own stop)."""
        for source in self.sources:
            try:
                await source.stop()
            except Exception:  # stopping is best effort; the run's result stands
                log.debug("detection source %s failed to stop", source.label, exc_info=True)
