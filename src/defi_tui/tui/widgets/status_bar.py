"""One line on top: run state, seed, schedule, uptime, throughput and attacks so far."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ...engine import rate_text


def seconds_text(seconds: float) -> str:
    """``5s``, ``0.5s``, ``2m``, ``1h30m``: an interval in few cells."""
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, sec = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{hours}h" if hours else ""
    text += f"{minutes}m" if minutes or not hours else ""
    return text + (f"{sec}s" if sec else "")


def uptime_text(seconds: int) -> str:
    """``0:01:23``: hours, minutes, seconds."""
    minutes, sec = divmod(max(0, seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}"


class StatusBar(Widget):
    """The run at a glance.

    The state badge takes its colour from the ``status-bar--<state>``
    component class (running, paused, stopping, stopped, starting).
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "status-bar--running",
        "status-bar--paused",
        "status-bar--stopping",
        "status-bar--stopped",
        "status-bar--starting",
        "status-bar--label",
    }
    """
    | Class | Description |
    | :- | :- |
    | `status-bar--<state>` | The state badge for each run state. |
    | `status-bar--label` | The words naming each figure. |
    """

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
    }
    """

    run_state: reactive[str] = reactive("starting")
    """Engine run state: starting, running, paused, stopping or stopped."""
    seed: reactive[int] = reactive(0)
    """The run's RNG seed."""
    normal_interval: reactive[float] = reactive(5.0)
    """Seconds between normal ticks."""
    attack_interval: reactive[float] = reactive(120.0)
    """Seconds between scheduled attacks."""
    load_rate: reactive[float | None] = reactive(None)
    """Load mode's target records/s (0 = as fast as possible), or None for the tick schedule."""
    uptime: reactive[int] = reactive(0)
    """Whole seconds since the run started."""
    rate: reactive[float] = reactive(0.0)
    """Records produced per second, recently."""
    attacks: reactive[int] = reactive(0)
    """Attacks started so far."""

    def render(self) -> Text:
        label = self.get_component_rich_style("status-bar--label")
        state = self.run_state.lower()
        badge = self.get_component_rich_style(f"status-bar--{state}")
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" {state.upper()} ", badge)
        text.append("  seed ", label)
        text.append(str(self.seed))
        if self.load_rate is None:
            text.append("  tick ", label)
            text.append(seconds_text(self.normal_interval))
            text.append(" attack ", label)
            text.append(seconds_text(self.attack_interval))
        else:
            text.append("  load ", label)
            text.append(f"{self.load_rate:g}/s" if self.load_rate else "max")
        text.append("  up ", label)
        text.append(uptime_text(self.uptime))
        text.append("  ")
        text.append(rate_text(self.rate))
        text.append(" rec/s", label)
        text.append("  attacks ", label)
        text.append(f"{self.attacks:,}")
        return text
