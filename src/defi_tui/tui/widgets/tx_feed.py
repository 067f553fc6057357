"""The transaction feed: newest first, capped, the attack's five steps highlighted."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from typing import ClassVar, NamedTuple

from rich.segment import Segment
from rich.text import Text
from textual.cache import LRUCache
from textual.events import Resize
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...events import DexPrice, MempoolSample, Transaction


class FeedRow(NamedTuple):
    """One line of the feed, built from a record."""

    time_ms: int
    """The record's ``event_timestamp``."""
    block: int | None
    sender: str
    """From address, or '' when the record has none."""
    receiver: str
    """To address, or '' when the record has none."""
    token: str
    amount: float
    unit: str = ""
    """Unit shown after the amount when it is not the token (``gwei``)."""
    step: int = 0
    """Attack step 1..5, or 0 for ordinary traffic."""
    label: str = ""
    """What the attack step does, e.g. "flash loan"."""

    @classmethod
    def from_transaction(cls, tx: Transaction, step: int = 0, label: str = "") -> FeedRow:
        """A row for a transfer (ordinary, or attack steps 1, 2 and 5)."""
        return cls(
            tx.event_timestamp,
            tx.block_number,
            tx.from_address,
            tx.to_address,
            tx.tx_token,
            tx.tx_amount,
            "",
            step,
            label,
        )

    @classmethod
    def from_price(
        cls, price: DexPrice, block: int | None, sender: str = "", step: int = 0, label: str = ""
    ) -> FeedRow:
        """A row for a DEX price (the attack's step 3)."""
        return cls(
            price.event_timestamp, block, sender, "", price.token_pair, price.price, "", step, label
        )

    @classmethod
    def from_gas(cls, sample: MempoolSample, step: int = 0, label: str = "") -> FeedRow:
        """A row for a mempool gas sample (the attack's step 4)."""
        return cls(
            sample.event_timestamp,
            sample.block_number,
            "",
            "",
            "gas",
            sample.avg_gas_price_gwei,
            "gwei",
            step,
            label,
        )


def shorten(address: str, keep: int) -> str:
    """``0x1234…abcd``: the prefix and ``keep`` hex digits at each end."""
    if len(address) <= 2 + 2 * keep + 1:
        return address
    return f"{address[: 2 + keep]}…{address[-keep:]}"


def amount_text(row: FeedRow, compact: bool) -> str:
    """The amount as shown: ``1,234.56``, ``250 gwei``, or ``50.03M`` when compact."""
    if row.unit:
        return f"{row.amount:,.0f} {row.unit}"
    if compact and row.amount >= 1_000_000:
        return f"{row.amount / 1_000_000:,.2f}M"
    return f"{row.amount:,.2f}"


class _Columns(NamedTuple):
    keep: int
    """Hex digits kept at each end of an address."""
    route: int
    amount: int
    compact: bool
    """Whether amounts of a million and more are shortened."""
    step: str
    """Format of the attack-step cell."""


_WIDE = _Columns(keep=6, route=2 * 15 + 3, amount=15, compact=False, step="⚡ {step}/5 {label}")
_NARROW = _Columns(keep=3, route=2 * 9 + 3, amount=10, compact=True, step="⚡{step} {label}")
_TOKEN = 8
"""Widest token: WETH/DAI."""


def _columns(width: int) -> _Columns:
    return _WIDE if width >= 100 else _NARROW


class TxFeed(ScrollView, can_focus=True):
    """Transfers and attack steps, newest at the top, at most ``capacity`` rows.

    Rendering goes through the line API, so only the visible rows are ever
    formatted, however many the feed holds; a batch of new rows costs one
    refresh. The header stays on the first line while the rows scroll.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "tx-feed--header",
        "tx-feed--attack",
        "tx-feed--step",
        "tx-feed--muted",
    }
    """
    | Class | Description |
    | :- | :- |
    | `tx-feed--header` | The column header line. |
    | `tx-feed--attack` | Rows of an attack's five steps. |
    | `tx-feed--step` | The step label of an attack row. |
    | `tx-feed--muted` | Secondary text: time and block. |
    """

    def __init__(
        self,
        capacity: int = 500,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """Create an empty feed.

        Args:
            capacity: Rows kept; older ones fall off the bottom.
            name: The name of the widget.
            id: The ID of the widget in the DOM.
            classes: The CSS classes of the widget.
        """
        super().__init__(name=name, id=id, classes=classes)
        self._rows: deque[FeedRow] = deque(maxlen=capacity)
        self._cache: LRUCache[tuple[FeedRow, int], Strip] = LRUCache(256)

    @property
    def rows(self) -> list[FeedRow]:
        """The rows, newest first."""
        return list(self._rows)

    def add_rows(self, rows: Iterable[FeedRow]) -> None:
        """Add rows, oldest first; they appear above the ones already shown.

        Args:
            rows: New rows in the order they happened.
        """
        new = list(rows)
        if not new:
            return
        self._rows.extendleft(new)
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._rows) + 1)
        if self.scroll_y > 0:
            # Someone is reading older rows: keep them in place as new ones arrive on top.
            self.scroll_to(y=self.scroll_y + len(new), animate=False, immediate=True)
        self.refresh()

    def on_resize(self, event: Resize) -> None:
        self._cache.clear()
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._rows) + 1)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y == 0:
            return self._header(width).crop_extend(0, width, base)
        index = int(self.scroll_y) + y - 1
        if index >= len(self._rows):
            return Strip.blank(width, base)
        row = self._rows[index]
        key = (row, width)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._render_row(row, width).crop_extend(0, width, base)
            self._cache[key] = strip
        return strip

    def _strip(self, text: Text) -> Strip:
        segments = list(text.render(self.app.console))
        return Strip([s for s in segments if s.text != "\n"])

    def _header(self, width: int) -> Strip:
        cols = _columns(width)
        style = self.get_component_rich_style("tx-feed--header")
        line = (
            f" {'time':<8} {'block':>8} {'from → to':<{cols.route}} {'token':<{_TOKEN}}"
            f" {'amount':>{cols.amount}} attack step"
        )
        return Strip([Segment(line.ljust(width), style)])

    def _render_row(self, row: FeedRow, width: int) -> Strip:
        cols = _columns(width)
        # Partial styles: only what the class sets, so the line keeps one background.
        muted = self.get_component_rich_style("tx-feed--muted", partial=True)
        parts = [shorten(a, cols.keep) for a in (row.sender, row.receiver) if a]
        route = " → ".join(parts) if parts else "mempool"
        clock = time.strftime("%H:%M:%S", time.localtime(row.time_ms / 1000))
        block = "" if row.block is None else str(row.block)
        text = Text(no_wrap=True, overflow="crop", style=self.rich_style)
        text.append(f" {clock:<8} {block:>8} ", muted)
        text.append(f"{route:<{cols.route}} {row.token:<{_TOKEN}} ")
        text.append(f"{amount_text(row, cols.compact):>{cols.amount}} ")
        if row.step:
            step_style = self.get_component_rich_style("tx-feed--step", partial=True)
            text.append(cols.step.format(step=row.step, label=row.label), step_style)
            text.truncate(width, overflow="crop", pad=True)
            # Beneath the parts' own styles: the whole line is tinted, time/block stay muted.
            text.stylize_before(self.get_component_rich_style("tx-feed--attack"))
        return self._strip(text)
