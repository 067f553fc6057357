"""Where records go: the sink, its connection, each entity's setup and delivery counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, NamedTuple

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ...sinks.base import ConnectionState, EntityState, EntityStatus, SinkStatus


class TopicCounts(NamedTuple):
    """What became of one topic's records so far."""

    topic: str
    produced: int = 0
    delivered: int = 0
    pending: int = 0
    failed: int = 0
    dropped: int = 0
    lost: int = 0
    """Still pending when a stop's flush ran out of time."""


def compact(n: int) -> str:
    """``999``, ``12.3k``, ``4.56M``: counts in at most six cells."""
    if n < 10_000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.2f}M"


_ENTITY_MARK = {
    EntityState.EXISTS: ("✔", "ok"),
    EntityState.CREATED: ("✔", "ok"),
    EntityState.LOCAL: ("●", "ok"),
    EntityState.AUTO_CREATE: ("○", "warn"),
    EntityState.FAILED: ("✘", "error"),
}

_CONNECTION_TONE = {
    ConnectionState.CONNECTING: "warn",
    ConnectionState.CONNECTED: "ok",
    ConnectionState.RETRYING: "warn",
    ConnectionState.FAILED: "error",
    ConnectionState.CLOSED: "muted",
}

_COUNT_ROWS = ("produced", "delivered", "pending", "failed", "dropped")


class SinkStatusPanel(Widget):
    """The sink's kind, target and connection, then a line per entity and the counts.

    Counts are a table with one column per topic (headed by the first word of
    the topic, in the same order as the entity lines above), so the panel
    stays readable at 40 cells.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "sink-status--ok",
        "sink-status--warn",
        "sink-status--error",
        "sink-status--muted",
        "sink-status--label",
    }
    """
    | Class | Description |
    | :- | :- |
    | `sink-status--ok` | Connected; entity exists or was created. |
    | `sink-status--warn` | Connecting, retrying; entity left to auto-create; non-zero pending. |
    | `sink-status--error` | Failed connection or entity; failures, drops, the last error. |
    | `sink-status--muted` | Closed, zero counts, secondary text. |
    | `sink-status--label` | Row labels and column headings. |
    """

    status: reactive[SinkStatus | None] = reactive(None)
    """The sink's last status snapshot (None until it has opened)."""
    counts: reactive[tuple[TopicCounts, ...]] = reactive(())
    """Per-topic counts, in topic order."""

    def show(self, status: SinkStatus | None, counts: Sequence[TopicCounts]) -> None:
        """Show this status and these counts; repaints only if something changed.

        Args:
            status: The sink's status snapshot.
            counts: Per-topic counts, in topic order.
        """
        self.status = status
        self.counts = tuple(counts)

    def _style(self, tone: str) -> str:
        return str(self.get_component_rich_style(f"sink-status--{tone}"))

    def render(self) -> RenderableType:
        status = self.status
        if status is None:
            return Text("opening the sink…", style=self._style("muted"))
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append(f"● {status.state.value}", self._style(_CONNECTION_TONE[status.state]))
        head.append(f"  {status.kind}", "bold")
        head.append(f" → {status.target}")
        parts: list[RenderableType] = [head]
        parts.extend(self._entity_line(e) for e in status.entities)
        parts.append(self._counts_table())
        error = Text(overflow="fold")
        error.append("last error ", self._style("label"))
        if status.last_error:
            error.append(status.last_error, self._style("error"))
        else:
            error.append("none", self._style("muted"))
        parts.append(error)
        return Group(*parts)

    def _entity_line(self, entity: EntityStatus) -> Text:
        mark, tone = _ENTITY_MARK[entity.state]
        # A failure's reason may wrap: it is the one thing here worth a second line.
        line = Text(overflow="fold")
        line.append(f"{entity.name:<21}")
        line.append(f"{mark} {entity.state.value}", self._style(tone))
        if entity.state is EntityState.FAILED and entity.detail:
            line.append(f": {entity.detail}", self._style("error"))
        return line

    def _counts_table(self) -> Table:
        label = self._style("label")
        table = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 1), header_style=label)
        table.add_column("", style=label, no_wrap=True)
        for counts in self.counts:
            table.add_column(counts.topic.split("_")[0], justify="right", no_wrap=True)
        rows = list(_COUNT_ROWS)
        if any(c.lost for c in self.counts):
            rows.append("lost")
        for row in rows:
            cells: list[Text] = []
            for counts in self.counts:
                n: int = getattr(counts, row)
                tone = ""
                if n == 0:
                    tone = "muted"
                elif row in ("failed", "dropped", "lost"):
                    tone = "error"
                elif row == "pending":
                    tone = "warn"
                cells.append(Text(compact(n), style=self._style(tone) if tone else ""))
            table.add_row(row, *cells)
        return table
