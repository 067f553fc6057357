"""The dashboard, ``defi-tui``: the market live, the sink's state, keys to steer the run.

The engine runs as one async worker beside the UI; an engine listener fills
bounded buffers (:class:`~defi_tui.tui.model.DashboardModel`) and a timer
moves what is new into the widgets a few times a second inside one
``batch_update``, so however many records the engine produces, each panel
repaints at most :data:`REFRESH_HZ` times a second.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from ..cli import score_lines, summary_lines
from ..clock import Clock
from ..config import ConfigError, Settings, load_settings
from ..detection import DetectionSource, Judge, create_sources, split_spec
from ..engine import Engine, RunState, RunSummary
from ..sinks import Sink, SinkError, create_sink
from .model import DashboardModel
from .widgets import (
    DetectionPanel,
    GasSparkline,
    KeyHelpScreen,
    PriceChart,
    SinkStatusPanel,
    StatusBar,
    TopicCounts,
    TxFeed,
)

PROG = "defi-tui"
EXIT_CONFIG = 2
"""Exit status for a bad setting, as for ``defi-event-generator``."""
REFRESH_HZ = 5.0
"""Panel refreshes per second; records arriving in between are shown together."""
ATTACK_ROWS = 30
"""Attacks listed in the detection panel (more than fit: the panel clips)."""
QUIT_GRACE = 5.0
"""Seconds a quit waits beyond the flush timeout for the engine to finish closing."""

DESCRIPTION = (
    "Live dashboard of a simulated Ethereum DeFi market (transactions, DEX prices, "
    "mempool gas, flash-loan attacks) published to DeltaStream, Kafka or locally. "
    "Keys: a attack, p pause/resume, d switch the scored detection source, q quit, ? help."
)


class DefiApp(App[RunSummary | None]):
    """The dashboard over one engine and one sink; build it with :func:`make_app`.

    Args:
        settings: The run's validated settings.
        sink: Where records go (not yet opened; the engine opens it).
        clock: Time source for the engine; the system clock when None.
        sources: Detection sources to score; the builtin one and the one
            ``--detect`` names when None.
    """

    CSS_PATH = "app.tcss"
    TITLE = "defi-tui"
    ENABLE_COMMAND_PALETTE = False
    HORIZONTAL_BREAKPOINTS = [
        (0, "-narrow"),
        (100, "-wide"),
    ]

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "inject_attack", "Attack", tooltip="Inject a flash-loan attack now"),
        Binding("p", "toggle_pause", "Pause", tooltip="Pause normal traffic and the schedule"),
        # Same key, shown while paused; check_action lets exactly one of the two through.
        Binding("p", "toggle_pause('resume')", "Resume", tooltip="Resume normal traffic"),
        # One binding per kind of detection source; check_action shows the scored one.
        Binding("d", "switch_source('builtin')", "Scored: builtin", tooltip="Score another source"),
        Binding("d", "switch_source('kafka')", "Scored: kafka", tooltip="Score another source"),
        Binding(
            "d",
            "switch_source('deltastream')",
            "Scored: deltastream",
            tooltip="Score another source",
        ),
        Binding("q", "quit", "Quit", tooltip="Stop, flush the sink (bounded) and exit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("question_mark", "show_keys", "Keys", key_display="?"),
    ]

    paused: reactive[bool] = reactive(False, bindings=True)
    """Whether normal traffic is paused; the footer shows Pause or Resume from it."""
    stopping: reactive[bool] = reactive(False, bindings=True)
    """Whether the run is stopping or stopped; attack and pause are then unavailable."""
    scored: reactive[int] = reactive(0, bindings=True)
    """Index of the detection source whose score the detection panel shows."""

    def __init__(
        self,
        settings: Settings,
        sink: Sink,
        clock: Clock | None = None,
        sources: Sequence[DetectionSource] | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.sink = sink
        self.engine = Engine(settings, sink, clock)
        self.model = DashboardModel()
        self.engine.add_listener(self.model.on_event)
        if sources is None:
            sources = create_sources(settings)
        self.judge = Judge(self.engine, sources, timeout=settings.detect_timeout)
        """Scores the builtin detectors, and the source ``--detect`` names, against the attacks."""
        self._shown_score: tuple[object, ...] = ()
        self.engine_error: str | None = None
        """One line saying why the engine ended with an error, if it did."""
        self._engine_worker: Worker[RunSummary] | None = None
        self._quitting = False
        self._quit_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        # Kept as attributes: the refresh reaches them without a DOM query per tick.
        self._status_bar = StatusBar(id="status")
        self._chart = PriceChart(id="prices", classes="panel")
        self._gas = GasSparkline(id="gas", classes="panel")
        self._sink_panel = SinkStatusPanel(id="sink", classes="panel")
        self._feed = TxFeed(id="feed", classes="panel")
        self._detection = DetectionPanel(id="detection", classes="panel")
        yield self._status_bar
        with Horizontal(id="top"):
            with Vertical(id="market"):
                yield self._chart
                yield self._gas
            yield self._sink_panel
        with Horizontal(id="bottom"):
            yield self._feed
            yield self._detection
        yield Footer()

    async def on_mount(self) -> None:
        self._chart.border_title = "WETH/DAI price"
        self._chart.border_subtitle = f"{PriceChart.ATTACK_MARKER} attack"
        self._gas.border_title = "Gas (gwei)"
        self._sink_panel.border_title = "Sink"
        self._feed.border_title = "Transactions"
        self._feed.border_subtitle = "newest first · ⚡ attack steps"
        bar = self._status_bar
        bar.seed = self.settings.seed
        bar.normal_interval = self.settings.normal_interval
        bar.attack_interval = self.settings.attack_interval
        bar.load_rate = self.settings.rate if self.settings.load_mode else None
        # The source --detect names is scored first; d switches to the builtin one.
        self.scored = len(self.judge.sources) - 1
        self._show_scored_title()
        # Sources start before the engine: the builtin detectors see every record.
        await self.judge.start()
        self._engine_worker = self.run_worker(
            self.engine.run(),
            name="engine",
            group="engine",
            description="market engine and sink",
            exit_on_error=False,
        )
        self.set_interval(1 / REFRESH_HZ, self.refresh_panels)

    # --- keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_pause":
            if self.stopping:
                return None if not parameters else False
            # True for the binding matching the state, False hides the other one.
            return bool(parameters) == self.paused
        if action == "inject_attack" and self.stopping:
            return None
        if action == "switch_source":
            return split_spec(self.judge.labels[self.scored])[0] == parameters[0]
        return True

    def action_inject_attack(self) -> None:
        """Start a flash-loan attack now (also while paused)."""
        self.engine.inject_attack()

    def action_toggle_pause(self, which: str = "pause") -> None:
        """Pause or resume normal traffic and the attack schedule."""
        self.engine.toggle_pause()
        self.paused = self.engine.paused
        self._status_bar.run_state = self.engine.state.value

    def action_switch_source(self, kind: str = "builtin") -> None:
        """Score the next detection source in the detection panel."""
        self.scored = (self.scored + 1) % len(self.judge.sources)
        self._show_scored_title()
        self.refresh_panels()

    def _show_scored_title(self) -> None:
        self._detection.border_title = f"Detection · {self.judge.labels[self.scored]}"
        others = len(self.judge.sources) - 1
        self._detection.border_subtitle = "✓ found ✗ missed" + (
            f" · d: {others} more" if others else ""
        )

    def action_show_keys(self) -> None:
        """Show the key help."""
        self.push_screen(KeyHelpScreen())

    async def action_quit(self) -> None:
        """Stop the engine, let it flush the sink (bounded), then exit.

        A second quit while stopping exits at once.
        """
        worker = self._engine_worker
        if self._quitting or worker is None or worker.is_finished:
            self.exit(self.model.summary)
            return
        self._quitting = True
        self.stopping = True
        self.engine.stop()
        self.refresh_panels()
        # The engine bounds its flush by flush_timeout; this bounds everything else.
        self._quit_timer = self.set_timer(self.settings.flush_timeout + QUIT_GRACE, self._give_up)

    def _give_up(self) -> None:
        if self._engine_worker is not None:
            self._engine_worker.cancel()
        self.exit(self.model.summary)

    # --- the engine worker

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self._engine_worker or not event.worker.is_finished:
            return
        self.stopping = True
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            if isinstance(error, SinkError):
                self.engine_error = str(error)
            else:
                self.engine_error = f"{type(error).__name__}: {error}"
            self.notify(self.engine_error, title="The run stopped", severity="error", timeout=3600)
        self.refresh_panels()
        if self._quitting:
            self.exit(self.model.summary)

    # --- the throttle

    def refresh_panels(self) -> None:
        """Move what the engine produced since the last refresh into the panels.

        Called by the refresh timer; tests call it to show a settled state
        without waiting for the timer.
        """
        if not self.is_running:
            # Shutting down: the panels are being removed, the last tick has nothing to show.
            return
        model = self.model
        stats = self.engine.stats()
        with self.batch_update():
            if model.prices_changed:
                model.prices_changed = False
                self._chart.replot(model.prices, model.attack_marks)
            if model.gas_changed:
                model.gas_changed = False
                self._gas.update_samples(model.gas)
            rows = model.take_rows()
            if rows:
                self._feed.add_rows(rows)
            counts = [
                TopicCounts(
                    topic, s.produced, s.delivered, s.pending, s.failed, s.dropped, s.lost_on_stop
                )
                for topic, s in stats.topics.items()
            ]
            self._sink_panel.show(self.engine.sink_status(), counts)
            self._refresh_detection()
            bar = self._status_bar
            bar.run_state = self.engine.state.value
            bar.uptime = int(stats.elapsed)
            bar.rate = stats.records_per_second
            bar.attacks = stats.attacks
            self.paused = self.engine.paused
            if self.engine.state in (RunState.STOPPING, RunState.STOPPED):
                self.stopping = True

    def _refresh_detection(self) -> None:
        judge = self.judge
        judge.tick()
        source = judge.sources[self.scored]
        board = judge.boards[source.label]
        status = None if source.kind == "builtin" else source.status()
        shown = (
            source.label,
            board.version,
            status and (status.state, status.received, status.unreadable, status.last_error),
        )
        if shown == self._shown_score:
            return
        self._shown_score = shown
        self._detection.show(source.label, board.summary(), board.recent(ATTACK_ROWS), status)

    async def on_unmount(self) -> None:
        # Detection sources hold clients and threads of their own.
        await self.judge.stop()


def make_app(
    settings: Settings,
    sink: Sink | None = None,
    clock: Clock | None = None,
    sources: Sequence[DetectionSource] | None = None,
) -> DefiApp:
    """The dashboard for these settings: the one factory for the console script and tests.

    Args:
        settings: The run's validated settings.
        sink: The sink to publish to; the one ``settings.sink`` names when None.
        clock: Time source; the system clock when None, a ``FakeClock`` in tests.
        sources: Detection sources to score; those the settings name when None.

    Raises:
        SinkError: ``settings.sink`` names no installed sink.
    """
    return DefiApp(settings, sink if sink is not None else create_sink(settings), clock, sources)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the dashboard (the ``defi-tui`` console script).

    Takes the same flags, environment and ``.env`` as ``defi-event-generator``.
    A bad setting prints one line on stderr and returns 2.

    Args:
        argv: Command-line arguments without the program name; ``sys.argv`` when None.
    """
    try:
        settings = load_settings(argv, prog=PROG, description=DESCRIPTION)
        app = make_app(settings)
    except (ConfigError, SinkError) as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return EXIT_CONFIG
    summary = app.run()
    if app.engine_error:
        sys.stderr.write(f"{PROG}: error: {app.engine_error}\n")
    if summary is not None:
        # The terminal is back: leave the run's counts where the user can read them.
        lines = [f"seed {settings.seed}", *summary_lines(summary)]
        app.judge.finish()
        for board in app.judge.boards.values():
            lines += score_lines(board.summary())
        sys.stdout.write("\n".join(lines) + "\n")
    return app.return_code or (1 if app.engine_error else 0)
