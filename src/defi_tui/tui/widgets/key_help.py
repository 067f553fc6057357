"""The key help, shown over the dashboard by ``?``."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: tuple[tuple[str, str], ...] = (
    ("a", "inject a flash-loan attack now (also while paused)"),
    ("p", "pause / resume normal traffic and the attack schedule"),
    ("d", "switch the scored detection source (builtin, --detect's)"),
    ("q", "quit: stop, flush the sink (bounded), restore the terminal"),
    ("?", "show or hide this help"),
)
"""Every key of the dashboard and what it does."""


class KeyHelpScreen(ModalScreen[None]):
    """A box listing the keys; any of escape, ``?`` or enter closes it.

    The app's own keys keep working underneath (``a`` still injects an
    attack, ``q`` still quits), since they are app bindings.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,enter", "close", "Close help"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="key-help"):
            yield Static("Keys", id="key-help-title")
            for key, what in KEYS:
                yield Static(f"[b]{key:<4}[/b]{what}", classes="key-help-line")
            yield Static(
                "q again while stopping quits at once · escape closes this help", id="key-help-hint"
            )

    def action_close(self) -> None:
        """Close the help."""
        self.dismiss(None)
