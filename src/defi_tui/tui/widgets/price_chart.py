"""WETH/DAI price over time, with the attacks' price drops marked."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

from textual.events import Resize
from textual_plotext import PlotextPlot

PricePoint = tuple[int, float]
"""(event_timestamp in epoch ms, price)."""


def _clock_label(epoch_ms: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch_ms / 1000))


class PriceChart(PlotextPlot):
    """A line chart of recent WETH/DAI prices against time.

    The app hands it the points with :meth:`replot`; the chart keeps them and
    draws them again only when they change or the widget is resized. Attack
    prices are drawn over the line as a marker on a vertical rule, in the
    ``price-chart--attack`` colour, so a drop is visible even when it is a
    single point among hundreds.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"price-chart--line", "price-chart--attack"}
    """
    | Class | Description |
    | :- | :- |
    | `price-chart--line` | Colour of the price line. |
    | `price-chart--attack` | Colour of the attack markers. |
    """

    ATTACK_MARKER: ClassVar[str] = "▼"
    """Character drawn at an attack's price."""

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """Create an empty chart.

        Args:
            name: The name of the widget.
            id: The ID of the widget in the DOM.
            classes: The CSS classes of the widget.
        """
        super().__init__(name=name, id=id, classes=classes)
        self._prices: list[PricePoint] = []
        self._attacks: list[PricePoint] = []

    @property
    def points(self) -> int:
        """How many price points the chart currently shows."""
        return len(self._prices)

    def on_mount(self) -> None:
        super().on_mount()
        self._draw()

    def on_resize(self, event: Resize) -> None:
        # The number of time labels that fit depends on the width.
        self._draw()

    def replot(self, prices: Sequence[PricePoint], attacks: Sequence[PricePoint] = ()) -> None:
        """Show these prices, oldest first, and mark these attack prices.

        Args:
            prices: ``(epoch ms, price)`` points in time order.
            attacks: ``(epoch ms, price)`` of attack price drops; those older
                than the first price are not drawn.
        """
        self._prices = list(prices)
        start = self._prices[0][0] if self._prices else 0
        self._attacks = [a for a in attacks if a[0] >= start]
        self._draw()
        self.refresh()

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.xticks([], [])
        if not self._prices:
            plt.title("waiting for prices…")
            return
        plt.title("")
        line = self.get_component_styles("price-chart--line").color.rgb
        attack = self.get_component_styles("price-chart--attack").color.rgb
        xs = [t / 1000 for t, _ in self._prices]
        ys = [p for _, p in self._prices]
        plt.plot(xs, ys, marker="braille", color=line)
        for t, p in self._attacks:
            plt.vertical_line(t / 1000, color=attack)
            plt.scatter([t / 1000], [p], marker=self.ATTACK_MARKER, color=attack)
        first, last = xs[0], xs[-1]
        if last <= first:
            last = first + 1
        plt.xlim(first, last)
        # A label is 8 cells; leave room between them so they never touch.
        count = max(2, min(6, (self.size.width - 8) // 16))
        step = (last - first) / (count - 1)
        ticks = [first + i * step for i in range(count)]
        plt.xticks(ticks, [_clock_label(t * 1000) for t in ticks])
