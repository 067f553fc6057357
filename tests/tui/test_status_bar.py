"""The status bar's line at a load run's rates (the snapshots cover the default few records/s)."""

from __future__ import annotations

from textual.app import App, ComposeResult

from defi_tui.tui.widgets import StatusBar


class _BarApp(App[None]):
    def compose(self) -> ComposeResult:
        yield StatusBar()


async def test_a_load_run_shows_whole_records_per_second_and_grouped_counts() -> None:
    app = _BarApp()
    async with app.run_test(size=(120, 3)) as pilot:
        bar = app.query_one(StatusBar)
        bar.run_state, bar.load_rate, bar.rate, bar.attacks = "running", 0.0, 581_397.24, 12_987
        await pilot.pause()
        line = bar.render().plain
    assert "load max" in line
    assert "581,397 rec/s" in line
    assert "attacks 12,987" in line
