"""Ground truth: what the tool knows about every attack it injected.

The generator is the one party that knows when each flash-loan attack
happened, who ran it, in which block, and which five records carry it. The
:class:`AttackLedger` keeps that per attack, together with the wall time each
of the five records was produced and delivered by the sink, so that a
detection pipeline can be judged against it (:mod:`defi_tui.detection`) and a
recording can say where its attacks are (the ``_attacks`` lines).

Memory is bounded: the last :data:`KEEP_ATTACKS` attacks are kept in full,
older ones only as counts.

Delivery times come from the sink's :class:`~defi_tui.sinks.base.DeliveryTracker`:
a record counts as delivered once its topic's delivered count reaches the
end of the batch it was published in. Sinks deliver each topic in order, so
for the local sink (which delivers a batch as it takes it) the time is exact,
and for the DeltaStream and Kafka sinks it is at most one batch late.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .events import TOPIC_OF_TYPE, TOPICS, Record, to_dict
from .simulator import ATTACK_STEPS, Attack

ATTACKS_TOPIC = "_attacks"
"""The pseudo topic of ground-truth lines in a recording (never published to a sink)."""
KEEP_ATTACKS = 1000
"""Attacks kept in full; older ones are only counted."""


@dataclass(slots=True, eq=False)
class StepTruth:
    """One of an attack's five records and what became of it."""

    attack_id: int
    step: int
    """1 to 5."""
    record: Record
    topic: str
    produced_ms: int
    """Wall-clock ms the engine handed it to the sink."""
    delivered_ms: int | None = None
    """Wall-clock ms the sink reported it delivered; None until then (or if it never was)."""
    position: int | None = None
    """Counting sinks: the topic's produced count at the end of the record's batch."""


@dataclass(slots=True, eq=False)
class AttackTruth:
    """Everything known about one injected attack."""

    id: int
    attacker: str
    block_number: int
    tx_hashes: tuple[str, str, str]
    """Loan, swap and repayment transaction hashes."""
    steps: list[StepTruth] = field(default_factory=list)
    first_event_ms: int = 0
    """``event_timestamp`` of the attack's first record."""
    last_event_ms: int = 0
    """``event_timestamp`` of the latest record produced so far."""
    complete: bool = False
    """All five records delivered, or the run ended: nothing more will be learnt."""
    delivered_steps: int = 0
    """How many of the five records the sink has delivered so far."""

    @property
    def finished(self) -> bool:
        """All five records produced."""
        return len(self.steps) == ATTACK_STEPS

    @property
    def produced_ms(self) -> int:
        """Wall-clock ms the first record was produced."""
        return self.steps[0].produced_ms

    @property
    def first_seen_ms(self) -> int:
        """Wall-clock ms the first record reached the sink's target (produced, if unknown)."""
        first = self.steps[0]
        return first.delivered_ms if first.delivered_ms is not None else first.produced_ms

    @property
    def last_produced_ms(self) -> int:
        """Wall-clock ms the latest record was produced."""
        return self.steps[-1].produced_ms

    @property
    def delivered(self) -> int:
        """How many of the five records the sink has delivered."""
        return sum(1 for s in self.steps if s.delivered_ms is not None)

    def to_record(self) -> dict[str, Any]:
        """The ``_attacks`` line's record: JSON-ready, steps in order."""
        return {
            "id": self.id,
            "attacker": self.attacker,
            "block_number": self.block_number,
            "tx_hashes": list(self.tx_hashes),
            "steps": [
                {
                    "step": s.step,
                    "topic": s.topic,
                    "record": to_dict(s.record),
                    "produced_ms": s.produced_ms,
                    "delivered_ms": s.delivered_ms,
                }
                for s in self.steps
            ],
        }


LedgerListener = Callable[[AttackTruth], None]


