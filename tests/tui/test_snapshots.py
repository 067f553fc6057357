"""Snapshots of the dashboard: fixed seed, fake clock, UTC labels, nothing from the host.

Update with ``pytest tests/tui/test_snapshots.py --snapshot-update`` and read the
report (or the SVGs in ``__snapshots__``) before committing them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from defi_tui.clock import FakeClock
from defi_tui.config import Settings
from defi_tui.sinks.local import LocalSink
from defi_tui.tui.app import DefiApp, make_app

from .conftest import Driver

Scenario = Callable[[Driver], Awaitable[None]]
SnapCompare = Callable[..., bool]


def _app(settings: Settings, clock: FakeClock) -> DefiApp:
    return make_app(settings, LocalSink(settings), clock)


def _run(app: DefiApp, clock: FakeClock, scenario: Scenario) -> Callable[[Pilot[Any]], Any]:
    async def run_before(pilot: Pilot[Any]) -> None:
        drive = Driver(app, pilot, clock)
        await drive.started()
        await scenario(drive)

    return run_before


async def _normal(drive: Driver) -> None:
    await drive.advance(300)


async def _attack_in_progress(drive: Driver) -> None:
    await drive.advance(300)
    await drive.attack()
    await drive.advance(3)


async def _paused(drive: Driver) -> None:
    await drive.advance(150)
    await drive.pilot.press("p")
    await drive.advance(60)


async def _attack_done(drive: Driver) -> None:
    await drive.advance(200)
    await drive.attack()
    await drive.advance(10)


async def _help(drive: Driver) -> None:
    await drive.advance(60)
    await drive.pilot.press("question_mark")


@pytest.mark.parametrize(
    ("scenario", "size"),
    [
        pytest.param(_normal, (120, 36), id="normal"),
        pytest.param(_attack_in_progress, (120, 36), id="attack"),
        pytest.param(_paused, (120, 36), id="paused"),
        pytest.param(_attack_done, (80, 24), id="narrow-80x24"),
        pytest.param(_help, (120, 36), id="key-help"),
    ],
)
def test_dashboard_snapshot(
    snap_compare: SnapCompare,
    settings: Settings,
    clock: FakeClock,
    scenario: Scenario,
    size: tuple[int, int],
) -> None:
    app = _app(settings, clock)
    assert snap_compare(app, run_before=_run(app, clock, scenario), terminal_size=size)
