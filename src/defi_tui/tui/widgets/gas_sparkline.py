"""Recent mempool gas prices as a sparkline, with the current value and the spike."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median

from textual.app import ComposeResult
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Sparkline, Static

SPIKE_FACTOR = 2.0
"""A sample counts as a spike when it is this many times the window's median."""


class GasSparkline(Widget):
    """``avg_gas_price_gwei`` over the recent samples.

    A line above the sparkline gives the current value and the highest one in
    the window; while the newest sample is a spike (an attack's 250 gwei
    against a 30–40 gwei market) the widget has the ``-spike`` class, so the
    stylesheet can colour it.
    """

    current: reactive[int | None] = reactive(None, init=False)
    """The newest sample, gwei (None before the first)."""
    peak: reactive[int | None] = reactive(None, init=False)
    """The highest sample in the window, gwei."""
    spike: reactive[bool] = reactive(False, init=False)
    """Whether the newest sample is a spike."""

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """Create an empty gas panel.

        Args:
            name: The name of the widget.
            id: The ID of the widget in the DOM.
            classes: The CSS classes of the widget.
        """
        super().__init__(name=name, id=id, classes=classes)
        self._values: list[int] = []
        self._reading = Static("waiting for gas samples…", id="gas-reading")
        self._line = Sparkline([], id="gas-line")

    def compose(self) -> ComposeResult:
        yield self._reading
        yield self._line

    def update_samples(self, values: Sequence[int]) -> None:
        """Show these gas prices, oldest first.

        Args:
            values: ``avg_gas_price_gwei`` of the recent samples.
        """
        self._values = list(values)
        self._line.data = self._values
        if not self._values:
            self.current = self.peak = None
            self.spike = False
            return
        self.current = self._values[-1]
        self.peak = max(self._values)
        self.spike = self._values[-1] >= SPIKE_FACTOR * median(self._values)

    def watch_spike(self, spike: bool) -> None:
        self.set_class(spike, "-spike")
        self._show_reading()

    def _show_reading(self) -> None:
        if self.current is None:
            return
        text = f"now [b]{self.current}[/b] gwei   peak {self.peak} gwei"
        if self.spike:
            text += "   [b]SPIKE[/b]"
        self._reading.update(text)

    def watch_current(self) -> None:
        self._show_reading()

    def watch_peak(self) -> None:
        self._show_reading()
