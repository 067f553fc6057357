"""Pilot tests of the dashboard's keys against the real engine and the real local sink."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from defi_tui.clock import FakeClock
from defi_tui.config import Settings
from defi_tui.engine import AttackStep, RunState, RunSummary
from defi_tui.events import (
    DEX_ROUTER,
    FLASH_LOAN_PROVIDER,
    PRICES,
    TRANSACTIONS,
    DexPrice,
    MempoolSample,
    Record,
    Transaction,
)
from defi_tui.sinks.base import EntityStatus, SinkError
from defi_tui.sinks.local import LocalSink
from defi_tui.tui.app import make_app
from defi_tui.tui.widgets import GasSparkline, KeyHelpScreen, SinkStatusPanel, StatusBar, TxFeed

from .conftest import Driver

SIZE = (120, 36)


def _footer_keys(app: object) -> dict[str, str]:
    """Key -> description of the bindings the footer shows now."""
    shown = app.active_bindings  # type: ignore[attr-defined]
    return {key: b.binding.description for key, b in shown.items() if b.binding.show and b.enabled}


async def test_attack_key_sends_five_records_to_sink_and_feed(
    settings: Settings, clock: FakeClock
) -> None:
    sink = LocalSink(settings)
    delivered: list[Record] = []
    sink.tracker.add_listener(lambda topic, n, records: delivered.extend(records or ()))
    app = make_app(settings, sink, clock)
    async with app.run_test(size=SIZE) as pilot:
        drive = Driver(app, pilot, clock)
        await drive.started()
        await drive.advance(30)
        assert app.engine.stats().attacks == 0
        before = len(delivered)

        await drive.attack()
        await drive.advance(4 * settings.attack_step_delay)

        steps = [e for e in drive.events if isinstance(e, AttackStep)]
        assert [s.step for s in steps] == [1, 2, 3, 4, 5]
        attack = steps[0].attack
        records = [s.record for s in steps]
        # The five records reached the sink, in step order.
        new = delivered[before:]
        assert [r for r in new if r in records] == records
        loan, swap, price, gas, repay = records
        assert isinstance(loan, Transaction) and loan.from_address == FLASH_LOAN_PROVIDER
        assert isinstance(swap, Transaction) and swap.to_address == DEX_ROUTER
        assert isinstance(price, DexPrice) and price.price < 2000
        assert isinstance(gas, MempoolSample) and gas.avg_gas_price_gwei == 250
        assert isinstance(repay, Transaction) and repay.tx_amount == 50_025_000.0

        # ... and the feed, newest first, each once, labelled with its step.
        rows = app.query_one(TxFeed).rows
        attack_rows = [r for r in rows if r.step]
        assert [r.step for r in attack_rows] == [5, 4, 3, 2, 1]
        assert {r.block for r in attack_rows} == {attack.block_number}
        assert [r.label for r in reversed(attack_rows)] == [
            "flash loan",
            "swap",
            "price drop",
            "gas spike",
            "repay",
        ]
        hashes = [(r.sender, r.receiver, r.amount) for r in rows if not r.step]
        assert (loan.from_address, loan.to_address, loan.tx_amount) not in hashes
        assert app.query_one(StatusBar).attacks == 1
        assert app.query_one(GasSparkline).peak == 250


async def test_attack_key_works_while_paused(settings: Settings, clock: FakeClock) -> None:
    app = make_app(settings, LocalSink(settings), clock)
    async with app.run_test(size=SIZE) as pilot:
        drive = Driver(app, pilot, clock)
        await drive.started()
        await pilot.press("p")
        await drive.advance(10)
        produced = app.engine.stats().total.produced
        await drive.attack()
        await drive.advance(4)
        assert app.engine.state is RunState.PAUSED
        # Only the attack's five records, no normal traffic.
        assert app.engine.stats().total.produced == produced + 5
        assert len(drive.finished_attacks()) == 1


async def test_pause_key_stops_counters_then_resume_continues(
    settings: Settings, clock: FakeClock
) -> None:
    app = make_app(settings, LocalSink(settings), clock)
    async with app.run_test(size=SIZE) as pilot:
        drive = Driver(app, pilot, clock)
        await drive.started()
        await drive.advance(20)
        bar = app.query_one(StatusBar)
        panel = app.query_one(SinkStatusPanel)
        # A tick at t=0 and every 5 s: five ticks of three records.
        assert app.engine.stats().total.produced == 15
        assert bar.run_state == "running"
        assert _footer_keys(app)["p"] == "Pause"

        await pilot.press("p")
        await drive.advance(60)
        assert app.paused
        assert bar.run_state == "paused"
        assert _footer_keys(app)["p"] == "Resume"
        counts_paused = panel.counts
        assert [c.produced for c in counts_paused] == [5, 5, 5]
        await drive.advance(60)
        assert panel.counts == counts_paused
        assert app.engine.stats().total.produced == 15

        await pilot.press("p")
        await drive.advance(10)
        assert not app.paused
        assert bar.run_state == "running"
        assert _footer_keys(app)["p"] == "Pause"
        assert [c.produced for c in panel.counts] == [7, 7, 7]
        assert [c.delivered for c in panel.counts] == [7, 7, 7]


async def test_quit_key_flushes_sink_and_exits(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    recording = tmp_path / "records.jsonl"
    settings = dataclasses.replace(settings, record=recording)
    sink = LocalSink(settings)
    app = make_app(settings, sink, clock)
    async with app.run_test(size=SIZE) as pilot:
        drive = Driver(app, pilot, clock)
        await drive.started()
        await drive.advance(25)
        await pilot.press("q")
        await app.workers.wait_for_complete()
        await pilot.pause()
    summary = app.return_value
    assert isinstance(summary, RunSummary)
    assert summary.state is RunState.STOPPED
    assert summary.total.produced == 18
    assert summary.total.delivered == 18
    assert summary.total.lost_on_stop == 0
    # Flushed: every produced record is in the recording, in order, and the file is closed.
    lines = [json.loads(line) for line in recording.read_text().splitlines()]
    assert len(lines) == 18
    assert [x["topic"] for x in lines[:3]] == [TRANSACTIONS, PRICES, "mempool_data"]
    assert sink.status().state.value == "closed"


async def test_help_key_shows_and_hides_key_help(settings: Settings, clock: FakeClock) -> None:
    app = make_app(settings, LocalSink(settings), clock)
    async with app.run_test(size=SIZE) as pilot:
        drive = Driver(app, pilot, clock)
        await drive.started()
        assert _footer_keys(app) == {
            "a": "Attack",
            "p": "Pause",
            "d": "Scored: builtin",
            "q": "Quit",
            "question_mark": "Keys",
        }
        await pilot.press("question_mark")
        assert isinstance(app.screen, KeyHelpScreen)
        text = " ".join(str(s.render()) for s in app.screen.query(".key-help-line"))
        for word in ("inject a flash-loan attack", "pause / resume", "quit", "help"):
            assert word in text
        await pilot.press("question_mark")
        assert not isinstance(app.screen, KeyHelpScreen)
        await pilot.press("question_mark")
        await pilot.press("escape")
        assert not isinstance(app.screen, KeyHelpScreen)


class _UnreachableSink(LocalSink):
    """A sink that cannot work at all (say, a wrong server URL): ``open`` raises."""

    async def open(self) -> list[EntityStatus]:
        raise SinkError("cannot reach https://api.example.invalid: name not resolved")


async def test_a_sink_that_cannot_open_is_shown_and_q_still_quits(
    settings: Settings, clock: FakeClock
) -> None:
    app = make_app(settings, _UnreachableSink(settings), clock)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.engine_error == "cannot reach https://api.example.invalid: name not resolved"
        assert app.stopping
        assert app.query_one(StatusBar).run_state == "stopped"
        assert "a" not in _footer_keys(app)
        await pilot.press("q")
    assert app.return_value is None
