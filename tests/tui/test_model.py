"""The engine listener behind the dashboard: bounded, each record shown once."""

from __future__ import annotations

from defi_tui.engine import AttackStep, RecordsProduced, RunState, SinkReady, StateChanged
from defi_tui.events import TOPICS, Transaction
from defi_tui.simulator import ATTACK_STEPS, Simulator
from defi_tui.sinks.base import EntityState, EntityStatus
from defi_tui.tui.model import FEED_ROWS, GAS_POINTS, PRICE_POINTS, DashboardModel


def test_attack_records_show_once_as_labelled_steps() -> None:
    sim = Simulator(7)
    model = DashboardModel()
    model.on_event(RecordsProduced(list(sim.normal_tick(1_000)), 1))
    attack = sim.start_attack(2_000)
    batch = []
    # The engine reports each step, then publishes the batch holding them.
    for step in range(1, ATTACK_STEPS + 1):
        record = sim.attack_step(attack, 2_000 + step)
        batch.append(record)
        model.on_event(AttackStep(attack, step, record, ""))
    model.on_event(RecordsProduced(batch, 0))

    rows = model.take_rows()
    assert [r.step for r in rows] == [0, 1, 2, 3, 4, 5]
    assert all(r.block == attack.block_number for r in rows[1:])
    assert model.take_rows() == []
    assert list(model.attack_marks) == [(batch[2].event_timestamp, batch[2].price)]
    assert model.gas[-1] == 250
    assert model.prices_changed and model.gas_changed


def test_buffers_stay_bounded_under_a_flood() -> None:
    sim = Simulator(1)
    model = DashboardModel()
    for i in range(20):
        records = [r for tick in sim.normal_ticks(1_000, i * 1_000) for r in tick]
        model.on_event(RecordsProduced(records, 1_000))
    assert len(model.prices) == PRICE_POINTS
    assert len(model.gas) == GAS_POINTS
    rows = model.take_rows()
    assert len(rows) == FEED_ROWS
    # The newest are kept.
    last_tx = [r for r in records if isinstance(r, Transaction)][-1]
    assert rows[-1].time_ms == last_tx.event_timestamp
    assert rows[-1].sender == last_tx.from_address


def test_state_and_entities_are_kept() -> None:
    model = DashboardModel()
    entities = [EntityStatus(t, EntityState.CREATED) for t in TOPICS]
    model.on_event(SinkReady(entities))
    model.on_event(StateChanged(RunState.PAUSED))
    assert model.entities == tuple(entities)
    assert model.state is RunState.PAUSED
