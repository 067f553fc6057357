"""Detection: each injected attack found (✓) or missed (✗) by the scored source, and the score."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from ...detection import AttackScore, ScoreSummary, SourceState, SourceStatus, Verdict


@dataclass(frozen=True)
class DetectionView:
    """Everything the panel shows, handed over in one piece."""

    source: str
    """Label of the scored source."""
    summary: ScoreSummary
    attacks: tuple[AttackScore, ...]
    """Newest first."""
    status: SourceStatus | None = None
    """The source's state; None for the builtin detectors, which cannot fail."""


def seconds(ms: float | None) -> str:
    """``2.0s``, ``—`` when unknown."""
    return "—" if ms is None else f"{ms / 1000:.1f}s"


def _short(address: str) -> str:
    # The feed shows addresses as 0x1234…abcd; here the hex digits alone save two cells.
    return f"{address[2:6]}…{address[-4:]}" if len(address) > 12 else address


_MARK = {
    Verdict.DETECTED: ("✓", "ok"),
    Verdict.MISSED: ("✗", "error"),
    Verdict.PENDING: ("…", "muted"),
}

_STATE_TONE = {
    SourceState.STARTING: "warn",
    SourceState.READING: "ok",
    SourceState.RETRYING: "warn",
    SourceState.FAILED: "error",
    SourceState.STOPPED: "muted",
}


class DetectionPanel(Widget):
    """The scored source's verdict on every recent attack, newest first, under its score.

    A row per attack: ✓ with the detector that caught it first and the
    latency from the attack's first record (wall time), ✗ once its time to
    be detected ran out, … while it may still be. Above them: attacks
    detected of injected, missed, false positives, and the latency median
    and 95th percentile.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "detection--ok",
        "detection--warn",
        "detection--error",
        "detection--muted",
        "detection--label",
    }
    """
    | Class | Description |
    | :- | :- |
    | `detection--ok` | Detected attacks, a source that reads. |
    | `detection--warn` | A source retrying; false positives. |
    | `detection--error` | Missed attacks, a failed source. |
    | `detection--muted` | Pending attacks, zero counts. |
    | `detection--label` | The words naming each figure. |
    """

    view: reactive[DetectionView | None] = reactive(None)
    """What to show; None until the dashboard hands the first score over."""

    class Updated(Message):
        """The panel shows a new score (posted after each change it displays)."""

        def __init__(self, view: DetectionView) -> None:
            super().__init__()
            self.view = view
            """What the panel now shows."""

    def show(
        self,
        source: str,
        summary: ScoreSummary,
        attacks: Sequence[AttackScore],
        status: SourceStatus | None = None,
    ) -> None:
        """Show this source's score and recent attacks.

        Args:
            source: The scored source's label.
            summary: Its running score.
            attacks: Its verdicts on the recent attacks, newest first.
            status: The source's state (None for the builtin detectors).
        """
        self.view = DetectionView(source, summary, tuple(_copy(a) for a in attacks), status)

    def watch_view(self, view: DetectionView | None) -> None:
        if view is not None:
            self.post_message(self.Updated(view))

    def _style(self, tone: str) -> str:
        return str(self.get_component_rich_style(f"detection--{tone}"))

    def render(self) -> RenderableType:
        view = self.view
        if view is None:
            return Text("waiting for the first attack…", style=self._style("muted"))
        s = view.summary
        label = self._style("label")
        if self.size.height <= 1:
            return self._one_line(view)
        parts: list[RenderableType] = []
        if view.status is not None:
            parts.append(self._status_line(view.status))
        score = Text(no_wrap=True, overflow="ellipsis")
        score.append(f"{s.detected}/{s.injected}", self._style("ok" if s.detected else "muted"))
        score.append(" detected  ", label)
        score.append(str(s.missed), self._style("error" if s.missed else "muted"))
        score.append(" missed  ", label)
        score.append(str(s.false_positives), self._style("warn" if s.false_positives else "muted"))
        score.append(" false +", label)
        parts.append(score)
        latency = Text(no_wrap=True, overflow="ellipsis")
        latency.append("latency ", label)
        latency.append(f"median {seconds(s.wall_median_ms)}  p95 {seconds(s.wall_p95_ms)}")
        parts.append(latency)
        if not view.attacks:
            parts.append(Text("no attack yet: press a", style=self._style("muted")))
        for attack in view.attacks:
            parts.append(self._attack_line(attack))
        return Group(*parts)

    def _one_line(self, view: DetectionView) -> Text:
        """The score in one line, for a short panel (narrow terminals)."""
        s = view.summary
        line = Text(no_wrap=True, overflow="ellipsis")
        if view.status is not None and view.status.state is not SourceState.READING:
            line.append(
                f"● {view.status.state.value}  ", self._style(_STATE_TONE[view.status.state])
            )
        line.append(f"✓ {s.detected}/{s.injected}  ", self._style("ok" if s.detected else "muted"))
        line.append(f"✗ {s.missed}  ", self._style("error" if s.missed else "muted"))
        line.append(
            f"false + {s.false_positives}  ", self._style("warn" if s.false_positives else "muted")
        )
        line.append("latency ", self._style("label"))
        line.append(f"{seconds(s.wall_median_ms)} p95 {seconds(s.wall_p95_ms)}")
        if view.attacks:
            line.append("  last ", self._style("label"))
            line.append_text(self._attack_line(view.attacks[0]))
        return line

    def _status_line(self, status: SourceStatus) -> Text:
        line = Text(overflow="fold")
        line.append(f"● {status.state.value}", self._style(_STATE_TONE[status.state]))
        line.append(f"  {status.received:,} read", self._style("label"))
        if status.unreadable:
            line.append(f", {status.unreadable:,} not JSON", self._style("warn"))
        if status.last_error and status.state is not SourceState.READING:
            line.append(f"  {status.last_error}", self._style("error"))
        return line

    def _attack_line(self, attack: AttackScore) -> Text:
        mark, tone = _MARK[attack.verdict]
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f"{mark} ", self._style(tone))
        line.append(f"#{attack.attack_id:<3} ")
        line.append(f"{_short(attack.attacker)} ", self._style("label"))
        if attack.verdict is Verdict.DETECTED:
            late = " late" if attack.late else ""
            line.append(f"{seconds(attack.wall_latency_ms):>5}{late} ")
            line.append(attack.detector or "", self._style("ok"))
        elif attack.verdict is Verdict.MISSED:
            line.append("missed", self._style("error"))
        else:
            line.append("pending", self._style("muted"))
        return line


def _copy(score: AttackScore) -> AttackScore:
    # Scores change in place as detections arrive; the view keeps what it showed.
    return AttackScore(
        score.attack_id,
        score.attacker,
        score.block_number,
        score.verdict,
        score.detector,
        score.rule,
        score.event_latency_ms,
        score.wall_latency_ms,
        score.detections,
        score.due_ms,
        score.late,
    )
