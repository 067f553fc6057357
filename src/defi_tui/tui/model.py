"""What the dashboard shows, filled by an engine listener into bounded buffers.

The engine calls :meth:`DashboardModel.on_event` on the loop for every event,
at whatever rate records are produced; it only appends to ``deque``s and sets
flags. The app's refresh timer reads the buffers a few times a second and
hands them to the widgets, so a burst of records costs one repaint per panel.
Nothing here imports Textual.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from ..engine import (
    AttackStep,
    EngineEvent,
    RecordsProduced,
    RunState,
    RunSummary,
    SinkReady,
    StateChanged,
    Stopped,
)
from ..events import DEX_ROUTER, DexPrice, Record, Transaction
from ..sinks.base import EntityStatus
from .widgets.tx_feed import FeedRow

PRICE_POINTS = 300
"""Prices on the chart: 25 minutes at the default 5 s tick; plotting 300 points is ~10 ms."""
ATTACK_MARKS = 50
"""Attack price drops remembered for the chart."""
GAS_POINTS = 120
"""Gas samples behind the sparkline."""
FEED_ROWS = 200
"""Rows the transaction feed keeps."""

STEP_LABELS = ("flash loan", "swap", "price drop", "gas spike", "repay")
"""Short names of the attack's five steps, for the feed."""


@dataclass(frozen=True)
class _Pending:
    record: Record
    block: int | None = None
    step: int = 0


class DashboardModel:
    """Bounded buffers of what the engine produced, and change flags for the panels.

    Args:
        price_points: Prices kept for the chart.
        gas_points: Gas samples kept for the sparkline.
        feed_rows: Feed rows kept between two refreshes (older ones are never shown).
    """

    def __init__(
        self,
        price_points: int = PRICE_POINTS,
        gas_points: int = GAS_POINTS,
        feed_rows: int = FEED_ROWS,
    ) -> None:
        self.prices: deque[tuple[int, float]] = deque(maxlen=price_points)
        """(event_timestamp ms, price), oldest first."""
        self.attack_marks: deque[tuple[int, float]] = deque(maxlen=ATTACK_MARKS)
        """(event_timestamp ms, price) of each attack's price drop."""
        self.gas: deque[int] = deque(maxlen=gas_points)
        """``avg_gas_price_gwei``, oldest first."""
        self.entities: tuple[EntityStatus, ...] = ()
        """The sink's entity setup, once it is open."""
        self.state: RunState = RunState.STARTING
        """The engine's last reported run state."""
        self.summary: RunSummary | None = None
        """Final counters, once the engine stopped."""
        self.stop_reason: str | None = None
        self.prices_changed = False
        """New prices or attack marks since the chart was last drawn."""
        self.gas_changed = False
        """New gas samples since the sparkline was last drawn."""
        self._feed: deque[_Pending] = deque(maxlen=feed_rows)
        # Attack records arrive twice: first as an AttackStep, then inside the
        # RecordsProduced batch. The step's label is remembered by record and
        # the row is added with the batch, so the feed keeps the batch's order.
        self._attack_steps: dict[int, tuple[int, int]] = {}

    def on_event(self, event: EngineEvent) -> None:
        """Take one engine event (the engine listener); cheap, never blocks."""
        if isinstance(event, RecordsProduced):
            self._records(event.records)
        elif isinstance(event, AttackStep):
            self._attack_step(event)
        elif isinstance(event, StateChanged):
            self.state = event.state
        elif isinstance(event, SinkReady):
            self.entities = tuple(event.entities)
        elif isinstance(event, Stopped):
            self.summary = event.summary
            self.stop_reason = event.reason

    def take_rows(self) -> list[FeedRow]:
        """Feed rows since the last call, oldest first."""
        pending = list(self._feed)
        self._feed.clear()
        return [_row(p) for p in pending]

    def _records(self, records: Sequence[Record]) -> None:
        feed = self._feed
        steps = self._attack_steps
        prices = self.prices
        gas = self.gas
        for r in records:
            step = steps.pop(id(r), None) if steps else None
            if isinstance(r, Transaction):
                feed.append(_Pending(r) if step is None else _Pending(r, *step))
                continue
            if isinstance(r, DexPrice):
                prices.append((r.event_timestamp, r.price))
                self.prices_changed = True
            else:
                gas.append(r.avg_gas_price_gwei)
                self.gas_changed = True
            if step is not None:
                feed.append(_Pending(r, *step))

    def _attack_step(self, event: AttackStep) -> None:
        record = event.record
        if isinstance(record, DexPrice):
            self.attack_marks.append((record.event_timestamp, record.price))
            self.prices_changed = True
        self._attack_steps[id(record)] = (event.attack.block_number, event.step)


def _row(p: _Pending) -> FeedRow:
    r = p.record
    label = STEP_LABELS[p.step - 1] if p.step else ""
    if isinstance(r, Transaction):
        return FeedRow.from_transaction(r, p.step, label)
    if isinstance(r, DexPrice):
        return FeedRow.from_price(r, p.block, DEX_ROUTER, p.step, label)
    return FeedRow.from_gas(r, p.step, label)