class AttackLedger:
    """The ground truth of a run; the engine feeds it, front ends and scoring read it.

    Args:
        wall_ms: the clock that stamps production and delivery (the engine's).
        keep: attacks kept in full.
    """

    def __init__(self, wall_ms: Callable[[], int], keep: int = KEEP_ATTACKS) -> None:
        self._wall_ms = wall_ms
        self._keep = keep
        self._attacks: OrderedDict[int, AttackTruth] = OrderedDict()
        self._current: AttackTruth | None = None
        self._by_value: dict[str, AttackTruth] = {}
        self._by_block: dict[int, AttackTruth] = {}
        self._waiting: dict[str, deque[StepTruth]] = {t: deque() for t in TOPICS}
        self._unplaced: list[StepTruth] = []
        self._delivered: dict[str, int] = dict.fromkeys(TOPICS, 0)
        self._on_step: list[Callable[[AttackTruth, StepTruth], None]] = []
        self._on_complete: list[LedgerListener] = []
        self.started = 0
        """Attacks started over the whole run."""
        self.finished = 0
        """Attacks whose five records were all produced."""
        self.completed = 0
        """Attacks whose five records were all delivered."""

    # --- listening

    def on_step(self, listener: Callable[[AttackTruth, StepTruth], None]) -> None:
        """Call ``listener(truth, step)`` whenever an attack record is produced."""
        self._on_step.append(listener)

    def on_complete(self, listener: LedgerListener) -> None:
        """Call ``listener(truth)`` once per attack, when nothing more will be learnt of it."""
        self._on_complete.append(listener)

    # --- fed by the engine (on the loop)

    def record_step(self, attack: Attack, record: Record) -> AttackTruth:
        """An attack record was produced (called by the engine for each of the five)."""
        truth = self._current
        if truth is None or truth.id != attack.id:
            truth = self._attacks.get(attack.id) or self._open(attack)
            self._current = truth
        topic = TOPIC_OF_TYPE[type(record)]
        # No link back from the step to its attack: that would make every
        # attack a reference cycle, left for the cyclic collector once evicted.
        step = StepTruth(attack.id, len(truth.steps) + 1, record, topic, self._wall_ms())
        truth.steps.append(step)
        ts = record.event_timestamp
        if step.step == 1:
            truth.first_event_ms = ts
        if ts > truth.last_event_ms:
            truth.last_event_ms = ts
        self._waiting[topic].append(step)
        self._unplaced.append(step)
        if truth.finished:
            self.finished += 1
        for listener in self._on_step:
            listener(truth, step)
        return truth

    def _open(self, attack: Attack) -> AttackTruth:
        truth = AttackTruth(attack.id, attack.attacker, attack.block_number, attack.tx_hashes)
        self.started += 1
        if len(self._attacks) >= self._keep:
            self._evict(self._attacks.popitem(last=False)[1])
        self._attacks[attack.id] = truth
        by_value = self._by_value
        for value in (attack.attacker, *attack.tx_hashes):
            by_value[value.lower()] = truth
        self._by_block[attack.block_number] = truth
        return truth

    def _evict(self, truth: AttackTruth) -> None:
        by_value = self._by_value
        for value in (truth.attacker, *truth.tx_hashes):
            key = value.lower()
            if by_value.get(key) is truth:
                del by_value[key]
        if self._by_block.get(truth.block_number) is truth:
            del self._by_block[truth.block_number]
        if truth.complete:
            # Complete means every step was delivered (and left the waiting
            # queues) or the run has ended: nothing to take back.
            return
        for step in truth.steps:
            waiting = self._waiting[step.topic]
            if step in waiting:
                waiting.remove(step)
        self._complete(truth)

    def published(self, produced: Mapping[str, int]) -> None:
        """A batch went to the sink; ``produced`` holds each topic's count including it.

        Gives the records produced since the last batch the position that a
        counting sink's delivered count has to reach.
        """
        if not self._unplaced:
            return
        for step in self._unplaced:
            step.position = produced[step.topic]
        self._unplaced.clear()

    def delivered(self, topic: str, n: int, records: Sequence[Record] | None) -> None:
        """The sink's delivery listener: ``n`` records of ``topic`` arrived at the target."""
        total = self._delivered[topic] + n
        self._delivered[topic] = total
        waiting = self._waiting[topic]
        if not waiting:
            return
        # A sink delivers each topic in order, and positions grow along the
        # waiting queue: only its head can be due, whether or not the sink
        # names the records (looking them up by identity cost more than the
        # detectors themselves in load mode).
        done: list[StepTruth] = []
        while waiting and waiting[0].position is not None and total >= waiting[0].position:
            done.append(waiting.popleft())
        if not done:
            return
        now = self._wall_ms()
        attacks = self._attacks
        for step in done:
            step.delivered_ms = now
            # Evicting an attack takes its steps out of the queues, so this
            # finds it; the check only guards the invariant.
            truth = attacks.get(step.attack_id)
            if truth is None:
                continue
            truth.delivered_steps += 1
            if truth.delivered_steps == ATTACK_STEPS and not truth.complete:
                self._complete(truth)

    def _complete(self, truth: AttackTruth) -> None:
        truth.complete = True
        self.completed += 1
        for listener in self._on_complete:
            listener(truth)

    def close(self) -> None:
        """The run ended: every attack not yet complete is, with what is known of it."""
        for truth in list(self._attacks.values()):
            if not truth.complete:
                self._complete(truth)
        for waiting in self._waiting.values():
            waiting.clear()
        self._unplaced.clear()

    # --- reading

    def get(self, attack_id: int) -> AttackTruth | None:
        """The attack with this id, if still kept."""
        return self._attacks.get(attack_id)

    def recent(self) -> list[AttackTruth]:
        """The kept attacks, oldest first."""
        return list(self._attacks.values())

    def __len__(self) -> int:
        return len(self._attacks)

    def by_value(self, value: str) -> AttackTruth | None:
        """The attack whose attacker address or one of whose tx hashes is ``value`` (any case)."""
        return self._by_value.get(value.lower())

    def by_block(self, block: int) -> AttackTruth | None:
        """The attack in block ``block``."""
        return self._by_block.get(block)

    def newest_first(self) -> Iterator[AttackTruth]:
        """The kept attacks, newest first (for window searches that stop early)."""
        return reversed(self._attacks.values())
