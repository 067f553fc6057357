"""The score of one detection source against the ground truth.

Per attack: pending until a detection matches it (detected, with its
latency and the detector that caught it first) or until ``timeout`` after
its last record passes without one (missed; a detection arriving later still
turns it into detected, with the long latency it took). Overall: attacks
injected, detected, missed, false positives (detections matching no attack),
duplicates (further detections of an attack already detected) and the
median and 95th percentile of the latencies.

Latency is measured from the attack's first record twice: in event time (the
detection's own time minus the first record's ``event_timestamp``) and in
wall time (when the detection reached this tool minus when the first record
reached the sink's target, or was produced if the sink does not say).

Memory is bounded: the last ``keep`` attacks are scored one by one, latency
percentiles cover the last ``latency_window`` detected attacks, counts cover
the whole run.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from ..ground_truth import KEEP_ATTACKS, AttackTruth
from .base import Detection
from .matching import Match

LATENCY_WINDOW = 10_000
"""Detected attacks whose latencies make the median and p95."""
FALSE_POSITIVES_KEPT = 50
"""Recent false positives kept for display."""


class Verdict(StrEnum):
    PENDING = "pending"
    DETECTED = "detected"
    MISSED = "missed"


@dataclass(slots=True)
class AttackScore:
    """How one source did on one attack."""

    attack_id: int
    attacker: str
    block_number: int
    verdict: Verdict = Verdict.PENDING
    detector: str | None = None
    """The detector whose detection matched first."""
    rule: str | None = None
    """How that detection matched (attacker, tx_hash, block, time)."""
    event_latency_ms: int | None = None
    wall_latency_ms: int | None = None
    detections: int = 0
    """Detections that matched this attack."""
    due_ms: int | None = None
    """Wall-clock ms after which, undetected, it counts as missed."""
    late: bool = False
    """Detected only after it had been counted as missed."""


@dataclass(frozen=True)
class ScoreSummary:
    """The running score of one source."""

    source: str
    injected: int
    detected: int
    missed: int
    pending: int
    false_positives: int
    duplicates: int
    detections: int
    wall_median_ms: float | None
    wall_p95_ms: float | None
    event_median_ms: float | None
    event_p95_ms: float | None
    by_detector: dict[str, int] = field(default_factory=dict)
    """Attacks caught first by each detector."""


def percentile(values: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile (0..1) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True)
class ScoreEvent:
    """Something a front end may show as it happens."""

    source: str
    kind: str
    """``detected``, ``duplicate``, ``missed`` or ``false_positive``."""
    score: AttackScore | None = None
    detection: Detection | None = None


class Scoreboard:
    """Scores one source. Fed by :class:`~defi_tui.detection.judge.Judge` on the loop.

    Args:
        source: the source's label.
        keep: attacks scored one by one.
        latency_window: detected attacks whose latencies make the percentiles.
    """

    def __init__(
        self, source: str, keep: int = KEEP_ATTACKS, latency_window: int = LATENCY_WINDOW
    ) -> None:
        self.source = source
        self._keep = keep
        self._scores: OrderedDict[int, AttackScore] = OrderedDict()
        self._due: deque[AttackScore] = deque()
        self._wall: deque[int] = deque(maxlen=latency_window)
        self._event: deque[int] = deque(maxlen=latency_window)
        self.false_positive_log: deque[Detection] = deque(maxlen=FALSE_POSITIVES_KEPT)
        self.injected = 0
        self.detected = 0
        self.missed = 0
        self.false_positives = 0
        self.duplicates = 0
        self.detections = 0
        self.by_detector: Counter[str] = Counter()
        self.version = 0
        """Goes up with every change: a front end repaints only when it moved."""

    # --- ground truth

    def attack_started(self, truth: AttackTruth) -> None:
        self.version += 1
        self.injected += 1
        if len(self._scores) >= self._keep:
            old = self._scores.popitem(last=False)[1]
            if old.verdict is Verdict.PENDING:
                # Too old to keep waiting for: what is not found by now is missed.
                old.verdict = Verdict.MISSED
                self.missed += 1
        self._scores[truth.id] = AttackScore(truth.id, truth.attacker, truth.block_number)

    def attack_finished(self, truth: AttackTruth, due_ms: int) -> None:
        score = self._scores.get(truth.id)
        if score is not None and score.verdict is Verdict.PENDING:
            score.due_ms = due_ms
            self._due.append(score)

    # --- detections

    def detection(self, detection: Detection, found: Match | None) -> ScoreEvent:
        """Score one detection, matched (or not) by the matching rule."""
        self.version += 1
        self.detections += 1
        if found is None:
            self.false_positives += 1
            self.false_positive_log.append(detection)
            return ScoreEvent(self.source, "false_positive", None, detection)
        truth = found.truth
        score = self._scores.get(truth.id)
        if score is None:
            # An attack older than the ones kept: it was scored already.
            self.duplicates += 1
            return ScoreEvent(self.source, "duplicate", None, detection)
        score.detections += 1
        if score.verdict is Verdict.DETECTED:
            self.duplicates += 1
            return ScoreEvent(self.source, "duplicate", score, detection)
        if score.verdict is Verdict.MISSED:
            self.missed -= 1
            score.late = True
        score.verdict = Verdict.DETECTED
        score.detector = detection.detector
        score.rule = found.rule
        score.wall_latency_ms = max(0, detection.received_ms - truth.first_seen_ms)
        self._wall.append(score.wall_latency_ms)
        if detection.event_ms is not None:
            score.event_latency_ms = max(0, detection.event_ms - truth.first_event_ms)
            self._event.append(score.event_latency_ms)
        self.detected += 1
        self.by_detector[detection.detector] += 1
        return ScoreEvent(self.source, "detected", score, detection)

    def expire(self, now_ms: int) -> list[ScoreEvent]:
        """Count as missed the attacks whose time to be detected ran out by ``now_ms``."""
        events: list[ScoreEvent] = []
        due = self._due
        while due and (due[0].due_ms or 0) <= now_ms:
            score = due.popleft()
            if score.verdict is Verdict.PENDING:
                score.verdict = Verdict.MISSED
                self.missed += 1
                self.version += 1
                events.append(ScoreEvent(self.source, "missed", score))
        return events

    def finish(self) -> list[ScoreEvent]:
        """The run is over and no more detections will come: every pending attack is missed."""
        events = []
        self.version += 1
        self._due.clear()
        for score in self._scores.values():
            if score.verdict is Verdict.PENDING:
                score.verdict = Verdict.MISSED
                self.missed += 1
                events.append(ScoreEvent(self.source, "missed", score))
        return events

    # --- reading

    @property
    def pending(self) -> int:
        return self.injected - self.detected - self.missed

    def recent(self, n: int) -> list[AttackScore]:
        """The last ``n`` attacks' scores, newest first."""
        out = []
        for score in reversed(self._scores.values()):
            out.append(score)
            if len(out) == n:
                break
        return out

    def get(self, attack_id: int) -> AttackScore | None:
        return self._scores.get(attack_id)

    def summary(self) -> ScoreSummary:
        wall, event = list(self._wall), list(self._event)
        return ScoreSummary(
            self.source,
            self.injected,
            self.detected,
            self.missed,
            self.pending,
            self.false_positives,
            self.duplicates,
            self.detections,
            percentile(wall, 0.5),
            percentile(wall, 0.95),
            percentile(event, 0.5),
            percentile(event, 0.95),
            dict(self.by_detector),
        )
